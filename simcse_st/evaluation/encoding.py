"""Sentence embeddings for evaluation: the model's own pooling, or the paper's baseline poolings.

The SimCSE paper scores vanilla checkpoints (its "BERT (first-last avg.)" rows) with poolings over the
encoder's hidden states that a saved sentence-transformers model does not carry. :func:`encode` builds them
from the model's first module (a sentence-transformers ``Transformer``) and built-in modules, so every
evaluator can score a plain BERT the way the paper's baseline rows were scored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from simcse_st.evaluation.protocol import BASELINE_POOLINGS, check_choice

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

def check_pooling(pooling: str | None) -> None:
    """Raise a ValueError naming the choices unless ``pooling`` is None (the model's own) or a baseline pooling."""
    check_choice(pooling, BASELINE_POOLINGS, "pooling", allow_none=True)


def encode(
    model: SentenceTransformer,
    sentences: list[str],
    batch_size: int = 128,
    pooling: str | None = None,
    show_progress_bar: bool = True,
) -> np.ndarray:
    """Embed ``sentences`` with the model's own modules, or with one of :data:`BASELINE_POOLINGS`.

    Args:
        model: a sentence-transformers model; a baseline pooling needs its first module to be a ``Transformer``.
        sentences: the texts to embed.
        batch_size: sentences per forward pass.
        pooling: ``None`` for ``model.encode``, else a name from :data:`BASELINE_POOLINGS`.
        show_progress_bar: show a tqdm bar over batches.

    Returns:
        A float32 array with one row per sentence.

    Raises:
        ValueError: for an unknown pooling, or a baseline pooling on a model without a Transformer first module.
    """
    check_pooling(pooling)
    encoder = model if pooling is None else _baseline_pooling_model(model, pooling)
    with _hidden_states_enabled(model, pooling in ("avg_first_last", "avg_top2")):
        return encoder.encode(
            sentences, batch_size=batch_size, show_progress_bar=show_progress_bar, convert_to_numpy=True
        )


def encode_unique(
    model: SentenceTransformer,
    sentences: Iterable[str],
    batch_size: int = 128,
    pooling: str | None = None,
    show_progress_bar: bool = True,
) -> tuple[dict[str, int], np.ndarray]:
    """Embed each distinct sentence once.

    Returns:
        ``(row, embeddings)``: ``row[sentence]`` is the index of the sentence's embedding in ``embeddings``.
    """
    unique = list(dict.fromkeys(sentences))
    embeddings = encode(model, unique, batch_size=batch_size, pooling=pooling, show_progress_bar=show_progress_bar)
    return {sentence: index for index, sentence in enumerate(unique)}, embeddings


def _transformer(model: SentenceTransformer):
    from sentence_transformers.sentence_transformer.modules import Transformer

    first = model[0]
    if not isinstance(first, Transformer):
        raise ValueError(
            f"The baseline poolings {', '.join(BASELINE_POOLINGS)} read the hidden states of the model's first "
            f"module, which must be a sentence_transformers Transformer; this model starts with "
            f"{type(first).__name__}. Use pooling=None to score it with its own pooling."
        )
    return first


def _baseline_pooling_model(model: SentenceTransformer, pooling: str) -> SentenceTransformer:
    """A SentenceTransformer sharing ``model``'s Transformer, followed by the baseline pooling's modules."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, WeightedLayerPooling

    transformer = _transformer(model)
    dimension = transformer.get_embedding_dimension()
    if pooling == "cls_before_pooler":
        modules = [transformer, Pooling(dimension, "cls")]
    else:
        num_layers = transformer.auto_model.config.num_hidden_layers
        # hidden_states[0] is the embedding layer; the paper averages layers (1, L) or (L-1, L)
        first = 1 if pooling == "avg_first_last" else max(num_layers - 1, 1)
        weights = torch.zeros(num_layers + 1 - first)
        weights[0] += 1.0
        weights[-1] += 1.0
        layer_mean = WeightedLayerPooling(
            dimension, num_layers, layer_start=first, layer_weights=torch.nn.Parameter(weights, requires_grad=False)
        )
        modules = [transformer, layer_mean, Pooling(dimension, "mean")]
    return SentenceTransformer(modules=modules, device=str(model.device))


@contextmanager
def _hidden_states_enabled(model: SentenceTransformer, enabled: bool) -> Iterator[None]:
    """Make the Transformer module return every layer's output (``all_layer_embeddings``) inside the block."""
    if not enabled:
        yield
        return
    config = _transformer(model).auto_model.config
    previous = config.output_hidden_states
    config.output_hidden_states = True
    try:
        yield
    finally:
        config.output_hidden_states = previous
