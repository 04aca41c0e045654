"""Options shared by the application commands (``index``, ``search``, ``cluster``, ``plot``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simcse_st.apps.search import SemanticIndex

MODEL_HELP = "a sentence-transformers model: a local folder or a Hugging Face Hub name"


def add_corpus_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """``--corpus FILE`` (one sentence a line, UTF-8) and ``--batch-size``."""
    parser.add_argument("--corpus", metavar="FILE", required=required,
                        help="UTF-8 text file, one sentence a line (blank lines are skipped)")
    add_batch_size_argument(parser)


def add_batch_size_argument(parser: argparse.ArgumentParser) -> None:
    """``--batch-size``: sentences per forward pass."""
    parser.add_argument("--batch-size", type=int, default=64,
                        help="sentences per forward pass when encoding (default: %(default)s)")


def open_index(args: argparse.Namespace) -> SemanticIndex:
    """The index of ``--index DIR`` (MODEL optional) or of ``MODEL --corpus FILE``, with ``--backend`` and
    ``--batch-size``.

    Raises:
        ValueError: for ``--corpus`` without MODEL.
    """
    from simcse_st.apps.search import SemanticIndex

    options = {"batch_size": args.batch_size}
    if args.backend is not None:
        options["backend"] = args.backend
    if args.index is not None:
        return SemanticIndex.load(args.index, model=args.model, **options)
    if args.model is None:
        raise ValueError("MODEL is required with --corpus (it encodes the corpus); with --index it is optional.")
    return SemanticIndex.from_file(args.model, args.corpus, **options)
