"""The paper's formulas against plain loop computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simcse_st.evaluation.metrics import alignment, paired_cosine, spearman_x100, uniformity


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / math.sqrt(sum(v * v for v in vector))


@pytest.fixture
def vectors() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(7, 5)), rng.normal(size=(7, 5))


def test_alignment_is_mean_squared_distance_of_normalized_positive_pairs(vectors) -> None:
    x, y = vectors
    expected = sum(sum((a - b) ** 2) for a, b in zip(map(unit, x), map(unit, y), strict=True)) / len(x)
    assert alignment(x, y) == pytest.approx(expected, rel=1e-12)


def test_uniformity_is_log_mean_gaussian_potential_over_distinct_pairs(vectors) -> None:
    x, _ = vectors
    normalized = [unit(v) for v in x]
    potentials = [math.exp(-2 * sum((normalized[i] - normalized[j]) ** 2))
                  for i in range(len(x)) for j in range(i + 1, len(x))]
    assert uniformity(x) == pytest.approx(math.log(sum(potentials) / len(potentials)), rel=1e-12)


def test_identical_embeddings_have_perfect_alignment_and_worst_uniformity() -> None:
    x = np.ones((4, 3))
    assert alignment(x, 2 * x) == pytest.approx(0.0, abs=1e-12)
    assert uniformity(x) == pytest.approx(0.0, abs=1e-12)


def test_paired_cosine_row_by_row(vectors) -> None:
    x, y = vectors
    expected = [float(np.dot(unit(a), unit(b))) for a, b in zip(x, y, strict=True)]
    assert paired_cosine(x, y) == pytest.approx(expected, rel=1e-12)


def test_spearman_x100_scale_and_too_few_pairs() -> None:
    assert spearman_x100([1.0, 2.0, 3.0], [0.1, 0.5, 0.2]) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="at least two scored pairs, got 1"):
        spearman_x100([1.0], [0.3])
    with pytest.raises(ValueError, match="at least two sentences"):
        uniformity(np.ones((1, 3)))
