"""Training SimCSE with the sentence-transformers trainer: the glue ``simcse-st train`` and the quickstart share.

:func:`train_simcse` builds the model and the loss from a :class:`~simcse_st.recipes.Recipe`, evaluates on STS
dev every ``eval_steps`` and keeps the best checkpoint, and can resume an interrupted run. As the official scripts
do (``--metric_for_best_model stsb_spearman``), the checkpoint is chosen on STS-B dev alone; the STS-B + SICK-R dev
average is an option (``dev_tasks``). Checkpoints carry the loss-owned heads (the unsupervised MLP, the MLM
head), which the trainer's own checkpoints leave out, so a resumed run continues exactly; the final model does
not contain them (the paper drops the unsupervised MLP at inference).

Under ``torchrun`` the recipe's batch size is the global batch, split evenly over the processes, with every
process's embeddings gathered as negatives: the official recipes' meaning (e.g. 4 GPUs x 128 = 512).

Training runs at the recipe's short ``max_seq_length`` (32 in the paper: the losses cut each batch to it);
the model, its evaluation and the saved model keep the encoder's full length, as the official code does.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator
from torch import nn
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from simcse_st.data import DataNotFoundError
from simcse_st.evaluation import SentEvalSTSEvaluator
from simcse_st.evaluation.watch import TrainingWatchEvaluator
from simcse_st.losses import SimCSELoss, SupervisedSimCSELoss
from simcse_st.losses.infonce import world_size
from simcse_st.model_card import describe_training, training_record, write_training_record
from simcse_st.models import build_simcse_model
from simcse_st.precision import precision_arguments, resolve_precision
from simcse_st.recipes import Recipe
from simcse_st.training_plot import plot_finished_run

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

LOSS_HEAD_FILE = "simcse_loss_head.pt"
"""The file in each checkpoint folder that holds the loss-owned parameters (heads)."""
DEV_SELECTIONS: dict[str, tuple[str, ...]] = {
    "stsb": ("STSBenchmark",),
    "stsb-sickr": ("STSBenchmark", "SICKRelatedness"),
}
"""The dev tasks checkpoints can be chosen on: STS-B alone (the official scripts' ``stsb_spearman``, the default)
or the average of STS-B and SICK-R dev."""
OFFICIAL_DEV_TASKS = DEV_SELECTIONS["stsb"]


def dev_metric(tasks: tuple[str, ...] = OFFICIAL_DEV_TASKS) -> str:
    """The logged metric the best checkpoint is chosen on: ``eval_sts_dev_STSBenchmark`` for STS-B alone (the
    official ``stsb_spearman``), ``eval_sts_dev_avg`` for the average of several dev tasks."""
    return f"eval_sts_dev_{tasks[0]}" if len(tasks) == 1 else "eval_sts_dev_avg"


def per_device_batch_size(global_batch_size: int, processes: int) -> int:
    """Each process's share of the global batch.

    Raises:
        ValueError: when ``processes`` does not divide ``global_batch_size`` (the message gives the ways out).
    """
    if global_batch_size % processes:
        raise ValueError(
            f"The batch size {global_batch_size} is the global batch and must split evenly over the {processes} "
            f"processes: pass a --batch-size that is a multiple of {processes}, or run another number of processes."
        )
    return global_batch_size // processes


@dataclass
class TrainingResult:
    """What a training run produced.

    Attributes:
        output_dir: where the final model (and the checkpoints) went.
        global_step: optimizer steps taken in total (a resumed run counts the steps before the interruption).
        best_checkpoint: the checkpoint kept for its STS dev score, or None without dev evaluation.
        best_dev_score: its score (the metric of :func:`dev_metric`: STS-B dev by default), or None.
        dev_scores: ``(step, score)`` of every dev evaluation, in order.
        test_scores: the final model's STS table (Spearman x100 per task and ``avg``), or None without the data.
    """

    output_dir: Path
    global_step: int
    best_checkpoint: str | None = None
    best_dev_score: float | None = None
    dev_scores: list[tuple[int, float]] = field(default_factory=list)
    test_scores: dict[str, float] | None = None


def build_model(recipe: Recipe, model_name_or_path: str | os.PathLike[str]) -> SentenceTransformer:
    """The SentenceTransformer the recipe trains: at the encoder's full length, the recipe's training length
    recorded for the loss (see :func:`simcse_st.build_simcse_model`)."""
    return build_simcse_model(
        model_name_or_path,
        pooling=recipe.pooling,
        max_seq_length=recipe.max_seq_length,
        mlp_at_inference=recipe.mlp_at_inference,
    )


def build_loss(model: SentenceTransformer, recipe: Recipe, **loss_options: Any) -> nn.Module:
    """The recipe's loss: :class:`~simcse_st.SimCSELoss` (unsup) or :class:`~simcse_st.SupervisedSimCSELoss` (sup).

    Args:
        model: the model to train.
        recipe: gives the objective, the temperature and (sup) the hard negative weight.
        loss_options: further keyword arguments of the loss (``gather_across_devices``, ``mini_batch_size``,
            ``mlm_weight``); ``None`` values are left out, so ``gather_across_devices`` takes the losses'
            default: on when the run has more than one process, as the official code gathers whenever it runs
            distributed.
    """
    options = {key: value for key, value in loss_options.items() if value is not None}
    if recipe.objective == "unsup":
        return SimCSELoss(model, temperature=recipe.temperature, **options)
    return SupervisedSimCSELoss(
        model, temperature=recipe.temperature, hard_negative_weight=recipe.hard_negative_weight, **options
    )


def check_enough_rows(dataset: Dataset, batch_size: int) -> None:
    """Refuse a training set smaller than one batch (before any model is loaded).

    Raises:
        ValueError: naming the row count and the batch size.
    """
    if dataset.num_rows < batch_size:
        raise ValueError(
            f"The training data has {dataset.num_rows} rows, fewer than one batch of {batch_size}: "
            "pass more data or a smaller --batch-size."
        )


def dev_evaluator(
    data_dir: str | os.PathLike[str] | None, tasks: tuple[str, ...] = OFFICIAL_DEV_TASKS
) -> SentenceEvaluator | None:
    """The STS dev evaluator that picks checkpoints and logs alignment and uniformity on STS-B dev beside the score
    (:class:`~simcse_st.evaluation.watch.TrainingWatchEvaluator`), or None with a note when that data is not under
    the data root.

    Args:
        data_dir: the data root holding ``senteval/``.
        tasks: the dev tasks; by default STS-B dev alone, as the official scripts select checkpoints
            (``DEV_SELECTIONS["stsb-sickr"]`` averages STS-B and SICK-R dev).
    """
    try:
        return TrainingWatchEvaluator(data_dir=data_dir, tasks=tasks)
    except DataNotFoundError as error:
        logger.warning("No STS dev data (%s): training without checkpoint selection; the last step is kept.", error)
        return None


def training_arguments(
    recipe: Recipe,
    output_dir: str | os.PathLike[str],
    *,
    max_steps: int | None = None,
    seed: int = 42,
    select_on_dev: bool = True,
    dev_tasks: tuple[str, ...] = OFFICIAL_DEV_TASKS,
    save_total_limit: int | None = 2,
    precision: str = "auto",
    gradient_checkpointing: bool = False,
    **overrides: Any,
) -> SentenceTransformerTrainingArguments:
    """SentenceTransformerTrainingArguments for the recipe: linear decay without warm-up (the official trainer's
    default), batches without duplicate sentences, a checkpoint every ``eval_steps`` and, with
    ``select_on_dev``, STS dev evaluation at the same steps keeping the best checkpoint. The recipe's batch size
    is the global batch: each of the run's processes gets an equal share (:func:`per_device_batch_size`).

    Args:
        recipe: batch size, learning rate, epochs and evaluation interval.
        output_dir: where checkpoints and the final model go.
        max_steps: stop after this many steps (overrides the epochs); None trains for the recipe's epochs.
        seed: seed of the model's initialization and the data order.
        select_on_dev: evaluate with the dev evaluator and load the best checkpoint at the end.
        dev_tasks: the dev tasks the checkpoint is chosen on (see :func:`dev_metric`); STS-B alone by default.
        save_total_limit: checkpoints kept (the best is always kept besides the latest).
        precision: ``auto``, ``fp32``, ``fp16`` or ``bf16``, checked against the hardware
            (:func:`simcse_st.precision.resolve_precision`).
        gradient_checkpointing: recompute the encoder's activations in the backward pass (long sequences);
            passed as transformers' ``activation_checkpointing`` (``gradient_checkpointing`` in older releases).
        overrides: any other training argument (e.g. ``report_to="tensorboard"``).
    """
    selection: dict[str, Any] = (
        {
            "eval_strategy": "steps",
            "eval_steps": recipe.eval_steps,
            "load_best_model_at_end": True,
            "metric_for_best_model": dev_metric(dev_tasks),
            "greater_is_better": True,
        }
        if select_on_dev
        else {"eval_strategy": "no"}
    )
    arguments: dict[str, Any] = {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": per_device_batch_size(recipe.batch_size, world_size()),
        "learning_rate": recipe.learning_rate,
        "num_train_epochs": recipe.epochs,
        "max_steps": max_steps if max_steps is not None else -1,
        "warmup_steps": 0,
        "lr_scheduler_type": "linear",
        # duplicates in a batch would be false negatives
        "batch_sampler": BatchSamplers.NO_DUPLICATES,
        "save_strategy": "steps",
        "save_steps": recipe.eval_steps,
        "save_total_limit": save_total_limit,
        "logging_steps": max(1, min(50, recipe.eval_steps)),
        "seed": seed,
        # torchrun on a machine without CUDA: accelerate only sets up (gloo) DDP when told to use the CPU
        "use_cpu": not torch.cuda.is_available() and world_size() > 1,
        **precision_arguments(resolve_precision(precision)),
        **checkpointing_argument(gradient_checkpointing),
        "dataloader_pin_memory": torch.cuda.is_available(),
        "report_to": "none",
        **selection,
        **overrides,
    }
    return SentenceTransformerTrainingArguments(**arguments)


def checkpointing_argument(enabled: bool) -> dict[str, bool]:
    """The training argument that turns activation checkpointing on: ``activation_checkpointing`` in newer
    transformers (which deprecate ``gradient_checkpointing``), ``gradient_checkpointing`` in older ones."""
    if not enabled:
        return {}
    names = {argument.name for argument in fields(SentenceTransformerTrainingArguments)}
    return {"activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing": True}


class SimCSETrainer(SentenceTransformerTrainer):
    """sentence-transformers' trainer, whose checkpoints also hold the loss-owned parameters.

    The trainer saves the model only; this one also writes ``loss.head_state_dict()`` (the unsupervised MLP, the
    MLM head) to ``simcse_loss_head.pt`` in each checkpoint and restores it when resuming or loading the best
    checkpoint, so that a resumed run continues exactly. The final model never holds these heads.
    """

    def _save_checkpoint(self, model: nn.Module, trial: Any) -> None:
        heads = _loss_heads(self.loss)
        if heads and self.args.should_save:
            # written before the trainer's own files, so a checkpoint with a trainer state has its heads
            folder = Path(self._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            folder.mkdir(parents=True, exist_ok=True)
            torch.save(heads, folder / LOSS_HEAD_FILE)
        super()._save_checkpoint(model, trial)

    def _load_from_checkpoint(self, checkpoint_path: str, *args: Any, **kwargs: Any) -> None:
        super()._load_from_checkpoint(checkpoint_path, *args, **kwargs)
        path = Path(checkpoint_path) / LOSS_HEAD_FILE
        if path.is_file():
            heads = torch.load(path, map_location="cpu", weights_only=True)
            incompatible = self.loss.load_state_dict(heads, strict=False)
            if incompatible.unexpected_keys:
                raise ValueError(f"{path} holds parameters this loss does not have: {incompatible.unexpected_keys}.")
        elif _loss_heads(self.loss):
            logger.warning("%s has no %s: the loss's head starts afresh.", checkpoint_path, LOSS_HEAD_FILE)


def _loss_heads(loss: nn.Module) -> dict[str, Any]:
    head_state_dict = getattr(loss, "head_state_dict", None)
    return head_state_dict() if head_state_dict is not None else {}


def build_trainer(
    model: SentenceTransformer,
    loss: nn.Module,
    train_dataset: Dataset,
    args: Any,
    evaluator: SentenceEvaluator | None = None,
    callbacks: list[Any] | None = None,
) -> SimCSETrainer:
    """A :class:`SimCSETrainer` (sentence-transformers' trainer, with checkpoints that keep the loss-owned heads)."""
    return SimCSETrainer(
        model=model, args=args, train_dataset=train_dataset, loss=loss, evaluator=evaluator, callbacks=callbacks
    )


def has_checkpoint(output_dir: str | os.PathLike[str]) -> bool:
    """Whether ``output_dir`` holds a trainer checkpoint (``checkpoint-<step>``) to resume from."""
    return Path(output_dir).is_dir() and get_last_checkpoint(str(output_dir)) is not None


def final_evaluation(model: SentenceTransformer, data_dir: str | os.PathLike[str] | None) -> dict[str, float] | None:
    """Score the final model on the seven STS test sets and measure its alignment and uniformity on STS-B test,
    for its model card (the evaluators record their metrics there); None with a note when the data is missing.

    Returns:
        The STS table (Spearman x100 per task and ``avg``), or None.
    """
    from simcse_st.evaluation import AlignmentUniformityEvaluator

    try:
        scores = SentEvalSTSEvaluator(data_dir=data_dir, split="test", name="sts_test", show_progress_bar=False)(model)
        AlignmentUniformityEvaluator(data_dir=data_dir, split="test", show_progress_bar=False)(model)
    except DataNotFoundError as error:
        logger.warning("No STS test data (%s): the model card has no STS table.", error)
        return None
    return {key.removeprefix("sts_test_"): value for key, value in scores.items()}


def train_simcse(
    model_name_or_path: str | os.PathLike[str],
    train_dataset: Dataset,
    output_dir: str | os.PathLike[str],
    recipe: Recipe,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    data_name: str = "training data",
    max_steps: int | None = None,
    seed: int = 42,
    resume: bool = False,
    select_on_dev: bool = True,
    dev_tasks: tuple[str, ...] = OFFICIAL_DEV_TASKS,
    loss_options: dict[str, Any] | None = None,
    callbacks: list[Any] | None = None,
    name: str | None = None,
    license: str | None = None,
    languages: list[str] | None = None,
    final_scores: bool = True,
    precision: str = "auto",
    base_model: str | None = None,
    training_data_url: str | None = None,
    **argument_overrides: Any,
) -> TrainingResult:
    """Train a SimCSE model with ``recipe`` and save the (best) model to ``output_dir``.

    Args:
        model_name_or_path: the encoder to start from (a Hub name or a local folder).
        train_dataset: a ``sentence`` column (unsup) or ``anchor, positive[, hard_negative]`` (sup), as the
            readers of :mod:`simcse_st.data.training` return.
        output_dir: where checkpoints and the final model go.
        recipe: the hyperparameters (see :mod:`simcse_st.recipes`).
        data_dir: the data root holding ``senteval/`` for the STS dev evaluation.
        data_name: how the model card names the training data.
        max_steps: stop after this many steps; None trains for the recipe's epochs.
        seed: seed of the initialization (the loss's MLP included) and the data order.
        resume: continue from the last checkpoint in ``output_dir``.
        select_on_dev: evaluate on STS dev every ``recipe.eval_steps`` and keep the best checkpoint (skipped
            with a note when the dev data is missing).
        dev_tasks: the STS dev tasks of the selection: STS-B alone by default, as the official scripts
            (``--metric_for_best_model stsb_spearman``); ``DEV_SELECTIONS["stsb-sickr"]`` averages STS-B and SICK-R.
        loss_options: further keyword arguments of the loss (see :func:`build_loss`); gathering across devices
            is on by default when the run has more than one process.
        callbacks: extra ``transformers.TrainerCallback`` objects.
        name: the model's ``ORG/NAME`` (MTEB and the Hub), recorded in its card.
        license: the model's licence (e.g. ``apache-2.0``), recorded in its card.
        languages: the model's languages (e.g. ``["en"]``), recorded in its card.
        base_model: the Hub name of ``model_name_or_path``, recorded in the card (default: found by
            :func:`simcse_st.model_card.base_model_name`).
        training_data_url: where the training data is public, recorded in the card.
        final_scores: score the final model on the seven STS test sets and its alignment/uniformity for its card
            (:func:`final_evaluation`; skipped with a note when the data is missing).
        precision: ``auto`` (bf16 on a GPU that has it, else fp16 on CUDA, fp32 without CUDA), ``fp32``, ``fp16``
            or ``bf16`` (also on a CPU with bf16 instructions); recorded in the model card.
        argument_overrides: further training arguments (see :func:`training_arguments`), e.g.
            ``gradient_checkpointing=True`` (``--gradient-checkpointing``) to recompute the encoder's activations
            in the backward pass (long sequences).

    Returns:
        A :class:`TrainingResult`.

    Raises:
        ValueError: for bad data (wrong columns, fewer rows than a batch), ``resume`` without a checkpoint, an
            ``output_dir`` that already holds checkpoints when not resuming, a batch size the number of
            processes does not divide, or a precision the hardware lacks. All raised before training.

    Example:
        >>> from simcse_st.data.training import load_sentence_file
        >>> from simcse_st.recipes import get_recipe
        >>> result = train_simcse(  # doctest: +SKIP
        ...     "bert-base-uncased", load_sentence_file("wiki1m_for_simcse.txt"), "out", get_recipe("unsup-bert-base")
        ... )
    """
    from transformers import set_seed

    recipe.validate()
    precision = resolve_precision(precision)
    if resume and not has_checkpoint(output_dir):
        raise ValueError(f"--resume: {output_dir} holds no checkpoint-<step> folder to resume from; run without it.")
    if not resume and has_checkpoint(output_dir):
        raise ValueError(
            f"{output_dir} already holds checkpoints of an earlier run: pass --resume to continue it, "
            "or choose another output directory."
        )
    check_enough_rows(train_dataset, recipe.batch_size)
    per_device_batch_size(recipe.batch_size, world_size())
    set_seed(seed)  # before the model and the loss, whose head is initialized here
    model = build_model(recipe, model_name_or_path)
    loss = build_loss(model, recipe, **(loss_options or {}))
    loss.validate_columns(train_dataset.column_names)
    evaluator = dev_evaluator(data_dir, dev_tasks) if select_on_dev else None
    args = training_arguments(
        recipe, output_dir, max_steps=max_steps, seed=seed, select_on_dev=evaluator is not None,
        dev_tasks=dev_tasks, precision=precision, **argument_overrides,
    )
    record = training_record(
        recipe, model_name_or_path, data_name, dev_tasks if evaluator is not None else (), name, precision=precision,
        base_model=base_model, training_data_url=training_data_url,
    )
    describe_training(model, record, license, languages)
    trainer = build_trainer(model, loss, train_dataset, args, evaluator, callbacks)
    trainer.train(resume_from_checkpoint=True if resume else None)
    test_scores = final_evaluation(model, data_dir) if final_scores and trainer.is_world_process_zero() else None
    trainer.save_model(str(output_dir))
    trainer.save_state()  # the log history, which simcse-st report draws
    if trainer.is_world_process_zero():
        write_training_record(output_dir, record)
        plot_finished_run(output_dir)
    state = trainer.state
    metric = dev_metric(dev_tasks)
    dev_scores = [(entry["step"], entry[metric]) for entry in state.log_history if metric in entry]
    logger.info("Saved the model to %s after %d steps.", output_dir, state.global_step)
    return TrainingResult(
        output_dir=Path(output_dir),
        global_step=state.global_step,
        best_checkpoint=state.best_model_checkpoint if evaluator is not None else None,
        best_dev_score=state.best_metric if evaluator is not None else None,
        dev_scores=dev_scores,
        test_scores=test_scores,
    )

