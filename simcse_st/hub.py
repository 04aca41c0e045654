"""Which Hub model a model argument is, and at which commit: from its name or its place in the Hugging Face cache."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
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
    return HubModel(text, _cached_commit(text)) if is_repo_id(text) else None


def model_folder(name_or_path: str | os.PathLike[str], revision: str | None = None) -> Path | None:
    """The local folder holding the model: the path itself, or a Hub name's snapshot (at ``revision``, by default
    the cached ``main``) in the Hugging Face cache (None when it is not cached)."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    if not is_repo_id(str(name_or_path)):
        return None
    from huggingface_hub import try_to_load_from_cache

    for filename in ("modules.json", "config.json"):
        cached = try_to_load_from_cache(str(name_or_path), filename, revision=revision)
        if isinstance(cached, str):
            return Path(cached).parent
    return None


def is_hub_commit(revision: str | None) -> bool:
    """Whether ``revision`` is a full Git commit hash (40 lower-case hex digits), as the Hub and MTEB's results
    repository name a model's revision."""
    return revision is not None and _COMMIT.match(revision) is not None


def check_hub_commit(revision: str, flag: str = "--revision") -> str:
    """Return ``revision`` if it is a Hub commit (:func:`is_hub_commit`).

    Raises:
        ValueError: otherwise, saying where to find one.
    """
    if not is_hub_commit(revision):
        raise ValueError(f"{flag} {revision} is not a Hub commit: pass the 40-hex-digit commit of the model's "
                         "repository (the one 'hf upload' printed, or its page's 'Files and versions' history).")
    return revision


def check_hub_name(name: str, flag: str = "--base-model") -> str:
    """Return ``name`` if it is a Hugging Face Hub model name (``ORG/NAME`` or a bare legacy name), not a path.

    Raises:
        ValueError: otherwise, with an example.
    """
    if not is_repo_id(name) or Path(name).expanduser().exists() or name.startswith((".", "~")):
        raise ValueError(f"{flag} {name!r} is not a Hugging Face Hub model name: pass the Hub name, for example "
                         f"{flag} google-bert/bert-base-uncased.")
    return name


def is_repo_id(name: str) -> bool:
    """Whether ``name`` is a valid Hugging Face Hub repository id (``ORG/NAME`` or a bare legacy name)."""
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
