"""``training.png``: a run drawn from its own log, as the SimCSE paper shows training (its Figure 2).

Three panels: the training loss by step; the STS dev score by step with the kept checkpoint marked; and the
alignment-uniformity trajectory on STS-B dev (x: uniformity, y: alignment, lower is better for both), each
evaluation a point coloured by its step, arrows following training. :func:`write_training_plot` draws it into the
run folder and shows it in the saved model's card; ``simcse-st train`` calls it at the end and ``simcse-st report``
on demand.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from simcse_st.data.sts import STS_TASK_LABELS
from simcse_st.training_log import TrainingLog, read_training_log

if TYPE_CHECKING:
    from matplotlib.axes import Axes

logger = logging.getLogger(__name__)

TRAINING_PLOT = "training.png"
PLOT_MARKER = "simcse-st training plot"
"""The PNG ``Software`` text entry of a plot this package drew: only such a file is ever replaced."""


def write_training_plot(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path:
    """Draw the run in ``run_dir`` to ``out`` (default ``run_dir/training.png``) and, when ``run_dir`` holds the
    model ``simcse-st train`` saved, show the image in its card (``README.md``).

    Raises:
        ValueError: when ``run_dir`` is not a training run, has logged nothing yet, or ``out`` is a file this
            package did not draw (it is left as it is).
    """
    from simcse_st.model_card import add_training_plot

    log = read_training_log(run_dir)
    if log.empty:
        raise ValueError(f"{log.source} has no logged loss or evaluation yet: run the report again after the first "
                         "logging step.")
    path = Path(out) if out is not None else Path(run_dir) / TRAINING_PLOT
    draw_training_plot(log, path, title=Path(run_dir).resolve().name)
    if path.parent.resolve() == Path(run_dir).resolve():
        add_training_plot(run_dir, path.name)
    return path


def plot_finished_run(run_dir: str | os.PathLike[str]) -> Path | None:
    """:func:`write_training_plot` at the end of training; a run too short to have logged anything gets a warning
    instead of a plot (its model is saved all the same)."""
    try:
        return write_training_plot(run_dir)
    except ValueError as error:
        logger.warning("No %s: %s", TRAINING_PLOT, error)
        return None


def draw_training_plot(log: TrainingLog, path: Path, title: str = "") -> None:
    """Draw ``log`` to the PNG ``path``, written whole or not at all.

    Raises:
        ValueError: when ``path`` exists and is not a plot this package drew.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _check_replaceable(path)
    panels = [draw for draw, present in ((_draw_loss, log.loss), (_draw_dev, log.dev), (_draw_geometry, log.geometry))
              if present]
    figure, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    for draw, ax in zip(panels, axes[0], strict=True):
        draw(log, ax)
    figure.suptitle(f"{title}: {log.global_step} steps".lstrip(": "), fontsize=11)
    figure.tight_layout()
    temporary = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(temporary, format="png", dpi=90, metadata={"Software": PLOT_MARKER})
    plt.close(figure)
    os.replace(temporary, path)


def _check_replaceable(path: Path) -> None:
    if not path.exists():
        return
    from PIL import Image

    try:
        with Image.open(path) as image:
            ours = getattr(image, "text", {}).get("Software") == PLOT_MARKER
    except OSError:
        ours = False
    if not ours:
        raise ValueError(f"{path} exists and was not drawn by simcse-st: move it away or pass another --out.")


def _draw_loss(log: TrainingLog, ax: Axes) -> None:
    steps, losses = zip(*log.loss, strict=True)
    ax.plot(steps, losses, color="tab:red", marker="." if len(steps) < 60 else None)
    if min(losses) > 0 and max(losses) > 20 * min(losses):
        ax.set_yscale("log")
    ax.set(title="Training loss", xlabel="step", ylabel="loss")
    ax.grid(alpha=0.3)


def _draw_dev(log: TrainingLog, ax: Axes) -> None:
    tasks = [task for task in log.dev if task != "avg" or len(log.dev) > 2]  # avg repeats a single task
    for task in tasks:
        steps, scores = zip(*log.dev[task], strict=True)
        label = "average" if task == "avg" else STS_TASK_LABELS.get(task, task)
        ax.plot(steps, scores, marker="o", markersize=4, label=f"{label} dev")
    best = dict(log.dev.get("avg", []))
    if log.best_step is not None and log.best_step in best:
        ax.plot([log.best_step], [best[log.best_step]], marker="*", markersize=14, color="gold",
                markeredgecolor="black", linestyle="none",
                label=f"kept: {best[log.best_step]:.2f} at step {log.best_step}")
    ax.set(title="STS dev (Spearman x100)", xlabel="step", ylabel="Spearman x100")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def _draw_geometry(log: TrainingLog, ax: Axes) -> None:
    steps, alignments, uniformities = zip(*log.geometry, strict=True)
    # the paper's Figure 2: l_uniform on x, l_align on y, checkpoints joined in the order of training
    for index in range(len(steps) - 1):
        ax.annotate("", xy=(uniformities[index + 1], alignments[index + 1]),
                    xytext=(uniformities[index], alignments[index]),
                    arrowprops={"arrowstyle": "->", "color": "0.45", "lw": 1.2, "shrinkA": 5, "shrinkB": 5})
    points = ax.scatter(uniformities, alignments, c=steps, cmap="viridis", s=40, zorder=3, edgecolors="black",
                        linewidths=0.4)
    ax.figure.colorbar(points, ax=ax, label="step")
    for index, text, marker in ((0, "first evaluation", "o"), (len(steps) - 1, "last", "s")):
        ax.scatter([uniformities[index]], [alignments[index]], s=160, marker=marker, facecolors="none",
                   edgecolors="tab:red", linewidths=1.5, zorder=4, label=f"{text} (step {steps[index]})")
    ax.legend(fontsize=8, loc="best")
    ax.set(title="Alignment vs uniformity (STS-B dev)", xlabel="uniformity (lower is better)",
           ylabel="alignment (lower is better)")
    ax.margins(0.15)
    ax.grid(alpha=0.3)
