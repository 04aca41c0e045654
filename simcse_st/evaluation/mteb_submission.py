"""From a local MTEB run to one the results repository accepts: where tasks MTEB's leaderboard cannot show are
kept, moving a run filed under a weights hash to the model's Hub commit (through MTEB's ``ResultCache`` and
``TaskResult``), and what a run still needs before it can be submitted."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simcse_st.hub import is_hub_commit

if TYPE_CHECKING:
    from mteb.models.model_meta import ModelMeta

LOCAL_TASKS_FOLDER = "senteval"
"""The subfolder of ``--output-dir`` holding the ``ResultCache`` of the local SentEval tasks, out of the
``results/`` folder that ``ResultCache.submit_results`` reads (their ``dataset_revision`` is ``"local"``: the
leaderboard cannot show them)."""
_RUN_FILES = ("model_meta.json", "run_settings.jsonl")
"""What ``ResultCache.save_to_cache`` writes beside the task files of a revision folder."""


def results_cache_folder(output_folder: str | os.PathLike[str], source: str) -> Path:
    """The ``ResultCache`` folder of a run of ``source`` tasks: ``output_folder`` for MTEB's Hub tasks, its
    :data:`LOCAL_TASKS_FOLDER` subfolder for the local SentEval tasks."""
    return Path(output_folder) / LOCAL_TASKS_FOLDER if source == "local" else Path(output_folder)


def revision_folder(output_folder: str | os.PathLike[str], meta: ModelMeta) -> Path:
    """The folder MTEB's ``ResultCache`` writes this model's and revision's results to (that of any task's file)."""
    import mteb

    return mteb.ResultCache(cache_path=output_folder).get_task_result_path("any task", meta).parent


@dataclass(frozen=True)
class MovedRun:
    """A run moved by :func:`move_run`.

    Attributes:
        source: the revision folder the results were in (removed once empty).
        target: the revision folder of the Hub commit.
        tasks: the tasks moved (or found already there with the same scores).
    """

    source: Path
    target: Path
    tasks: tuple[str, ...]


def move_run(output_folder: str | os.PathLike[str], local: ModelMeta, hub: ModelMeta) -> MovedRun:
    """Move the results of ``local`` (a run filed under a weights hash) in the ``ResultCache`` ``output_folder`` to
    ``hub`` (the same model at its Hub commit, with its ``model_meta.json``): each task's ``TaskResult`` is read
    from disk and saved by ``ResultCache.save_to_cache`` with the run's encoding settings, then the old files are
    removed. Checking that the weights are the same is the caller's (:mod:`simcse_st.commands.mteb_move`).
    Everything is checked before anything is written; a move interrupted half-way completes when run again.

    Raises:
        ValueError: when ``hub``'s revision is not a Hub commit, the run is not there, its ``model_meta.json`` is
            not this package's run of ``local``, it holds a task MTEB does not know, or the Hub commit already
            holds other scores for one of its tasks.
    """
    import mteb

    if not is_hub_commit(hub.revision):
        raise ValueError(f"The revision to move to, {hub.revision}, is not a Hub commit (40 hex digits).")
    source, target = revision_folder(output_folder, local), revision_folder(output_folder, hub)
    files = sorted(path for path in source.glob("*.json") if path.name not in _RUN_FILES)
    if not files:
        raise ValueError(f"{output_folder} holds no results of {local.name} at revision {local.revision} ({source}): "
                         f"run 'simcse-st mteb MODEL --output-dir {output_folder}' on the model folder first.")
    _check_run_meta(source, local)
    results = {path: mteb.TaskResult.from_disk(path) for path in files}
    _check_known_tasks(results)
    _check_no_other_scores(results, target)
    settings = _encode_kwargs(source / "run_settings.jsonl")
    cache = mteb.ResultCache(cache_path=output_folder)
    for result in results.values():
        cache.save_to_cache(result, hub, encode_kwargs=settings.get(result.task_name))
    for path in files:
        path.unlink()
    if {path.name for path in source.iterdir()} <= set(_RUN_FILES):
        for name in _RUN_FILES:
            (source / name).unlink(missing_ok=True)
        source.rmdir()
    return MovedRun(source, target, tuple(result.task_name for result in results.values()))


def submission_note(meta: ModelMeta, model: str, output_dir: str | os.PathLike[str] | None, command: str) -> str | None:
    """What to run before ``meta``'s results (``command="mteb"``) or registry entry (``"model-meta"``) can be
    submitted; None when its name and revision are a Hub model's and commit."""
    if is_hub_commit(meta.revision) and not meta.name.startswith("local/"):
        return None
    name = meta.name if not meta.name.startswith("local/") else "ORG/NAME"
    push = f"push the model ('hf upload {name} {model}')"
    if command == "mteb":
        then = f"then run 'simcse-st mteb-move {model} --output-dir {output_dir or 'DIR'}" + (
            f" --name {name}'" if name == "ORG/NAME" else "'")
    else:
        then = f"then run 'simcse-st model-meta {name}'"
    unnamed = " and its name has no ORG/" if name == "ORG/NAME" else ""
    return (f"Not submittable yet: revision {meta.revision} of {meta.name} is not a Hub commit{unnamed} (MTEB's "
            f"results repository and registry take a model's 40-hex-digit Hub commit): {push}, {then}.")


def _check_run_meta(source: Path, local: ModelMeta) -> None:
    """Refuse to move a folder whose ``model_meta.json`` is not ``local``'s (not this run's)."""
    meta_file = source / "model_meta.json"
    recorded = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
    if (recorded.get("name"), recorded.get("revision")) != (local.name, local.revision):
        raise ValueError(f"{source} has no model_meta.json of {local.name} at revision {local.revision}: it is not a "
                         "run of this model folder by simcse-st mteb, so it is left as it is.")


def _check_known_tasks(results: dict[Path, Any]) -> None:
    """Refuse tasks MTEB does not know (the leaderboard cannot show them)."""
    import mteb

    unknown = []
    for path, result in results.items():
        try:
            mteb.get_task(result.task_name)
        except KeyError:
            unknown.append(path.name)
    if unknown:
        raise ValueError(f"{', '.join(unknown)} in {next(iter(results)).parent} are not MTEB tasks (the leaderboard "
                         "cannot show them); move them out of the results folder and run again.")


def _check_no_other_scores(results: dict[Path, Any], target: Path) -> None:
    """Refuse when the Hub commit's folder holds other scores for a task being moved (same scores: already moved)."""
    import mteb

    clashes = [path.name for path, result in results.items() if (target / path.name).is_file()
               and mteb.TaskResult.from_disk(target / path.name).scores != result.scores]
    if clashes:
        raise ValueError(f"{target} already holds other results of {', '.join(clashes)}: remove them, or keep those "
                         "and remove the run's, before moving.")


def _encode_kwargs(run_settings: Path) -> dict[str, dict[str, Any]]:
    """Each task's ``encode_kwargs`` as ``run_settings.jsonl`` records them."""
    if not run_settings.is_file():
        return {}
    entries = [json.loads(line) for line in run_settings.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {entry["task"]: entry.get("encode_kwargs") or {} for entry in entries}
