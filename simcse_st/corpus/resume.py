"""Opening an encoding run's folder: a new run set up, an interrupted one checked and resumed, anything else refused.

A folder is resumed only when its manifest describes the same run (model by its fingerprint, corpus by its SHA-256,
settings), and only as far as its files really hold: the progress record is checked against ``sentences.jsonl``
(its size and its lines at each chunk boundary) and ``embeddings.npy`` (its header, size, and rows that were
written: a row never written is all zeros, while a written one has unit norm). A run falls back to the last chunk
both files hold and re-encodes from there; it never pads a file and never keeps another model's rows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simcse_st._files import read_json, write_json_atomically
from simcse_st.corpus.store import (
    FILES,
    STORE_FORMAT,
    STORE_VERSION,
    EmbeddingStore,
    embeddings_file_bytes,
    embeddings_header_bytes,
    progress_record,
    rows_before,
)
from simcse_st.fingerprint import FINGERPRINT_LENGTH

logger = logging.getLogger(__name__)

_BLOCK_ROWS = 65_536  # embedding rows checked at a time


def open_store(directory: str | os.PathLike[str], manifest: dict[str, Any]) -> EmbeddingStore:
    """The store in ``directory`` for the run described by ``manifest``: resumed when the folder holds the same
    run (after checking its files, see the module docstring), created when it is empty or new.

    Raises:
        ValueError: when the folder holds files this package did not write, embeddings of another model, corpus
            or settings (:func:`check_resumable`), or files that contradict their manifest.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"--out {directory} is a file; give a folder to write the embeddings to.")
    found = read_json(directory / FILES["manifest"])
    if found is None:
        foreign = sorted(p.name for p in directory.iterdir() if p.name != FILES["manifest"] + ".tmp") \
            if directory.is_dir() else []
        if foreign:
            raise ValueError(
                f"--out {directory} already holds files this package did not write ({', '.join(foreign[:5])}"
                f"{', ...' if len(foreign) > 5 else ''}) and no encoding manifest; give an empty or new folder."
            )
        return EmbeddingStore.create(directory, manifest)
    check_resumable(directory, found, manifest)
    progress = checked_progress(directory, found)
    if progress is None:  # the set-up was interrupted after the manifest: nothing was encoded yet
        return EmbeddingStore.create(directory, found)
    return EmbeddingStore(directory, found, progress)


def _differences(found: dict[str, Any], wanted: dict[str, Any], keys: Sequence[str]) -> list[str]:
    """``"key FOUND (now WANTED)"`` for each of ``keys`` whose values differ."""
    return [f"{key} {found.get(key)!r} (now {wanted.get(key)!r})" for key in keys if found.get(key) != wanted.get(key)]


def _runtime_text(runtime: dict[str, Any]) -> str:
    """``torch``, or ``openvino (FILE)``."""
    return runtime["name"] + (f" ({runtime['file']})" if runtime.get("file") else "")


def check_resumable(directory: Path, found: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Refuse to continue into ``directory`` unless its manifest ``found`` describes the run ``wanted``.

    Raises:
        ValueError: naming what differs: another runtime (PyTorch or OpenVINO, and which OpenVINO file), another
            model (its weights or configuration: a model retrained in place counts as another) or dimension,
            another corpus, the same corpus file changed since the interrupted run, or other encoding settings.
    """
    fix = f"encode into another --out, or delete {directory} to start over"
    if found.get("format") != STORE_FORMAT:
        raise ValueError(f"{directory} holds something other than simcse-st embeddings; {fix}.")
    if found.get("version") != STORE_VERSION:
        raise ValueError(
            f"{directory} was written by another version of simcse-st (store version {found.get('version')!r}, this "
            f"one writes {STORE_VERSION}), which did not record the model's fingerprint; {fix}."
        )
    runtimes = {key: value.get("runtime", {"name": "torch"}) for key, value in (("was", found), ("now", wanted))}
    if runtimes["was"] != runtimes["now"]:
        raise ValueError(
            f"{directory} holds embeddings made in another runtime: {_runtime_text(runtimes['was'])} (now "
            f"{_runtime_text(runtimes['now'])}); its embeddings would be mixed with another runtime's; rerun with "
            f"the first runtime (--runtime, --runtime-file) to continue, or {fix}."
        )
    if _differences(found, wanted, ("model_fingerprint", "dimension")):
        changes = _differences(found, wanted, ("model", "dimension"))
        if found.get("model") == wanted.get("model"):
            changes.insert(0, f"the model {wanted.get('model')!r} changed in place (its weights or configuration)")
        short = {key: str(value.get("model_fingerprint"))[:FINGERPRINT_LENGTH]
                 for key, value in (("was", found), ("now", wanted))}
        raise ValueError(
            f"{directory} holds embeddings of another model: {'; '.join(changes)}; fingerprint {short['was']}... "
            f"(now {short['now']}...); its embeddings would be mixed with this model's; {fix}."
        )
    old, new = found["corpus"], wanted["corpus"]
    if old["sha256"] != new["sha256"]:
        if old["path"] == new["path"]:
            raise ValueError(
                f"The corpus {new['path']} changed since the interrupted run into {directory} (it was "
                f"{old['bytes']:,} bytes, {old['sentences']:,} sentences with SHA-256 {old['sha256'][:12]}...; now "
                f"{new['bytes']:,} bytes, {new['sentences']:,} sentences, {new['sha256'][:12]}...): the embeddings "
                f"already written would not match it; restore the corpus, or {fix}."
            )
        raise ValueError(
            f"{directory} holds embeddings of another corpus ({old['path']}, {old['sentences']:,} sentences, SHA-256 "
            f"{old['sha256'][:12]}...), not of {new['path']} ({new['sentences']:,} sentences, "
            f"{new['sha256'][:12]}...); {fix}."
        )
    setting_changes = _differences(found, wanted, ("dtype", "chunk_size", "shard"))
    if setting_changes:
        raise ValueError(
            f"{directory} was started with other settings: {'; '.join(setting_changes)}; rerun with the first "
            f"settings to continue, or {fix}."
        )


def checked_progress(directory: Path, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The progress record of ``directory``, cut back to the chunks its files really hold (and rewritten if so);
    None when there is no record (the run's set-up was interrupted).

    Raises:
        ValueError: when ``embeddings.npy`` is not the manifest's array, or ``sentences.jsonl`` holds other lines
            than the record says.
    """
    progress = read_json(directory / FILES["progress"])
    if progress is None or not (directory / FILES["embeddings"]).is_file():
        return None
    _check_embeddings_file(directory, manifest)
    recorded = int(progress["chunks_done"])
    held, sentences_bytes = _chunks_in_sentences(directory, manifest, progress)
    held = _chunks_with_rows(directory, manifest, held)
    if held < recorded:
        logger.warning(
            "%s: the progress record names %d chunks, but the files hold %d completely (%s); re-encoding from chunk "
            "%d", directory, recorded, held, "a file was cut short or its data never reached the disk", held,
        )
    with open(directory / FILES["sentences"], "r+b") as handle:
        handle.truncate(sentences_bytes[held])  # never longer than the file: a cut, never padding
    checked = progress_record(manifest, held, sentences_bytes[held])
    if checked != progress:
        write_json_atomically(directory / FILES["progress"], checked)
    return checked


def _check_embeddings_file(directory: Path, manifest: dict[str, Any]) -> None:
    """Refuse an ``embeddings.npy`` whose header is not the manifest's array; restore a cut file to its size
    (the rows lost read as zeros, so :func:`_chunks_with_rows` finds them unwritten)."""
    path = directory / FILES["embeddings"]
    expected = (int(manifest["count"]), int(manifest["dimension"]))
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(handle)
            header_bytes = handle.tell()
    except (ValueError, OSError, SyntaxError) as error:
        raise ValueError(f"{path} is not a NumPy array file ({error}); delete {directory} to start over.") from None
    if shape != expected or fortran or dtype != np.dtype(manifest["dtype"]) or \
            header_bytes != embeddings_header_bytes(manifest):
        raise ValueError(
            f"{path} holds a {dtype} array of shape {shape}, but the manifest of {directory} says {manifest['dtype']} "
            f"of shape {expected}: it was changed by something else; delete {directory} to start over."
        )
    size, wanted = path.stat().st_size, embeddings_file_bytes(manifest)
    if size != wanted:
        logger.warning("%s is %d bytes, not %d: restored to its size", path, size, wanted)
        with open(path, "r+b") as handle:
            handle.truncate(wanted)


def _chunks_in_sentences(
    directory: Path, manifest: dict[str, Any], progress: dict[str, Any]
) -> tuple[int, list[int]]:
    """How many of the recorded chunks ``sentences.jsonl`` holds whole, and the byte offset after each chunk
    boundary it reaches (``offsets[k]``: the end of chunk k - 1; ``offsets[0] == 0``).

    Raises:
        ValueError: when the file holds the recorded bytes but its chunk boundaries are not where the record says.
    """
    recorded, recorded_bytes = int(progress["chunks_done"]), int(progress["sentences_bytes"])
    path = directory / FILES["sentences"]
    offsets, lines, offset = [0], 0, 0
    with open(path, "rb") as handle:
        for line in handle:
            if len(offsets) > recorded or offset + len(line) > recorded_bytes or not line.endswith(b"\n"):
                break
            offset += len(line)
            lines += 1
            if lines == rows_before(manifest, len(offsets)):
                offsets.append(offset)
    held = len(offsets) - 1
    if held == recorded and offsets[-1] != recorded_bytes:
        raise ValueError(
            f"{path} holds {rows_before(manifest, held):,} sentences in {offsets[-1]:,} bytes where the progress "
            f"record says {recorded_bytes:,}: it was changed by something else; delete {directory} to start over."
        )
    return held, offsets


def _chunks_with_rows(directory: Path, manifest: dict[str, Any], chunks: int) -> int:
    """How many of the first ``chunks`` chunks have every embedding row written (none all zeros)."""
    rows = rows_before(manifest, chunks)
    if rows == 0:
        return chunks
    embeddings = np.load(directory / FILES["embeddings"], mmap_mode="r")
    for start in range(0, rows, _BLOCK_ROWS):
        block = np.asarray(embeddings[start:min(rows, start + _BLOCK_ROWS)])
        empty = np.flatnonzero(~block.any(axis=1))
        if len(empty):
            return (start + int(empty[0])) // int(manifest["chunk_size"])
    return chunks
