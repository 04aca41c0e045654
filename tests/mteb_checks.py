"""The checks a results folder and a ``ModelMeta`` meet before MTEB takes them, written here after what
embeddings-benchmark/results runs on every pull request (``tests/test_correct_folder_structure.py``,
``test_ensure_correct_metadata.py``, ``test_task_name_matches_filename.py``, ``test_duplicate_results.py``,
``test_model_implementation.py``, ``test_new_results_run_settings.py``) and what mteb's registry tests ask of a
model (``tests/test_models/test_model_meta.py``). Each returns the list of problems found (empty when accepted), so
a test shows them all."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

_SHA1 = re.compile(r"^[0-9a-f]{40}$")


def results_repository_problems(results: Path) -> list[str]:
    """What the results repository's checks would refuse in ``results`` (its ``results/`` folder)."""
    import mteb

    registered = {meta.name for meta in mteb.get_model_metas() if meta.name}
    problems: list[str] = []
    for model_folder in sorted(path for path in results.iterdir() if path.is_dir()):
        revisions: list[str] = []
        tasks_by_revision: dict[str, set[str]] = {}
        names: set[str] = set()
        for revision_folder in sorted(path for path in model_folder.iterdir() if path.is_dir()):
            where = f"{model_folder.name}/{revision_folder.name}"
            meta_file = revision_folder / "model_meta.json"
            if not meta_file.is_file():
                problems.append(f"{where}: no model_meta.json")
                continue
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            names.add(meta["name"])
            problems += _meta_problems(meta, results, revision_folder, where)
            revisions.append(meta["revision"])
            tasks_by_revision[meta["revision"]] = _task_problems(revision_folder, where, problems)
        if len(revisions) != len(set(revisions)):
            problems.append(f"{model_folder.name}: a revision is there twice ({revisions})")
        problems += _duplicate_problems(model_folder.name, tasks_by_revision)
        if not names & registered and model_folder.name.replace("__", "/") not in registered:
            problems.append(f"{model_folder.name}: not in MTEB's registry (mteb.get_model_metas)")
    return problems


def _meta_problems(meta: dict[str, Any], results: Path, revision_folder: Path, where: str) -> list[str]:
    """Folder structure and metadata: name with an organization, a commit revision matching the folder."""
    problems = []
    expected = results / meta["name"].replace(" ", "_").replace("/", "__") / meta["revision"]
    if expected != revision_folder:
        problems.append(f"{where}: model_meta.json names {meta['name']} at {meta['revision']}, not this folder")
    if "/" not in meta["name"]:
        problems.append(f"{where}: the name {meta['name']} has no organization")
    revision = meta["revision"]
    if revision.lower() in ("no_revision_available", "external") or not (_SHA1.match(revision) or len(revision) == 1):
        problems.append(f"{where}: the revision {revision} is not a commit")
    return problems


def _task_problems(revision_folder: Path, where: str, problems: list[str]) -> set[str]:
    """Each task file's ``task_name`` is its file name, and each of its scores was made by mteb 2 with settings in
    ``run_settings.jsonl``; returns the tasks of the folder."""
    settings = _run_settings(revision_folder / "run_settings.jsonl")
    tasks = set()
    for path in sorted(revision_folder.glob("*.json")):
        if path.name == "model_meta.json":
            continue
        result = json.loads(path.read_text(encoding="utf-8"))
        if result.get("task_name") != path.stem:
            problems.append(f"{where}/{path.name}: task_name {result.get('task_name')!r} is not the file's name")
        if not _is_mteb_2(result.get("mteb_version")):
            problems.append(f"{where}/{path.name}: mteb_version {result.get('mteb_version')!r} is not above 2.0.0")
        for split, blocks in result.get("scores", {}).items():
            for block in blocks:
                key = (path.stem, split, block.get("hf_subset"))
                if not _is_mteb_2(settings.get(key)):
                    problems.append(f"{where}/{path.name}: no run_settings.jsonl entry of mteb 2 for {key}")
        tasks.add(path.stem)
    if not tasks:
        problems.append(f"{where}: no task results")
    return tasks


def _run_settings(path: Path) -> dict[tuple[str, str, str], str | None]:
    """(task, split, subset) -> the mteb version ``run_settings.jsonl`` records for it. An entry names one split and
    subset (``split``, ``subset``, as the repository's check reads them) or several (``splits``, ``subsets``, as
    mteb 2.26's ``ResultCache`` writes them)."""
    found: dict[tuple[str, str, str], str | None] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    for entry in (json.loads(line) for line in lines if line.strip()):
        version = (entry.get("version") or {}).get("mteb")
        for split in entry.get("splits") or [entry.get("split")]:
            for subset in entry.get("subsets") or [entry.get("subset")]:
                found[entry.get("task"), split, subset] = version
    return found


def _is_mteb_2(version: object) -> bool:
    """Whether ``version`` is a parseable version above 2.0.0."""
    numbers = re.findall(r"^(\d+)\.(\d+)\.?(\d*)", version) if isinstance(version, str) else []
    return bool(numbers) and tuple(int(part or 0) for part in numbers[0]) > (2, 0, 0)


def _duplicate_problems(model: str, tasks_by_revision: dict[str, set[str]]) -> list[str]:
    """A task filed under two revisions of one model."""
    revisions_of: dict[str, list[str]] = defaultdict(list)
    for revision, tasks in tasks_by_revision.items():
        for task in tasks:
            revisions_of[task].append(revision)
    return [f"{model}: {task} is under revisions {found}" for task, found in sorted(revisions_of.items())
            if len(found) > 1]


def registry_problems(meta: Any) -> list[str]:
    """What mteb's registry tests and its adding-a-model checklist would refuse in the ``ModelMeta`` ``meta``."""
    import mteb

    problems = []
    if not meta.name or not meta.revision:
        problems.append("name and revision must be set")
    if not _SHA1.match(meta.revision or ""):
        problems.append(f"revision {meta.revision} is not a 40-hex-digit Hub commit (mteb.get_model(name, revision))")
    if meta.open_weights and meta.n_embedding_parameters is None:
        problems.append("n_embedding_parameters is missing")
    if not meta.languages:
        problems.append("languages are missing")
    if meta.open_weights and not meta.license:
        problems.append("a model with open weights needs a licence")
    for task in meta.training_datasets or ():
        try:
            mteb.get_task(task)
        except KeyError:
            problems.append(f"training dataset {task} is not an MTEB task")
    if meta.adapted_from == meta.name:
        problems.append("adapted_from is the model itself")
    meta.get_training_datasets()  # must resolve (it follows adapted_from)
    return problems
