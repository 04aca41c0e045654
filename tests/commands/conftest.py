"""Fixtures shared by the command tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sts_sample import STSSample, write_sts_sample


@pytest.fixture(scope="session")
def sample(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> STSSample:
    """A small copy of the SentEval STS files (8 scored pairs a subset) that ``eval`` and ``mteb`` both read."""
    return write_sts_sample(data_dir, tmp_path_factory.mktemp("sts-sample"), scored_per_subset=8, rows_per_file=20)
