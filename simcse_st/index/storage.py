"""The on-disk format of a saved :class:`~simcse_st.index.SemanticIndex`, and the safe replacement of its folder.

A saved index is a folder holding ``index.json`` (the format marker ``simcse-st-index`` and its version, the model
name or path, the runtime that embedded the corpus (:func:`simcse_st.embedding.runtime_of`), dimension, size,
backend, IVF-PQ settings), ``sentences.jsonl``, ``embeddings.npy`` and, for HNSW
and IVF-PQ, the FAISS index.

A save writes a new folder beside the target (``.NAME.XXXXXXXX.tmp``, marked by ``.simcse-st-partial`` until it
is complete), fsyncs it, and swaps it in: in one step where the system can exchange two folders (Linux
``renameat2``), else by renaming the old index aside (``.NAME.XXXXXXXX.old``), the new one in, and deleting the old
one. At every moment the old or the new index exists under one of these names, and the next save or load puts back
an index whose swap was interrupted and removes the leftovers. A folder is replaced only when it is empty or holds
a saved index and nothing else; anything else is refused and left as it is.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from simcse_st._files import fsync_path, read_json
from simcse_st.index.backends import BLOCK_ROWS, IVFPQSettings, import_faiss

INDEX_FORMAT = "simcse-st-index"
INDEX_VERSION = 2
FILES = {"meta": "index.json", "sentences": "sentences.jsonl", "embeddings": "embeddings.npy",
         "faiss-hnsw": "faiss-hnsw.index", "faiss-ivfpq": "faiss-ivfpq.index"}
_PARTIAL = ".simcse-st-partial"  # in a folder being written, until it is complete
_RENAME_EXCHANGE = 2  # renameat2's flag: swap two paths atomically
_AT_FDCWD = -100


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
    faiss_index: Any, ivfpq: IVFPQSettings | None, runtime: dict[str, Any] | None = None,
) -> None:
    """Write ``index.json`` and, for HNSW and IVF-PQ, the FAISS index beside the sentences and embeddings.
    ``runtime`` is the runtime that embedded the corpus (None: PyTorch)."""
    meta: dict[str, Any] = {"format": INDEX_FORMAT, "version": INDEX_VERSION, "model": model_name,
                            "runtime": runtime or {"name": "torch"}, "dimension": dimension, "size": size,
                            "backend": backend}
    if ivfpq is not None:
        meta["ivfpq"] = {key: value for key, value in asdict(ivfpq).items() if key in ("nlist", "m", "nprobe",
                                                                                        "rerank")}
    if faiss_index is not None:
        import_faiss().write_index(faiss_index, str(folder / FILES[active_backend]))
    (folder / FILES["meta"]).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _is_index_meta(meta: dict[str, Any] | None) -> bool:
    """Whether a read ``index.json`` is a simcse-st index's (format marker and a known version)."""
    return (meta is not None and meta.get("format") == INDEX_FORMAT and isinstance(meta.get("version"), int)
            and meta["version"] <= INDEX_VERSION)


def _holds_index(folder: Path) -> bool:
    """Whether ``folder`` holds a complete saved index (its ``index.json`` is one)."""
    return _is_index_meta(read_json(folder / FILES["meta"]))


def check_replaceable(target: Path) -> None:
    """Raise unless ``target`` is missing, an empty folder, or a saved index holding nothing else.

    Raises:
        ValueError: naming what is there (files this package did not write, an ``index.json`` of another format).
    """
    if not target.exists() and not target.is_symlink():
        return
    if not target.is_dir() or target.is_symlink():
        raise ValueError(f"{target} exists and is not a folder: saving an index there would replace it; give a "
                         f"new or empty folder.")
    entries = sorted(path.name for path in target.iterdir())
    if not entries:
        return
    meta = read_json(target / FILES["meta"])
    if not _is_index_meta(meta):
        what = "no index.json" if FILES["meta"] not in entries else (
            f"an index.json that is not a simcse-st index's (format {meta.get('format')!r}, version "
            f"{meta.get('version')!r})" if meta is not None else "an index.json that is not JSON")
        raise ValueError(
            f"{target} exists and is not a saved search index ({what}; it holds {_listing(entries)}): saving would "
            f"replace it, so nothing was written. Give a new or empty folder."
        )
    foreign = [name for name in entries if name not in FILES.values()]
    if foreign:
        raise ValueError(
            f"{target} holds a saved search index and files this package did not write ({_listing(foreign)}): "
            f"saving would delete them, so nothing was written. Move them out, or give a new or empty folder."
        )


def _listing(names: Sequence[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _leftovers(target: Path, kind: str, is_complete: Callable[[Path], bool]) -> list[Path]:
    """The ``.tmp`` (a save being written) or ``.old`` (a folder renamed aside) folders of saves into ``target``."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[0-9a-f]{{8}}\.{kind}")
    if not target.parent.is_dir():
        return []
    return sorted(path for path in target.parent.iterdir()
                  if pattern.fullmatch(path.name) and path.is_dir() and not path.is_symlink()
                  and ((path / _PARTIAL).is_file() or is_complete(path)))


def recover(target: str | os.PathLike[str], clean: bool = True,
            is_complete: Callable[[Path], bool] = _holds_index) -> None:
    """Finish what an interrupted save into ``target`` left: put the old folder back if ``target`` is missing
    (or empty) and one was renamed aside; with ``clean``, delete the other leftovers (folders named and marked as
    this package's saves, see the module docstring). ``is_complete`` recognises a complete saved folder (by
    default a saved index; :mod:`simcse_st.export` passes its own)."""
    target = Path(target)
    aside = _leftovers(target, "old", is_complete)
    if aside and (not target.exists() or (target.is_dir() and not any(target.iterdir()))):
        with contextlib.suppress(FileNotFoundError):
            target.rmdir()
        os.rename(aside.pop(), target)
        fsync_path(target.parent)
    if clean:
        for folder in aside + _leftovers(target, "tmp", is_complete):
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def replaced_directory(
    target: str | os.PathLike[str],
    check: Callable[[Path], None] = check_replaceable,
    is_complete: Callable[[Path], bool] = _holds_index,
) -> Iterator[Path]:
    """A new folder beside ``target`` to write into; once the block ends without error, it replaces ``target``.

    Args:
        target: the folder to write.
        check: raises unless ``target`` may be replaced (by default :func:`check_replaceable`: missing, empty, or
            a saved index holding nothing else).
        is_complete: recognises a complete folder of this kind among the leftovers of an interrupted save.

    Raises:
        ValueError: from ``check``, when ``target`` holds something this package did not write (it is never
            replaced).
    """
    target = Path(target)
    recover(target, is_complete=is_complete)
    check(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    folder.mkdir()
    (folder / _PARTIAL).write_bytes(b"")
    try:
        yield folder
        for path in folder.iterdir():
            fsync_path(path)
        (folder / _PARTIAL).unlink()
        fsync_path(folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    _swap_in(folder, target)


def _swap_in(folder: Path, target: Path) -> None:
    """Put the complete ``folder`` at ``target``, so that ``target`` (or its copy aside) always holds an index."""
    if not target.exists():
        os.rename(folder, target)
    elif not any(target.iterdir()):
        os.replace(folder, target)  # over an empty folder
    elif _exchange(folder, target):
        shutil.rmtree(folder)  # now the old index
    else:
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
        os.rename(target, old)
        os.rename(folder, target)
        fsync_path(target.parent)
        shutil.rmtree(old)
    fsync_path(target.parent)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step with Linux's ``renameat2(RENAME_EXCHANGE)``; False where it is not available."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    return result == 0


def check_count(directory: Path, what: str, count: int, sentences: int) -> None:
    """Raise a ValueError unless the index in ``directory`` holds ``sentences`` ``what`` (embeddings, vectors)."""
    if count != sentences:
        raise ValueError(
            f"The index {directory} is inconsistent: {sentences} sentences but {count} {what}; rebuild it with "
            f"`simcse-st index`."
        )


def read_meta(directory: Path) -> dict[str, Any]:
    """The ``index.json`` of a saved index, after putting back an index whose save into ``directory`` was
    interrupted (:func:`recover`, without deleting anything).

    Raises:
        FileNotFoundError: when ``directory`` holds no ``index.json``.
        ValueError: when it is not a simcse-st index's, or one of a newer version.
    """
    recover(directory, clean=False)
    path = directory / FILES["meta"]
    if not path.is_file():
        raise FileNotFoundError(
            f"{directory} is not a saved search index (no {FILES['meta']}); build one with `simcse-st index "
            f"MODEL --corpus FILE --out {directory}` or SemanticIndex.save()."
        )
    meta = read_json(path) or {}
    if meta.get("format") != INDEX_FORMAT:
        raise ValueError(f"{path} is not a simcse-st search index (format {meta.get('format')!r}).")
    if not _is_index_meta(meta):
        raise ValueError(f"{path} is a simcse-st index of version {meta.get('version')!r}; this simcse-st reads "
                         f"versions up to {INDEX_VERSION}: upgrade simcse-st, or rebuild the index.")
    return meta
