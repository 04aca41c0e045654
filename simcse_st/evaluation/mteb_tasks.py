"""MTEB tasks whose data are the local SentEval files (imports ``mteb``; loaded by :func:`run_mteb` only)."""

from __future__ import annotations

import os
from typing import Any

from datasets import Dataset
from mteb.abstasks.sts import AbsTaskSTS
from mteb.abstasks.task_metadata import TaskMetadata

from simcse_st.data.sts import STS_TASKS, load_sts_task

# gold score range of each task (MTEB rescales scores to [0, 1]; Spearman is unchanged)
_SCORE_RANGE = {task: (0, 5) for task in STS_TASKS} | {"SICKRelatedness": (1, 5)}
LOCAL_TASK_PREFIX = "SentEval"


def local_task_name(task: str) -> str:
    """The MTEB name of the local copy of ``task`` (``"SentEvalSTS12"``), distinct from MTEB's Hub tasks."""
    return f"{LOCAL_TASK_PREFIX}{task}"


class SentEvalSTSTask(AbsTaskSTS):
    """Base of the local MTEB copies of the paper's STS tasks, read from the SentEval layout.

    A task's SentEval subsets are concatenated into one ``test`` split, so MTEB's ``cosine_spearman`` is the
    paper's "all" aggregation, and unscored pairs are skipped as in SentEval. MTEB reads ``metadata`` from the
    class, so each task is a subclass (see :data:`LOCAL_TASK_CLASSES` and :func:`local_sts_task`).

    Args:
        data_dir: the data root holding ``senteval/``; defaults to ``$SIMCSE_DATA_DIR``.
        **kwargs: passed to :class:`mteb.abstasks.sts.AbsTaskSTS` (e.g. ``seed``).

    Example:
        >>> import mteb
        >>> mteb.evaluate(model, [local_sts_task("STS12")], cache=None)  # doctest: +SKIP
    """

    sts_task: str

    def __init__(self, data_dir: str | os.PathLike[str] | None = None, **kwargs: Any) -> None:
        self.data_dir = data_dir
        super().__init__(**kwargs)

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        """Read the task's scored test pairs into ``self.dataset`` (``{"test": Dataset}``)."""
        if self.data_loaded:
            return
        subsets = load_sts_task(self.sts_task, "test", self.data_dir)
        columns: dict[str, list] = {
            "sentence1": [s for subset in subsets for s in subset.sentences1],
            "sentence2": [s for subset in subsets for s in subset.sentences2],
            "score": [g for subset in subsets for g in subset.scores],
        }
        self.dataset = {"test": Dataset.from_dict(columns)}
        self.data_loaded = True


def _task_class(task: str) -> type[SentEvalSTSTask]:
    min_score, max_score = _SCORE_RANGE[task]
    metadata = TaskMetadata(
        name=local_task_name(task),
        dataset={"path": f"senteval/{task}", "revision": "local"},
        description=f"{task} test pairs read from the local SentEval files (subsets concatenated).",
        reference="https://github.com/facebookresearch/SentEval",
        type="STS",
        category="t2t",
        modalities=["text"],
        eval_splits=["test"],
        eval_langs=["eng-Latn"],
        main_score="cosine_spearman",
    )
    attributes = {"sts_task": task, "min_score": min_score, "max_score": max_score, "metadata": metadata}
    return type(local_task_name(task), (SentEvalSTSTask,), attributes)


LOCAL_TASK_CLASSES: dict[str, type[SentEvalSTSTask]] = {task: _task_class(task) for task in STS_TASKS}
"""One MTEB task class per name of :data:`simcse_st.data.STS_TASKS`."""


def local_sts_task(task: str, data_dir: str | os.PathLike[str] | None = None) -> SentEvalSTSTask:
    """The MTEB task for ``task`` (a name from :data:`simcse_st.data.STS_TASKS`) on the local SentEval files.

    Raises:
        ValueError: for an unknown task.
    """
    if task not in LOCAL_TASK_CLASSES:
        raise ValueError(f"Unknown STS task {task!r}; choose from {', '.join(STS_TASKS)}.")
    return LOCAL_TASK_CLASSES[task](data_dir)
