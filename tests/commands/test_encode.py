"""``simcse-st encode``: a run killed for real (SIGKILL) mid-run and run again ends with the uninterrupted bytes."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from simcse_st.cli import main
from tests.conftest import REPO_ROOT

FILES = ("embeddings.npy", "sentences.jsonl", "manifest.json", "progress.json")


@pytest.fixture(scope="module")
def corpus(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 1,000 lines of the Wikipedia sample: 20 chunks of 50."""
    with open(data_dir / "wiki" / "wiki1m_sample.txt", encoding="utf-8") as handle:
        lines = [line for _, line in zip(range(1000), handle, strict=False)]
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def encode_command(model: Path, corpus: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "simcse_st.cli", "encode", str(model), "--corpus", str(corpus), "--out", str(out),
            "--chunk-size", "50", "--batch-size", "25"]


def chunks_done(out: Path) -> int:
    try:
        return json.loads((out / "progress.json").read_text("utf-8"))["chunks_done"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def test_killed_encode_resumes_to_the_bytes_of_an_uninterrupted_run(tiny_bert_path, corpus, tmp_path, caplog):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    process = subprocess.Popen(encode_command(tiny_bert_path, corpus, killed), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while chunks_done(killed) < 1 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = chunks_done(killed)
    assert 1 <= done < 20  # killed mid-run: some of the 20 chunks are written, not all

    # continued and run whole in this process, on one thread as the killed run (the same floating-point sums)
    with threadpool_limits(limits=1), torch_threads(1), caplog.at_level(logging.INFO):
        assert main(encode_command(tiny_bert_path, corpus, killed)[3:]) == 0
        assert f"Resuming {killed} at chunk {done}" in caplog.text
        assert main(encode_command(tiny_bert_path, corpus, whole)[3:]) == 0
    for name in FILES:
        assert (killed / name).read_bytes() == (whole / name).read_bytes(), name


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def test_encode_refuses_a_bad_shard_spec(tiny_bert_path, corpus, tmp_path, capsys):
    argv = ["encode", str(tiny_bert_path), "--corpus", str(corpus), "--out", str(tmp_path / "out"), "--shard", "3/2"]
    assert main(argv) == 2
    assert "simcse-st encode: error: Shard spec 3/2 is out of range" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
