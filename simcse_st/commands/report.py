"""``simcse-st report RUN_DIR``: draw a training run's ``training.png`` from its own log and show it in its card."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="draw a training run's loss, STS dev score and alignment/uniformity trajectory to training.png",
        description="Read the log history of a simcse-st train run (its trainer_state.json, or its latest "
        "checkpoint's while it runs or after an interruption) and draw training.png: the training loss and the "
        "STS dev score by step, and the alignment-uniformity trajectory on STS-B dev with the direction of "
        "training (the SimCSE paper's Figure 2). When RUN_DIR holds the saved model, the image is shown in its "
        "model card (README.md).",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the --output-dir of a simcse-st train run")
    parser.add_argument("--out", metavar="PNG", default=None,
                        help="where to draw it (default: RUN_DIR/training.png, shown in RUN_DIR's model card)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Draw the plot and say where it is."""
    from simcse_st.training_plot import write_training_plot

    path = write_training_plot(args.run_dir, args.out)
    print(f"Drew the training of {args.run_dir} to {path}")
    return 0
