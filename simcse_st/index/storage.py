"""The on-disk format of a saved :class:`~simcse_st.index.SemanticIndex`, and the safe replacement of its folder.

A saved index is a folder holding ``index.json`` (format marker and version, model name or path, dimension, size,
backend, IVF-PQ settings), ``sentences.jsonl``, ``embeddings.npy`` and, for HNSW and IVF-PQ, the FAISS index.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from simcse_st.index.backends import BLOCK_ROWS, IVFPQSettings, import_faiss

INDEX_FORMAT = "simcse-st-index"
FILES = {"meta": "index.json", "sentences": "sentences.jsonl", "embeddings": "embeddings.npy",
         "faiss-hnsw": "faiss-hnsw.index", "faiss-ivfpq": "faiss-ivfpq.index"}


def write_rows(path: Path, blocks: Sequence[np.ndarray]) -> None:
    """Write the rows of ``blocks`` (arrays of one width and dtype, e.g. memory-mapped shards) as one ``.npy``,
    copying a block of rows at a time."""
    dtype = np.result_type(*(block.dtype for block in blocks))
    rows = np.lib.format.open_memmap(path, mode="w+", dtype=dtype,
                                     shape=(sum(len(block) for block in blocks), blocks[0].shape[1]))
    start = 0
    for block in blocks:
        for offset in range(0, len(block), BLOCK_ROWS):
            part = block[offset:offset + BLOCK_ROWS]
            rows[start:start + len(part)] = part
            start += len(part)
    rows.flush()
    del rows


def write_index_files(
    folder: Path, model_name: str | None, dimension: int, size: int, backend: str, active_backend: str,
    faiss_index: Any, ivfpq: IVFPQSettings | None,
) -> None:
    """Write ``index.json`` and, for HNSW and IVF-PQ, the FAISS index beside the sentences and embeddings."""
    meta: dict[str, Any] = {"format": INDEX_FORMAT, "version": 2, "model": model_name, "dimension": dimension,
                            "size": size, "backend": backend}
    if ivfpq is not None:
        meta["ivfpq"] = {key: value for key, value in asdict(ivfpq).items() if key in ("nlist", "m", "nprobe",
                                                                                        "rerank")}
    if faiss_index is not None:
        import_faiss().write_index(faiss_index, str(folder / FILES[active_backend]))
    (folder / FILES["meta"]).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


@contextlib.contextmanager
def replaced_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A new folder beside ``target`` to write into; on success it is renamed to ``target``, replacing it.

    Raises:
        ValueError: when ``target`` exists and is neither empty nor a saved index (it is never replaced).
    """
    target = Path(target)
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / FILES["meta"]).is_file())):
        raise ValueError(
            f"{target} exists and is not a saved search index: saving would replace it; give a new or empty folder."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    folder.mkdir()
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
    if target.exists():
        os.replace(target, old)
    os.replace(folder, target)
    shutil.rmtree(old, ignore_errors=True)


def check_count(directory: Path, what: str, count: int, sentences: int) -> None:
    """Raise a ValueError unless the index in ``directory`` holds ``sentences`` ``what`` (embeddings, vectors)."""
    if count != sentences:
        raise ValueError(
            f"The index {directory} is inconsistent: {sentences} sentences but {count} {what}; rebuild it with "
            f"`simcse-st index`."
        )


def read_meta(directory: Path) -> dict[str, Any]:
    """The ``index.json`` of a saved index.

    Raises:
        FileNotFoundError: when ``directory`` holds no ``index.json``.
        ValueError: when it is not a simcse-st index's.
    """
    path = directory / FILES["meta"]
    if not path.is_file():
        raise FileNotFoundError(
            f"{directory} is not a saved search index (no {FILES['meta']}); build one with `simcse-st index "
            f"MODEL --corpus FILE --out {directory}` or SemanticIndex.save()."
        )
    meta = json.loads(path.read_text("utf-8"))
    if meta.get("format") != INDEX_FORMAT:
        raise ValueError(f"{path} is not a simcse-st search index (format {meta.get('format')!r}).")
    return meta
