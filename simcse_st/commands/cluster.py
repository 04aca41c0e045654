"""``simcse-st cluster``: group a corpus by meaning and show each cluster's topic."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from simcse_st.commands._apps import MODEL_HELP, add_corpus_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``cluster`` subcommand."""
    parser = subparsers.add_parser(
        "cluster",
        help="cluster a corpus by meaning and list each cluster's sentences nearest its centre",
        description="Encode --corpus with MODEL, cluster it with k-means or agglomerative clustering, print each "
        "cluster's size and its sentences nearest the centre, and optionally write the label of every sentence.",
    )
    parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    add_corpus_arguments(parser)
    count = parser.add_mutually_exclusive_group()
    count.add_argument("--n-clusters", type=int, default=None, metavar="K",
                       help="number of clusters (default: sqrt(n / 2))")
    count.add_argument("--distance-threshold", type=float, default=None, metavar="D",
                       help="agglomerative clustering: stop merging at this average cosine distance (1 - cosine)")
    parser.add_argument("--method", choices=("kmeans", "agglomerative"), default=None,
                        help="default: agglomerative with --distance-threshold, else kmeans")
    parser.add_argument("--top-n", type=int, default=3, help="sentences shown per cluster (default: %(default)s)")
    parser.add_argument("--max-clusters", type=int, default=20,
                        help="clusters printed, largest first (default: %(default)s; --out has all)")
    parser.add_argument("--out", metavar="FILE.jsonl", default=None,
                        help='write one {"position", "sentence", "cluster"} line per sentence')
    parser.add_argument("--seed", type=int, default=0, help="k-means seed (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Cluster the corpus, print the summary and write the labels."""
    from simcse_st.apps.clustering import cluster
    from simcse_st.commands._runtime import load_model_for
    from simcse_st.embedding import read_sentences

    sentences = read_sentences(args.corpus)
    method = args.method or ("agglomerative" if args.distance_threshold is not None else "kmeans")
    result = cluster(load_model_for(args), sentences, n_clusters=args.n_clusters, method=method,
                     distance_threshold=args.distance_threshold, top_n=args.top_n, seed=args.seed,
                     batch_size=args.batch_size)
    count = len(result.clusters)
    print(f"{count} cluster{'s' if count != 1 else ''} of {len(sentences)} sentences ({method})")
    print(result.summary(max_clusters=args.max_clusters))
    if args.out is not None:
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            for position, (sentence, label) in enumerate(zip(sentences, result.labels.tolist(), strict=True)):
                handle.write(json.dumps({"position": position, "sentence": sentence, "cluster": label},
                                        ensure_ascii=False) + "\n")
        print(f"Wrote {path}")
    return 0
