"""AlignmentUniformityEvaluator against the paper's definitions computed by hand on STS-B."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from simcse_st.evaluation import AlignmentUniformityEvaluator
from tests.sts_sample import STSSample


def test_alignment_and_uniformity_match_hand_computation(tiny_model: SentenceTransformer,
                                                         sts_sample: STSSample) -> None:
    (pairs,) = sts_sample.pairs["STSBenchmark", "test"]
    triples = zip(pairs.sentences1, pairs.sentences2, pairs.scores, strict=True)
    positives = [(a, b) for a, b, gold in triples if gold > 4]
    assert 0 < len(positives) < len(pairs.scores)

    def normalized(sentences: list[str]) -> np.ndarray:
        embeddings = tiny_model.encode(sentences).astype(np.float64)
        return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)

    x, x_plus = normalized([a for a, _ in positives]), normalized([b for _, b in positives])
    expected_alignment = float(np.mean(np.sum((x - x_plus) ** 2, axis=1)))
    sentences = normalized(sorted(set(pairs.sentences1 + pairs.sentences2)))
    potentials = [math.exp(-2 * np.sum((sentences[i] - sentences[j]) ** 2))
                  for i in range(len(sentences)) for j in range(i + 1, len(sentences))]
    expected_uniformity = math.log(sum(potentials) / len(potentials))

    evaluator = AlignmentUniformityEvaluator(sts_sample.root, show_progress_bar=False)
    metrics = evaluator(tiny_model)
    assert metrics["stsb_test_alignment"] == pytest.approx(expected_alignment, rel=1e-4)
    assert metrics["stsb_test_uniformity"] == pytest.approx(expected_uniformity, rel=1e-4)
    assert evaluator.primary_metric == "stsb_test_uniformity" and evaluator.greater_is_better is False


def test_split_without_positive_pairs(tmp_path) -> None:
    folder = tmp_path / "senteval/STS/STSBenchmark"
    folder.mkdir(parents=True)
    (folder / "sts-dev.csv").write_text("g\tt\ty\t1\t2.0\tA.\tB.\ng\tt\ty\t2\t4.0\tC.\tD.\n", encoding="utf-8")
    with pytest.raises(ValueError, match="STS-B dev has no pair with a gold score above 4"):
        AlignmentUniformityEvaluator(tmp_path, split="dev")
