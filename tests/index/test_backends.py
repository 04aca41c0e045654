"""IVF-PQ: a query's hits do not depend on the queries batched with it; re-scoring holds a bounded block."""

from __future__ import annotations

import numpy as np
import pytest

from simcse_st.index import SemanticIndex, backends


@pytest.fixture(scope="module")
def coarse_ivfpq(stsb_index) -> SemanticIndex:
    """IVF-PQ with 8-byte codes and one candidate re-scored per hit, so candidates found at a larger top_k change
    the first hits: the case where batching used to leak into a query's results."""
    pytest.importorskip("faiss")
    return SemanticIndex(stsb_index.model, stsb_index.sentences, stsb_index.embeddings, backend="faiss-ivfpq",
                         nlist=16, pq_m=8, nprobe=16, rerank=1)


def test_ivfpq_hits_of_a_query_are_the_same_alone_and_batched_with_a_larger_top_k(coarse_ivfpq, stsb_corpus):
    queries = stsb_corpus.queries
    alone = [coarse_ivfpq.search(query, top_k=3)[0] for query in queries]
    batched = coarse_ivfpq.search(queries + ["A man is playing a guitar."], top_k=[3] * len(queries) + [60])
    assert positions(batched[:-1]) == positions(alone)
    np.testing.assert_allclose(scores(batched[:-1]), scores(alone), atol=1e-5)  # the query encoded in a batch
    assert len(batched[-1]) == 60
    # the scenario matters: the first 3 of a top-60 search (what a batch at its largest top_k gave) differ
    assert positions(hits[:3] for [hits] in (coarse_ivfpq.search(query, top_k=60) for query in queries)) != \
        positions(alone)


def positions(results) -> list[list[int]]:
    return [[hit.position for hit in hits] for hits in results]


def scores(results) -> list[list[float]]:
    return [[hit.score for hit in hits] for hits in results]


def test_a_list_of_top_k_must_match_the_queries(coarse_ivfpq):
    with pytest.raises(ValueError, match="Got 1 top_k values for 2 queries"):
        coarse_ivfpq.search(["one query", "another"], top_k=[3])
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        coarse_ivfpq.search(["one query", "another"], top_k=[3, 0])


class _RowReader:
    """A memory-mapped array stand-in that records how many rows each read takes."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows, self.reads = rows, []

    def __getitem__(self, positions):
        self.reads.append(len(positions))
        return self.rows[positions]


def test_rescoring_reads_a_bounded_block_of_candidates_and_ranks_exactly(monkeypatch):
    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((5000, 16)).astype(np.float32)
    queries = rng.standard_normal((64, 16)).astype(np.float32)
    positions = np.stack([rng.choice(5000, 200, replace=False) for _ in range(64)])
    positions[0, -5:] = -1  # fewer candidates found for one query
    monkeypatch.setattr(backends, "RESCORE_BYTES", 4 * 200 * 16 * 4)  # 4 queries' candidates at a time
    reader = _RowReader(embeddings)
    scores, ranked = backends.rescore(queries, positions, reader)
    assert max(reader.reads) <= 4 * 200 and len(reader.reads) == 16
    expected = np.where(positions >= 0, np.einsum("qcd,qd->qc", embeddings[positions], queries), -np.inf)
    np.testing.assert_allclose(scores, -np.sort(-expected, axis=1), rtol=1e-5)
    assert (ranked[0, -5:] == -1).all() and np.isneginf(scores[0, -5:]).all()
    rescored = np.where(ranked >= 0, np.einsum("qcd,qd->qc", embeddings[ranked], queries), -np.inf)
    np.testing.assert_allclose(rescored, scores, rtol=1e-5)  # each position carries its own score
