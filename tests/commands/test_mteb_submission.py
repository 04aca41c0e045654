"""From a trained model to an MTEB submission, offline: MTEB's own Hub tasks from a local stand-in of the Hub,
named and versioned results in ``ResultCache``'s layout, resuming after a kill, a complete ``model_meta.json``,
the registry's ``ModelMeta(...)`` and mock run, and the bad inputs."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from sentence_transformers import SentenceTransformer

from simcse_st.cli import main
from simcse_st.fingerprint import short_fingerprint
from simcse_st.model_card import read_card
from tests.commands.conftest import BASE, TRAINING_DATA_URL
from tests.sts_sample import STSSample

mteb = pytest.importorskip("mteb")

KILL_AFTER_FIRST_TASK = """
import os, signal, sys
import mteb
from simcse_st.cli import main

save = mteb.ResultCache.save_to_cache

def save_then_die(self, *args, **kwargs):
    save(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

mteb.ResultCache.save_to_cache = save_then_die
main(sys.argv[1:])
"""
"""``simcse-st`` killed (SIGKILL) right after MTEB saved its first task's results."""


def revision_folders(output_dir: Path, name: str) -> dict[str, list[str]]:
    """Revision -> the task result files MTEB wrote there."""
    folder = output_dir / "results" / name.replace("/", "__")
    return {revision.name: sorted(p.name for p in revision.glob("*.json") if p.name != "model_meta.json")
            for revision in sorted(folder.iterdir())}


def test_hub_tasks_resume_after_a_kill_and_match_local_tasks(
    tiny_bert_path: Path, data_dir: Path, offline_hub: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out, model = tmp_path / "out", tmp_path / "model"
    shutil.copytree(tiny_bert_path, model)
    arguments = ["mteb", str(model), "--source", "hub", "--tasks", "STS12", "STSBenchmark",
                 "--name", "test/m", "--license", "mit", "--output-dir", str(out), "--batch-size", "512"]
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_FIRST_TASK, *arguments], capture_output=True, text=True, timeout=300,
        env={**os.environ, "HF_DATASETS_CACHE": str(offline_hub[1])},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    revision = short_fingerprint(SentenceTransformer(str(tiny_bert_path), device="cpu"))
    assert revision_folders(out, "test/m") == {revision: ["STS12.json"]}
    first = out / "results" / "test__m" / revision / "STS12.json"
    written = first.stat().st_mtime_ns, first.read_bytes()

    assert main([*arguments, "--json", str(tmp_path / "hub.json"), "--update-card"]) == 0
    printed = capsys.readouterr().out
    assert "1 of 2 tasks are already in" in printed
    assert "[1/2] STS12" in printed and "(read back from the results folder, not evaluated again)" in printed
    assert "[2/2] STSBenchmark" in printed and "(evaluated)" in printed
    assert (first.stat().st_mtime_ns, first.read_bytes()) == written  # STS12 was not evaluated again
    assert revision_folders(out, "test/m") == {revision: ["STS12.json", "STSBenchmark.json"]}
    hub = json.loads((tmp_path / "hub.json").read_text())
    card = (model / "README.md").read_text(encoding="utf-8")
    assert "## MTEB results" in card and f"`test/m` at revision `{revision}`" in card
    assert f"| STS12 | {hub['STS12']:.2f} |" in card and f"| STSBenchmark | {hub['STSBenchmark']:.2f} |" in card
    from huggingface_hub import ModelCard

    assert ModelCard.load(model / "README.md").data.tags.count("mteb") == 1  # tagged once
    assert SentenceTransformer(str(model), device="cpu").encode(["A card does not change loading."]).shape == (1, 32)
    assert main(["mteb", str(tiny_bert_path), "--data-dir", str(data_dir), "--tasks", "STS12", "STSBenchmark",
                 "--json", str(tmp_path / "local.json")]) == 0
    local = json.loads((tmp_path / "local.json").read_text())
    for task in ("STS12", "STSBenchmark"):
        assert hub[task] == pytest.approx(local[task], abs=0.1), task

    (model_result,) = mteb.ResultCache(out).load_results(models=["test/m"]).model_results
    assert (model_result.model_name, model_result.model_revision) == ("test/m", revision)
    read_back = {result.task_name: 100 * result.get_score() for result in model_result.task_results}
    assert read_back == pytest.approx({task: hub[task] for task in ("STS12", "STSBenchmark")}, abs=0.006)


def test_a_changed_weight_gets_a_new_revision_folder(tiny_bert_path: Path, sample: STSSample, tmp_path: Path) -> None:
    model = SentenceTransformer(str(tiny_bert_path), device="cpu")
    model.save(str(tmp_path / "model"))
    arguments = ["mteb", str(tmp_path / "model"), "--data-dir", str(sample.root), "--tasks", "STS13",
                 "--name", "test/m", "--license", "mit", "--output-dir", str(tmp_path / "out")]
    assert main(arguments) == 0
    with torch.no_grad():
        model[0].auto_model.embeddings.word_embeddings.weight[7, 0] += 0.5
    model.save(str(tmp_path / "model"))
    assert main(arguments) == 0
    old, new = short_fingerprint(SentenceTransformer(str(tiny_bert_path))), short_fingerprint(model)
    assert old != new
    local_tasks = tmp_path / "out" / "senteval"  # out of results/, which ResultCache.submit_results sends
    assert revision_folders(local_tasks, "test/m") == {old: ["SentEvalSTS13.json"], new: ["SentEvalSTS13.json"]}
    assert not (tmp_path / "out" / "results").exists()
    assert mteb.ResultCache(tmp_path / "out").get_cache_paths(models=["test/m"], include_remote=False,
                                                              require_model_meta=False) == []


def test_trained_model_gets_a_complete_model_meta_and_registry_entry(
    trained: Path, sample: STSSample, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mteb.models.model_meta import ModelMeta

    card = (trained / "README.md").read_text(encoding="utf-8")
    for shown in ("STS12", "SICKRelatedness", "alignment", "uniformity", "gao2021simcse", "simcse-recipe-"):
        assert shown in card, shown
    out = tmp_path / "out"
    arguments = ["--data-dir", str(sample.root), "--tasks", "STS12", "--output-dir", str(out)]
    assert main(["mteb", str(trained), *arguments]) == 0
    model = SentenceTransformer(str(trained), device="cpu")
    revision = short_fingerprint(model)
    meta_file = out / "senteval" / "results" / "test__simcse-tiny" / revision / "model_meta.json"
    meta = ModelMeta.model_validate_json_resolved(meta_file.read_text())

    # the day training ended, as its record says: the session's fixture trained it today, or yesterday (UTC) when
    # the session crossed midnight; never a file's time
    trained_on = read_card(trained).record.date
    today = datetime.datetime.now(datetime.timezone.utc).date()
    assert trained_on in {today.isoformat(), (today - datetime.timedelta(days=1)).isoformat()}
    expected = {
        "name": "test/simcse-tiny", "revision": revision, "release_date": trained_on, "languages": ["eng-Latn"],
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "n_embedding_parameters": model[0].auto_model.get_input_embeddings().weight.numel(),
        "max_tokens": 128, "embed_dim": 32, "license": "apache-2.0", "open_weights": True,
        "public_training_code": "https://github.com/princeton-nlp/SimCSE",
        "public_training_data": TRAINING_DATA_URL,
        "framework": ["Sentence Transformers", "PyTorch"], "similarity_fn_name": "cosine", "use_instructions": False,
        "adapted_from": BASE, "training_datasets": {"STSBenchmark"},
        "reference": None,  # no Hub page before the model is pushed; the paper is in the citation
    }
    assert {field: getattr(meta, field) for field in expected} == expected
    assert meta.memory_usage_mb == round(expected["n_parameters"] * 4 / 1024**2)
    assert "SimCSE" in meta.citation and meta.loader is not None

    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["model-meta", str(trained), "--out", str(tmp_path / "meta.py"), "--mock-run"]) == 0
    printed = capsys.readouterr().out
    assert "passed every compatible mock task" in printed
    assert printed.rstrip().endswith(f"Not submittable yet: revision {revision} of test/simcse-tiny is not a Hub "
                                     "commit (MTEB's results repository and registry take a model's 40-hex-digit Hub "
                                     f"commit): push the model ('hf upload test/simcse-tiny {trained}'), then run "
                                     "'simcse-st model-meta test/simcse-tiny'.")
    namespace: dict[str, object] = {}
    exec(compile((tmp_path / "meta.py").read_text(), "meta.py", "exec"), namespace)
    (registry_meta,) = [value for value in namespace.values() if isinstance(value, ModelMeta)]
    assert registry_meta == meta
    report = (tmp_path / "mteb_mock_run_results.md").read_text(encoding="utf-8")
    assert "MockSTSTask | text | ✓" in report and "✗" not in report


@pytest.mark.parametrize(("arguments", "message"), [
    (["--source", "hub", "--benchmark", "MTEB(eng, v3)"], "Did you mean: MTEB(eng, v2)?"),
    (["--source", "hub", "--tasks", "STSBenchmrk"], "Did you mean: 'STSBenchmark'?"),
    (["--name", "no-organization"], "must be ORG/NAME"),
    (["--output-dir", "{file}"], "is a file: pass a folder"),
    (["--output-dir", "{folder}"], "records no licence and --license was not given"),
    (["--tasks", "STS12"], "holds no weights"),
    (["--revision", "abc123", "--output-dir", "{folder}"], "--revision abc123 is not a Hub commit: pass the 40-hex"),
    (["--base-model", "./runs/base", "--output-dir", "{folder}"], "--base-model './runs/base' is not a Hugging Face "
     "Hub model name"),
    (["--release-date", "yesterday"], "--release-date 'yesterday' is not a date"),
    (["--training-data-url", "my_data.txt"], "--training-data-url 'my_data.txt' is not a web address"),
], ids=["benchmark", "task", "name", "output-dir", "no-licence", "no-weights", "revision", "base-model", "date", "url"])
def test_bad_input_is_one_clear_line(
    arguments: list[str], message: str, tiny_bert_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "results.txt").write_text("not a folder")
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text("{}")
    model = no_weights if message == "holds no weights" else tiny_bert_path
    arguments = [value.format(file=tmp_path / "results.txt", folder=tmp_path / "out") for value in arguments]
    assert main(["mteb", str(model), *arguments]) == 2
    (error,) = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # not progress bars
    assert error.startswith("simcse-st mteb: error: ") and message in error
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize(("command", "arguments", "message"), [
    ("train", ["--base-model", "./runs/base"], "--base-model './runs/base' is not a Hugging Face Hub model name"),
    ("train", ["--training-data-url", "my_data.txt"], "--training-data-url 'my_data.txt' is not a web address"),
    ("model-meta", ["--revision", "1234abcd"], "--revision 1234abcd is not a Hub commit"),
    ("mteb-move", ["--revision", "main"], "--revision main is not a Hub commit"),
    ("mteb-move", [], "holds no results/ folder: pass the --output-dir of the run"),
], ids=["train-base", "train-url", "model-meta-revision", "move-revision", "move-no-run"])
def test_bad_submission_input_is_one_clear_line_and_writes_nothing(
    command: str, arguments: list[str], message: str, tiny_bert_path: Path, wiki_sentences: list[str],
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("\n".join(wiki_sentences[:8]) + "\n", encoding="utf-8")
    given = {"train": ["train", "unsup", "--model", str(tiny_bert_path), "--train-file", str(sentences),
                       "--output-dir", str(tmp_path / "out")],
             "model-meta": ["model-meta", str(tiny_bert_path), "--out", str(tmp_path / "out")],
             "mteb-move": ["mteb-move", str(tiny_bert_path), "--output-dir", str(tmp_path / "out")]}[command]
    assert main([*given, *arguments]) == 2
    (error,) = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert error.startswith(f"simcse-st {command}: error: ") and message in error
    assert not (tmp_path / "out").exists()
