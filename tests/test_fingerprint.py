"""A model's fingerprint follows its weights and configuration, not where it is saved."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer

from simcse_st.fingerprint import FINGERPRINT_LENGTH, model_fingerprint


def test_fingerprint_follows_weights_not_path(tiny_bert_path: Path, tmp_path: Path) -> None:
    model = SentenceTransformer(str(tiny_bert_path), device="cpu")
    model.save(str(tmp_path / "copy"))
    copy = SentenceTransformer(str(tmp_path / "copy"), device="cpu")
    assert re.fullmatch(rf"[0-9a-f]{{{FINGERPRINT_LENGTH}}}", model_fingerprint(model))
    assert model_fingerprint(copy) == model_fingerprint(model)
    with torch.no_grad():
        copy[0].auto_model.embeddings.word_embeddings.weight[5, 3] += 1e-3
    assert model_fingerprint(copy) != model_fingerprint(model)
    copy = SentenceTransformer(str(tmp_path / "copy"), device="cpu")
    copy.max_seq_length = 64
    assert model_fingerprint(copy) != model_fingerprint(model)
