"""Sentence similarity: embeddings of a few sentences, and the cosine similarity of sentence pairs.

SimCSE is trained and evaluated on the cosine similarity of sentence embeddings (the STS protocol scores
pairs by it); these are the two calls behind a "how similar are these two sentences" box.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simcse_st.embedding import ModelLike, check_sentences, encode_sentences, resolve_model


def embed(model: ModelLike, sentences: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalized embeddings of ``sentences``, one row each (no progress bar: meant for a few sentences).

    Raises:
        ValueError: for no sentence or a blank one.
    """
    sentences = check_sentences(sentences, what="sentences")
    return encode_sentences(resolve_model(model), sentences, batch_size, show_progress_bar=False)


def pair_similarities(model: ModelLike, pairs: Sequence[Sequence[str]], batch_size: int = 64) -> list[float]:
    """The cosine similarity of each ``(first, second)`` pair, both sides encoded in one call.

    Args:
        model: the encoder, or its name or path.
        pairs: sentence pairs.
        batch_size: sentences per forward pass.

    Returns:
        One cosine in [-1, 1] per pair.

    Raises:
        ValueError: for no pair, a pair that is not two sentences, or a blank sentence.
    """
    pairs = [tuple(pair) for pair in pairs]
    if not pairs:
        raise ValueError("Give at least one sentence pair.")
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError("Each pair must be two sentences: [first, second].")
    embeddings = embed(model, [sentence for pair in pairs for sentence in pair], batch_size)
    # cosine of unit vectors: the dot product of each pair's rows (2i, 2i + 1)
    return np.einsum("ij,ij->i", embeddings[0::2], embeddings[1::2]).astype(float).tolist()
