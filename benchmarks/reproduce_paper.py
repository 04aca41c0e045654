"""Reproduce the SimCSE paper's BERT-base results (Table 5: 76.25 unsupervised, 81.57 supervised).

For users with a GPU and the Hugging Face Hub. It trains ``bert-base-uncased`` with the paper's recipes
(:data:`simcse_st.recipes.RECIPES` ``unsup-bert-base`` and ``sup-bert-base``) on the paper's data from
``princeton-nlp/datasets-for-simcse`` (``wiki1m_for_simcse.txt``, 1M Wikipedia sentences; ``nli_for_simcse.csv``,
SNLI + MNLI triplets), selects the checkpoint on STS-B dev every 125 steps as the official trainer does
(``metric_for_best_model stsb_spearman``), scores it on the seven STS test sets and prints the paper's table
beside the reproduced one. It only combines the package's tested pieces: the data readers, the recipes,
:func:`simcse_st.training.train_simcse` and :class:`simcse_st.evaluation.SentEvalSTSEvaluator`::

    python benchmarks/reproduce_paper.py --dry-run            # print the plan, train nothing
    python benchmarks/reproduce_paper.py --part unsup --output-dir runs/paper --data-dir ROOT

The official runs took about 1-2 hours (unsup) and 2-3 hours (sup, 4 GPUs) on 3090s. The recipes' batch is the
global batch: under ``torchrun --nproc_per_node 4`` the sup recipe's 512 is 4 x 128, as in the official script;
on one GPU pass a ``--batch-size`` that fits.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

HUB_DATASET = "princeton-nlp/datasets-for-simcse"
TRAIN_FILES = {"unsup": "wiki1m_for_simcse.txt", "sup": "nli_for_simcse.csv"}
PRESETS = {"unsup": "unsup-bert-base", "sup": "sup-bert-base"}
DEV_TASKS = ("STSBenchmark",)  # the official trainer keeps the checkpoint with the best STS-B dev Spearman

# Gao et al. 2021, Table 5: Spearman x100 on the seven STS test sets ("all" setting)
PAPER_RESULTS: dict[str, dict[str, float]] = {
    "unsup": {"STS12": 68.40, "STS13": 82.41, "STS14": 74.38, "STS15": 80.91, "STS16": 78.56,
              "STSBenchmark": 76.85, "SICKRelatedness": 72.23, "avg": 76.25},
    "sup": {"STS12": 75.30, "STS13": 84.67, "STS14": 80.19, "STS15": 85.40, "STS16": 80.82,
            "STSBenchmark": 84.25, "SICKRelatedness": 80.39, "avg": 81.57},
}


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; refuses missing local files and values out of range (exit status 2)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("unsup", "sup", "both"), default="both")
    parser.add_argument("--model", default="bert-base-uncased", help="encoder to start from (default: %(default)s)")
    parser.add_argument("--output-dir", default="simcse-paper-reproduction", help="one subfolder per part")
    parser.add_argument("--data-dir", default=None, help="data root holding senteval/ (default: $SIMCSE_DATA_DIR)")
    parser.add_argument("--wiki-file", default=None, help=f"local {TRAIN_FILES['unsup']} (default: from the Hub)")
    parser.add_argument("--nli-file", default=None, help=f"local {TRAIN_FILES['sup']} (default: from the Hub)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="override the recipe's (global: split over torchrun's processes)")
    parser.add_argument("--max-steps", type=positive_int, default=None, help="stop early (a shorter check)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    args = parser.parse_args(argv)
    for flag, path in (("--wiki-file", args.wiki_file), ("--nli-file", args.nli_file)):
        if path is not None and not Path(path).is_file():
            parser.error(f"{flag} {path} does not exist")
    return args


def parts(args: argparse.Namespace) -> list[str]:
    return ["unsup", "sup"] if args.part == "both" else [args.part]


def recipe_for(args: argparse.Namespace, part: str) -> Any:
    from simcse_st.recipes import get_recipe

    return get_recipe(PRESETS[part]).with_overrides(batch_size=args.batch_size)


def local_file(args: argparse.Namespace, part: str) -> str | None:
    return args.wiki_file if part == "unsup" else args.nli_file


def plan(args: argparse.Namespace) -> str:
    """What the run will do, one paragraph per part."""
    lines = []
    for part in parts(args):
        recipe = recipe_for(args, part)
        source = local_file(args, part) or f"{TRAIN_FILES[part]} from the Hub dataset {HUB_DATASET}"
        length = f"{args.max_steps} steps" if args.max_steps else f"{recipe.epochs:g} epoch(s)"
        mlp = "kept" if recipe.mlp_at_inference else "dropped"
        lines.append(
            f"{part}: train {args.model} with recipe {recipe.name} on {source}: batch {recipe.batch_size}, "
            f"lr {recipe.learning_rate:g}, {length}, max length {recipe.max_seq_length}, temperature "
            f"{recipe.temperature:g}, {recipe.pooling} pooling, MLP {mlp} "
            f"at inference; STS-B dev every {recipe.eval_steps} steps, best checkpoint kept; "
            f"model -> {Path(args.output_dir) / part}; "
            f"then the seven STS test sets (paper: {PAPER_RESULTS[part]['avg']})"
        )
    return "\n".join(lines)


def training_file(args: argparse.Namespace, part: str) -> str:
    """The local file, or the Hub's copy (downloaded once into the Hugging Face cache)."""
    path = local_file(args, part)
    if path is not None:
        return path
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(HUB_DATASET, TRAIN_FILES[part], repo_type="dataset")
    except Exception as error:  # offline or unreachable: say which flag takes a local copy
        flag = "--wiki-file" if part == "unsup" else "--nli-file"
        raise SystemExit(f"Could not download {TRAIN_FILES[part]} from {HUB_DATASET}: {error}. "
                         f"Pass a local copy with {flag}.") from error


def reproduce(args: argparse.Namespace, part: str) -> dict[str, float]:
    """Train one part with its recipe and score the selected model on the seven STS test sets."""
    from simcse_st.data.training import load_training_data
    from simcse_st.evaluation import SentEvalSTSEvaluator
    from simcse_st.models import load_model
    from simcse_st.training import train_simcse

    recipe = recipe_for(args, part)
    path = training_file(args, part)
    output_dir = Path(args.output_dir) / part
    train_simcse(
        args.model, load_training_data(part, path), output_dir, recipe, data_dir=args.data_dir,
        data_name=TRAIN_FILES[part], max_steps=args.max_steps, seed=args.seed, dev_tasks=DEV_TASKS,
    )
    return SentEvalSTSEvaluator(data_dir=args.data_dir, split="test", name="")(load_model(output_dir))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(plan(args), flush=True)
    if args.dry_run:
        return 0
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    from simcse_st.commands.quickstart import comparison_table

    rows: dict[str, dict[str, float]] = {}
    for part in parts(args):
        rows[f"{part}-SimCSE-BERT-base (paper)"] = PAPER_RESULTS[part]
        rows[f"{part}-SimCSE-BERT-base (reproduced)"] = reproduce(args, part)
        print(comparison_table(rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
