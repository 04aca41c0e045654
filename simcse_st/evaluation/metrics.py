"""The numbers the paper reports: Spearman x100 of cosine similarity, alignment and uniformity.

Alignment and uniformity are Wang & Isola (2020)'s measures as the SimCSE paper defines them in Section 2
(Eq. 2 and Eq. 3), on L2-normalized embeddings with alpha = 2 and t = 2; lower is better for both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial.distance import pdist
from scipy.special import logsumexp
from scipy.stats import spearmanr


def l2_normalize(embeddings: np.ndarray) -> np.ndarray:
    """Each row divided by its Euclidean norm (in float64)."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)


def paired_cosine(embeddings1: np.ndarray, embeddings2: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``embeddings1`` with the same row of ``embeddings2``."""
    # cos(u, v) = u.v / (|u| |v|), row by row
    return np.sum(l2_normalize(embeddings1) * l2_normalize(embeddings2), axis=1)


def spearman_x100(gold: Sequence[float], predicted: Sequence[float]) -> float:
    """Spearman's rank correlation between gold and predicted similarities, times 100 (the paper's unit).

    Raises:
        ValueError: when fewer than two pairs are given.
    """
    if len(gold) < 2:
        raise ValueError(f"Spearman's correlation needs at least two scored pairs, got {len(gold)}.")
    return float(spearmanr(gold, predicted)[0] * 100)


def alignment(embeddings: np.ndarray, positive_embeddings: np.ndarray, alpha: float = 2.0) -> float:
    """The expected distance between positive pairs: ``mean ||f(x) - f(x+)||^alpha`` (SimCSE Eq. 2).

    Args:
        embeddings: one row per sentence x (normalized here).
        positive_embeddings: the row of its positive x+ at the same index (normalized here).
        alpha: the exponent; the paper uses 2.
    """
    # l_align = E_{(x, x+) ~ p_pos} ||f(x) - f(x+)||^alpha
    distances = np.linalg.norm(l2_normalize(embeddings) - l2_normalize(positive_embeddings), axis=1)
    return float(np.mean(distances**alpha))


def uniformity(embeddings: np.ndarray, t: float = 2.0) -> float:
    """How evenly embeddings spread on the sphere: ``log mean exp(-t ||f(x) - f(y)||^2)`` (SimCSE Eq. 3).

    The mean runs over all distinct pairs ``x != y`` of rows (``i < j``).

    Raises:
        ValueError: when fewer than two embeddings are given.
    """
    if len(embeddings) < 2:
        raise ValueError(f"Uniformity needs at least two sentences, got {len(embeddings)}.")
    # l_uniform = log E_{x, y ~ p_data} exp(-t ||f(x) - f(y)||^2), as a stable log-sum-exp
    squared_distances = pdist(l2_normalize(embeddings), metric="sqeuclidean")
    return float(logsumexp(-t * squared_distances) - np.log(len(squared_distances)))
