"""``simcse-st eval``: the paper's STS table (Spearman x100) for any sentence-transformers model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from simcse_st.commands._runtime import add_runtime_arguments, load_model_for
from simcse_st.data.sts import STS_TASK_LABELS, STS_TASKS
from simcse_st.evaluation.protocol import AGGREGATIONS, BASELINE_POOLINGS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``eval`` subcommand."""
    parser = subparsers.add_parser(
        "eval",
        help="score a model on the paper's seven STS tasks (SentEval protocol)",
        description="Print the SimCSE paper's STS table (Spearman x100 of cosine similarity) for MODEL, "
        "computed from the local SentEval files.",
    )
    parser.add_argument("model", metavar="MODEL", help="a local model folder or a Hugging Face Hub name")
    add_data_arguments(parser)
    parser.add_argument("--split", choices=("test", "dev"), default="test",
                        help="test: the paper's table; dev: STS-B dev and SICK-R dev (default: %(default)s)")
    parser.add_argument("--aggregation", choices=AGGREGATIONS, default="all",
                        help="how STS12-16 subsets combine; 'all' is the paper's setting (default: %(default)s)")
    parser.add_argument("--pooling", choices=BASELINE_POOLINGS, default=None,
                        help="score a vanilla checkpoint with one of the paper's baseline poolings instead of the "
                        "model's own pooling")
    parser.set_defaults(func=run)


def add_data_arguments(parser: argparse.ArgumentParser, any_task: bool = False) -> None:
    """The options ``eval`` and ``mteb`` share: data root, tasks, batch size, JSON output and the runtime.

    Args:
        parser: the subcommand's parser.
        any_task: accept any task name (``mteb --source hub`` runs any MTEB task; names are checked later).
    """
    parser.add_argument("--data-dir", metavar="ROOT", default=None,
                        help="the data root holding senteval/ (default: $SIMCSE_DATA_DIR)")
    among = f"among {' '.join(STS_TASKS)}{', or with --source hub any MTEB task' if any_task else ''}"
    parser.add_argument("--tasks", nargs="+", choices=None if any_task else STS_TASKS, default=None, metavar="TASK",
                        help=f"tasks to run, {among} (default: all seven for the test split)")
    parser.add_argument("--batch-size", type=int, default=128, help="sentences per forward pass (default: 128)")
    parser.add_argument("--json", metavar="OUT", default=None,
                        help='write {"STS12": 72.37, ..., "avg": ...} (Spearman x100, two decimals) to OUT')
    add_runtime_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Load the model, score it, print the table and write the JSON."""
    from simcse_st.evaluation.sts import SentEvalSTSEvaluator

    evaluator = SentEvalSTSEvaluator(
        data_dir=args.data_dir,
        tasks=args.tasks,
        split=args.split,
        aggregation=args.aggregation,
        batch_size=args.batch_size,
        pooling=args.pooling,
        name="",
    )
    report(evaluator(load_model_for(args)), args.json)
    return 0


def report(scores: dict[str, float], json_path: str | None) -> None:
    """Print ``scores`` as the paper's table and, if ``json_path`` is given, write them there (two decimals)."""
    print(format_table(scores))
    if json_path is not None:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({task: round(score, 2) for task, score in scores.items()}, indent=2) + "\n")
        print(f"Wrote {path}")


def format_table(scores: dict[str, float]) -> str:
    """The paper's table: one column per task (STS12 ... SICK-R) and Avg., Spearman x100 with two decimals."""
    headers = [STS_TASK_LABELS.get(task, "Avg." if task == "avg" else task) for task in scores]
    cells = [f"{score:.2f}" for score in scores.values()]
    widths = [max(len(header), len(cell)) for header, cell in zip(headers, cells, strict=True)]
    rule = "+" + "+".join("-" * (width + 2) for width in widths) + "+"

    def line(values: list[str]) -> str:
        return "| " + " | ".join(value.rjust(width) for value, width in zip(values, widths, strict=True)) + " |"

    return "\n".join([rule, line(headers), rule, line(cells), rule])
