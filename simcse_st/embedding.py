"""What search, corpus encoding and the applications share: checking sentences, loading and running a model.

Search, clustering and maps all take a model (a ``SentenceTransformer`` or its name or path) and a list of
sentences, or a text file with one sentence a line, and embed the sentences in batches with a progress bar.
Embeddings are L2-normalized, so a dot product is the cosine similarity SimCSE trains for.

This is also the one place for the inference runtime: a model runs in PyTorch, or in OpenVINO through
sentence-transformers' ``backend="openvino"`` (a folder :mod:`simcse_st.export` wrote, or exported on the fly),
optionally from one of the folder's quantized files. :func:`load_encoder` loads either; :func:`runtime_of` says
which one a loaded model runs in, for the records of stored embeddings.
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


RUNTIMES: tuple[str, ...] = ("torch", "openvino")
"""The inference runtimes: PyTorch, or OpenVINO (sentence-transformers' ``backend="openvino"``)."""
OPENVINO_INSTALL = 'pip install "simcse-st[openvino]"'
RUNTIME_ATTRIBUTE = "simcse_runtime"
"""Where :func:`load_encoder` notes, on the loaded model, which OpenVINO file of the folder it runs and in which
precision."""


def check_openvino() -> None:
    """Raise unless the ``[openvino]`` extra (optimum-intel with OpenVINO) is installed.

    Raises:
        ValueError: one line naming the extra to install.
    """
    try:
        import openvino  # noqa: F401
        from optimum.intel import OVModelForFeatureExtraction  # noqa: F401
    except ImportError as error:
        raise ValueError(f"The OpenVINO runtime needs the [openvino] extra ({error.name or error} is missing): "
                         f"{OPENVINO_INSTALL}") from None


def check_cpu_supports(precision: str) -> None:
    """Raise unless OpenVINO's CPU device runs ``precision`` (``"FP32"``, ``"INT8"``, ``"BF16"``), as the device
    reports in its ``OPTIMIZATION_CAPABILITIES``.

    Raises:
        ValueError: naming the precision, what the CPU offers, and what to use instead.
    """
    import openvino

    capabilities = list(openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    if precision.upper() not in capabilities:
        raise ValueError(f"This CPU cannot run OpenVINO {precision} models (it offers {', '.join(capabilities)}): "
                         "use --runtime torch, or export without that quantization.")


def load_encoder(
    model: str | os.PathLike[str],
    runtime: str | None = None,
    runtime_file: str | None = None,
    precision: str | None = None,
) -> SentenceTransformer:
    """Load a model to encode with, in PyTorch or in OpenVINO.

    Args:
        model: a local folder or Hub name. A folder written by ``simcse-st export`` runs in OpenVINO from its
            chosen file unless ``runtime`` says otherwise.
        runtime: ``"torch"`` or ``"openvino"``; None: OpenVINO for an exported folder, else PyTorch. OpenVINO on a
            folder that holds no OpenVINO file exports it on the fly (sentence-transformers does that).
        runtime_file: the OpenVINO file to run, relative to the folder (e.g.
            ``openvino/openvino_model_qint8_quantized.xml``); implies ``runtime="openvino"``.
        precision: OpenVINO's inference precision, e.g. ``"f32"`` to keep float32 where the CPU would run bf16
            by default; None: OpenVINO's default.

    Returns:
        A ``SentenceTransformer``; :func:`runtime_of` tells which runtime and file it runs.

    Raises:
        ValueError: for an unknown runtime, a runtime file the folder does not hold, OpenVINO options with
            ``runtime="torch"``, a missing ``[openvino]`` extra, or a CPU that cannot run the file's precision.
        ModelNotFoundError: for a model that cannot be found.

    Example:
        >>> load_encoder("model-ov", runtime_file="openvino/openvino_model_qint8_quantized.xml")  # doctest: +SKIP
    """
    from simcse_st.exported import chosen_runtime_file
    from simcse_st.models import load_model

    name = os.fspath(model)
    if runtime is not None and runtime not in RUNTIMES:
        raise ValueError(f"Unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}.")
    exported_file = chosen_runtime_file(name)
    if runtime == "torch" or (runtime is None and runtime_file is None and exported_file is None):
        if runtime_file is not None or precision is not None:
            raise ValueError("--runtime-file and a precision are OpenVINO options: drop them, or use --runtime "
                             "openvino.")
        if exported_file is not None:
            raise ValueError(f"{name} is an OpenVINO export (no PyTorch weights): run it with --runtime openvino, or "
                             "give the model it was exported from.")
        return load_model(name)
    check_openvino()
    runtime_file = runtime_file if runtime_file is not None else exported_file
    if runtime_file is not None and os.path.isdir(name) and not os.path.isfile(os.path.join(name, runtime_file)):
        raise ValueError(f"{name} holds no OpenVINO file {runtime_file}: give one of its openvino/*.xml files.")
    if runtime_file is not None and "int8" in runtime_file:
        check_cpu_supports("INT8")
    model_kwargs: dict[str, Any] = {}
    if runtime_file is not None:
        model_kwargs["file_name"] = runtime_file
    if precision is not None:
        model_kwargs["ov_config"] = {"INFERENCE_PRECISION_HINT": precision}
    loaded = load_model(name, backend="openvino", model_kwargs=model_kwargs)
    setattr(loaded, RUNTIME_ATTRIBUTE, {"file": runtime_file} | ({"precision": precision} if precision else {}))
    return loaded


def runtime_of(model: SentenceTransformer) -> dict[str, Any]:
    """Which runtime ``model`` encodes with: ``{"name": "torch"}`` or ``{"name": "openvino", "file": ...}`` (the
    file :func:`load_encoder` loaded; None for the folder's default file; with ``"precision"`` when one was forced),
    as stored with embeddings."""
    name = getattr(model, "backend", "torch")
    if name == "torch":
        return {"name": "torch"}
    return {"name": name, **getattr(model, RUNTIME_ATTRIBUTE, {"file": None})}


def resolve_model(model: ModelLike, runtime: dict[str, Any] | None = None) -> SentenceTransformer:
    """``model`` itself if it is a loaded ``SentenceTransformer``; else the model loaded from that name or path
    (by :func:`load_encoder`, in ``runtime``: a :func:`runtime_of` record, by default an exported folder's
    OpenVINO file or else PyTorch)."""
    if isinstance(model, (str, os.PathLike)):
        runtime = runtime or {}
        return load_encoder(model, runtime.get("name"), runtime.get("file"), runtime.get("precision"))
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
