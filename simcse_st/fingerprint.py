"""A model's identity by what it computes: a hash of its weights and configuration, not of its name or path.

A model retrained or replaced in place keeps its path but gets another fingerprint, so stored embeddings can be
checked against the model that would add to them (a resumed ``simcse-st encode``, shards joined into one index).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

_IGNORED_CONFIG_KEYS = ("_name_or_path", "name_or_path", "transformers_version")  # where it lies, which library
FINGERPRINT_LENGTH = 12
"""Hex digits of :func:`short_fingerprint` (48 bits): a local model's revision for MTEB results."""


def model_fingerprint(model: Any) -> str:
    """The SHA-256 (hex) of a model's weights and configuration; its first 12 characters make a short form.

    Hashed, in order: every tensor of ``model.state_dict()`` (name, dtype, shape and raw bytes, read once, no
    copy beyond the one to CPU), every constant of an encoder that runs in OpenVINO (an int8 file differs from
    the float32 one), each module's class and ``get_config_dict()`` (sentence-transformers modules:
    pooling, normalization, dense layers), the Hugging Face configuration of a Transformer module (without its
    path and the transformers version), the maximum sequence length, and the tokenizer's class, lower-casing and
    vocabulary. Hashing all-MiniLM-L6-v2 (90 MB of weights) takes a fraction of a second on a CPU.

    Args:
        model: a ``SentenceTransformer`` or any ``torch.nn.Module``.

    Returns:
        64 hexadecimal characters; equal for two loads of the same files, wherever they are.
    """
    import torch

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(flat.view(torch.uint8).numpy().data)
    _hash_openvino_constants(model, digest)
    digest.update(json.dumps(_configuration(model), sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _hash_openvino_constants(model: Any, digest: Any) -> None:
    """Add the weights of each module that runs in OpenVINO (sentence-transformers' ``backend="openvino"``: its
    encoder is an OpenVINO graph, not in ``state_dict``) to ``digest``: every constant of the graph, in order."""
    modules = list(model) if hasattr(model, "__iter__") else [model]
    for module in modules:
        graph = getattr(getattr(module, "auto_model", None), "model", None)
        if graph is None or not hasattr(graph, "get_ordered_ops"):
            continue
        for op in graph.get_ordered_ops():
            if op.get_type_name() == "Constant":
                data = op.get_data()
                digest.update(f"{data.dtype}|{data.shape}|".encode())
                digest.update(data.tobytes())


def short_fingerprint(model: Any) -> str:
    """The first :data:`FINGERPRINT_LENGTH` hex digits of :func:`model_fingerprint`: short enough for a folder name
    (``simcse-st mteb`` uses it as a local model's revision), long enough that a changed model gets another."""
    return model_fingerprint(model)[:FINGERPRINT_LENGTH]


def _configuration(model: Any) -> dict[str, Any]:
    """What, besides the weights, decides a model's embeddings (see :func:`model_fingerprint`)."""
    modules = list(model) if hasattr(model, "__iter__") else [model]
    config: dict[str, Any] = {"max_seq_length": getattr(model, "max_seq_length", None),
                              "similarity_fn_name": getattr(model, "similarity_fn_name", None), "modules": []}
    for module in modules:
        entry: dict[str, Any] = {"class": type(module).__name__}
        if hasattr(module, "get_config_dict"):
            entry["config"] = module.get_config_dict()
        auto_config = getattr(getattr(module, "auto_model", None), "config", None)
        if auto_config is not None:
            entry["hf_config"] = {key: value for key, value in auto_config.to_dict().items()
                                  if key not in _IGNORED_CONFIG_KEYS}
        tokenizer = getattr(module, "tokenizer", None)
        if tokenizer is not None and hasattr(tokenizer, "get_vocab"):
            entry["tokenizer"] = {"class": type(tokenizer).__name__,
                                  "lowercase": getattr(tokenizer, "do_lower_case", None),
                                  "vocab": hashlib.sha256(json.dumps(sorted(tokenizer.get_vocab().items()),
                                                                     ensure_ascii=False).encode()).hexdigest()}
        config["modules"].append(entry)
    return config
