"""Tiny SimCSE models (unsupervised: [CLS]; supervised: [CLS] with its Dense tanh head) and their OpenVINO exports,
for the export and runtime tests. Those tests skip, saying why, where the ``[openvino]`` extra is not installed."""

from __future__ import annotations

from pathlib import Path

import pytest

SENTENCES = [
    "A man is playing a guitar on the stage.",
    "Someone plays an instrument.",
    "The stock market fell sharply this morning.",
    "Heavy rain is expected in the north tomorrow.",
    "A child is reading a book under a tree.",
    "The goalkeeper saved a penalty in the final minute.",
    "Two dogs run across the snowy field.",
    "The committee approved the new budget.",
]


def require_openvino() -> None:
    """Skip the calling test module unless optimum-intel and OpenVINO are installed (the ``[openvino]`` extra)."""
    pytest.importorskip("openvino", reason='the OpenVINO runtime needs pip install "simcse-st[openvino]"')
    pytest.importorskip("optimum.intel", reason='the OpenVINO runtime needs pip install "simcse-st[openvino]"')


def save_tiny_simcse(tiny_bert_path: Path, out: Path, objective: str) -> Path:
    """A tiny SimCSE model of ``objective`` (``unsup`` or ``sup``) saved in ``out``."""
    from simcse_st.models import build_simcse_model

    model = build_simcse_model(str(tiny_bert_path), pooling="cls", mlp_at_inference=objective == "sup",
                               max_seq_length=32)
    model.save_pretrained(str(out))
    return out


def write_calibration(path: Path, sentences: list[str]) -> Path:
    """``sentences`` one a line in ``path``."""
    path.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    return path
