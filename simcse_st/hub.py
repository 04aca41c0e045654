"""Which Hub model a model argument is, and at which commit: from its name or its place in the Hugging Face cache."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_SNAPSHOT = re.compile(r"models--(?P<repository>[^/\\]+)[/\\]snapshots[/\\](?P<commit>[0-9a-f]{40})(?:[/\\]|$)")


@dataclass(frozen=True)
class HubModel:
    """A model on the Hugging Face Hub.

    Attributes:
        name: the repository, ``ORG/NAME`` (or a bare legacy name such as ``bert-base-uncased``).
        commit: the commit the local copy was taken at, or None when it is not known.
    """

    name: str
    commit: str | None


def hub_model(name_or_path: str | os.PathLike[str]) -> HubModel | None:
    """The Hub model ``name_or_path`` is: a Hub name (its commit read from the local Hugging Face cache), or a
    folder of that cache (``.../models--ORG--NAME/snapshots/<commit>``); None for any other local folder or a path
    that cannot be a Hub name."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.exists():
        match = _SNAPSHOT.search(path.absolute().as_posix() + "/")
        if match is None:
            return None
        return HubModel(match["repository"].replace("--", "/"), match["commit"])
    return HubModel(text, _cached_commit(text)) if _is_repo_id(text) else None


def model_folder(name_or_path: str | os.PathLike[str]) -> Path | None:
    """The local folder holding the model: the path itself, or a Hub name's snapshot in the Hugging Face cache
    (None when it is not cached)."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    if not _is_repo_id(str(name_or_path)):
        return None
    from huggingface_hub import try_to_load_from_cache

    for filename in ("modules.json", "config.json"):
        cached = try_to_load_from_cache(str(name_or_path), filename)
        if isinstance(cached, str):
            return Path(cached).parent
    return None


def _is_repo_id(name: str) -> bool:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def _cached_commit(name: str) -> str | None:
    folder = model_folder(name)
    return folder.name if folder is not None else None
