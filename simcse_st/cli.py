"""The ``simcse-st`` command line.

Each subcommand lives in its own module under :mod:`simcse_st.commands` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to the function that runs it.
Those modules import heavy libraries (torch, sentence-transformers) inside their run functions,
so ``simcse-st --help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from simcse_st import __version__

# subcommand modules, in the order ``--help`` lists them
COMMAND_MODULES: list[str] = [
    "eval", "mteb", "mteb_move", "model_meta", "train", "report", "quickstart", "reproduce", "export", "encode",
    "index", "search", "cluster", "plot", "serve",
]


def build_parser() -> argparse.ArgumentParser:
    """The ``simcse-st`` parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="simcse-st",
        description="SimCSE sentence embeddings on sentence-transformers: train, evaluate, search, cluster, plot.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(f"simcse_st.commands.{module_name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``simcse-st`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, NotADirectoryError, OSError) as error:
        if os.environ.get("SIMCSE_DEBUG"):
            raise
        print(f"simcse-st {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
