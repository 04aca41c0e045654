"""``simcse-st serve``: a web page and a JSON API (search, similarity, embeddings, a map) over a corpus."""

from __future__ import annotations

import argparse
import os

from simcse_st.commands._apps import add_index_arguments, check_map_options, open_index
from simcse_st.serve.options import API_KEY_ENV, MAP_MAX_POINTS, MAX_QUEUE, is_loopback

MAX_WAIT_MS = 1000.0
"""Largest ``--max-wait-ms``: a batch held open longer would only delay every search."""
MIN_MAP_POINTS = 4
"""Smallest ``--map-max-points``: a 3-D map needs 4 sentences."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    from simcse_st.apps.maps import PROJECTIONS

    parser = subparsers.add_parser(
        "serve",
        help="serve a search page and a JSON API over a corpus (needs `pip install simcse-st[serve]`)",
        description="Encode --corpus with MODEL (or load a saved --index) and serve, on http://HOST:PORT/, a page "
        "with semantic search, sentence similarity and an interactive 2-D/3-D map of the corpus, and the JSON "
        "API behind it (GET /healthz, POST /api/search, /api/similarity, /api/embed, GET /api/map). Stop it "
        "with Ctrl-C. Requests naming another Host than this machine's loopback names, --host or --allowed-host "
        "are refused, and so are POST bodies that are not application/json.",
    )
    add_index_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: %(default)s, this machine only); any other address, "
                        "e.g. 0.0.0.0, needs --api-key")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="also answer requests whose Host header is NAME (with any port), e.g. the public name "
                        "of a reverse proxy in front of the server; repeatable")
    parser.add_argument("--api-key", default=os.environ.get(API_KEY_ENV) or None, metavar="KEY",
                        help=f"require the header `Authorization: Bearer KEY` on /api/* and /healthz (default: the "
                        f"{API_KEY_ENV} environment variable; the page asks for the key once)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s; 0 picks a free one)")
    parser.add_argument("--map-method", choices=PROJECTIONS, default="tsne",
                        help="projection of the map view (default: %(default)s)")
    parser.add_argument("--n-clusters", type=int, default=None, metavar="K",
                        help="k-means clusters of the map view (default: sqrt(n / 2), at most 10)")
    parser.add_argument("--no-micro-batching", action="store_true",
                        help="run every search alone instead of batching concurrent ones into one encoder call")
    parser.add_argument("--max-wait-ms", type=float, default=2.0,
                        help=f"how long a micro-batch waits for more searches, 0 to {MAX_WAIT_MS:g} "
                        "(default: %(default)s ms)")
    parser.add_argument("--max-queue", type=int, default=MAX_QUEUE, metavar="N",
                        help="texts waiting for the encoder at most; past it, requests are answered 503 with "
                        "Retry-After (default: %(default)s)")
    parser.add_argument("--map-max-points", type=int, default=MAP_MAX_POINTS, metavar="N",
                        help="sentences of the map at most; a larger corpus is mapped through a fixed-seed sample "
                        "(default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the options, open or build the index (its search backend built now, not on the first search), then
    serve until Ctrl-C or SIGTERM."""
    _import_serve_extra()
    from simcse_st.serve import create_app
    from simcse_st.serve.server import serve

    check_options(args)
    check_map_options(args.map_method)  # a missing umap-learn is said now, not as a failed map later
    index = open_index(args)
    index.prepare()
    app = create_app(index, micro_batching=not args.no_micro_batching, max_wait=args.max_wait_ms / 1000,
                     map_method=args.map_method, n_clusters=args.n_clusters, host=args.host,
                     extra_hosts=args.allowed_host, api_key=args.api_key, max_queue=args.max_queue,
                     map_max_points=args.map_max_points)
    serve(app, args.host, args.port)
    return 0


def check_options(args: argparse.Namespace) -> None:
    """Refuse, before anything is loaded, options out of range and a non-loopback ``--host`` without an API key.

    Raises:
        ValueError: naming the option and its range, or saying to set ``--api-key``.
    """
    ranges = [("--port", args.port, 0, 65535), ("--batch-size", args.batch_size, 1, None),
              ("--max-wait-ms", args.max_wait_ms, 0, MAX_WAIT_MS), ("--max-queue", args.max_queue, 1, None),
              ("--map-max-points", args.map_max_points, MIN_MAP_POINTS, None),
              ("--n-clusters", args.n_clusters, 1, None)]
    for option, value, low, high in ranges:
        if value is not None and not (low <= value and (high is None or value <= high)):
            bounds = f"lie in {low:g}..{high:g}" if high is not None else f"be at least {low}"
            raise ValueError(f"{option} must {bounds}, got {value}.")
    if args.api_key == "":
        raise ValueError(f"--api-key (or {API_KEY_ENV}) must not be empty.")
    if not is_loopback(args.host) and args.api_key is None:
        raise ValueError(
            f"--host {args.host} exposes the corpus and the model to the network: set --api-key KEY (or the "
            f"{API_KEY_ENV} environment variable), e.g. --api-key $(python -c 'import secrets; "
            "print(secrets.token_urlsafe())'); clients then send `Authorization: Bearer KEY`."
        )


def _import_serve_extra() -> None:
    """Raise an error naming the extra to install when FastAPI or uvicorn is missing."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        raise ValueError(f"`simcse-st serve` needs the serve extra: pip install simcse-st[serve] ({error})") from None
