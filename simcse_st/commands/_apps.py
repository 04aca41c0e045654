"""Options shared by the application commands (``index``, ``search``, ``cluster``, ``plot``)."""

from __future__ import annotations

import argparse

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
