"""The on-disk format of a folder ``simcse-st export`` writes (:mod:`simcse_st.export` writes it).

An exported folder is a sentence-transformers model folder as ``SentenceTransformer(...).save_pretrained`` writes
it for ``backend="openvino"`` (``modules.json``, the tokenizer, pooling and dense modules, and
``openvino/openvino_model.xml`` with its ``.bin``: the float32 graph), plus, for a quantized export, one more
OpenVINO file in ``openvino/`` (:data:`QUANTIZED_FILES`), and :data:`EXPORT_FILE` (``simcse-st-export.json``): the
format marker and version, the source model and its fingerprint, the quantization and the file to run, the
calibration sample, and what quantization cost. Plain sentence-transformers loads the folder without this package
(:func:`load_line`); :func:`simcse_st.embedding.load_encoder` runs its file by default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from simcse_st._files import read_json

EXPORT_FORMAT = "simcse-st-export"
EXPORT_VERSION = 1
EXPORT_FILE = "simcse-st-export.json"
QUANTIZATIONS: tuple[str, ...] = ("none", "int8-weights", "int8-static")
OPENVINO_FILE = "openvino/openvino_model.xml"
QUANTIZED_FILES = {"none": OPENVINO_FILE, "int8-weights": "openvino/openvino_model_int8_weights.xml",
                   "int8-static": "openvino/openvino_model_qint8_quantized.xml"}
"""The OpenVINO file each quantization runs from, relative to the exported folder."""


def read_export(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The :data:`EXPORT_FILE` record of an exported folder, or None for anything else."""
    record = read_json(Path(folder) / EXPORT_FILE)
    if record is None or record.get("format") != EXPORT_FORMAT or not isinstance(record.get("version"), int):
        return None
    return record


def chosen_runtime_file(folder: str | os.PathLike[str]) -> str | None:
    """The OpenVINO file an exported folder runs by default (its quantization's), or None if it is no export."""
    record = read_export(folder) if os.path.isdir(folder) else None
    return None if record is None else record["file"]


def load_line(folder: str | os.PathLike[str], file: str) -> str:
    """The Python line that loads the exported ``folder``'s ``file`` in plain sentence-transformers."""
    return (f"SentenceTransformer({str(Path(folder).resolve())!r}, backend='openvino', "
            f"model_kwargs={{'file_name': {file!r}}})")


def check_export_replaceable(target: Path) -> None:
    """Raise unless ``target`` is missing, an empty folder, or a folder ``simcse-st export`` wrote.

    Raises:
        ValueError: naming what is there; nothing is written.
    """
    if not target.exists() and not target.is_symlink():
        return
    if not target.is_dir() or target.is_symlink():
        raise ValueError(f"--out {target} exists and is not a folder: give a new or empty folder.")
    if any(target.iterdir()) and read_export(target) is None:
        raise ValueError(f"--out {target} is not empty and was not written by `simcse-st export` (no {EXPORT_FILE}): "
                         "exporting would replace it, so nothing was written. Give a new or empty folder.")


def holds_export(folder: Path) -> bool:
    """Whether ``folder`` is a complete export (its record is readable)."""
    return read_export(folder) is not None
