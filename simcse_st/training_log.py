"""A training run's own log, read back: the trainer's ``trainer_state.json`` (its log history).

``simcse-st train`` (:func:`simcse_st.training.train_simcse`) saves the trainer state beside the final model, and the
trainer writes one into every ``checkpoint-<step>`` folder, so a finished run, an interrupted one and a plain
sentence-transformers trainer's ``output_dir`` can all be read. The log history holds the training loss every
``logging_steps`` and, at every evaluation, the metrics of :class:`~simcse_st.evaluation.watch.TrainingWatchEvaluator`
(``eval_sts_dev_<task>``, ``eval_stsb_dev_alignment``, ``eval_stsb_dev_uniformity``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

TRAINER_STATE = "trainer_state.json"
"""The trainer's state file (``transformers.TrainerState.save_to_json``), in the run folder and each checkpoint."""
DEV_PREFIX = "eval_sts_dev_"
ALIGNMENT_KEY, UNIFORMITY_KEY = "eval_stsb_dev_alignment", "eval_stsb_dev_uniformity"


@dataclass
class TrainingLog:
    """What a run logged, by optimizer step.

    Attributes:
        source: the ``trainer_state.json`` it was read from.
        global_step: the steps the run had taken when the state was written.
        loss: ``(step, training loss)`` at every logging step.
        dev: ``{task: [(step, Spearman x100)]}`` at every evaluation (``avg`` among the tasks).
        geometry: ``(step, alignment, uniformity)`` on STS-B dev at every evaluation.
        best_step: the step of the checkpoint kept for its dev score, if one was.
    """

    source: Path
    global_step: int
    loss: list[tuple[int, float]] = field(default_factory=list)
    dev: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    geometry: list[tuple[int, float, float]] = field(default_factory=list)
    best_step: int | None = None

    @property
    def empty(self) -> bool:
        """Whether nothing drawable was logged (no loss and no evaluation yet)."""
        return not (self.loss or self.dev or self.geometry)


def trainer_state_path(run_dir: str | os.PathLike[str]) -> Path:
    """The run's ``trainer_state.json``: the run folder's own (written at the end of training), else that of its
    latest ``checkpoint-<step>`` (an interrupted run).

    Raises:
        ValueError: when ``run_dir`` is not a folder or holds no trainer state (not a training run).
    """
    from transformers.trainer_utils import get_last_checkpoint

    folder = Path(run_dir)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder: pass the --output-dir of a simcse-st train run.")
    if (folder / TRAINER_STATE).is_file():
        return folder / TRAINER_STATE
    checkpoint = get_last_checkpoint(str(folder))
    if checkpoint is not None and (Path(checkpoint) / TRAINER_STATE).is_file():
        return Path(checkpoint) / TRAINER_STATE
    raise ValueError(
        f"{folder} is not a training run: it holds no {TRAINER_STATE}, neither itself nor in a checkpoint-<step> "
        "folder. Pass the --output-dir of a simcse-st train run (or a sentence-transformers trainer's output_dir)."
    )


def read_training_log(run_dir: str | os.PathLike[str]) -> TrainingLog:
    """The log of the run in ``run_dir`` (see :func:`trainer_state_path` for which file).

    Raises:
        ValueError: when ``run_dir`` is not a run, or its trainer state is not the trainer's JSON.
    """
    path = trainer_state_path(run_dir)
    try:
        state = json.loads(path.read_text("utf-8"))
        history = state["log_history"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a trainer state (JSON with a log_history): {error}.") from None
    log = TrainingLog(source=path, global_step=int(state.get("global_step", 0)), best_step=_best_step(state))
    for entry in history:
        step = int(entry.get("step", 0))
        if "loss" in entry:
            log.loss.append((step, float(entry["loss"])))
        for key, value in entry.items():
            if key.startswith(DEV_PREFIX):
                log.dev.setdefault(key.removeprefix(DEV_PREFIX), []).append((step, float(value)))
        if ALIGNMENT_KEY in entry and UNIFORMITY_KEY in entry:
            log.geometry.append((step, float(entry[ALIGNMENT_KEY]), float(entry[UNIFORMITY_KEY])))
    return log


def _best_step(state: dict) -> int | None:
    if state.get("best_global_step") is not None:
        return int(state["best_global_step"])
    match = re.search(r"checkpoint-(\d+)$", str(state.get("best_model_checkpoint") or ""))
    return int(match.group(1)) if match else None
