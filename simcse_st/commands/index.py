"""``simcse-st index``: encode a corpus once and save it as a search index."""

from __future__ import annotations

import argparse

from simcse_st.commands._apps import MODEL_HELP, add_corpus_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``index`` subcommand."""
    from simcse_st.apps.search import BACKENDS

    parser = subparsers.add_parser(
        "index",
        help="encode a corpus and save it as a semantic search index",
        description="Encode every sentence of --corpus with MODEL and save sentences, embeddings and the model's "
        "name to --out, so `simcse-st search --index DIR` answers without re-encoding.",
    )
    parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    add_corpus_arguments(parser)
    parser.add_argument("--out", metavar="DIR", required=True, help="folder to write the index to")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="search backend stored with the index (default: %(default)s: exact search below "
                        "100,000 sentences, FAISS HNSW above)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build and save the index."""
    from simcse_st.apps.search import SemanticIndex

    index = SemanticIndex.from_file(args.model, args.corpus, backend=args.backend, batch_size=args.batch_size)
    index.save(args.out)
    print(f"Indexed {len(index)} sentences ({index.dimension}-d embeddings of {args.model}) in {args.out}")
    return 0
