"""Fixtures of the application tests: all-MiniLM-L6-v2 loaded once, and an index of 2,000 STS-B sentences.

The corpus holds, in this order: the partners of 20 STS-B test pairs with gold score 5 (the search queries
are the other sentences, which are not in the corpus), the 400 sentences of 200 STS-B train pairs with gold
score >= 4.8 (for clustering; pair i is at rows 20 + 2i and 21 + 2i), then other STS-B train sentences. No
sentence appears twice (case-insensitively). It is encoded once per session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

N_QUERY_PAIRS = 20
N_CLUSTER_PAIRS = 200
CORPUS_SIZE = 2000


@dataclass
class STSBCorpus:
    """Queries with their partners' corpus rows, and the clustering pairs' rows."""

    sentences: list[str]
    queries: list[str]  # query i's partner is sentences[i]
    cluster_rows: list[int]  # rows of the 400 clustering sentences, pairs adjacent


@pytest.fixture(scope="package", autouse=True)
def _single_threaded():
    """Run torch, BLAS and OpenMP (k-means, t-SNE) on one thread each while the application tests run.

    On this shared 2-core machine their thread pools spin against each other and against other processes:
    under load, t-SNE of 150 points took 41 s with the default threads and 0.4 s on one thread.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def minilm(minilm_path: Path):
    """all-MiniLM-L6-v2 as a SentenceTransformer, loaded once."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path))


def _distinct_pairs(subset, keep, count: int, used: set[str]) -> list[tuple[str, str]]:
    """The first ``count`` pairs of ``subset`` whose gold score passes ``keep`` and whose sentences are unused."""
    pairs = []
    for first, second, score in zip(subset.sentences1, subset.sentences2, subset.scores, strict=True):
        keys = {first.lower(), second.lower()}
        if keep(score) and len(keys) == 2 and not keys & used:
            pairs.append((first, second))
            used |= keys
        if len(pairs) == count:
            return pairs
    raise AssertionError(f"STS-B has fewer than {count} such pairs")


@pytest.fixture(scope="session")
def stsb_corpus(data_dir: Path) -> STSBCorpus:
    """2,000 distinct STS-B sentences with the 20 search queries and the 200 clustering pairs (see above)."""
    from simcse_st.data.sts import load_sts_task

    train = load_sts_task("STSBenchmark", split="train", data_dir=data_dir)[0]
    test = load_sts_task("STSBenchmark", split="test", data_dir=data_dir)[0]
    used: set[str] = set()
    query_pairs = _distinct_pairs(test, lambda score: score == 5.0, N_QUERY_PAIRS, used)
    cluster_pairs = _distinct_pairs(train, lambda score: score >= 4.8, N_CLUSTER_PAIRS, used)
    sentences = [partner for _, partner in query_pairs] + [s for pair in cluster_pairs for s in pair]
    for sentence in train.sentences1 + train.sentences2:
        if len(sentences) == CORPUS_SIZE:
            break
        if sentence.lower() not in used:
            sentences.append(sentence)
            used.add(sentence.lower())
    cluster_rows = list(range(N_QUERY_PAIRS, N_QUERY_PAIRS + 2 * N_CLUSTER_PAIRS))
    return STSBCorpus(sentences, [query for query, _ in query_pairs], cluster_rows)


@pytest.fixture(scope="session")
def stsb_index(minilm, minilm_path: Path, stsb_corpus: STSBCorpus):
    """A :class:`SemanticIndex` of the 2,000 sentences with all-MiniLM-L6-v2 (exact search)."""
    from simcse_st.apps import SemanticIndex

    return SemanticIndex(minilm, stsb_corpus.sentences, model_name=str(minilm_path), backend="exact",
                         show_progress_bar=False)
