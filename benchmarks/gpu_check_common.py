"""The shared pieces of benchmarks/gpu_check.py: the sizes of a run, its context (device, data, the random-weight
encoders), and training models run as the trainer runs them under mixed precision."""

from __future__ import annotations

import gc
import resource
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench_speed import batches

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
PRECISIONS = ("fp32", "fp16", "bf16")
TRAINING_LENGTH = 32  # tokens a sentence in every training part, as in the paper


@dataclass(frozen=True)
class Sizes:
    """The shapes and step counts of a run: the real ones on a GPU, tiny ones for the CPU test."""

    base: dict[str, int]
    large: dict[str, int]
    unsup_batches: tuple[int, ...] = (64, 512)
    sup_batch: int = 512
    steps: int = 5
    rounds: int = 3
    correctness_batch: int = 32
    encode_sentences: int = 8192
    encode_batch: int = 256
    quality_model: str = "minilm"  # of the correctness and real-run parts: all-MiniLM-L6-v2, or a shape
    real_batch: int = 64
    dev_pairs: int | None = None  # STS-B dev pairs the real run is selected on (None: all 1,500)
    real_steps: int = 100
    real_eval_steps: int = 25
    real_interrupt: int = 60
    global_batch: int = 4096
    mini_batch: int = 256
    plain_batches: tuple[int, ...] = (256, 512, 1024, 2048, 4096)
    part_seconds: dict[str, int] = field(default_factory=lambda: {
        "env": 5, "correctness": 30, "cuda_tests": 40, "unsup_speed": 90, "sup_speed": 30, "encode": 40,
        "real_run": 120, "gradcache": 90,
    })


BERT_BASE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}
BERT_LARGE = {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096}
GPU_SIZES = Sizes(base=BERT_BASE, large=BERT_LARGE)
TINY_SIZES = Sizes(
    base={"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
    large={"hidden_size": 48, "num_hidden_layers": 3, "num_attention_heads": 2, "intermediate_size": 96},
    unsup_batches=(8, 16), sup_batch=8, steps=2, rounds=1, correctness_batch=8, encode_sentences=32,
    encode_batch=16, dev_pairs=100, quality_model="base", real_batch=8, real_steps=4, real_eval_steps=2,
    real_interrupt=3, global_batch=16, mini_batch=4, plain_batches=(),
    part_seconds={"env": 5, "correctness": 20, "cuda_tests": 5, "unsup_speed": 20, "sup_speed": 10, "encode": 10,
                  "real_run": 40, "gradcache": 20},
)
PARTS = ("env", "correctness", "cuda_tests", "unsup_speed", "sup_speed", "encode", "real_run", "gradcache")


@dataclass
class Context:
    """What every part needs: the device, the sizes, the data root, the work folder and the built encoders."""

    device: str
    sizes: Sizes
    data_dir: str
    work_dir: Path
    minilm: Path
    encoders: dict[str, Path] = field(default_factory=dict)

    def encoder(self, shape: str) -> Path:
        """A random-weight BERT of the ``base`` or ``large`` shape saved with the bert-base-uncased vocabulary."""
        if shape not in self.encoders:
            self.encoders[shape] = build_random_bert(self.work_dir / f"bert-{shape}-shape",
                                                     getattr(self.sizes, shape), self.minilm / "vocab.txt")
        return self.encoders[shape]

    def quality_model(self) -> Path:
        """The model of the correctness and real-run parts: all-MiniLM-L6-v2 (a random tiny BERT with --tiny)."""
        return self.minilm if self.sizes.quality_model == "minilm" else self.encoder(self.sizes.quality_model)

    def dev_data_dir(self) -> str:
        """The data root the real run is selected on: the real one, or one holding the first ``dev_pairs`` pairs
        of STS-B dev."""
        if self.sizes.dev_pairs is None:
            return self.data_dir
        from simcse_st.data import data_path

        relative = "senteval/STS/STSBenchmark/sts-dev.csv"
        lines = data_path(relative, self.data_dir).read_text(encoding="utf-8").splitlines(keepends=True)
        sample = self.work_dir / "sts-dev-sample"
        (sample / relative).parent.mkdir(parents=True, exist_ok=True)
        (sample / relative).write_text("".join(lines[: self.sizes.dev_pairs]), encoding="utf-8")
        return str(sample)

    def sentences(self, count: int, batch_size: int | None = None) -> list[list[str]]:
        """``count`` batches of ``batch_size`` sentences of the Wikipedia sample (one of ``count`` without it)."""
        size = batch_size or count
        return batches(SimpleNamespace(data_dir=self.data_dir, batch_size=size), count if batch_size else 1)

    def supported(self, precision: str) -> str | None:
        """Why ``precision`` is not measured here, or None when it is."""
        from simcse_st.precision import cpu_supports_bf16, cuda_supports_bf16

        if precision == "fp16" and self.device == "cpu":
            return "fp16 autocast is meaningless on a CPU"
        if precision == "bf16" and not (cuda_supports_bf16() if self.device == "cuda" else cpu_supports_bf16()):
            return "no native bf16 on this device"
        return None


def build_random_bert(path: Path, shape: dict[str, int], vocab_file: Path) -> Path:
    """Save a BERT of ``shape`` (hidden size, layers, heads, FFN width) with random weights and the vocabulary."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    if (path / "config.json").is_file():
        return path
    tokenizer = BertTokenizerFast(vocab=str(vocab_file), do_lower_case=True)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, max_position_embeddings=512, **shape)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def training_model(path: Path, device: str, precision: str, dropout: float | None = None) -> Any:
    """A SimCSE model (CLS pooling, as the paper's BERT recipes) on ``device`` in train mode that tokenizes at the
    training length, its forward run under autocast for fp16/bf16 as accelerate wraps it in the trainer (the loss
    itself outside autocast)."""
    import torch

    from simcse_st import build_simcse_model
    from simcse_st.precision import autocast_dtype

    model = build_simcse_model(path, pooling="cls", max_seq_length=TRAINING_LENGTH, dropout=dropout).to(device)
    model.max_seq_length = TRAINING_LENGTH  # tokenize short for every loss alike (MNRL does not cut batches as ours do)
    model.train()
    dtype = autocast_dtype(precision)
    if dtype is not None:
        model.forward = torch.autocast(device_type=device, dtype=dtype)(model.forward)
    return model


def grad_scaler(precision: str, device: str) -> Any:
    """The trainer's gradient scaler for fp16 (None otherwise)."""
    import torch

    return torch.amp.GradScaler(device) if precision == "fp16" else None


def free_memory() -> None:
    """Collect garbage and hand the CUDA allocator's cached blocks back, between parts and runs."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def peak_memory(device: str) -> tuple[float, str]:
    """The part's peak memory in MiB and what it is."""
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20, "peak GPU memory allocated by torch"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "CPU: peak RSS of the process so far"


def steps_per_second(seconds: list[float], steps: int) -> float:
    """Steps per second of the median round."""
    return steps / statistics.median(seconds)


