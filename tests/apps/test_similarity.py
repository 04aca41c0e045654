"""Sentence similarity: embeddings of unit length from the model, the cosine of each pair, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from simcse_st.apps import embed, pair_similarities

PAIRS = [("A cat sleeps on the sofa.", "A kitten naps on the couch."), ("Stocks fell.", "The team won the cup."),
         ("Same sentence.", "Same sentence.")]


@pytest.fixture(scope="module")
def tiny_model(tiny_bert_path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_bert_path))


def test_embed_gives_the_model_embeddings_at_unit_length(tiny_model):
    sentences = [a for a, _ in PAIRS]
    raw = tiny_model.encode(sentences)
    np.testing.assert_allclose(embed(tiny_model, sentences), raw / np.linalg.norm(raw, axis=1, keepdims=True),
                               atol=1e-5)


def test_pair_similarities_are_the_cosines_of_each_pair(tiny_model):
    first = tiny_model.encode([a for a, _ in PAIRS])
    second = tiny_model.encode([b for _, b in PAIRS])
    cosines = [float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) for a, b in zip(first, second, strict=True)]
    scores = pair_similarities(tiny_model, PAIRS)
    assert scores == pytest.approx(cosines, abs=1e-5)
    assert scores[2] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(("pairs", "message"), [
    ([], "at least one sentence pair"),
    ([("one", "two", "three")], "Each pair must be two sentences"),
    ([("fine", "  ")], "entry 1 is blank"),
])
def test_bad_pairs_are_rejected(tiny_model, pairs, message):
    with pytest.raises(ValueError, match=message):
        pair_similarities(tiny_model, pairs)
