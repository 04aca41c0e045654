"""``simcse-st search``: the corpus sentences closest in meaning to each query."""

from __future__ import annotations

import argparse
import json

from simcse_st.commands._apps import add_index_arguments, open_index


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``search`` subcommand."""
    parser = subparsers.add_parser(
        "search",
        help="semantic search: the corpus sentences closest in meaning to a query",
        description="Rank the sentences of --corpus (encoded now) or of a saved --index by cosine similarity "
        "with each --query. With --index, MODEL defaults to the model stored in the index.",
    )
    add_index_arguments(parser)
    parser.add_argument("--query", metavar="Q", action="append", required=True,
                        help="a query sentence; repeat for several")
    parser.add_argument("--top-k", type=int, default=5, metavar="K", help="hits per query (default: %(default)s)")
    parser.add_argument("--threshold", type=float, default=None, metavar="T",
                        help="keep only hits with cosine similarity >= T, in [-1, 1]")
    parser.add_argument("--json", action="store_true",
                        help='print [{"query": ..., "hits": [{"sentence", "score", "position"}]}] instead of a table')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the queries, open or build the index, search and print the hits."""
    from simcse_st.embedding import check_sentences
    from simcse_st.index.semantic import check_search_arguments

    queries = check_sentences(args.query, what="query")
    check_search_arguments(args.top_k, args.threshold)
    index = open_index(args)
    results = index.search(queries, top_k=args.top_k, threshold=args.threshold)
    if args.json:
        rows = [{"query": query, "hits": [hit._asdict() for hit in hits]}
                for query, hits in zip(queries, results, strict=True)]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print(format_hits(queries, results))
    return 0


def format_hits(queries: list[str], results: list[list]) -> str:
    """Per query: its hits as ``rank  score  sentence  [#position]`` lines."""
    lines = []
    for query, hits in zip(queries, results, strict=True):
        lines.append(f"Query: {query}")
        lines.extend(f"  {rank:>2}. {hit.score:.4f}  {hit.sentence}  [#{hit.position}]"
                     for rank, hit in enumerate(hits, start=1))
        if not hits:
            lines.append("  (no hit above the threshold)")
    return "\n".join(lines)
