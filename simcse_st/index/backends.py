"""The search backends of :class:`~simcse_st.index.SemanticIndex`: exact search, and FAISS flat, HNSW and IVF-PQ.

Every backend ranks L2-normalized embeddings by inner product (their cosine similarity). This module builds the
FAISS indexes, chooses the IVF-PQ settings, re-scores IVF-PQ candidates with the stored embeddings, and resolves
``auto`` to a backend for a corpus size.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

BACKENDS: tuple[str, ...] = ("auto", "exact", "faiss-flat", "faiss-hnsw", "faiss-ivfpq")
"""How :class:`SemanticIndex` searches:

- ``exact``: cosine similarity with every corpus sentence (torch, through sentence-transformers'
  ``util.semantic_search``); the embeddings are held in memory as float32;
- ``faiss-flat``: FAISS ``IndexFlatIP``, the same exact search in FAISS (same results as ``exact``);
- ``faiss-hnsw``: FAISS ``IndexHNSWFlat`` (M=32, efConstruction=200), approximate: on 10,000 STS-B sentences
  encoded by all-MiniLM-L6-v2, its recall@10 against exact search over 500 held-out queries is 0.9988 with
  ``ef_search=128`` (the default), 0.9976 with 64 and 0.9914 with 32 (``benchmarks/bench_search_recall.py``);
- ``faiss-ivfpq``: FAISS IVF with product quantization for millions of sentences (:class:`IVFPQSettings`): the
  corpus is split into ``nlist`` k-means cells and each embedding is kept in memory as an ``m``-byte code; a
  query scans its ``nprobe`` nearest cells, and the ``rerank`` x ``top_k`` best candidates are re-scored with the
  stored embeddings, which a loaded index reads from its memory-mapped file (only those rows);
- ``auto``: ``exact`` below :data:`LARGE_CORPUS` sentences, ``faiss-hnsw`` below :data:`HUGE_CORPUS`,
  ``faiss-ivfpq`` from there on (the FAISS ones when FAISS is installed).
"""

LARGE_CORPUS = 100_000
"""Corpus size from which ``backend="auto"`` switches to the approximate FAISS HNSW index."""

HUGE_CORPUS = 1_000_000
"""Corpus size from which ``backend="auto"`` switches to FAISS IVF-PQ (HNSW would hold 4 bytes a dimension)."""

_HNSW_M = 32  # neighbours per node of the HNSW graph
DEFAULT_RERANK = 8
"""IVF-PQ: candidates per hit re-scored with the stored embeddings (``rerank``), by default."""
_HNSW_EF_CONSTRUCTION = 200  # candidate list size while building the graph
SAVED_FAISS = ("faiss-hnsw", "faiss-ivfpq")
"""Backends whose FAISS index is saved with an index (flat is rebuilt in seconds)."""
BLOCK_ROWS = 65_536
"""Embeddings copied or added to FAISS at a time, so a memory-mapped file is never read whole."""
RESCORE_BYTES = 4 << 20
"""IVF-PQ re-scoring holds at most this many bytes of candidate rows at a time (4 MiB: 3 queries of 800 candidates
of 384 float32 dimensions; one query at least)."""
_POINTS_PER_CENTROID = 39  # FAISS's minimum of training points per k-means centroid


@dataclass(frozen=True)
class IVFPQSettings:
    """The shape of a FAISS IVF-PQ index.

    Attributes:
        nlist: inverted lists (k-means cells over the embeddings).
        m: sub-quantizers: each embedding is cut into ``m`` pieces, each stored as one ``nbits``-bit code.
        nbits: bits per code (8: 256 centroids per piece).
        nprobe: cells scanned per query.
        rerank: candidates per hit re-scored with the stored embeddings (0: rank by the codes alone).
        train_size: embeddings sampled to train the cells and codes.
    """

    nlist: int
    m: int
    nbits: int
    nprobe: int
    rerank: int
    train_size: int

    @property
    def code_bytes(self) -> int:
        """Bytes of one embedding's code (without its 8-byte id)."""
        return math.ceil(self.m * self.nbits / 8)


def ivfpq_settings(
    size: int, dimension: int, *, nlist: int | None = None, m: int | None = None, nprobe: int | None = None,
    rerank: int = DEFAULT_RERANK,
) -> IVFPQSettings:
    """IVF-PQ settings for ``size`` embeddings of ``dimension`` dimensions; given values override the defaults.

    Defaults: ``nlist`` the power of two nearest 2 sqrt(size) (at most size / 39, FAISS's minimum of training
    points per cell); ``m`` the largest divisor of the dimension up to dimension / 8 (a code of 1/32 the bytes
    of the float32 embedding); 8-bit codes (fewer for tiny corpora); ``nprobe`` nlist / 8, at least 16;
    training on 50 x nlist embeddings, at least 20,000 (or all).

    Raises:
        ValueError: for an ``m`` that does not divide the dimension, or a non-positive value.
    """
    for name, value in (("nlist", nlist), ("m", m), ("nprobe", nprobe)):
        if value is not None and value < 1:
            raise ValueError(f"IVF-PQ {name} must be a positive integer, got {value}.")
    if rerank < 0:
        raise ValueError(f"rerank must be 0 (off) or a positive number of candidates per hit, got {rerank}.")
    if m is not None and dimension % m:
        raise ValueError(f"IVF-PQ m={m} must divide the embedding dimension {dimension} (each code covers "
                         f"{dimension}/m dimensions).")
    max_cells = max(1, size // _POINTS_PER_CENTROID)
    nlist = nlist or min(max_cells, 2 ** round(math.log2(max(1.0, 2 * math.sqrt(size)))))
    m = m or max(divisor for divisor in range(1, max(1, dimension // 8) + 1) if dimension % divisor == 0)
    train_size = min(size, max(50 * nlist, 20_000))
    nbits = int(min(8, max(1, math.floor(math.log2(max(2, train_size // 4))))))
    nprobe = min(nlist, nprobe or max(16, nlist // 8))
    return IVFPQSettings(nlist, m, nbits, nprobe, rerank, train_size)


def exact_nearest(query_embeddings: np.ndarray, embeddings: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact search (sentence-transformers' ``semantic_search``): ``(scores, positions)``, each ``(queries, top_k)``,
    best first."""
    import torch
    from sentence_transformers.util import semantic_search

    results = semantic_search(torch.from_numpy(query_embeddings), torch.from_numpy(embeddings), top_k=top_k)
    scores = np.array([[result["score"] for result in row] for row in results], dtype=np.float32)
    positions = np.array([[result["corpus_id"] for result in row] for row in results], dtype=np.int64)
    return scores, positions


def faiss_nearest(
    index: Any, query_embeddings: np.ndarray, top_k: int, *, ef_search: int, ivfpq: IVFPQSettings | None,
    embeddings: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Search a FAISS index of :func:`build_faiss_index`: ``(scores, positions)``, each ``(queries, top_k)``, best
    first, position -1 where fewer were found.

    Args:
        index: the FAISS index (flat, HNSW or IVF-PQ).
        query_embeddings: ``(queries, dimension)``, normalized.
        top_k: hits per query; HNSW's candidate list is at least ``top_k`` long, and IVF-PQ re-scores
            ``ivfpq.rerank`` x ``top_k`` candidates: both follow the ``top_k`` asked for.
        ef_search: HNSW's candidate list size.
        ivfpq: the settings of an IVF-PQ index (None for the others).
        embeddings: the corpus embeddings, read at the candidates' rows to re-score IVF-PQ candidates.
    """
    if faiss_kind(index) == "faiss-hnsw":
        index.hnsw.efSearch = max(ef_search, top_k)
    if ivfpq is None:
        return index.search(query_embeddings, top_k)
    index.nprobe = ivfpq.nprobe
    scores, positions = index.search(query_embeddings, min(index.ntotal, top_k * max(1, ivfpq.rerank)))
    if ivfpq.rerank:
        scores, positions = rescore(query_embeddings, positions, embeddings)
    return scores[:, :top_k], positions[:, :top_k]


def rescore(
    query_embeddings: np.ndarray, positions: np.ndarray, embeddings: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates re-ranked by their exact cosine with each query, reading only the candidates' embedding rows.

    Queries are re-scored a block at a time, so the candidates' rows held at once stay under
    :data:`RESCORE_BYTES` (one query's candidates at least), whatever the number of queries.

    Args:
        query_embeddings: ``(queries, dimension)``, normalized.
        positions: ``(queries, candidates)`` corpus positions, -1 for none.
        embeddings: the corpus embeddings (a memory-mapped array is read only at ``positions``).

    Returns:
        ``(scores, positions)`` sorted best first per query, -1 positions (score -inf) last.
    """
    row_bytes = max(1, positions.shape[1] * query_embeddings.shape[1] * 4)
    block = max(1, RESCORE_BYTES // row_bytes)
    scores = np.full(positions.shape, -np.inf, dtype=np.float32)
    for start in range(0, len(positions), block):
        scores[start:start + block] = _exact_scores(query_embeddings[start:start + block],
                                                    positions[start:start + block], embeddings)
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(positions, order, axis=1)


def _exact_scores(query_embeddings: np.ndarray, positions: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    """The cosine of each query with each of its candidates (-inf where the position is -1)."""
    found = positions >= 0
    wanted = np.unique(positions[found])
    if not len(wanted):
        return np.full(positions.shape, -np.inf, dtype=np.float32)
    rows = np.asarray(embeddings[wanted], dtype=np.float32)  # sorted positions: a forward pass over the file
    row_of = np.searchsorted(wanted, np.where(found, positions, wanted[0]))
    scores = np.einsum("qcd,qd->qc", rows[row_of], query_embeddings)
    return np.where(found, scores, -np.inf).astype(np.float32)


def build_faiss_index(backend: str, embeddings: np.ndarray, settings: IVFPQSettings | None = None) -> Any:
    """A FAISS index of ``backend`` over normalized ``embeddings``, added a block of rows at a time.

    IVF-PQ is trained on ``settings.train_size`` rows sampled at random (seed 0).
    """
    faiss = import_faiss()
    dimension = embeddings.shape[1]
    if backend == "faiss-hnsw":
        index = faiss.IndexHNSWFlat(dimension, _HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = _HNSW_EF_CONSTRUCTION
    elif backend == "faiss-ivfpq":
        if settings is None:
            raise ValueError("An IVF-PQ index needs its IVFPQSettings.")
        index = faiss.index_factory(dimension, f"IVF{settings.nlist},PQ{settings.m}x{settings.nbits}",
                                    faiss.METRIC_INNER_PRODUCT)
        index.do_polysemous_training = False  # polysemous codes are not used here, and their training takes minutes
        index.pq.cp.max_points_per_centroid = 64  # each codebook learns from up to 64 x 2^nbits residuals
        sample = np.sort(np.random.default_rng(0).choice(len(embeddings), settings.train_size, replace=False))
        index.train(np.ascontiguousarray(embeddings[sample], dtype=np.float32))
    else:
        index = faiss.IndexFlatIP(dimension)
    for start in range(0, len(embeddings), BLOCK_ROWS):
        index.add(np.ascontiguousarray(embeddings[start:start + BLOCK_ROWS], dtype=np.float32))
    return index


def faiss_kind(index: Any) -> str:
    """The backend name of a FAISS index built by :func:`build_faiss_index` or read from a file."""
    if hasattr(index, "hnsw"):
        return "faiss-hnsw"
    return "faiss-ivfpq" if hasattr(index, "nprobe") else "faiss-flat"


def resolve_backend(backend: str, size: int) -> str:
    """``backend``, or for ``auto`` the one :data:`BACKENDS` documents for a corpus of ``size`` sentences."""
    if backend != "auto":
        return backend
    if size < LARGE_CORPUS or importlib.util.find_spec("faiss") is None:
        return "exact"
    return "faiss-hnsw" if size < HUGE_CORPUS else "faiss-ivfpq"


def check_backend(backend: str) -> None:
    """Raise a ValueError naming the choices unless ``backend`` is one of :data:`BACKENDS`."""
    if backend not in BACKENDS:
        raise ValueError(f"Unknown search backend {backend!r}; choose from {', '.join(BACKENDS)}.")


def import_faiss() -> Any:
    """The ``faiss`` module, or an ImportError naming the package to install."""
    try:
        import faiss
    except ImportError as error:
        raise ImportError(
            "The FAISS backends need the faiss package: `pip install simcse-st[faiss]` (faiss-cpu), "
            "or use backend='exact'."
        ) from error
    return faiss
