"""TrainingWatchEvaluator: STS dev, alignment and uniformity of STS-B dev against a hand computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sentence_transformers import SentenceTransformer

from simcse_st.evaluation.watch import TrainingWatchEvaluator
from tests.sts_sample import Pairs, STSSample


def hand_watch_metrics(model: SentenceTransformer, pairs: Pairs) -> dict[str, float]:
    """The paper's definitions computed plainly: STS-B dev Spearman x100 of cosines; alignment, the mean squared
    distance of unit embeddings over the pairs scored above 4; uniformity, log of the mean of exp(-2 d^2) over all
    pairs of distinct sentences."""
    first = [" ".join(s.split()) for s in pairs.sentences1]  # SentEval's whitespace tokenization
    second = [" ".join(s.split()) for s in pairs.sentences2]
    sentences = list(dict.fromkeys(first + second))
    vectors = model.encode(sentences, convert_to_numpy=True).astype(np.float64)
    unit = {s: v / np.linalg.norm(v) for s, v in zip(sentences, vectors, strict=True)}
    cosines = [unit[a] @ unit[b] for a, b in zip(first, second, strict=True)]
    positives = [(a, b) for a, b, gold in zip(first, second, pairs.scores, strict=True) if gold > 4]
    alignment = np.mean([np.sum((unit[a] - unit[b]) ** 2) for a, b in positives])
    squared = [np.sum((unit[x] - unit[y]) ** 2) for i, x in enumerate(sentences) for y in sentences[i + 1:]]
    return {
        "sts_dev_STSBenchmark": spearmanr(pairs.scores, cosines)[0] * 100,
        "stsb_dev_alignment": alignment,
        "stsb_dev_uniformity": np.log(np.mean(np.exp(-2 * np.array(squared)))),
    }


def test_metrics_equal_a_hand_computation(minilm: SentenceTransformer, sts_sample: STSSample) -> None:
    (pairs,) = sts_sample.pairs["STSBenchmark", "dev"]
    assert sum(score > 4 for score in pairs.scores) >= 5  # the sample holds positive pairs
    metrics = TrainingWatchEvaluator(data_dir=sts_sample.root)(minilm)
    expected = hand_watch_metrics(minilm, pairs)
    assert set(metrics) == {*expected, "sts_dev_avg"}
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    assert metrics["sts_dev_avg"] == metrics["sts_dev_STSBenchmark"]


def test_each_dev_sentence_is_encoded_once(
    minilm: SentenceTransformer, sts_sample: STSSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[str] = []
    original = SentenceTransformer.encode

    def spy(self: SentenceTransformer, sentences: list[str], *args: object, **kwargs: object) -> np.ndarray:
        encoded.extend(sentences)
        return original(self, sentences, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "encode", spy)
    TrainingWatchEvaluator(data_dir=sts_sample.root, tasks=("STSBenchmark", "SICKRelatedness"))(minilm)
    assert len(encoded) == len(set(encoded))
    sick = sts_sample.pairs["SICKRelatedness", "dev"][0]
    assert " ".join(sick.sentences1[0].split()) in encoded  # SICK-R dev is scored too
