"""``simcse-st serve``: a web page and a JSON API (search, similarity, embeddings, a map) over a corpus."""

from __future__ import annotations

import argparse

from simcse_st.commands._apps import add_index_arguments, check_map_options, open_index


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    from simcse_st.apps.maps import PROJECTIONS

    parser = subparsers.add_parser(
        "serve",
        help="serve a search page and a JSON API over a corpus (needs `pip install simcse-st[serve]`)",
        description="Encode --corpus with MODEL (or load a saved --index) and serve, on http://HOST:PORT/, a page "
        "with semantic search, sentence similarity and an interactive 2-D/3-D map of the corpus, and the JSON "
        "API behind it (GET /healthz, POST /api/search, /api/similarity, /api/embed, GET /api/map). Stop it "
        "with Ctrl-C.",
    )
    add_index_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: %(default)s, this machine only; 0.0.0.0 exposes it)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s; 0 picks a free one)")
    parser.add_argument("--map-method", choices=PROJECTIONS, default="tsne",
                        help="projection of the map view (default: %(default)s)")
    parser.add_argument("--n-clusters", type=int, default=None, metavar="K",
                        help="k-means clusters of the map view (default: sqrt(n / 2), at most 10)")
    parser.add_argument("--no-micro-batching", action="store_true",
                        help="run every search alone instead of batching concurrent ones into one encoder call")
    parser.add_argument("--max-wait-ms", type=float, default=2.0,
                        help="how long a micro-batch waits for more searches (default: %(default)s ms)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Open or build the index, then serve until Ctrl-C or SIGTERM."""
    _import_serve_extra()
    from simcse_st.serve import create_app
    from simcse_st.serve.server import serve

    if args.port < 0 or args.port > 65535:
        raise ValueError(f"--port must lie in 0..65535, got {args.port}.")
    if args.max_wait_ms < 0:
        raise ValueError(f"--max-wait-ms must not be negative, got {args.max_wait_ms}.")
    if args.n_clusters is not None and args.n_clusters < 1:
        raise ValueError(f"--n-clusters must be at least 1, got {args.n_clusters}.")
    check_map_options(args.map_method)  # a missing umap-learn is said now, not as a failed map later
    index = open_index(args)
    app = create_app(index, micro_batching=not args.no_micro_batching, max_wait=args.max_wait_ms / 1000,
                     map_method=args.map_method, n_clusters=args.n_clusters)
    serve(app, args.host, args.port)
    return 0


def _import_serve_extra() -> None:
    """Raise an error naming the extra to install when FastAPI or uvicorn is missing."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        raise ValueError(f"`simcse-st serve` needs the serve extra: pip install simcse-st[serve] ({error})") from None
