"""Fixtures shared by the command tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import build_tiny_bert
from tests.hub_cache import start_simcse_st, write_hub_cache, write_mteb_sts_datasets
from tests.sts_sample import STSSample, write_sts_sample

BASE = "test-org/tiny-bert"
"""The Hub name of the tiny BERT the ``trained`` model starts from."""
TRAINING_DATA_URL = "https://example.org/datasets/my-sentences"
"""Where the ``trained`` model's training data (not one of the official files) is public."""


@pytest.fixture(scope="session")
def sample(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> STSSample:
    """A small copy of the SentEval STS files (8 scored pairs a subset) that ``eval`` and ``mteb`` both read."""
    return write_sts_sample(data_dir, tmp_path_factory.mktemp("sts-sample"), scored_per_subset=8, rows_per_file=20)


@pytest.fixture(scope="session")
def mteb_hub(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The Hub cache and the prepared datasets cache holding MTEB's STS12, STSBenchmark and SICK-R."""
    return write_mteb_sts_datasets(data_dir, tmp_path_factory.mktemp("mteb-hub"))


@pytest.fixture
def offline_hub(mteb_hub: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """This process's datasets library reads the stand-in (as ``HF_DATASETS_CACHE`` would make it)."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", mteb_hub[1])
    return mteb_hub


@pytest.fixture(scope="session")
def trained(minilm_path: Path, sample: STSSample, wiki_sentences: list[str], tmp_path_factory) -> Path:
    """A tiny BERT, from a Hub cache (``hub/`` beside the model, with ``hf-home/``) under the Hub name
    ``test-org/tiny-bert``, trained by ``simcse-st train`` for two steps on ``my_sentences.txt`` as
    ``test/simcse-tiny`` (with ``--training-data-url``)."""
    root = tmp_path_factory.mktemp("trained")
    write_hub_cache(root / "hub", BASE, build_tiny_bert(root / "tiny-bert", minilm_path / "vocab.txt"))
    sentences = root / "my_sentences.txt"
    sentences.write_text("\n".join(wiki_sentences[:16]) + "\n", encoding="utf-8")
    process = start_simcse_st(
        "train", "unsup", "--model", BASE, "--train-file", sentences, "--output-dir", root / "model",
        "--max-steps", "2", "--batch-size", "4", "--eval-steps", "2", "--data-dir", sample.root,
        "--name", "test/simcse-tiny", "--license", "apache-2.0", "--language", "en",
        "--training-data-url", TRAINING_DATA_URL, cache=root / "hub", home=root / "hf-home",
    )
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stdout[-3000:] + stderr[-3000:]
    return root / "model"
