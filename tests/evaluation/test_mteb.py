"""MTEB's own STS evaluator and SentEvalSTSEvaluator agree on the same local pairs; MTEB never returns stale scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sentence_transformers import SentenceTransformer

from simcse_st.data import STS_TASKS
from simcse_st.evaluation import SentEvalSTSEvaluator, run_mteb
from simcse_st.evaluation.mteb_tasks import local_sts_task
from simcse_st.fingerprint import short_fingerprint
from tests.sts_sample import STSSample

pytest.importorskip("mteb")


def test_mteb_agrees_with_senteval_evaluator_on_every_task(minilm: SentenceTransformer, sts_sample: STSSample) -> None:
    ours = SentEvalSTSEvaluator(sts_sample.root, name="", show_progress_bar=False)(minilm)
    theirs = run_mteb(minilm, data_dir=sts_sample.root, show_progress_bar=False)
    assert list(theirs) == [*STS_TASKS, "avg"]
    for task in [*STS_TASKS, "avg"]:
        assert theirs[task] == pytest.approx(ours[task], abs=0.01), task


def test_same_named_models_are_evaluated_not_read_from_cache(
    minilm: SentenceTransformer, tiny_model: SentenceTransformer, sts_sample: STSSample, tmp_path: Path
) -> None:
    tasks = ["STS13", "SICKRelatedness"]
    first = run_mteb(minilm, sts_sample.root, tasks, output_folder=tmp_path, show_progress_bar=False)
    second = run_mteb(tiny_model, sts_sample.root, tasks, output_folder=tmp_path, show_progress_bar=False)
    ours = SentEvalSTSEvaluator(sts_sample.root, tasks, name="", show_progress_bar=False)(tiny_model)
    for task in tasks:
        assert second[task] == pytest.approx(ours[task], abs=0.01)
        assert second[task] != pytest.approx(first[task], abs=0.01)
    files = list(tmp_path.rglob("SentEvalSTS13.json"))
    assert len(files) == 2  # each model in the folder of its own revision, the hash of its weights
    (result_file,) = [path for path in files if path.parent.name == short_fingerprint(tiny_model)]
    saved = json.loads(result_file.read_text())
    assert 100 * saved["scores"]["test"][0]["cosine_spearman"] == pytest.approx(second["STS13"], abs=1e-3)


def test_local_task_holds_the_concatenated_scored_pairs(sts_sample: STSSample) -> None:
    task = local_sts_task("STS12", sts_sample.root)
    task.load_data()
    pairs = sts_sample.pairs["STS12", "test"]
    assert task.dataset["test"]["score"] == [g for p in pairs for g in p.scores]
    assert task.metadata.name == "SentEvalSTS12"


def test_unknown_task_or_source() -> None:
    with pytest.raises(ValueError, match="Unknown STS task 'STS99'"):
        local_sts_task("STS99")
    with pytest.raises(ValueError, match="Unknown source 'ftp'"):
        run_mteb("unused", tasks=["STS12"], source="ftp")
