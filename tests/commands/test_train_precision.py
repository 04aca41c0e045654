"""``simcse-st train --precision`` and ``--gradient-checkpointing``: refused where the hardware lacks the precision,
otherwise reaching the trainer (the encoder runs in bf16, checkpointed) and the model card.

The CPU's bf16 instructions are monkeypatched: bf16 autocast runs on any CPU, only more slowly without them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Transformer

from simcse_st import precision
from simcse_st.cli import main
from simcse_st.commands.train import PRECISIONS
from simcse_st.model_card import read_card


class EncoderRuns:
    """Records, for every training-mode encoder call, the autocast dtype it runs under (fp32 without autocast) and
    whether it checkpoints. (Its output says nothing: BERT ends with a LayerNorm, which autocast keeps in fp32.)"""

    def __init__(self) -> None:
        self.calls: set[tuple[torch.dtype, bool]] = set()

    def __call__(self, module: torch.nn.Module, args: tuple, output: dict) -> None:
        if isinstance(module, Transformer) and module.training:
            dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else torch.float32
            self.calls.add((dtype, checkpoints(module.auto_model)))

    def __enter__(self) -> EncoderRuns:
        self.handle = torch.nn.modules.module.register_module_forward_hook(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.handle.remove()


def checkpoints(encoder: torch.nn.Module) -> bool:
    """Whether a transformers model recomputes its activations (the property's name before transformers 5.25 too)."""
    flag = getattr(type(encoder), "is_activation_checkpointing", None)
    return encoder.is_activation_checkpointing if flag is not None else encoder.is_gradient_checkpointing


@pytest.fixture
def cpu_with_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without CUDA (so these runs are on the CPU everywhere) whose CPU has bf16 instructions."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)


@pytest.fixture(scope="module")
def sentences(tmp_path_factory: pytest.TempPathFactory, wiki_sentences: list[str]) -> Path:
    path = tmp_path_factory.mktemp("wiki") / "sentences.txt"
    path.write_text("".join(f"{line}\n" for line in wiki_sentences[:32]), encoding="utf-8")
    return path


def train(model: Path, sentences: Path, output_dir: Path, *flags: str) -> int:
    empty_root = output_dir.parent / "no-data"  # no STS dev data: no evaluation, the last step is kept
    empty_root.mkdir(exist_ok=True)
    return main(["train", "unsup", "--model", str(model), "--train-file", str(sentences), "--output-dir",
                 str(output_dir), "--batch-size", "8", "--max-steps", "2", "--data-dir", str(empty_root),
                 "--no-final-scores", *flags])


@pytest.mark.parametrize(
    ("flags", "cpu_bf16", "message"),
    [(["--precision", "fp16"], True, "--precision fp16 needs a CUDA GPU and this machine has none"),
     (["--precision", "bf16"], False, "--precision bf16: this machine's CPU has no native bf16 support")],
)
def test_a_precision_the_hardware_lacks_is_one_clear_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_bert_path: Path,
    sentences: Path, flags: list[str], cpu_bf16: bool, message: str,
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: cpu_bf16)
    assert train(tiny_bert_path, sentences, tmp_path / "out", *flags) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"simcse-st train: error: {message}")
    assert captured.err.count("\n") == 1 and not captured.out
    assert not (tmp_path / "out").exists()


def test_bf16_with_gradient_checkpointing_runs_the_encoder_so_and_the_card_says_bf16(
    cpu_with_bf16: None, tmp_path: Path, tiny_bert_path: Path, sentences: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with EncoderRuns() as runs:
        flags = ("--precision", "bf16", "--gradient-checkpointing")
        assert train(tiny_bert_path, sentences, tmp_path / "out", *flags) == 0
    assert runs.calls == {(torch.bfloat16, True)}
    assert "precision bf16, gradient checkpointing." in capsys.readouterr().out
    assert read_card(tmp_path / "out").record.precision == "bf16"
    model = SentenceTransformer(str(tmp_path / "out"))  # plain sentence-transformers, weights kept in fp32
    assert {parameter.dtype for parameter in model.parameters()} == {torch.float32}


def test_gradient_checkpointing_trains_exactly_as_without(
    cpu_with_bf16: None, tmp_path: Path, tiny_bert_path: Path, sentences: Path
) -> None:
    with EncoderRuns() as checkpointed:
        assert train(tiny_bert_path, sentences, tmp_path / "checkpointed", "--gradient-checkpointing") == 0
    with EncoderRuns() as plain:
        assert train(tiny_bert_path, sentences, tmp_path / "plain", "--precision", "fp32") == 0
    # auto is fp32 on a machine without CUDA, even where the CPU has bf16
    assert (checkpointed.calls, plain.calls) == ({(torch.float32, True)}, {(torch.float32, False)})
    assert read_card(tmp_path / "checkpointed").record.precision == "fp32"
    weights = [SentenceTransformer(str(tmp_path / run)).state_dict() for run in ("checkpointed", "plain")]
    initial = SentenceTransformer(str(tiny_bert_path)).state_dict()
    assert any(not torch.equal(weights[1][key], initial[key]) for key in initial)  # training moved the weights
    for key, value in weights[1].items():
        torch.testing.assert_close(weights[0][key], value, rtol=0, atol=1e-6)


def test_precision_choices_are_the_library_ones() -> None:
    assert PRECISIONS == precision.PRECISIONS
