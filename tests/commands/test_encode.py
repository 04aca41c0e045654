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

import numpy as np
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


def _encode_in_process(model: Path, corpus: Path, out: Path) -> int:
    with threadpool_limits(limits=1), torch_threads(1):
        return main(encode_command(model, corpus, out)[3:])


@pytest.fixture(scope="module")
def uninterrupted(tiny_bert_path: Path, corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus encoded in one uninterrupted run (20 chunks of 50)."""
    out = tmp_path_factory.mktemp("uninterrupted") / "enc"
    assert _encode_in_process(tiny_bert_path, corpus, out) == 0
    return out


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _cut_mid_line(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 5])  # inside chunk 11's lines


def _zero_rows(path: Path) -> None:
    """Rows 730-779 back to zeros, as a sparse file reads where data never reached the disk."""
    rows = np.load(path, mmap_mode="r+")
    rows[730:780] = 0
    rows.flush()


@pytest.mark.parametrize(("name", "damage"), [("sentences.jsonl", _empty), ("sentences.jsonl", _cut_mid_line),
                                              ("embeddings.npy", _zero_rows)],
                         ids=["emptied-sentences", "shortened-sentences", "unwritten-rows"])
def test_a_rerun_over_damaged_files_re_encodes_what_is_missing_to_the_uninterrupted_bytes(
    tiny_bert_path, corpus, uninterrupted, tmp_path, name, damage, caplog
):
    out = tmp_path / "enc"
    out.mkdir()
    for file in FILES:
        (out / file).write_bytes((uninterrupted / file).read_bytes())
    damage(out / name)
    with caplog.at_level(logging.WARNING):
        assert _encode_in_process(tiny_bert_path, corpus, out) == 0
    assert b"\0" not in (out / "sentences.jsonl").read_bytes()  # never padded
    for file in FILES:
        assert (out / file).read_bytes() == (uninterrupted / file).read_bytes(), file
    assert "re-encoding from chunk" in caplog.text  # and the user is told


def test_a_model_retrained_in_place_is_refused_not_mixed(tiny_bert_path, corpus, tmp_path, capsys):
    import shutil

    import torch
    from transformers import BertModel

    model = tmp_path / "model"
    shutil.copytree(tiny_bert_path, model)
    few = tmp_path / "few.txt"
    few.write_text("".join(corpus.read_text("utf-8").splitlines(keepends=True)[:120]), encoding="utf-8")
    out = tmp_path / "enc"
    assert _encode_in_process(model, few, out) == 0
    before = {name: (out / name).read_bytes() for name in FILES}
    bert = BertModel.from_pretrained(model)
    with torch.no_grad():
        bert.encoder.layer[0].output.dense.bias.add_(0.01)  # "retrained": same path, other weights
    bert.save_pretrained(model)
    capsys.readouterr()
    assert _encode_in_process(model, few, out) == 2
    error = capsys.readouterr().err
    assert "holds embeddings of another model: the model" in error and "changed in place" in error
    assert {name: (out / name).read_bytes() for name in FILES} == before
