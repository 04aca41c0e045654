"""Fixtures for the loss tests: fresh tiny SimCSE models and tokenized batches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sentence_transformers import SentenceTransformer

from simcse_st import build_simcse_model

SENTENCES = [
    "A man is playing a guitar.",
    "A woman is slicing an onion.",
    "Two dogs run across the grass.",
    "The stock market fell sharply today.",
    "A child is reading a book in the library.",
    "It is raining in the mountains.",
    "The chef cooks pasta for dinner.",
    "Birds fly south in the winter.",
]


@pytest.fixture
def make_model(tiny_bert_path: Path) -> Callable[..., SentenceTransformer]:
    """A fresh tiny SimCSE model; keyword arguments go to build_simcse_model."""

    def make(**kwargs: object) -> SentenceTransformer:
        kwargs.setdefault("max_seq_length", 32)
        return build_simcse_model(tiny_bert_path, **kwargs)

    return make


def tokenize(model: SentenceTransformer, *columns: list[str]) -> list[dict]:
    """One feature dict per text column, as the trainer's collator makes them."""
    return [model.preprocess(list(column)) for column in columns]
