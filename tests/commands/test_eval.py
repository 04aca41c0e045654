"""``simcse-st eval``: the printed table, the JSON file and the errors users see."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sentence_transformers import SentenceTransformer

from simcse_st.cli import main
from simcse_st.data import STS_TASKS
from simcse_st.evaluation import SentEvalSTSEvaluator
from tests.sts_sample import STSSample

PAPER_COLUMNS = ["STS12", "STS13", "STS14", "STS15", "STS16", "STS-B", "SICK-R", "Avg."]


def test_eval_prints_the_paper_table_and_writes_json(
    tiny_bert_path: Path, sample: STSSample, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scores" / "sts.json"
    assert main(["eval", str(tiny_bert_path), "--data-dir", str(sample.root), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    header = [line for line in printed.splitlines() if "STS12" in line][0]
    assert [cell.strip() for cell in header.strip("|").split("|")] == PAPER_COLUMNS
    written = json.loads(out.read_text())
    expected = SentEvalSTSEvaluator(sample.root, name="", show_progress_bar=False)(
        SentenceTransformer(str(tiny_bert_path)))
    assert list(written) == [*STS_TASKS, "avg"]
    assert written == {task: round(score, 2) for task, score in expected.items()}
    values = printed.splitlines()[printed.splitlines().index(header) + 2]
    assert [cell.strip() for cell in values.strip("|").split("|")] == [f"{v:.2f}" for v in expected.values()]


def test_eval_dev_split_with_baseline_pooling(
    tiny_bert_path: Path, sample: STSSample, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dev.json"
    argv = ["eval", str(tiny_bert_path), "--data-dir", str(sample.root), "--split", "dev", "--aggregation", "wmean",
            "--pooling", "cls_before_pooler", "--batch-size", "16", "--json", str(out)]
    assert main(argv) == 0
    expected = SentEvalSTSEvaluator(sample.root, split="dev", pooling="cls_before_pooler", name="",
                                    show_progress_bar=False)(SentenceTransformer(str(tiny_bert_path)))
    assert json.loads(out.read_text()) == {task: round(score, 2) for task, score in expected.items()}
    assert "STS-B" in capsys.readouterr().out


def test_missing_model_path(sample: STSSample, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-model"
    assert main(["eval", str(missing), "--data-dir", str(sample.root), "--tasks", "STS12"]) == 2
    assert capsys.readouterr().err.startswith(f"simcse-st eval: error: The model path {missing} does not exist")


def test_wrong_data_root(tiny_bert_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tiny_bert_path), "--data-dir", str(tmp_path / "nowhere")]) == 2
    error = capsys.readouterr().err
    assert f"The data root {tmp_path / 'nowhere'} is not a folder" in error and "SIMCSE_DATA_DIR" in error
