"""The paper's baseline poolings against the Hugging Face model's hidden states, computed by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Dense
from transformers import AutoModel, AutoTokenizer

from simcse_st.evaluation import BASELINE_POOLINGS, encode, encode_unique

SENTENCES = ["A man is playing a guitar.", "Two dogs run on the beach in the sun.", "Hi", "A man is playing a guitar."]


@pytest.fixture(scope="module")
def hidden_states(minilm_path: Path) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """all-MiniLM-L6-v2's per-layer outputs (embeddings + 6 layers) and the attention mask, straight from HF."""
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    model = AutoModel.from_pretrained(minilm_path).eval()
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        output = model(**batch, output_hidden_states=True)
    return output.hidden_states, batch["attention_mask"].unsqueeze(-1).float()


def token_average(layer: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    return ((layer * mask).sum(1) / mask.sum(1)).numpy()


@pytest.mark.parametrize("pooling", BASELINE_POOLINGS)
def test_baseline_pooling_matches_the_official_definition(pooling: str, minilm: SentenceTransformer,
                                                          hidden_states) -> None:
    layers, mask = hidden_states
    assert len(layers) == 7
    expected = {
        "avg_first_last": lambda: token_average((layers[1] + layers[-1]) / 2, mask),
        "avg_top2": lambda: token_average((layers[-2] + layers[-1]) / 2, mask),
        "cls_before_pooler": lambda: layers[-1][:, 0].numpy(),
    }[pooling]()
    embeddings = encode(minilm, SENTENCES, pooling=pooling, show_progress_bar=False)
    np.testing.assert_allclose(embeddings, expected, atol=1e-5)
    assert minilm[0].auto_model.config.output_hidden_states is False  # restored


def test_no_pooling_is_the_models_own_encode(minilm: SentenceTransformer) -> None:
    np.testing.assert_allclose(encode(minilm, SENTENCES, show_progress_bar=False), minilm.encode(SENTENCES),
                               atol=1e-6)


def test_encode_unique_encodes_each_sentence_once(minilm: SentenceTransformer) -> None:
    row, embeddings = encode_unique(minilm, SENTENCES, show_progress_bar=False)
    assert len(embeddings) == 3 and row[SENTENCES[0]] == row[SENTENCES[3]]
    np.testing.assert_allclose(embeddings[[row[s] for s in SENTENCES]], minilm.encode(SENTENCES), atol=1e-5)


def test_bad_pooling_and_model_without_transformer() -> None:
    with pytest.raises(ValueError, match="Unknown pooling 'max'; choose None or one of avg_first_last"):
        encode(None, ["x"], pooling="max")  # type: ignore[arg-type]
    model = SentenceTransformer(modules=[Dense(4, 4)])
    with pytest.raises(ValueError, match="first module, which must be a sentence_transformers Transformer.*Dense"):
        encode(model, ["x"], pooling="avg_top2")
