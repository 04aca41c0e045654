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


def start_simcse_st(*arguments: str | Path, cache: Path, home: Path) -> subprocess.Popen:
    """Start ``simcse-st ARGUMENTS`` in a fresh process that sees only ``cache`` as the Hub, offline."""
    environment = {
        **os.environ, "HF_HOME": str(home), "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
    }
    command = [sys.executable, "-m", "simcse_st.cli", *map(str, arguments)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)


def test_readme_train_commands_resolve_bert_base_uncased_offline(
    hub_cache: Path, tmp_path: Path, data_dir: Path, wiki_sentences: list[str], sample: STSSample
) -> None:
    sentences = tmp_path / "wiki1m_for_simcse.txt"
    sentences.write_text("\n".join(wiki_sentences[:16]) + "\n", encoding="utf-8")
    # the README's commands (the NLI data as a SentEval folder), with overrides that make them take seconds;
    # both run at once, each in its own process
    runs = {
        "unsup": (["--model", HUB_NAME, "--train-file", sentences], ["Transformer", "Pooling"]),
        "sup": (["--preset", "sup-bert-base", "--train-file", data_dir / "nli" / "snli"],
                ["Transformer", "Pooling", "Dense"]),
    }
    processes = {
        objective: start_simcse_st(
            "train", objective, *arguments, "--output-dir", tmp_path / objective, "--max-steps", "2",
            "--batch-size", "4", "--eval-steps", "2", "--data-dir", sample.root,
            cache=hub_cache, home=tmp_path / f"hf-home-{objective}",
        )
        for objective, (arguments, _) in runs.items()
    }
    snapshot = Path(try_to_load_from_cache(HUB_NAME, "config.json", cache_dir=hub_cache)).parent
    start = SentenceTransformer(str(snapshot), device="cpu")[0].auto_model.get_input_embeddings().weight
    for objective, process in processes.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, (objective, stdout[-3000:] + stderr[-3000:])
        assert f"from {HUB_NAME}" in stdout and "Best STS-B dev" in stdout, objective
        # the saved model is the cached tiny BERT (32 wide), trained, and loads in plain sentence-transformers
        model = SentenceTransformer(str(tmp_path / objective), device="cpu")
        assert [type(module).__name__ for module in model] == runs[objective][1]
        assert model.encode(["A man is playing a guitar.", "It is raining."]).shape == (2, 32)
        assert not start.equal(model[0].auto_model.get_input_embeddings().weight), objective  # trained
