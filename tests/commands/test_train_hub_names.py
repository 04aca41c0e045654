"""README's preset commands with Hub model names, run offline from a local Hugging Face cache.

The cache is laid out as huggingface_hub writes it (``models--bert-base-uncased/{blobs, snapshots/<commit>,
refs/main}``) and holds a tiny BERT under the name ``bert-base-uncased``; with ``HF_HUB_OFFLINE=1`` the Hub
client resolves the name from it, exactly as on a machine that downloaded the model before.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import try_to_load_from_cache
from sentence_transformers import SentenceTransformer

from tests.conftest import build_tiny_bert
from tests.sts_sample import STSSample

HUB_NAME = "bert-base-uncased"


def write_hub_cache(cache: Path, repository: str, files: Path) -> str:
    """Lay the files of ``files`` out as huggingface_hub's cache of the model ``repository``.

    Each file becomes a blob named by its SHA-256, linked from ``snapshots/<commit>/``; ``refs/main`` names
    the commit. Returns the commit.
    """
    folder = cache / f"models--{repository.replace('/', '--')}"
    commit = hashlib.sha1(repository.encode()).hexdigest()
    snapshot = folder / "snapshots" / commit
    (folder / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for path in sorted(files.iterdir()):
        blob = hashlib.sha256(path.read_bytes()).hexdigest()
        shutil.copyfile(path, folder / "blobs" / blob)
        (snapshot / path.name).symlink_to(Path("..", "..", "blobs", blob))
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    return commit


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> Path:
    """A Hugging Face cache holding a tiny BERT (32 wide) as ``bert-base-uncased``."""
    root = tmp_path_factory.mktemp("hub")
    tiny = build_tiny_bert(root / "tiny-bert", minilm_path / "vocab.txt")
    cache = root / "hub-cache"
    commit = write_hub_cache(cache, HUB_NAME, tiny)
    # the Hub client itself resolves the name to the snapshot
    resolved = try_to_load_from_cache(HUB_NAME, "config.json", cache_dir=cache)
    assert resolved == str(cache / f"models--{HUB_NAME}" / "snapshots" / commit / "config.json")
    return cache


def simcse_st(*arguments: str | Path, cache: Path, home: Path) -> subprocess.CompletedProcess:
    """``simcse-st ARGUMENTS`` in a fresh process that sees only ``cache`` as the Hub, offline."""
    environment = {
        **os.environ, "HF_HOME": str(home), "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
    }
    command = [sys.executable, "-m", "simcse_st.cli", *map(str, arguments)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)


# the README's commands, with overrides that make them take seconds
@pytest.mark.parametrize(
    ("objective", "preset", "modules"),
    [("unsup", ["--model", HUB_NAME], ["Transformer", "Pooling"]),
     ("sup", ["--preset", "sup-bert-base"], ["Transformer", "Pooling", "Dense"])],
)
def test_readme_train_commands_resolve_bert_base_uncased_offline(
    objective: str, preset: list[str], modules: list[str], hub_cache: Path, tmp_path: Path, data_dir: Path,
    wiki_sentences: list[str], sample: STSSample,
) -> None:
    if objective == "unsup":
        train_file = tmp_path / "wiki1m_for_simcse.txt"
        train_file.write_text("\n".join(wiki_sentences[:16]) + "\n", encoding="utf-8")
    else:
        train_file = data_dir / "nli" / "snli"  # README: a SentEval NLI folder
    output_dir = tmp_path / "run"
    result = simcse_st(
        "train", objective, *preset, "--train-file", train_file, "--output-dir", output_dir,
        "--max-steps", "2", "--batch-size", "4", "--eval-steps", "2", "--data-dir", sample.root,
        cache=hub_cache, home=tmp_path / "hf-home",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"from {HUB_NAME}" in result.stdout and "Best STS dev average" in result.stdout
    # the saved model is the cached tiny BERT (32 wide), trained, and loads in plain sentence-transformers
    model = SentenceTransformer(str(output_dir), device="cpu")
    assert [type(module).__name__ for module in model] == modules
    embeddings = model.encode(["A man is playing a guitar.", "It is raining."])
    assert embeddings.shape == (2, 32)
    # trained: the weights moved away from the cached snapshot's
    snapshot = Path(try_to_load_from_cache(HUB_NAME, "config.json", cache_dir=hub_cache)).parent
    start = SentenceTransformer(str(snapshot), device="cpu")[0].auto_model.get_input_embeddings().weight
    assert not start.equal(model[0].auto_model.get_input_embeddings().weight)
