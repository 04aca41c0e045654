"""Where the local data sets live: the data root and the error that says how to set it."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "SIMCSE_DATA_DIR"
_HOW_TO_SET = (
    f"pass it with --data-dir ROOT (or data_dir=ROOT in Python), or set the {DATA_DIR_ENV} environment "
    "variable; ROOT is the folder that holds senteval/, nli/ and wiki/"
)


class DataNotFoundError(FileNotFoundError):
    """A data root, folder or file that is not where it was looked for."""


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``data_dir`` if given, else ``$SIMCSE_DATA_DIR``.

    Raises:
        DataNotFoundError: when neither is set, or the folder does not exist; the message names the
            path and the two ways to set it.
    """
    root = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    if not root:
        raise DataNotFoundError(f"No data root was given: {_HOW_TO_SET}.")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataNotFoundError(f"The data root {path} is not a folder: {_HOW_TO_SET}.")
    return path


def data_path(relative: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``relative`` under the data root; raises :class:`DataNotFoundError` naming the full path if it is missing."""
    root = resolve_data_dir(data_dir)
    path = root / relative
    if not path.exists():
        raise DataNotFoundError(f"Expected {path} under the data root {root}, but it does not exist: {_HOW_TO_SET}.")
    return path
