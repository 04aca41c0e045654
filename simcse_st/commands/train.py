"""``simcse-st train {unsup,sup}``: train a SimCSE model with the paper's recipes, choosing checkpoints on STS dev."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from simcse_st.recipes import RECIPES

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
"""The ``--precision`` choices, :data:`simcse_st.precision.PRECISIONS` (not imported: it pulls torch)."""
DEV_SELECTIONS = ("stsb", "stsb-sickr")
"""The ``--select-on`` choices, the keys of :data:`simcse_st.training.DEV_SELECTIONS` (not imported: it pulls torch)."""

if TYPE_CHECKING:
    from simcse_st.recipes import Recipe


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train",
        help="train unsupervised (sentences) or supervised (NLI) SimCSE",
        description="Train SimCSE with the sentence-transformers trainer: the paper's recipes (--preset), STS-B dev "
        "evaluated every --eval-steps with the best checkpoint kept (as the official scripts do), resumable with "
        "--resume. Any flag overrides the preset. Under torchrun, --batch-size is the global batch, split over the "
        "processes, and every process's sentences are negatives of every anchor (as the official code does).",
    )
    parser.add_argument("objective", choices=("unsup", "sup"),
                        help="unsup: one sentence a line, dropout views as positives; sup: NLI triplets")
    parser.add_argument("--model", default=None,
                        help="encoder to start from, a Hub name or a local folder (default: the preset's model, "
                        "bert-base-uncased without a preset)")
    parser.add_argument("--train-file", required=True,
                        help="unsup: a text file, one sentence a line; sup: an NLI CSV (sent0,sent1[,hard_neg]), a "
                        "SentEval NLI folder (s1/s2/labels.<split>, e.g. <data root>/nli/snli), or snli / multi_nli "
                        "from the Hub")
    parser.add_argument("--output-dir", required=True, help="where checkpoints and the final model go")
    parser.add_argument("--preset", default=None, metavar="NAME",
                        help=f"the paper's recipe: {', '.join(RECIPES)} (default: the BERT-base recipe of the "
                        "objective)")
    parser.add_argument("--epochs", type=float, default=None, help="passes over the data (unsup 1, sup 3)")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after N steps (overrides --epochs)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="sentences (unsup) or triplets (sup) per step, over all processes (under torchrun each of "
                        "N processes gets batch/N, as in the paper's 4 GPUs x 128 = 512)")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (linear decay)")
    parser.add_argument("--temperature", type=float, default=None, help="InfoNCE temperature (paper: 0.05)")
    parser.add_argument("--max-seq-length", type=int, default=None, help="training tokens per sentence (paper: 32)")
    parser.add_argument("--pooling", choices=("cls", "mean"), default=None, help="paper: cls")
    parser.add_argument("--hard-negative-weight", type=float, default=None,
                        help="sup: log of the weight of each anchor's own hard negative (paper: 0)")
    parser.add_argument("--mlm-weight", type=float, default=None,
                        help="weight of the auxiliary MLM objective (appendix F; paper: 0.1 when used)")
    parser.add_argument("--mini-batch-size", type=int, default=None, metavar="N",
                        help="gradient caching: encode the batch N sentences at a time, for the memory of N with the "
                        "training signal of the whole batch (default: the whole batch at once)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="fp32, or mixed precision fp16 / bf16 (the similarity matrix and its softmax stay fp32); "
                        "auto: bf16 on a GPU that has it, else fp16 on CUDA, fp32 without CUDA; bf16 also runs on a "
                        "CPU with bf16 instructions (default: %(default)s)")
    parser.add_argument("--gradient-checkpointing", action="store_true",
                        help="recompute the encoder's activations in the backward pass: less memory for long "
                        "sequences or large batches, for a second forward pass in each step")
    parser.add_argument("--gather-across-devices", action=argparse.BooleanOptionalAction, default=None,
                        help="under torchrun/accelerate, make the sentences of every process negatives of every "
                        "anchor (default: on with more than one process, as the official code does)")
    parser.add_argument("--eval-steps", type=int, default=None,
                        help="evaluate on STS dev and save a checkpoint every N steps (paper: 125)")
    parser.add_argument("--select-on", choices=tuple(DEV_SELECTIONS), default="stsb",
                        help="dev score the best checkpoint is chosen on: stsb (STS-B dev, the official scripts' "
                        "stsb_spearman) or stsb-sickr (the average of STS-B and SICK-R dev) (default: %(default)s)")
    parser.add_argument("--data-dir", metavar="ROOT", default=None,
                        help="the data root holding senteval/ for STS dev (default: $SIMCSE_DATA_DIR)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default: %(default)s)")
    parser.add_argument("--name", metavar="ORG/NAME", default=None,
                        help="the model's name on the Hub and MTEB, recorded in its model card")
    parser.add_argument("--license", default=None,
                        help="the model's licence (e.g. apache-2.0, usually the base model's), recorded in its model "
                        "card; MTEB requires one")
    parser.add_argument("--language", nargs="+", metavar="CODE", default=None,
                        help="the model's languages as the Hub writes them (e.g. en), recorded in its model card")
    parser.add_argument("--base-model", metavar="NAME", default=None,
                        help="the Hub name of --model, recorded in the card as MTEB's adapted_from (default: --model "
                        "when it is a Hub name; for a local folder, the name its card or config.json records)")
    parser.add_argument("--training-data-url", metavar="URL", default=None,
                        help="where the training data is public, recorded in the card as MTEB's public_training_data "
                        "(default: the official SimCSE data's address for its file names)")
    parser.add_argument("--final-scores", action=argparse.BooleanOptionalAction, default=True,
                        help="score the final model on the seven STS test sets and its alignment/uniformity on STS-B "
                        "test, shown in its model card (default: on)")
    parser.add_argument("--report-to", nargs="+", metavar="LOGGER", default=["none"],
                        help="also send the loss and every evaluation (STS dev, alignment, uniformity) to these "
                        "loggers of the trainer, where installed: tensorboard, wandb, mlflow, ..., or all "
                        "(default: none; training.png is drawn either way)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted run in --output-dir from its last checkpoint")
    parser.set_defaults(func=run)


def recipe_from_args(args: argparse.Namespace) -> Recipe:
    """The preset (or the objective's BERT-base recipe) with every given flag applied.

    Raises:
        ValueError: for an unknown preset, a preset of the other objective, or a value out of range.
    """
    from simcse_st.recipes import default_recipe, get_recipe

    recipe = get_recipe(args.preset) if args.preset else default_recipe(args.objective)
    if recipe.objective != args.objective:
        raise ValueError(f"The preset {recipe.name} is a {recipe.objective} recipe; use it with "
                         f"'simcse-st train {recipe.objective}'.")
    if args.objective == "unsup" and args.hard_negative_weight is not None:
        raise ValueError("--hard-negative-weight applies to supervised training only (simcse-st train sup).")
    return recipe.with_overrides(
        batch_size=args.batch_size,
        learning_rate=args.lr,
        epochs=args.epochs,
        temperature=args.temperature,
        max_seq_length=args.max_seq_length,
        pooling=args.pooling,
        hard_negative_weight=args.hard_negative_weight,
        eval_steps=args.eval_steps,
    )


def loss_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of the loss from the flags (those the recipe does not hold); unset flags are left out."""
    return {
        "mlm_weight": args.mlm_weight,
        "mini_batch_size": args.mini_batch_size,
        "gather_across_devices": args.gather_across_devices,
    }


def main_process_print(*args: Any, **kwargs: Any) -> None:
    """``print`` on the first process only (torchrun starts one process per device, each running this command)."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(*args, **kwargs)


def run(args: argparse.Namespace) -> int:
    """Check the recipe and the data, train, and say where the model went."""
    from pathlib import Path

    from simcse_st.data.training import load_training_data
    from simcse_st.losses.infonce import gathers_across_devices
    from simcse_st.precision import resolve_precision
    from simcse_st.training import DEV_SELECTIONS, per_device_batch_size, train_simcse, world_size

    recipe = recipe_from_args(args)
    precision = resolve_precision(args.precision)
    if args.name is not None:
        from simcse_st.evaluation.mteb_meta import check_model_name

        check_model_name(args.name)
    if args.base_model is not None:
        from simcse_st.hub import check_hub_name

        check_hub_name(args.base_model)
    if args.training_data_url is not None:
        from simcse_st.evaluation.mteb_meta import check_url

        check_url(args.training_data_url)
    if args.max_steps is not None and args.max_steps < 1:
        raise ValueError(f"--max-steps must be a positive integer, got {args.max_steps}.")
    processes = world_size()
    per_device = per_device_batch_size(recipe.batch_size, processes)
    dataset = load_training_data(args.objective, args.train_file)
    model = args.model or recipe.model
    length = f"{args.max_steps} steps" if args.max_steps else f"{recipe.epochs:g} epochs"
    gathered = gathers_across_devices(args.gather_across_devices)
    main_process_print(
        f"Training {args.objective} SimCSE from {model} on {args.train_file} ({dataset.num_rows} rows) with recipe "
        f"{recipe.name}: global batch {recipe.batch_size} = {processes} process(es) x {per_device} per device"
        f"{' (negatives gathered across devices)' if gathered and processes > 1 else ''}, lr "
        f"{recipe.learning_rate:g}, {length}, temperature {recipe.temperature:g}, max length {recipe.max_seq_length}, "
        f"{recipe.pooling} pooling, precision {precision}"
        f"{', gradient checkpointing' if args.gradient_checkpointing else ''}.",
        flush=True,
    )
    result = train_simcse(
        model, dataset, args.output_dir, recipe,
        data_dir=args.data_dir, data_name=Path(args.train_file).name, max_steps=args.max_steps, seed=args.seed,
        resume=args.resume, dev_tasks=DEV_SELECTIONS[args.select_on], loss_options=loss_options(args),
        name=args.name, license=args.license, languages=args.language, final_scores=args.final_scores,
        precision=precision, gradient_checkpointing=args.gradient_checkpointing,
        report_to=args.report_to,
        base_model=args.base_model, training_data_url=args.training_data_url,
    )
    if result.best_checkpoint is not None:
        scores = ", ".join(f"{step}: {score:.2f}" for step, score in result.dev_scores)
        what = "STS-B dev" if args.select_on == "stsb" else "STS-B + SICK-R dev average"
        main_process_print(f"Best {what} {result.best_dev_score:.2f} at {Path(result.best_checkpoint).name} "
                           f"(dev scores by step: {scores}).")
    plot = result.output_dir / "training.png"
    main_process_print(f"Saved the model after {result.global_step} steps to {result.output_dir} (model card: "
                       f"{result.output_dir / 'README.md'}" + (f", training curves: {plot}" if plot.exists() else "")
                       + f"). Score it with: simcse-st eval {result.output_dir}")
    return 0
