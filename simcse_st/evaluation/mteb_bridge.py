"""Run the ``mteb`` package on the paper's seven STS tasks, from the local SentEval files or from the Hub."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import numpy as np

from simcse_st.data.sts import STS_TASKS

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

MTEB_HUB_TASKS: dict[str, str] = {task: task for task in STS_TASKS} | {"SICKRelatedness": "SICK-R"}
"""MTEB's own (Hub) task for each of our task names."""


def run_mteb(
    model: SentenceTransformer | str,
    data_dir: str | os.PathLike[str] | None = None,
    tasks: list[str] | tuple[str, ...] | None = None,
    output_folder: str | os.PathLike[str] | None = None,
    source: str = "local",
    batch_size: int = 128,
    show_progress_bar: bool = True,
) -> dict[str, float]:
    """Evaluate ``model`` with MTEB's own STS evaluator; returns cosine Spearman x100 per task and ``avg``.

    With ``source="local"`` each task is a custom MTEB task whose data are the SentEval files under the data
    root (subsets concatenated, unscored pairs skipped), so the numbers are comparable with
    :class:`SentEvalSTSEvaluator` pair for pair. With ``source="hub"``, MTEB's official tasks are loaded from
    the Hub instead (``tasks`` may then also name any MTEB task, e.g. ``"STS17"``).

    MTEB always evaluates the model it is given: earlier results of a model with the same name are never
    read back (``overwrite_strategy="always"``). Results are written as MTEB JSON files under
    ``output_folder`` when it is given, and not written at all otherwise.

    Args:
        model: a SentenceTransformer, or a local path / Hub name to load one from.
        data_dir: the data root holding ``senteval/``; defaults to ``$SIMCSE_DATA_DIR`` (local source only).
        tasks: our task names (:data:`simcse_st.data.STS_TASKS`, all seven by default).
        output_folder: where MTEB writes its result files (``<folder>/<model>/<revision>/<task>.json``).
        source: ``"local"`` or ``"hub"``.
        batch_size: sentences per forward pass.
        show_progress_bar: show MTEB's task bar and the encoding bars.

    Returns:
        ``{task: Spearman x100, ..., "avg": mean}``, keys in the order of ``tasks``.

    Raises:
        ValueError: for an unknown task or source.
        DataNotFoundError: when a local file is missing.

    Example:
        >>> run_mteb("sentence-transformers/all-MiniLM-L6-v2", tasks=["STS12"])  # doctest: +SKIP
        {'STS12': 72.37, 'avg': 72.37}
    """
    import mteb

    from simcse_st.evaluation.sts import score_line
    from simcse_st.models import load_model

    task_names = list(tasks) if tasks else list(STS_TASKS)
    mteb_tasks = _mteb_tasks(task_names, data_dir, source)
    if not hasattr(model, "encode"):
        model = load_model(model)
    result = mteb.evaluate(
        model,
        mteb_tasks,
        cache=mteb.ResultCache(cache_path=output_folder) if output_folder is not None else None,
        overwrite_strategy="always",
        encode_kwargs={"batch_size": batch_size, "show_progress_bar": show_progress_bar},
        show_progress_bar=show_progress_bar,
    )
    by_name = {task_result.task_name: task_result for task_result in result.task_results}
    scores = {
        name: _cosine_spearman_x100(by_name[task.metadata.name])
        for name, task in zip(task_names, mteb_tasks, strict=True)
    }
    scores["avg"] = float(np.mean(list(scores.values())))
    logger.info(f"MTEB ({source} tasks), cosine Spearman x100: {score_line(scores)}")
    return scores


def _mteb_tasks(task_names: list[str], data_dir: str | os.PathLike[str] | None, source: str) -> list:
    if source == "local":
        from simcse_st.evaluation.mteb_tasks import local_sts_task

        return [local_sts_task(name, data_dir) for name in task_names]
    if source == "hub":
        import mteb

        return [mteb.get_task(MTEB_HUB_TASKS.get(name, name)) for name in task_names]
    raise ValueError(f"Unknown source {source!r}: use 'local' (SentEval files) or 'hub' (MTEB's Hub tasks).")


def _cosine_spearman_x100(task_result) -> float:
    """MTEB's cosine Spearman on the test split, x100 (averaged over its subsets, as MTEB does)."""
    return float(100 * np.mean([subset["cosine_spearman"] for subset in task_result.scores["test"]]))
