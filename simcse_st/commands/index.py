"""``simcse-st index``: save a search index of a corpus, encoding it now or from ``simcse-st encode`` outputs."""

from __future__ import annotations

import argparse

from simcse_st.commands._apps import MODEL_HELP, add_corpus_arguments, add_ivfpq_arguments, ivfpq_options
from simcse_st.commands._runtime import runtime_record


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``index`` subcommand."""
    from simcse_st.index import BACKENDS

    parser = subparsers.add_parser(
        "index",
        help="save a semantic search index of a corpus (encoded now, or from `simcse-st encode` folders)",
        description="Encode every sentence of --corpus with MODEL, or take the embeddings of --from-embeddings "
        "folders (written by `simcse-st encode`, e.g. one per shard, joined in the order given) without "
        "re-encoding, and save sentences, embeddings and the model's name to --out, so `simcse-st search --index "
        "DIR` answers without re-encoding.",
    )
    parser.add_argument("model", metavar="MODEL", nargs="?", default=None,
                        help=f"{MODEL_HELP}; required with --corpus, not used with --from-embeddings")
    add_corpus_arguments(parser, required=False)
    parser.add_argument("--from-embeddings", metavar="DIR", nargs="+", default=None,
                        help="folders written by `simcse-st encode`, in corpus order")
    parser.add_argument("--out", metavar="DIR", required=True, help="folder to write the index to")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="search backend stored with the index (default: %(default)s: exact search below "
                        "100,000 sentences, FAISS HNSW below 1,000,000, FAISS IVF-PQ above)")
    add_ivfpq_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build and save the index."""
    from simcse_st.index import SemanticIndex, build_index_from_encoded

    if args.from_embeddings is not None:
        if args.corpus is not None or args.model is not None:
            raise ValueError("--from-embeddings takes the sentences, embeddings and model from the encoded folders: "
                             "give neither MODEL nor --corpus with it.")
        size, backend = build_index_from_encoded(args.from_embeddings, args.out, backend=args.backend,
                                                 **ivfpq_options(args))
        print(f"Indexed {size} sentences from {len(args.from_embeddings)} encoded folder(s) in {args.out} "
              f"({backend})")
        return 0
    if args.model is None or args.corpus is None:
        raise ValueError("Give MODEL and --corpus FILE to encode a corpus, or --from-embeddings DIR [DIR ...].")
    index = SemanticIndex.from_file(args.model, args.corpus, runtime=runtime_record(args), backend=args.backend,
                                    batch_size=args.batch_size,
                                    **ivfpq_options(args))
    index.save(args.out)
    print(f"Indexed {len(index)} sentences ({index.dimension}-d embeddings of {args.model}) in {args.out} "
          f"({index.active_backend})")
    return 0
