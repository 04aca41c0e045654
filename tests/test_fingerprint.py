"""A model's fingerprint follows its weights and configuration, not where its files are."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer

from simcse_st.fingerprint import FINGERPRINT_LENGTH, model_fingerprint, short_fingerprint


def test_fingerprint_is_the_same_for_a_copy_and_changes_with_a_weight_or_the_configuration(tiny_bert_path: Path,
                                                                                            tmp_path: Path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_bert_path, copy)
    original = model_fingerprint(SentenceTransformer(str(tiny_bert_path)))
    assert len(original) == 64
    moved = SentenceTransformer(str(copy))
    assert model_fingerprint(moved) == original  # identity is not the path

    with torch.no_grad():
        moved[0].auto_model.embeddings.word_embeddings.weight[5, 0] += 1e-3
    assert model_fingerprint(moved) != original  # one weight

    shorter = SentenceTransformer(str(copy))
    shorter.max_seq_length = 16
    assert model_fingerprint(shorter) != original  # truncation changes embeddings too


def test_short_fingerprint_is_the_full_one_cut_to_its_length(tiny_bert_path: Path) -> None:
    model = SentenceTransformer(str(tiny_bert_path), device="cpu")
    short = short_fingerprint(model)
    assert len(short) == FINGERPRINT_LENGTH
    assert model_fingerprint(model).startswith(short)
