"""A model's identity: a short hash of its weights and configuration, not of its path."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

FINGERPRINT_LENGTH = 12
"""Hex digits of :func:`model_fingerprint` (48 bits)."""
_PATH_KEYS = frozenset({"_name_or_path", "transformers_version"})
"""Encoder config entries that say where and by which version a model was loaded, not what it is."""


def model_fingerprint(model: nn.Module) -> str:
    """A short hex hash of every parameter and buffer of ``model`` (names, dtypes, shapes, values) and of its
    configuration (each module's type and config, the maximum length, the similarity function).

    Two models with equal weights and configuration share it wherever they are saved; one changed weight gives
    another. ``simcse-st mteb`` uses it as the revision of a local model, so the results of a changed model never
    land beside those of the old one.

    Args:
        model: a SentenceTransformer (or any torch module).

    Returns:
        :data:`FINGERPRINT_LENGTH` lowercase hex digits.
    """
    import torch

    digest = hashlib.sha256()
    digest.update(json.dumps(_configuration(model), sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        data = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:FINGERPRINT_LENGTH]


def _configuration(model: nn.Module) -> dict[str, object]:
    modules = []
    for module in model.children():
        config = module.get_config_dict() if hasattr(module, "get_config_dict") else {}
        auto_model = getattr(module, "auto_model", None)
        if auto_model is not None:
            encoder = {key: value for key, value in auto_model.config.to_dict().items() if key not in _PATH_KEYS}
            config = {**config, "auto_model": encoder}
        modules.append({"type": type(module).__name__, "config": config})
    return {
        "modules": modules,
        "max_seq_length": getattr(model, "max_seq_length", None),
        "similarity_fn_name": getattr(model, "similarity_fn_name", None),
    }
