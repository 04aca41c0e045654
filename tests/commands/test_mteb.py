"""``simcse-st mteb``: MTEB's scores on the local files, as a table and JSON, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sentence_transformers import SentenceTransformer

from simcse_st.cli import main
from simcse_st.evaluation import SentEvalSTSEvaluator
from tests.sts_sample import STSSample

pytest.importorskip("mteb")


def test_mteb_command_agrees_with_eval(
    tiny_bert_path: Path, sample: STSSample, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = ["STS12", "STSBenchmark"]
    out = tmp_path / "mteb.json"
    argv = ["mteb", str(tiny_bert_path), "--data-dir", str(sample.root), "--tasks", *tasks,
            "--output-dir", str(tmp_path / "results"), "--license", "mit", "--json", str(out)]
    assert main(argv) == 0
    assert "STS-B" in capsys.readouterr().out
    expected = SentEvalSTSEvaluator(sample.root, tasks, name="", show_progress_bar=False)(
        SentenceTransformer(str(tiny_bert_path)))
    written = json.loads(out.read_text())
    assert list(written) == [*tasks, "avg"]
    for task in [*tasks, "avg"]:
        assert written[task] == pytest.approx(expected[task], abs=0.011)
    assert sorted(path.name for path in (tmp_path / "results").rglob("SentEval*.json")) == [
        "SentEvalSTS12.json", "SentEvalSTSBenchmark.json"]


def test_missing_model_path(sample: STSSample, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-model"
    assert main(["mteb", str(missing), "--data-dir", str(sample.root), "--tasks", "STS12"]) == 2
    assert capsys.readouterr().err.startswith(f"simcse-st mteb: error: The model path {missing} does not exist")
