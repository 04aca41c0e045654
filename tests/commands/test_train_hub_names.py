"""README's preset commands with Hub model names, run offline from a local Hugging Face cache.

The cache is laid out as huggingface_hub writes it (``models--bert-base-uncased/{blobs, snapshots/<commit>,
refs/main}``) and holds a tiny BERT under the name ``bert-base-uncased``; with ``HF_HUB_OFFLINE=1`` the Hub
client resolves the name from it, exactly as on a machine that downloaded the model before.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import try_to_load_from_cache
from sentence_transformers import SentenceTransformer

from tests.conftest import build_tiny_bert
from tests.hub_cache import start_simcse_st, write_hub_cache
from tests.sts_sample import STSSample

HUB_NAME = "bert-base-uncased"


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
