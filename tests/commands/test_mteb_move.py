"""README's "Submit to the MTEB leaderboard", step by step and offline: a trained folder run through ``simcse-st mteb``
(MTEB's tasks and the local ones), pushed to a stand-in of the Hub, its run moved to the Hub commit by
``simcse-st mteb-move``, the registry entry from ``simcse-st model-meta`` on the Hub name; then the results repository's
checks and mteb's registry tests on the outcome, the model registered as the registry would hold it and shown by
mteb's leaderboard table. Also a registered model (all-MiniLM-L6-v2) keeps its one identity."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
from sentence_transformers import SentenceTransformer

from simcse_st.cli import main
from simcse_st.fingerprint import short_fingerprint
from tests.commands.conftest import BASE, TRAINING_DATA_URL
from tests.hub_cache import start_simcse_st, write_hub_cache
from tests.mteb_checks import registry_problems, results_repository_problems
from tests.sts_sample import STSSample

mteb = pytest.importorskip("mteb")

NAME = "test/simcse-tiny"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def simcse_st(*arguments: str | Path, cache: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    """``simcse-st ARGUMENTS`` in a fresh process that sees only ``cache`` as the Hub, to its end."""
    process = start_simcse_st(*arguments, cache=cache, home=cache.parent / "hf-home", **environment)
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def error_line(result: subprocess.CompletedProcess[str], command: str) -> str:
    """The one error line of a refused command (exit status 2)."""
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    (line,) = [line for line in result.stderr.splitlines() if line.startswith(f"simcse-st {command}: error: ")]
    return line


def scores(revision_folder: Path) -> dict[str, float]:
    """Each task's main score as MTEB's ``TaskResult`` reads it from the folder."""
    return {path.stem: mteb.TaskResult.from_disk(path).get_score() for path in sorted(revision_folder.glob("*.json"))
            if path.name not in ("model_meta.json",)}


def test_documented_path_from_training_to_both_pull_requests(
    trained: Path, tiny_bert_path: Path, sample: STSSample, offline_hub: tuple[Path, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from mteb.models.model_implementations import MODEL_REGISTRY
    from mteb.models.model_meta import ModelMeta

    cache, out = trained.parent / "hub", tmp_path / "mteb-results"
    # 2. MTEB's tasks on the local folder, and the paper's local tasks into the same results folder
    assert main(["mteb", str(trained), "--source", "hub", "--tasks", "STS12", "STSBenchmark", "--output-dir",
                 str(out)]) == 0
    fingerprint = short_fingerprint(SentenceTransformer(str(trained), device="cpu"))
    assert capsys.readouterr().out.rstrip().endswith(
        f"push the model ('hf upload {NAME} {trained}'), then run 'simcse-st mteb-move {trained} --output-dir {out}'.")
    assert main(["mteb", str(trained), "--data-dir", str(sample.root), "--tasks", "STS12", "--output-dir",
                 str(out)]) == 0
    local_folder = out / "results" / "test__simcse-tiny" / fingerprint
    assert sorted(path.name for path in local_folder.iterdir()) == [
        "STS12.json", "STSBenchmark.json", "model_meta.json", "run_settings.jsonl"]
    assert (out / "senteval" / "results" / "test__simcse-tiny" / fingerprint / "SentEvalSTS12.json").is_file()
    assert f"test__simcse-tiny/{fingerprint}: the revision {fingerprint} is not a commit" in (
        results_repository_problems(out / "results"))
    before_move = scores(local_folder)

    # 3. "push": first a commit with other weights (the untrained base), then the trained folder as main
    wrong = write_hub_cache(cache, NAME, tiny_bert_path, commit="1" * 40)
    pushed = write_hub_cache(cache, NAME, trained, commit="2" * 40)
    written = tree(out)
    refused = simcse_st("mteb-move", trained, "--output-dir", out, "--revision", wrong, cache=cache)
    assert f"{NAME} at revision {wrong} does not hold the weights of {trained}" in error_line(refused, "mteb-move")
    capsys.readouterr()
    assert main(["mteb-move", str(trained), "--output-dir", str(out), "--revision", "main"]) == 2
    assert capsys.readouterr().err.startswith("simcse-st mteb-move: error: --revision main is not a Hub commit")
    assert tree(out) == written  # nothing written by either

    moved = simcse_st("mteb-move", trained, "--output-dir", out, cache=cache)
    assert moved.returncode == 0, moved.stderr[-3000:]
    target = out / "results" / "test__simcse-tiny" / pushed
    assert f"Moved 2 task result(s) of {NAME} from revision {fingerprint} to Hub commit {pushed}" in moved.stdout
    assert sorted(path.name for path in (out / "results" / "test__simcse-tiny").iterdir()) == [pushed]
    assert scores(target) == before_move  # moved, not evaluated again
    settings = [json.loads(line) for line in (target / "run_settings.jsonl").read_text().splitlines()]
    assert {entry["encode_kwargs"]["batch_size"] for entry in settings} == {128}  # the run's, kept

    # 4. the registry entry, from the Hub name, with MTEB's mock run through its own loader
    registry = simcse_st("model-meta", NAME, "--out", tmp_path / "simcse_tiny.py", "--mock-run", cache=cache)
    assert registry.returncode == 0, registry.stderr[-3000:]
    assert "passed every compatible mock task" in registry.stdout and "Not submittable" not in registry.stdout
    namespace: dict[str, object] = {}
    exec(compile((tmp_path / "simcse_tiny.py").read_text(), "simcse_tiny.py", "exec"), namespace)
    (meta,) = [value for value in namespace.values() if isinstance(value, ModelMeta)]
    assert meta == ModelMeta.model_validate_json_resolved((target / "model_meta.json").read_text())
    assert (meta.name, meta.revision, meta.reference) == (NAME, pushed, f"https://huggingface.co/{NAME}")
    assert (meta.adapted_from, meta.public_training_data) == (BASE, TRAINING_DATA_URL)

    # the registry as it would be after both pull requests: the model, and its base with its training data
    base = ModelMeta.create_empty(overwrites={"name": BASE, "revision": "3" * 40, "training_datasets": {"STS13"}})
    monkeypatch.setitem(MODEL_REGISTRY, BASE, base)
    monkeypatch.setitem(MODEL_REGISTRY, NAME, meta)
    assert meta in mteb.get_model_metas() and mteb.get_model_meta(NAME) is meta
    assert registry_problems(meta) == []
    assert {"STSBenchmark", "STS13"} <= set(meta.get_training_datasets())  # the base's data is inherited
    assert results_repository_problems(out / "results") == []
    submitted = mteb.ResultCache(out).get_cache_paths(models=[NAME], include_remote=False, require_model_meta=False)
    assert sorted(path.relative_to(out / "results").as_posix() for path in submitted) == [
        f"test__simcse-tiny/{pushed}/STS12.json", f"test__simcse-tiny/{pushed}/STSBenchmark.json"]

    benchmark = mteb.get_benchmark("MTEB(eng, v2)")
    results = mteb.ResultCache(out).load_results(models=[NAME], tasks=benchmark, include_remote=False)
    table = results.get_benchmark_result()  # the leaderboard's summary table (Benchmark._create_summary_table)
    (row,) = [row for _, row in table.iterrows() if NAME in str(row["Model"])]
    expected = sum(before_move.values()) / len(before_move)  # STS12 and STSBenchmark, the STS tasks run
    assert (row["Mean (Task)"], row["STS"]) == pytest.approx((expected, expected))
    assert (row["Embedding Dimensions"], row["Max Tokens"], row["Release Date"]) == (32, 128, meta.release_date)


@pytest.fixture(scope="module")
def minilm_hub(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hub cache holding all-MiniLM-L6-v2's real weights at the revision MTEB's registry names."""
    cache = tmp_path_factory.mktemp("minilm-hub") / "hub"
    write_hub_cache(cache, MINILM, minilm_path, commit=mteb.get_model_meta(MINILM).revision)
    return cache


def test_a_registered_name_keeps_the_registry_identity(
    minilm_path: Path, minilm_hub: Path, sample: STSSample, tmp_path: Path
) -> None:
    from mteb.models.model_meta import ModelMeta

    registered = mteb.get_model_meta(MINILM)
    out = tmp_path / "out"
    run = simcse_st("mteb", minilm_path, "--name", MINILM, "--data-dir", sample.root, "--tasks", "STS12",
                    "--output-dir", out, cache=minilm_hub)
    assert run.returncode == 0, run.stderr[-3000:]
    folder = out / "senteval" / "results" / MINILM.replace("/", "__")
    assert [path.name for path in folder.iterdir()] == [registered.revision]  # no second revision
    written = (folder / registered.revision / "model_meta.json").read_text()
    assert ModelMeta.model_validate_json_resolved(written) == registered  # the registry's, as it is
    assert json.loads(written)["release_date"] == "2021-08-30"

    changed = SentenceTransformer(str(minilm_path), device="cpu")
    with torch.no_grad():
        changed[0].auto_model.embeddings.word_embeddings.weight[7, 0] += 0.5
    changed.save(str(tmp_path / "changed"))
    before = tree(out)
    refused = simcse_st("mteb", tmp_path / "changed", "--name", MINILM, "--data-dir", sample.root, "--tasks", "STS12",
                        "--output-dir", out, cache=minilm_hub)
    assert (f"{MINILM} is in MTEB's registry at revision {registered.revision}, and the weights of "
            f"{tmp_path / 'changed'} are not that revision's") in error_line(refused, "mteb")
    assert tree(out) == before


def test_model_meta_of_a_registered_snapshot_is_the_registry_entry(
    minilm_hub: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mteb.models.model_meta import ModelMeta

    registered = mteb.get_model_meta(MINILM)
    snapshot = minilm_hub / f"models--{MINILM.replace('/', '--')}" / "snapshots" / registered.revision
    assert main(["model-meta", str(snapshot), "--out", str(tmp_path / "meta.py")]) == 0
    assert capsys.readouterr().out.rstrip().endswith(
        f"{MINILM} is already in MTEB's registry (mteb {mteb.__version__}): this is its registered ModelMeta; no "
        "registry pull request is needed.")
    namespace: dict[str, object] = {}
    exec(compile((tmp_path / "meta.py").read_text(), "meta.py", "exec"), namespace)
    (printed,) = [value for value in namespace.values() if isinstance(value, ModelMeta)]
    assert printed == registered
