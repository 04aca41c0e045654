"""What search, corpus encoding and the applications share: checking sentences, loading and running a model.

Search, clustering and maps all take a model (a ``SentenceTransformer`` or its name or path) and a list of
sentences, or a text file with one sentence a line, and embed the sentences in batches with a progress bar.
Embeddings are L2-normalized, so a dot product is the cosine similarity SimCSE trains for.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from simcse_st.data.text import (
    is_usable_text,
    read_sentences,  # noqa: F401  (the corpus reader of every application)
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

ModelLike = Union["SentenceTransformer", str, os.PathLike]
"""A loaded ``SentenceTransformer``, or a local folder or Hugging Face Hub name to load one from."""


def check_sentences(sentences: Sequence[str] | str, what: str = "corpus") -> list[str]:
    """``sentences`` as a list, after checking there is at least one and none is blank.

    Args:
        sentences: the texts; a single string counts as one text.
        what: what they are, for error messages (``"corpus"``, ``"query"``).

    Raises:
        ValueError: for an empty list, a blank text or a non-string, naming its position.
    """
    texts = [sentences] if isinstance(sentences, str) else list(sentences)
    if not texts:
        raise ValueError(f"The {what} is empty: give at least one sentence.")
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"{what.capitalize()} entry {position} is a {type(text).__name__}, not a string.")
        if not is_usable_text(text):
            raise ValueError(f"{what.capitalize()} entry {position} is blank: give non-empty sentences.")
    return texts


def resolve_model(model: ModelLike) -> SentenceTransformer:
    """``model`` itself if it is a loaded ``SentenceTransformer``; else the model loaded from that name or path."""
    if isinstance(model, (str, os.PathLike)):
        from simcse_st.models import load_model

        return load_model(os.fspath(model))
    return model


def model_name_of(model: ModelLike) -> str | None:
    """A Hub name as given, a local folder as its absolute path (so saved files work from any folder); None for a
    loaded model."""
    if not isinstance(model, (str, os.PathLike)):
        return None
    name = os.fspath(model)
    return os.path.abspath(name) if os.path.isdir(name) else name


def embedding_dimension(model: SentenceTransformer) -> int:
    """The width of ``model``'s sentence embeddings."""
    return int(model.get_embedding_dimension())


def encode_sentences(
    model: SentenceTransformer,
    sentences: Sequence[str],
    batch_size: int = 64,
    show_progress_bar: bool = True,
    pool: dict[str, Any] | None = None,
) -> np.ndarray:
    """L2-normalized float32 embeddings of ``sentences``, computed in batches with a progress bar.

    Args:
        model: the encoder.
        sentences: the texts, already checked with :func:`check_sentences`.
        batch_size: sentences per forward pass.
        show_progress_bar: show a tqdm bar over batches.
        pool: a pool from ``model.start_multi_process_pool`` to spread the batches over its processes.

    Returns:
        An array of shape ``(len(sentences), dimension)`` whose rows have unit norm.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be a positive number of sentences, got {batch_size}.")
    if len(sentences) > batch_size:
        logger.info("Encoding %d sentences in batches of %d", len(sentences), batch_size)
    embeddings = model.encode(
        list(sentences),
        batch_size=batch_size,
        show_progress_bar=show_progress_bar,
        convert_to_numpy=True,
        normalize_embeddings=True,
        pool=pool,
    )
    return np.asarray(embeddings, dtype=np.float32)


def normalize_rows(embeddings: np.ndarray) -> np.ndarray:
    """``embeddings`` (an array or tensor) as float32 rows of unit norm (zero rows stay zero)."""
    array = as_array(embeddings)
    embeddings = np.asarray(embeddings if array is None else array, dtype=np.float32)
    if embeddings.ndim != 2:
        raise ValueError(f"Embeddings must be a 2-D array (one row per sentence), got shape {embeddings.shape}.")
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings / np.maximum(norms, 1e-12)


def embed_corpus(
    model_or_embeddings: ModelLike | np.ndarray,
    sentences: Sequence[str],
    batch_size: int = 64,
    show_progress_bar: bool = True,
) -> np.ndarray:
    """Normalized embeddings of ``sentences``: given ones (checked to match), or computed with the model.

    Args:
        model_or_embeddings: a model (or its name or path) to encode ``sentences`` with, or their embeddings
            (an array or tensor with one row per sentence).
        sentences: the texts.
        batch_size: sentences per forward pass when encoding.
        show_progress_bar: show a tqdm bar while encoding.

    Raises:
        ValueError: for an empty corpus, a blank sentence, or embeddings whose row count differs from the
            number of sentences.
    """
    sentences = check_sentences(sentences)
    if as_array(model_or_embeddings) is None:
        return encode_sentences(resolve_model(model_or_embeddings), sentences, batch_size, show_progress_bar)
    embeddings = normalize_rows(model_or_embeddings)
    if len(embeddings) != len(sentences):
        raise ValueError(f"Got {len(embeddings)} embeddings for {len(sentences)} sentences; give one row per sentence.")
    return embeddings


def as_array(value: object) -> np.ndarray | None:
    """``value`` as a NumPy array if it is one or a torch tensor, else None (e.g. for a model)."""
    if isinstance(value, np.ndarray):
        return value
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().cpu().float().numpy()
    return None
