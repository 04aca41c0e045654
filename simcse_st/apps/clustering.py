"""Clustering and topic discovery: group the sentences of a corpus by meaning.

Sentences are embedded (L2-normalized) and grouped with scikit-learn's k-means or agglomerative clustering
(average linkage on cosine distance). Each cluster is summarized by its size and the sentences nearest its
centre, a readable stand-in for its topic.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simcse_st.embedding import ModelLike, check_sentences, embed_corpus

logger = logging.getLogger(__name__)

METHODS: tuple[str, ...] = ("kmeans", "agglomerative")
"""Clustering algorithms of :func:`cluster`."""

DISTANCE_BYTES = 8
"""Bytes per entry of agglomerative clustering's pairwise distance matrix (float64)."""


@dataclass
class Cluster:
    """One cluster of a :class:`Clustering`.

    Attributes:
        label: the cluster's number (0 is the largest cluster).
        size: how many sentences it holds.
        representatives: up to ``top_n`` of its sentences, nearest its centre first (the "topic").
        positions: the corpus positions of all its sentences, nearest the centre first.
    """

    label: int
    size: int
    representatives: list[str]
    positions: list[int]


@dataclass
class Clustering:
    """The result of :func:`cluster`.

    Attributes:
        labels: the cluster label of each sentence, in corpus order (clusters numbered by decreasing size).
        clusters: one :class:`Cluster` per label, largest first.
    """

    labels: np.ndarray
    clusters: list[Cluster]

    def summary(self, max_clusters: int | None = None) -> str:
        """A readable listing: per cluster, its size and its sentences nearest the centre."""
        lines = []
        for cluster in self.clusters[:max_clusters]:
            lines.append(f"cluster {cluster.label} ({cluster.size} sentences)")
            lines.extend(f"    {sentence}" for sentence in cluster.representatives)
        hidden = len(self.clusters) - len(self.clusters[:max_clusters])
        if hidden:
            lines.append(f"... and {hidden} smaller clusters")
        return "\n".join(lines)


def default_n_clusters(n_sentences: int) -> int:
    """The rule of thumb ``k = sqrt(n / 2)`` (at least 2, at most ``n``), used when no ``n_clusters`` is given."""
    return min(n_sentences, max(2, round(math.sqrt(n_sentences / 2))))


def cluster(
    model_or_embeddings: ModelLike | np.ndarray,
    sentences: Sequence[str],
    n_clusters: int | None = None,
    method: str = "kmeans",
    distance_threshold: float | None = None,
    top_n: int = 3,
    seed: int = 0,
    n_init: int = 10,
    batch_size: int = 64,
    show_progress_bar: bool = True,
) -> Clustering:
    """Group ``sentences`` by meaning.

    Args:
        model_or_embeddings: a model (or its name or path) to encode the sentences with, or their embeddings.
        sentences: the corpus.
        n_clusters: the number of clusters; when neither it nor ``distance_threshold`` is given,
            :func:`default_n_clusters`.
        method: ``"kmeans"`` or ``"agglomerative"`` (average linkage on cosine distance).
        distance_threshold: agglomerative only, instead of ``n_clusters``: clusters stop merging when their
            average cosine distance (1 - cosine similarity) reaches this value.
        top_n: representatives kept per cluster.
        seed: k-means initialisation seed.
        n_init: k-means runs from different initialisations; the one with the lowest inertia is kept.
        batch_size: sentences per forward pass when encoding.
        show_progress_bar: show a tqdm bar while encoding.

    Returns:
        A :class:`Clustering`: a label per sentence, and per cluster its size and representatives.

    Raises:
        ValueError: for an empty corpus, an unknown method, both or an invalid ``n_clusters`` /
            ``distance_threshold``, a threshold with k-means, or an agglomerative clustering whose distance
            matrix would not fit in memory (:func:`check_agglomerative_fits`).

    Example:
        >>> result = cluster("all-MiniLM-L6-v2", sentences, n_clusters=10)
        >>> print(result.summary())
    """
    sentences = check_sentences(sentences)
    _check_arguments(len(sentences), n_clusters, method, distance_threshold, top_n)
    if method == "agglomerative":
        check_agglomerative_fits(len(sentences))  # before encoding: refuse at once, not after an hour
    embeddings = embed_corpus(model_or_embeddings, sentences, batch_size, show_progress_bar)
    if n_clusters is None and distance_threshold is None:
        n_clusters = default_n_clusters(len(sentences))
        logger.info("Clustering %d sentences into %d clusters (sqrt(n / 2))", len(sentences), n_clusters)
    raw_labels = _fit(embeddings, n_clusters, method, distance_threshold, seed, n_init)
    return _summarize(embeddings, sentences, raw_labels, top_n)


def available_memory() -> int | None:
    """Bytes of memory a new allocation can get: psutil's estimate when it is installed, else the free physical
    pages (POSIX), else None (unknown)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_agglomerative_fits(n_sentences: int, available_bytes: int | None = None) -> None:
    """Refuse an agglomerative clustering whose n x n distance matrix would not fit in memory.

    Agglomerative clustering holds the pairwise cosine distances of all sentences (n * n * 8 bytes, float64):
    4 GB at 22,000 sentences, 80 GB at 100,000. k-means grows linearly with the corpus.

    Args:
        n_sentences: the corpus size.
        available_bytes: the memory to compare with; by default :func:`available_memory` (no check when unknown).

    Raises:
        ValueError: naming the sizes and pointing to k-means, when the matrix is larger than the memory.
    """
    needed = n_sentences * n_sentences * DISTANCE_BYTES
    available = available_memory() if available_bytes is None else available_bytes
    if available is not None and needed > available:
        raise ValueError(
            f"Agglomerative clustering of {n_sentences} sentences needs their {n_sentences} x {n_sentences} distance "
            f"matrix, {needed / 2**30:.2f} GiB, but only {available / 2**30:.2f} GiB of memory is available. Use "
            "k-means instead (method='kmeans'; on the command line --method kmeans --n-clusters K), whose memory "
            "grows linearly with the corpus, or cluster a sample of the corpus."
        )


def _check_arguments(
    n_sentences: int, n_clusters: int | None, method: str, distance_threshold: float | None, top_n: int
) -> None:
    if method not in METHODS:
        raise ValueError(f"Unknown clustering method {method!r}; choose from {', '.join(METHODS)}.")
    if n_clusters is not None and distance_threshold is not None:
        raise ValueError("Give either n_clusters or distance_threshold, not both.")
    if n_clusters is not None and not 1 <= n_clusters <= n_sentences:
        raise ValueError(f"n_clusters must lie between 1 and the number of sentences ({n_sentences}), "
                         f"got {n_clusters}.")
    if distance_threshold is not None:
        if method != "agglomerative":
            raise ValueError("distance_threshold applies to method='agglomerative'; k-means needs n_clusters.")
        if not 0.0 < distance_threshold <= 2.0:
            raise ValueError(f"distance_threshold is a cosine distance in (0, 2], got {distance_threshold}.")
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}.")


def _fit(
    embeddings: np.ndarray,
    n_clusters: int | None,
    method: str,
    distance_threshold: float | None,
    seed: int,
    n_init: int,
) -> np.ndarray:
    """Raw scikit-learn labels of the normalized embeddings."""
    if len(embeddings) == 1:
        return np.zeros(1, dtype=int)
    if method == "kmeans":
        from sklearn.cluster import KMeans

        return KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit_predict(embeddings)
    from sklearn.cluster import AgglomerativeClustering

    return AgglomerativeClustering(
        n_clusters=n_clusters, metric="cosine", linkage="average", distance_threshold=distance_threshold
    ).fit_predict(embeddings)


def _summarize(embeddings: np.ndarray, sentences: list[str], raw_labels: np.ndarray, top_n: int) -> Clustering:
    """Renumber clusters by decreasing size and rank each cluster's sentences by cosine to its centre."""
    raw_ids, first_seen, counts = np.unique(raw_labels, return_index=True, return_counts=True)
    order = sorted(range(len(raw_ids)), key=lambda i: (-counts[i], first_seen[i]))
    renumber = {int(raw_ids[i]): new for new, i in enumerate(order)}
    labels = np.array([renumber[int(label)] for label in raw_labels])
    clusters = []
    for label in range(len(order)):
        members = np.flatnonzero(labels == label)
        centre = embeddings[members].mean(axis=0)
        # cosine of each member with the (normalized) centre
        closeness = embeddings[members] @ (centre / max(np.linalg.norm(centre), 1e-12))
        ranked = members[np.argsort(-closeness, kind="stable")]
        clusters.append(Cluster(label, len(members), [sentences[i] for i in ranked[:top_n]], ranked.tolist()))
    return Clustering(labels, clusters)
