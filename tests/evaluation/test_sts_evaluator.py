"""SentEvalSTSEvaluator against an independent computation: encode, cosine with numpy, scipy's spearmanr."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr
from sentence_transformers import SentenceTransformer

from simcse_st.data import STS_TASKS, DataNotFoundError
from simcse_st.evaluation import SentEvalSTSEvaluator
from tests.sts_sample import Pairs, STSSample


def cosines(model: SentenceTransformer, pairs: Pairs) -> np.ndarray:
    """Cosine similarity of each pair, from one embedding per distinct (whitespace-normalized) sentence.

    Some subsets repeat a whole pair; one embedding per sentence makes their cosines tie exactly, as they do in
    the evaluator, instead of differing in the last float bits.
    """
    first = [" ".join(s.split()) for s in pairs.sentences1]
    second = [" ".join(s.split()) for s in pairs.sentences2]
    unique = sorted(set(first + second))
    embedding = dict(zip(unique, model.encode(unique).astype(np.float64), strict=True))
    a = np.array([embedding[s] for s in first])
    b = np.array([embedding[s] for s in second])
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def hand_score(model: SentenceTransformer, subsets: list[Pairs], aggregation: str) -> float:
    """Spearman x100 as SentEval aggregates it: over all pairs, or the (weighted) mean of per-subset values."""
    predicted = [cosines(model, pairs) for pairs in subsets]
    if aggregation == "all":
        return 100 * spearmanr(sum((p.scores for p in subsets), []), np.concatenate(predicted))[0]
    per_subset = [100 * spearmanr(p.scores, c)[0] for p, c in zip(subsets, predicted, strict=True)]
    if aggregation == "mean":
        return sum(per_subset) / len(per_subset)
    sizes = [len(p.scores) for p in subsets]
    return sum(s * n for s, n in zip(per_subset, sizes, strict=True)) / sum(sizes)


@pytest.mark.parametrize(("split", "aggregation"), [("test", "all"), ("test", "mean"), ("test", "wmean"),
                                                    ("dev", "all")])
def test_scores_equal_spearmanr_over_hand_computed_cosines(
    split: str, aggregation: str, tiny_model: SentenceTransformer, sts_sample: STSSample
) -> None:
    evaluator = SentEvalSTSEvaluator(sts_sample.root, split=split, aggregation=aggregation, name="",
                                     show_progress_bar=False)
    scores = evaluator(tiny_model)
    tasks = STS_TASKS if split == "test" else ("STSBenchmark", "SICKRelatedness")
    expected = {task: hand_score(tiny_model, sts_sample.pairs[task, split], aggregation) for task in tasks}
    assert list(scores) == [*tasks, "avg"]
    for task in tasks:
        assert scores[task] == pytest.approx(expected[task], abs=1e-3), task
    assert scores["avg"] == pytest.approx(np.mean(list(expected.values())), abs=1e-3)


def test_aggregations_differ_where_subsets_do(tiny_model: SentenceTransformer, sts_sample: STSSample) -> None:
    results = {aggregation: SentEvalSTSEvaluator(sts_sample.root, tasks=["STS12", "STSBenchmark"],
                                                 aggregation=aggregation, name="", show_progress_bar=False)(tiny_model)
               for aggregation in ("all", "mean", "wmean")}
    assert results["all"]["STS12"] != pytest.approx(results["mean"]["STS12"])
    assert results["all"]["STSBenchmark"] == results["mean"]["STSBenchmark"] == results["wmean"]["STSBenchmark"]


def test_each_unique_sentence_is_encoded_once(
    tiny_model: SentenceTransformer, sts_sample: STSSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[str] = []
    original = tiny_model.encode

    def counting_encode(sentences, *args, **kwargs):
        encoded.extend(sentences)
        return original(sentences, *args, **kwargs)

    monkeypatch.setattr(tiny_model, "encode", counting_encode)
    SentEvalSTSEvaluator(sts_sample.root, show_progress_bar=False)(tiny_model)
    occurrences = [" ".join(s.split()) for s in sts_sample.sentences([(task, "test") for task in STS_TASKS])]
    assert len(set(occurrences)) < len(occurrences)  # the sample does repeat sentences
    assert sorted(encoded) == sorted(set(occurrences))


def test_metric_keys_for_the_trainer_and_one_log_line(
    tiny_model: SentenceTransformer, sts_sample: STSSample, caplog: pytest.LogCaptureFixture
) -> None:
    evaluator = SentEvalSTSEvaluator(sts_sample.root, split="dev", show_progress_bar=False)
    with caplog.at_level(logging.INFO, logger="simcse_st.evaluation.sts"):
        metrics = evaluator(tiny_model, epoch=1.0, steps=20)
    assert set(metrics) == {"sts_dev_STSBenchmark", "sts_dev_SICKRelatedness", "sts_dev_avg"}
    assert evaluator.primary_metric == "sts_dev_avg" and evaluator.greater_is_better
    lines = [record.getMessage() for record in caplog.records if record.name == "simcse_st.evaluation.sts"]
    assert len(lines) == 1 and "after epoch 1, step 20: STS-B" in lines[0] and "SICK-R" in lines[0]


def test_baseline_pooling_option(minilm: SentenceTransformer, sts_sample: STSSample) -> None:
    from simcse_st.evaluation import encode

    evaluator = SentEvalSTSEvaluator(sts_sample.root, tasks=["STSBenchmark"], pooling="avg_first_last", name="",
                                     show_progress_bar=False)
    (pairs,) = sts_sample.pairs["STSBenchmark", "test"]
    a = encode(minilm, pairs.sentences1, pooling="avg_first_last", show_progress_bar=False)
    b = encode(minilm, pairs.sentences2, pooling="avg_first_last", show_progress_bar=False)
    expected = 100 * spearmanr(pairs.scores, (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))[0]
    score = evaluator(minilm)["STSBenchmark"]
    assert score == pytest.approx(expected, abs=1e-3)
    own_pooling = SentEvalSTSEvaluator(sts_sample.root, tasks=["STSBenchmark"], name="", show_progress_bar=False)
    assert score != pytest.approx(own_pooling(minilm)["STSBenchmark"], abs=0.1)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"split": "train"}, ValueError, "Unknown split 'train'; choose one of test, dev"),
        ({"aggregation": "max"}, ValueError, "Unknown aggregation 'max'; choose one of all, mean, wmean"),
        ({"pooling": "cls"}, ValueError, "Unknown pooling 'cls'; choose None or one of avg_first_last"),
        ({"split": "dev", "tasks": ["STS12"]}, ValueError, "STS12 has no split 'dev'"),
        ({"tasks": ["STS99"]}, ValueError, "Unknown STS task 'STS99'"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs, error, message, sts_sample: STSSample) -> None:
    with pytest.raises(error, match=message):
        SentEvalSTSEvaluator(sts_sample.root, **kwargs)


def test_wrong_data_root_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"senteval/STS/STS12-en-test/STS\.input\.MSRpar\.txt.*--data-dir"):
        SentEvalSTSEvaluator(tmp_path)
