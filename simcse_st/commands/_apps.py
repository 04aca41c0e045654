"""Options shared by the application commands (``index``, ``search``, ``cluster``, ``plot``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from simcse_st.commands._runtime import add_runtime_arguments, runtime_record

if TYPE_CHECKING:
    from simcse_st.index import SemanticIndex

MODEL_HELP = "a sentence-transformers model: a local folder or a Hugging Face Hub name"


def add_corpus_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """``--corpus FILE`` (one sentence a line, UTF-8), ``--batch-size`` and the inference runtime."""
    parser.add_argument("--corpus", metavar="FILE", required=required,
                        help="UTF-8 text file, one sentence a line (blank lines are skipped)")
    add_batch_size_argument(parser)
    add_runtime_arguments(parser)


def add_batch_size_argument(parser: argparse.ArgumentParser) -> None:
    """``--batch-size``: sentences per forward pass."""
    parser.add_argument("--batch-size", type=int, default=64,
                        help="sentences per forward pass when encoding (default: %(default)s)")


def check_map_options(method: str, dims: int = 2) -> None:
    """Before encoding anything: the projection ``method`` is known and installed (and plotly for a 3-D map).

    Raises:
        ValueError: naming the package to install, or the known projections.
    """
    from simcse_st.apps.maps import check_plotly, check_projection

    try:
        check_projection(method)
        if dims == 3:
            check_plotly()
    except ImportError as error:
        raise ValueError(str(error)) from None


def add_ivfpq_arguments(parser: argparse.ArgumentParser) -> None:
    """``--nlist``, ``--pq-m``, ``--nprobe``, ``--rerank``: the IVF-PQ backend's settings."""
    group = parser.add_argument_group("IVF-PQ (--backend faiss-ivfpq; default: chosen from the corpus size)")
    group.add_argument("--nlist", type=int, default=None, metavar="N", help="inverted lists (k-means cells)")
    group.add_argument("--pq-m", type=int, default=None, metavar="M",
                       help="bytes per embedding code (sub-quantizers; must divide the dimension)")
    group.add_argument("--nprobe", type=int, default=None, metavar="N", help="cells scanned per query")
    group.add_argument("--rerank", type=int, default=None, metavar="R",
                       help="candidates per hit re-scored with the stored embeddings (0: off; default 8)")


def ivfpq_options(args: argparse.Namespace) -> dict[str, Any]:
    """The IVF-PQ settings given on the command line, as :class:`~simcse_st.apps.SemanticIndex` keywords."""
    options = {"nlist": args.nlist, "pq_m": args.pq_m, "nprobe": args.nprobe, "rerank": args.rerank}
    return {key: value for key, value in options.items() if value is not None}


def add_index_arguments(parser: argparse.ArgumentParser) -> None:
    """What :func:`open_index` reads: MODEL, ``--corpus FILE`` or ``--index DIR``, ``--backend``, ``--batch-size``,
    the IVF-PQ settings and the inference runtime (``--runtime``, ``--runtime-file``)."""
    from simcse_st.index import BACKENDS

    parser.add_argument("model", metavar="MODEL", nargs="?", default=None,
                        help=f"{MODEL_HELP}; required with --corpus, optional with --index")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--corpus", metavar="FILE", help="UTF-8 text file, one sentence a line")
    source.add_argument("--index", metavar="DIR", help="an index saved by `simcse-st index` (not re-encoded)")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="exact, faiss-flat, faiss-hnsw, faiss-ivfpq or auto (default: the index's, or auto with "
                        "--corpus)")
    add_batch_size_argument(parser)
    add_ivfpq_arguments(parser)
    add_runtime_arguments(parser)


def open_index(args: argparse.Namespace) -> SemanticIndex:
    """The index of ``--index DIR`` (MODEL optional) or of ``MODEL --corpus FILE``, with ``--backend``,
    ``--batch-size`` and the IVF-PQ settings.

    Raises:
        ValueError: for ``--corpus`` without MODEL.
    """
    from simcse_st.index import SemanticIndex

    options = {"batch_size": args.batch_size, "runtime": runtime_record(args), **ivfpq_options(args)}
    if args.backend is not None:
        options["backend"] = args.backend
    if args.index is not None:
        return SemanticIndex.load(args.index, model=args.model, **options)
    if args.model is None:
        raise ValueError("MODEL is required with --corpus (it encodes the corpus); with --index it is optional.")
    return SemanticIndex.from_file(args.model, args.corpus, **options)
