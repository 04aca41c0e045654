"""The stand-ins of the results repository's and the registry's checks (tests/mteb_checks.py) catch what those
checks refuse, so that their passing on simcse-st's output means something."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.mteb_checks import registry_problems, results_repository_problems

mteb = pytest.importorskip("mteb")

COMMIT, OTHER = "a" * 40, "b" * 40


def write_run(results: Path, name: str, revision: str, task: str, file_task: str | None = None,
              version: str = "2.26.0", settings: bool = True) -> None:
    """One task file (named ``file_task``, holding ``task``) with its model_meta.json and run settings."""
    folder = results / name.replace("/", "__") / revision
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_meta.json").write_text(json.dumps({"name": name, "revision": revision}))
    scores = {"test": [{"hf_subset": "default", "main_score": 0.5}]}
    (folder / f"{file_task or task}.json").write_text(json.dumps({"task_name": task, "mteb_version": version,
                                                                  "scores": scores}))
    if settings:
        entry = {"task": task, "splits": ["test"], "subsets": ["default"], "version": {"mteb": version}}
        (folder / "run_settings.jsonl").write_text(json.dumps(entry) + "\n")


def test_an_accepted_folder_and_each_refusal(tmp_path: Path) -> None:
    registered = "sentence-transformers/all-MiniLM-L6-v2"
    write_run(tmp_path / "ok", registered, mteb.get_model_meta(registered).revision, "STS12")
    assert results_repository_problems(tmp_path / "ok") == []

    bad = tmp_path / "bad"
    write_run(bad, registered, COMMIT, "STS12")
    write_run(bad, registered, OTHER, "STS12")  # the same task under a second revision
    write_run(bad, "my-org/unregistered", "3f9c0a1b2c4d", "STS13")  # a weights hash, not in the registry
    write_run(bad, "no-org", COMMIT, "STS14", file_task="STS15", version="1.38.0", settings=False)
    problems = "\n".join(results_repository_problems(bad))
    for expected in (
        "is under revisions", "not in MTEB's registry", "the revision 3f9c0a1b2c4d is not a commit",
        "has no organization", "task_name 'STS14' is not the file's name", "mteb_version '1.38.0' is not above",
        "no run_settings.jsonl entry of mteb 2",
    ):
        assert expected in problems, expected


def test_registry_problems_of_an_incomplete_model_meta() -> None:
    from mteb.models.model_meta import ModelMeta

    meta = ModelMeta.create_empty(overwrites={
        "name": "my-org/m", "revision": "3f9c0a1b2c4d", "open_weights": True, "training_datasets": {"NotATask"},
        "adapted_from": "my-org/m"})
    problems = "\n".join(registry_problems(meta))
    for expected in ("not a 40-hex-digit Hub commit", "n_embedding_parameters is missing", "languages are missing",
                     "needs a licence", "NotATask is not an MTEB task", "adapted_from is the model itself"):
        assert expected in problems, expected
    assert registry_problems(mteb.get_model_meta("sentence-transformers/all-MiniLM-L6-v2")) == []
