"""Run the ``mteb`` package: the paper's seven STS tasks from the local SentEval files, or any MTEB tasks or benchmark
from the Hub, with results written by MTEB's ``ResultCache`` under the model's name and revision."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from simcse_st.data.sts import MTEB_HUB_TASKS, STS_TASKS

if TYPE_CHECKING:
    from mteb import ResultCache
    from mteb.abstasks.abstask import AbsTask
    from mteb.models.model_meta import ModelMeta
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper
    from sentence_transformers import SentenceTransformer

__all__ = ["MTEB_HUB_TASKS", "OVERWRITE_STRATEGIES", "mteb_tasks", "run_mteb"]

logger = logging.getLogger(__name__)

OVERWRITE_STRATEGIES = ("only-missing", "always", "never", "only-cache")
"""MTEB's ``overwrite_strategy`` values (``mteb.evaluate``); ``only-missing`` resumes an interrupted run."""


def run_mteb(
    model: SentenceTransformer | str,
    data_dir: str | os.PathLike[str] | None = None,
    tasks: list[str] | tuple[str, ...] | None = None,
    output_folder: str | os.PathLike[str] | None = None,
    source: str = "local",
    batch_size: int = 128,
    show_progress_bar: bool = True,
    *,
    benchmark: str | None = None,
    meta: ModelMeta | None = None,
    overwrite_strategy: str = "only-missing",
    report: Callable[[str], None] = logger.info,
    selected: dict[str, AbsTask] | None = None,
) -> dict[str, float]:
    """Evaluate ``model`` with MTEB; returns each task's main score x100 (cosine Spearman for STS) and ``avg``.

    With ``source="local"`` each task is a custom MTEB task whose data are the SentEval files under the data
    root (subsets concatenated, unscored pairs skipped), so the numbers are comparable with
    :class:`SentEvalSTSEvaluator` pair for pair. With ``source="hub"``, MTEB's own tasks are loaded from the Hub
    (``tasks`` may name any MTEB task, e.g. ``"STS17"``, or ``benchmark`` one of MTEB's benchmarks).

    Results are written by MTEB's ``ResultCache`` under ``output_folder``
    (``results/<org>__<name>/<revision>/<task>.json`` and ``model_meta.json``), and not written at all without
    it; the local tasks' under ``output_folder/senteval/`` instead
    (:func:`~simcse_st.evaluation.mteb_submission.results_cache_folder`), out of what
    ``ResultCache.submit_results`` sends, as the leaderboard cannot show them. The run is named and versioned by
    ``meta`` (see :func:`simcse_st.evaluation.mteb_meta.build_model_meta`); without one, by MTEB's own metadata
    of the model with a hash of its weights as the revision, so a changed model is never read back as the old one.
    With ``overwrite_strategy="only-missing"`` tasks whose results are already there are read back, not evaluated
    again, and ``report`` says so; it also reports each task done, of the total.

    Args:
        model: a SentenceTransformer, or a local path / Hub name to load one from.
        data_dir: the data root holding ``senteval/``; defaults to ``$SIMCSE_DATA_DIR`` (local source only).
        tasks: task names: ours (:data:`simcse_st.data.STS_TASKS`, all seven by default) or, from the Hub, MTEB's.
        output_folder: the ``ResultCache`` folder.
        source: ``"local"`` or ``"hub"``.
        batch_size: sentences per forward pass.
        show_progress_bar: show the encoding bars.
        benchmark: an MTEB benchmark name (``"MTEB(eng, v2)"``), instead of ``tasks`` (Hub source only).
        meta: the run's ``ModelMeta``.
        overwrite_strategy: one of :data:`OVERWRITE_STRATEGIES`, as ``mteb.evaluate`` takes it.
        report: called with one line per task and one before the run.
        selected: the tasks already resolved by :func:`mteb_tasks` from ``tasks``, ``data_dir``, ``source`` and
            ``benchmark`` (e.g. by a caller that checked the names before loading the model); resolved here when None.

    Returns:
        ``{task: main score x100, ..., "avg": mean}``, keys in the order of the tasks.

    Raises:
        ValueError: for an unknown task, benchmark, source or strategy (MTEB's near matches are named).
        DataNotFoundError: when a local file is missing.

    Example:
        >>> run_mteb("sentence-transformers/all-MiniLM-L6-v2", tasks=["STS12"])  # doctest: +SKIP
        {'STS12': 72.37, 'avg': 72.37}
    """
    import mteb

    from simcse_st.evaluation.mteb_submission import results_cache_folder
    from simcse_st.evaluation.sts import score_line
    from simcse_st.models import load_model

    if overwrite_strategy not in OVERWRITE_STRATEGIES:
        raise ValueError(f"Unknown overwrite strategy {overwrite_strategy!r}; choose from "
                         f"{', '.join(OVERWRITE_STRATEGIES)}.")
    if selected is None:
        selected = mteb_tasks(tasks, data_dir, source, benchmark)
    if not hasattr(model, "encode"):
        model = load_model(model)
    encoder = _encoder(model, meta)
    cache = None if output_folder is None else mteb.ResultCache(cache_path=results_cache_folder(output_folder, source))
    done = _already_done(selected, encoder.mteb_model_meta, cache, overwrite_strategy)
    if done:
        report(f"{len(done)} of {len(selected)} tasks are already in {output_folder} for "
               f"{encoder.mteb_model_meta.name} at revision {encoder.mteb_model_meta.revision}: evaluating only the "
               f"{len(selected) - len(done)} missing (--overwrite-strategy always evaluates all again).")
    scores: dict[str, float] = {}
    for position, (name, task) in enumerate(selected.items(), start=1):
        result = mteb.evaluate(
            encoder, task, cache=cache, overwrite_strategy=overwrite_strategy,
            encode_kwargs={"batch_size": batch_size, "show_progress_bar": show_progress_bar},
            show_progress_bar=False,
        )
        (task_result,) = result.task_results
        scores[name] = 100 * float(task_result.get_score(splits=task.eval_splits))
        how = "read back from the results folder, not evaluated again" if name in done else "evaluated"
        report(f"[{position}/{len(selected)}] {task.metadata.name}: {scores[name]:.2f} ({how})")
    scores["avg"] = float(np.mean(list(scores.values())))
    logger.info(f"MTEB ({source} tasks), main score x100: {score_line(scores)}")
    return scores


def mteb_tasks(
    tasks: list[str] | tuple[str, ...] | None,
    data_dir: str | os.PathLike[str] | None = None,
    source: str = "local",
    benchmark: str | None = None,
) -> dict[str, AbsTask]:
    """The MTEB tasks to run, keyed by the names the scores are reported under.

    Args:
        tasks: task names (see :func:`run_mteb`); None for the seven STS tasks.
        data_dir: the data root holding ``senteval/`` (local source only).
        source: ``"local"`` or ``"hub"``.
        benchmark: an MTEB benchmark name instead of ``tasks`` (Hub source only).

    Raises:
        ValueError: for an unknown source, task or benchmark (with MTEB's near matches), a benchmark with the local
            source, or both ``tasks`` and ``benchmark``.
    """
    import mteb

    if source not in ("local", "hub"):
        raise ValueError(f"Unknown source {source!r}: use 'local' (SentEval files) or 'hub' (MTEB's Hub tasks).")
    if benchmark is not None and (tasks or source == "local"):
        raise ValueError("--benchmark runs MTEB's Hub tasks: pass it with --source hub and without --tasks.")
    names = list(tasks) if tasks else list(STS_TASKS)
    if source == "local":
        from simcse_st.evaluation.mteb_tasks import local_sts_task

        return {name: local_sts_task(name, data_dir) for name in names}
    try:
        if benchmark is not None:
            return {task.metadata.name: task for task in mteb.get_benchmark(benchmark).tasks}
        return {name: mteb.get_task(MTEB_HUB_TASKS.get(name, name)) for name in names}
    except KeyError as error:
        raise ValueError(f"{error.args[0]} (MTEB {mteb.__version__} knows no such "
                         f"{'benchmark' if benchmark else 'task'})") from None


def _encoder(model: SentenceTransformer, meta: ModelMeta | None) -> SentenceTransformerEncoderWrapper:
    """MTEB's wrapper of ``model``, carrying ``meta`` (or MTEB's own metadata with the weights' hash as revision)."""
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    from simcse_st.fingerprint import short_fingerprint

    encoder = SentenceTransformerEncoderWrapper(model)
    encoder.mteb_model_meta = meta or encoder.mteb_model_meta.model_copy(
        update={"revision": short_fingerprint(model)})
    return encoder


def _already_done(
    tasks: dict[str, AbsTask], meta: ModelMeta, cache: ResultCache | None, overwrite_strategy: str
) -> set[str]:
    """The tasks whose complete results are in ``cache`` for this model and revision (read back, not evaluated)."""
    if cache is None or overwrite_strategy == "always":
        return set()
    done = set()
    for name, task in tasks.items():
        existing = cache.load_task_result(task.metadata.name, meta)
        if existing is not None and not existing.get_missing_evaluations(task):
            done.add(name)
    return done

