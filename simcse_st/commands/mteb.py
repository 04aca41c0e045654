"""``simcse-st mteb``: MTEB's own STS evaluator on the paper's seven tasks, from the local SentEval files."""

from __future__ import annotations

import argparse

from simcse_st.commands.eval import add_data_arguments, report


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``mteb`` subcommand."""
    parser = subparsers.add_parser(
        "mteb",
        help="run MTEB's STS evaluator on the seven STS tasks (needs the mteb extra)",
        description="Evaluate MODEL with the mteb package on the paper's seven STS tasks, read from the local "
        "SentEval files (or MTEB's Hub tasks with --source hub), and print cosine Spearman x100.",
    )
    parser.add_argument("model", metavar="MODEL", help="a local model folder or a Hugging Face Hub name")
    add_data_arguments(parser)
    parser.add_argument("--output-dir", metavar="DIR", default=None,
                        help="where MTEB writes its result JSON files (default: not written)")
    parser.add_argument("--source", choices=("local", "hub"), default="local",
                        help="local: SentEval files under the data root; hub: MTEB's official tasks "
                        "(default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the model, run MTEB, print the table and write the JSON."""
    from simcse_st.evaluation.mteb_bridge import run_mteb
    from simcse_st.models import load_model

    try:
        import mteb  # noqa: F401
    except ImportError as error:
        raise OSError(f"simcse-st mteb needs the mteb package ({error}); install it with pip install "
                      "'simcse-st[mteb]'.") from error
    scores = run_mteb(
        load_model(args.model),
        data_dir=args.data_dir,
        tasks=args.tasks,
        output_folder=args.output_dir,
        source=args.source,
        batch_size=args.batch_size,
    )
    report(scores, args.json)
    return 0
