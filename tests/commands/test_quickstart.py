"""``simcse-st quickstart`` wiring, on the tiny BERT, a few steps and two STS tasks (the real run is by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sentence_transformers import SentenceTransformer

from simcse_st.cli import main
from simcse_st.evaluation import SentEvalSTSEvaluator

TASKS = ["STSBenchmark", "SICKRelatedness"]


def table_rows(text: str) -> dict[str, list[float]]:
    """The Markdown table's rows: label -> numbers."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] in ("before", "after SimCSE", "change"):
            rows[cells[0]] = [float(cell) for cell in cells[1:]]
    return rows


def test_quickstart_scores_trains_scores_and_says_where_the_model_went(
    tmp_path: Path, tiny_bert_path: Path, wiki_sentences: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    train_file = tmp_path / "sentences.txt"
    train_file.write_text("\n".join(wiki_sentences[:64]) + "\n", encoding="utf-8")
    output_dir = tmp_path / "quickstart-model"
    assert main(["quickstart", "--model", str(tiny_bert_path), "--train-file", str(train_file),
                 "--output-dir", str(output_dir), "--max-steps", "2", "--batch-size", "16", "--tasks", *TASKS]) == 0
    out = capsys.readouterr().out
    for stage in range(1, 5):
        assert f"[{stage}/4]" in out
    assert str(output_dir.resolve()) in out and "2 steps" in out

    rows = table_rows(out.split("[4/4]")[1])
    before, after, change = rows["before"], rows["after SimCSE"], rows["change"]
    assert len(before) == len(TASKS) + 1  # the tasks and their average
    assert change == pytest.approx([a - b for a, b in zip(after, before, strict=True)], abs=0.011)
    # the "after" row is the saved model's score
    scores = SentEvalSTSEvaluator(tasks=TASKS, name="", show_progress_bar=False)(SentenceTransformer(str(output_dir)))
    assert after == pytest.approx([scores[task] for task in TASKS] + [scores["avg"]], abs=0.006)

    # a second run does not overwrite the first
    assert main(["quickstart", "--model", str(tiny_bert_path), "--train-file", str(train_file),
                 "--output-dir", str(output_dir), "--tasks", *TASKS]) == 2
    assert "another --output-dir" in capsys.readouterr().err
