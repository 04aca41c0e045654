"""``simcse-st plot``: a 2-D or rotatable 3-D map of a corpus, coloured by cluster or by given labels."""

from __future__ import annotations

import argparse

from simcse_st.commands._apps import MODEL_HELP, add_corpus_arguments, check_map_options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plot`` subcommand."""
    parser = subparsers.add_parser(
        "plot",
        help="draw a 2-D map of a corpus (PNG), or a 3-D one (PNG and rotatable HTML), coloured by cluster or labels",
        description="Encode --corpus with MODEL, project the embeddings to 2-D (or 3-D with --dims 3) and draw them "
        "to --out, coloured by --labels or, without labels, by k-means cluster (the legend shows each cluster's "
        "central sentence). With --dims 3 the same map is also written as a rotatable HTML page beside the PNG.",
    )
    parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    add_corpus_arguments(parser)
    parser.add_argument("--out", metavar="PNG", required=True, help="image to write, e.g. map.png")
    parser.add_argument("--labels", metavar="FILE", default=None,
                        help="UTF-8 file with one label per corpus sentence, in the same order")
    parser.add_argument("--method", choices=("umap", "tsne", "pca"), default="tsne",
                        help="2-D projection (default: %(default)s; umap needs `pip install simcse-st[umap]`)")
    parser.add_argument("--dims", type=int, choices=(2, 3), default=2,
                        help="2 or 3; 3 also writes OUT with the suffix .html, a map to rotate and hover in a browser "
                        "(needs plotly: `pip install simcse-st[serve]`) (default: %(default)s)")
    parser.add_argument("--n-clusters", type=int, default=None, metavar="K",
                        help="clusters to colour by when no --labels are given (default: sqrt(n / 2), at most 10)")
    parser.add_argument("--width", type=int, default=1200, help="image width in pixels (default: %(default)s)")
    parser.add_argument("--height", type=int, default=900, help="image height in pixels (default: %(default)s)")
    parser.add_argument("--title", default=None, help="plot title")
    parser.add_argument("--seed", type=int, default=0, help="projection and clustering seed (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the corpus and labels, draw the map and say where it is."""
    from simcse_st.apps.maps import plot_map
    from simcse_st.commands._runtime import load_model_for
    from simcse_st.embedding import read_sentences

    check_map_options(args.method, args.dims)
    sentences = read_sentences(args.corpus)
    labels = read_sentences(args.labels, what="labels") if args.labels is not None else None
    result = plot_map(load_model_for(args), sentences, args.out, labels=labels, method=args.method,
                      n_clusters=args.n_clusters, title=args.title, size=(args.width, args.height),
                      seed=args.seed, batch_size=args.batch_size, dims=args.dims)
    print(f"Wrote a {args.dims}-D {args.method} map of {len(sentences)} sentences in {len(set(result.groups))} groups "
          f"to {result.path}" + (f" and {result.html}" if result.html else ""))
    return 0
