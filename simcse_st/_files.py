"""Durable writes: data reaches the disk before the record that says it is there.

A kill or a power cut leaves a file written through :func:`write_json_atomically` old or new, never half written,
and :func:`fsync_path` makes data and renames durable before anything that depends on them is recorded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def fsync_path(path: str | os.PathLike[str]) -> None:
    """Flush a file's data, or a folder's entries (the renames and new names in it), to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_json_atomically(path: Path, value: dict[str, Any]) -> None:
    """Write ``value`` as JSON to ``path``: a temporary file, fsynced, renamed over ``path``, the folder fsynced."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(value, indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_path(path.parent)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when the file is missing or holds no JSON object."""
    try:
        value = json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None
