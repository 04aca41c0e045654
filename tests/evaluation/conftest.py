"""Fixtures for the evaluation tests: a small real-data sample and session-wide models."""

from __future__ import annotations

from pathlib import Path

import pytest
from sentence_transformers import SentenceTransformer

from tests.sts_sample import STSSample, write_sts_sample


@pytest.fixture(scope="session")
def sts_sample(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> STSSample:
    """A copy of the first pairs of every STS file, in the SentEval layout."""
    return write_sts_sample(data_dir, tmp_path_factory.mktemp("sts-sample"))


@pytest.fixture(scope="session")
def tiny_model(tiny_bert_path: Path) -> SentenceTransformer:
    """The tiny BERT with mean pooling."""
    return SentenceTransformer(str(tiny_bert_path))


@pytest.fixture(scope="session")
def minilm(minilm_path: Path) -> SentenceTransformer:
    """The real all-MiniLM-L6-v2."""
    return SentenceTransformer(str(minilm_path))
