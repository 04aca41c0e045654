"""The output folder of corpus encoding: its manifest, progress record, embeddings and sentences.

The folder holds:

- ``manifest.json``: the model, dimension, dtype, chunk size, the corpus (path, size, SHA-256, sentence count)
  and the shard's slice of its sentences;
- ``embeddings.npy``: an ``(n, dimension)`` array of L2-normalized embeddings, memory-mapped while written;
- ``sentences.jsonl``: the slice's sentences, one JSON string a line (so a sentence holding U+2028 stays whole);
- ``progress.json``: the chunks completed and the length of ``sentences.jsonl`` they account for.

Every engine hands its chunks, in order, to one writer, :meth:`EmbeddingStore.write_chunk`, which writes the rows,
then the sentences, then the progress record (atomically). A run killed at any point leaves a progress record
naming completed chunks only; run again with the same arguments it truncates what came after, continues with the
next chunk, and ends with the same bytes as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simcse_st.corpus.chunks import Chunk, CorpusScan, ShardSpec

STORE_FORMAT = "simcse-st-embeddings"
DTYPES: tuple[str, ...] = ("float32", "float16")
FILES = {"manifest": "manifest.json", "embeddings": "embeddings.npy", "sentences": "sentences.jsonl",
         "progress": "progress.json"}


def _write_json_atomically(path: Path, value: dict[str, Any]) -> None:
    """Write ``value`` as JSON to ``path`` through a temporary file renamed over it, so a kill leaves old or new."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text("utf-8"))


def _differences(found: dict[str, Any], wanted: dict[str, Any], keys: Sequence[str]) -> list[str]:
    """``"key FOUND (now WANTED)"`` for each of ``keys`` whose values differ."""
    return [f"{key} {found.get(key)!r} (now {wanted.get(key)!r})" for key in keys if found.get(key) != wanted.get(key)]


def check_resumable(directory: Path, found: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Refuse to continue into ``directory`` unless its manifest ``found`` describes the run ``wanted``.

    Raises:
        ValueError: naming what differs: another model or dimension, another corpus, the same corpus file changed
            since the interrupted run, or other encoding settings.
    """
    fix = f"encode into another --out, or delete {directory} to start over"
    if found.get("format") != STORE_FORMAT:
        raise ValueError(f"{directory} holds something other than simcse-st embeddings; {fix}.")
    model_changes = _differences(found, wanted, ("model", "dimension"))
    if model_changes:
        raise ValueError(f"{directory} holds embeddings of another model: {'; '.join(model_changes)}; {fix}.")
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


class EmbeddingStore:
    """The output folder of an encoding run, written chunk by chunk; see the module docstring for its files.

    Use :meth:`open` to create or resume one and :meth:`write_chunk` for each chunk, in order.
    """

    def __init__(self, directory: Path, manifest: dict[str, Any], progress: dict[str, Any]) -> None:
        self.directory = directory
        self.manifest = manifest
        self.progress = progress
        self._header_bytes = int(np.load(directory / FILES["embeddings"], mmap_mode="r").offset)

    @property
    def chunks_done(self) -> int:
        """How many chunks are written completely."""
        return int(self.progress["chunks_done"])

    @property
    def rows_done(self) -> int:
        """How many sentences the completed chunks hold."""
        return min(self.chunks_done * int(self.manifest["chunk_size"]), int(self.manifest["count"]))

    @classmethod
    def open(cls, directory: str | os.PathLike[str], manifest: dict[str, Any]) -> EmbeddingStore:
        """The store in ``directory`` for the run described by ``manifest``: resumed when the folder holds the same
        run, created when it is empty or new.

        Raises:
            ValueError: when the folder holds other files, or embeddings of another model, corpus or settings
                (:func:`check_resumable`).
        """
        directory = Path(directory)
        manifest_path = directory / FILES["manifest"]
        if manifest_path.is_file():
            found = _read_json(manifest_path)
            check_resumable(directory, found, manifest)
            store = cls(directory, found, _read_json(directory / FILES["progress"]))
            store._truncate_sentences()
            return store
        if directory.exists() and not directory.is_dir():
            raise ValueError(f"--out {directory} is a file; give a folder to write the embeddings to.")
        ours = {*FILES.values(), *(name + ".tmp" for name in FILES.values())}
        foreign = sorted(p.name for p in directory.iterdir() if p.name not in ours) if directory.is_dir() else []
        if foreign:
            raise ValueError(
                f"--out {directory} already holds other files ({', '.join(foreign[:3])}...) and no encoding "
                f"manifest; give an empty or new folder."
            )
        directory.mkdir(parents=True, exist_ok=True)
        shape = (int(manifest["count"]), int(manifest["dimension"]))
        rows = np.lib.format.open_memmap(directory / FILES["embeddings"], mode="w+", dtype=manifest["dtype"],
                                         shape=shape)
        del rows  # the header and a sparse file of the final size; chunks fill it in
        (directory / FILES["sentences"]).write_bytes(b"")
        progress = {"chunks_done": 0, "sentences_bytes": 0, "complete": shape[0] == 0}
        _write_json_atomically(directory / FILES["progress"], progress)
        _write_json_atomically(manifest_path, manifest)  # last: a folder with a manifest is fully set up
        return cls(directory, manifest, progress)

    def _truncate_sentences(self) -> None:
        """Cut ``sentences.jsonl`` back to what the completed chunks wrote (a kill may have left more)."""
        with open(self.directory / FILES["sentences"], "r+b") as handle:
            handle.truncate(int(self.progress["sentences_bytes"]))

    def write_chunk(self, chunk: Chunk, sentences: Sequence[str], embeddings: np.ndarray) -> None:
        """Write chunk ``chunk.number`` (the next one): its embedding rows, its sentences, then the progress record.

        The one writer of every engine (one process, multi-process pool, Ray).

        Raises:
            ValueError: when the chunk is not the next one, or sentences or embeddings do not match it.
        """
        dimension = int(self.manifest["dimension"])
        if chunk.number != self.chunks_done:
            raise ValueError(f"Chunk {chunk.number} written out of order: chunk {self.chunks_done} comes next.")
        if len(sentences) != chunk.size or embeddings.shape != (chunk.size, dimension):
            raise ValueError(
                f"Chunk {chunk.number} holds {chunk.size} sentences; got {len(sentences)} sentences and embeddings "
                f"of shape {embeddings.shape} (expected ({chunk.size}, {dimension}))."
            )
        dtype = np.dtype(self.manifest["dtype"])
        first_row = chunk.number * int(self.manifest["chunk_size"])
        rows = np.memmap(self.directory / FILES["embeddings"], dtype=dtype, mode="r+", shape=(chunk.size, dimension),
                         offset=self._header_bytes + first_row * dimension * dtype.itemsize)
        rows[:] = embeddings.astype(dtype)
        rows.flush()
        del rows  # unmapped: resident memory stays that of one chunk
        lines = jsonl_sentences(sentences).encode("utf-8")
        with open(self.directory / FILES["sentences"], "ab") as handle:
            handle.write(lines)
        self.progress = {
            "chunks_done": self.chunks_done + 1,
            "sentences_bytes": int(self.progress["sentences_bytes"]) + len(lines),
            "complete": self.chunks_done + 1 == total_chunks(self.manifest),
        }
        _write_json_atomically(self.directory / FILES["progress"], self.progress)


@dataclass
class EncodedCorpus:
    """A complete encoding run's folder: its manifest, sentences and (memory-mapped) embeddings."""

    directory: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> EncodedCorpus:
        """The output of ``simcse-st encode`` in ``directory``.

        Raises:
            FileNotFoundError: when ``directory`` holds no encoding manifest.
            ValueError: when the run there is not complete.
        """
        directory = Path(directory)
        if not (directory / FILES["manifest"]).is_file():
            raise FileNotFoundError(
                f"{directory} holds no encoded corpus (no {FILES['manifest']}); write one with `simcse-st encode "
                f"MODEL --corpus FILE --out {directory}`."
            )
        manifest = _read_json(directory / FILES["manifest"])
        progress = _read_json(directory / FILES["progress"])
        if not progress.get("complete"):
            raise ValueError(
                f"The encoding in {directory} is incomplete ({progress['chunks_done']} of {total_chunks(manifest)} "
                f"chunks): rerun "
                f"the `simcse-st encode` command that wrote it to finish it."
            )
        return cls(directory, manifest)

    def __len__(self) -> int:
        return int(self.manifest["count"])

    @property
    def embeddings(self) -> np.ndarray:
        """The embeddings, memory-mapped read-only (rows are read from disk when used)."""
        return np.load(self.directory / FILES["embeddings"], mmap_mode="r")

    def sentences(self) -> list[str]:
        """The sentences, in corpus order."""
        return read_jsonl_sentences(self.directory / FILES["sentences"])


def jsonl_sentences(sentences: Sequence[str]) -> str:
    """The sentences as JSON strings, one a line (the format of ``sentences.jsonl`` here and in saved indexes)."""
    return "".join(json.dumps(sentence, ensure_ascii=False) + "\n" for sentence in sentences)


def read_jsonl_sentences(path: Path) -> list[str]:
    """The JSON strings of a file of one a line; split at ``"\\n"`` only, so U+2028, U+2029, U+0085 stay inside."""
    return [json.loads(line) for line in path.read_text("utf-8").split("\n") if line]


def corpus_manifest(
    name: str | None, dimension: int, scan: CorpusScan, shard: ShardSpec, chunk_size: int, dtype: str
) -> dict[str, Any]:
    """The manifest of an encoding run: what must match for a rerun to continue it."""
    start, stop = shard.bounds(scan.sentences)
    return {
        "format": STORE_FORMAT, "version": 1, "model": name, "dimension": dimension, "dtype": dtype,
        "chunk_size": chunk_size, "corpus": vars(scan), "shard": f"{shard.index}/{shard.count}",
        "start": start, "stop": stop, "count": stop - start,
    }


def total_chunks(manifest: dict[str, Any]) -> int:
    """The number of chunks of an encoding run: its sentences over the chunk size, rounded up."""
    return -(-int(manifest["count"]) // int(manifest["chunk_size"]))
