"""The output folder of corpus encoding: its manifest, progress record, embeddings and sentences.

The folder holds:

- ``manifest.json``: the model, dimension, dtype, chunk size, the corpus (path, size, SHA-256, sentence count)
  and the shard's slice of its sentences;
- ``embeddings.npy``: an ``(n, dimension)`` array of L2-normalized embeddings, memory-mapped while written;
- ``sentences.jsonl``: the slice's sentences, one JSON string a line (so a sentence holding U+2028 stays whole);
- ``progress.json``: the chunks completed and the length of ``sentences.jsonl`` they account for.

Every engine hands its chunks, in order, to one writer, :meth:`EmbeddingStore.write_chunk`, which writes the rows,
then the sentences, each flushed to the disk (fsync), and only then the progress record (atomically: a temporary
file, fsynced, renamed over it). So a progress record names only chunks whose data is on the disk. A rerun with the
same arguments checks the folder and its files against the manifest and the progress record
(:mod:`~simcse_st.corpus.resume`), re-encodes from the last chunk the files really hold, and ends with the same
bytes as an uninterrupted run.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simcse_st._files import read_json, write_json_atomically
from simcse_st.corpus.chunks import Chunk, CorpusScan, ShardSpec

STORE_FORMAT = "simcse-st-embeddings"
STORE_VERSION = 2
"""Version 2 adds the model's fingerprint (:func:`simcse_st.fingerprint.model_fingerprint`) to the manifest."""
DTYPES: tuple[str, ...] = ("float32", "float16")
FILES = {"manifest": "manifest.json", "embeddings": "embeddings.npy", "sentences": "sentences.jsonl",
         "progress": "progress.json"}


def corpus_manifest(
    name: str | None, fingerprint: str, dimension: int, scan: CorpusScan, shard: ShardSpec, chunk_size: int,
    dtype: str, runtime: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest of an encoding run: what must match for a rerun to continue it, or for shards to be joined.
    ``runtime`` is the runtime that encodes (:func:`simcse_st.embedding.runtime_of`; None: PyTorch)."""
    start, stop = shard.bounds(scan.sentences)
    return {
        "format": STORE_FORMAT, "version": STORE_VERSION, "model": name, "model_fingerprint": fingerprint,
        "runtime": runtime or {"name": "torch"},
        "dimension": dimension, "dtype": dtype, "chunk_size": chunk_size, "corpus": vars(scan),
        "shard": f"{shard.index}/{shard.count}", "start": start, "stop": stop, "count": stop - start,
    }


def total_chunks(manifest: dict[str, Any]) -> int:
    """The number of chunks of an encoding run: its sentences over the chunk size, rounded up."""
    return -(-int(manifest["count"]) // int(manifest["chunk_size"]))


def rows_before(manifest: dict[str, Any], chunks: int) -> int:
    """How many sentences the first ``chunks`` chunks of a run hold."""
    return min(chunks * int(manifest["chunk_size"]), int(manifest["count"]))


def progress_record(manifest: dict[str, Any], chunks_done: int, sentences_bytes: int) -> dict[str, Any]:
    """The progress record of a run that holds ``chunks_done`` chunks in ``sentences_bytes`` bytes of sentences;
    ``complete`` when those are all the run's chunks."""
    return {"chunks_done": chunks_done, "sentences_bytes": sentences_bytes,
            "complete": chunks_done == total_chunks(manifest)}


def embeddings_header_bytes(manifest: dict[str, Any]) -> int:
    """The length of the ``.npy`` header of a run's embeddings file."""
    return len(_npy_header(manifest))


def embeddings_file_bytes(manifest: dict[str, Any]) -> int:
    """The size of a run's complete embeddings file: header and every row."""
    row_bytes = int(manifest["dimension"]) * np.dtype(manifest["dtype"]).itemsize
    return embeddings_header_bytes(manifest) + int(manifest["count"]) * row_bytes


def _npy_header(manifest: dict[str, Any]) -> bytes:
    """The ``.npy`` header (NumPy's format, version 1.0) of a run's ``(count, dimension)`` embeddings array."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(manifest["dtype"])), "fortran_order": False,
              "shape": (int(manifest["count"]), int(manifest["dimension"]))}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


class EmbeddingStore:
    """The output folder of an encoding run, written chunk by chunk; see the module docstring for its files.

    Use :func:`simcse_st.corpus.resume.open_store` to create or resume one and :meth:`write_chunk` for each
    chunk, in order.
    """

    def __init__(self, directory: Path, manifest: dict[str, Any], progress: dict[str, Any]) -> None:
        self.directory = directory
        self.manifest = manifest
        self.progress = progress
        self._header_bytes = embeddings_header_bytes(manifest)

    @property
    def chunks_done(self) -> int:
        """How many chunks are written completely."""
        return int(self.progress["chunks_done"])

    @property
    def rows_done(self) -> int:
        """How many sentences the completed chunks hold."""
        return rows_before(self.manifest, self.chunks_done)

    @classmethod
    def create(cls, directory: Path, manifest: dict[str, Any]) -> EmbeddingStore:
        """Set up a new run in ``directory`` (made if missing): the manifest first (the folder's marker), then an
        empty sentences file, the embeddings file at its final size (sparse; chunks fill it in), and a progress
        record of no chunk."""
        directory.mkdir(parents=True, exist_ok=True)
        write_json_atomically(directory / FILES["manifest"], manifest)
        with open(directory / FILES["embeddings"], "wb") as handle:
            handle.write(_npy_header(manifest))
            handle.truncate(embeddings_file_bytes(manifest))
            os.fsync(handle.fileno())
        with open(directory / FILES["sentences"], "wb") as handle:
            os.fsync(handle.fileno())
        progress = progress_record(manifest, 0, 0)
        write_json_atomically(directory / FILES["progress"], progress)
        return cls(directory, manifest, progress)

    def write_chunk(self, chunk: Chunk, sentences: Sequence[str], embeddings: np.ndarray) -> None:
        """Write chunk ``chunk.number`` (the next one): its embedding rows and its sentences, each fsynced, then
        the progress record (atomically).

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
        rows = np.ascontiguousarray(embeddings, dtype=dtype).tobytes()
        with open(self.directory / FILES["embeddings"], "r+b") as handle:
            handle.seek(self._header_bytes + self.rows_done * dimension * dtype.itemsize)
            handle.write(rows)
            handle.flush()
            os.fsync(handle.fileno())
        lines = jsonl_sentences(sentences).encode("utf-8")
        with open(self.directory / FILES["sentences"], "r+b") as handle:
            handle.seek(int(self.progress["sentences_bytes"]))
            handle.write(lines)
            handle.truncate()
            handle.flush()
            os.fsync(handle.fileno())
        self.progress = progress_record(self.manifest, self.chunks_done + 1,
                                        int(self.progress["sentences_bytes"]) + len(lines))
        write_json_atomically(self.directory / FILES["progress"], self.progress)


@dataclass
class EncodedCorpus:
    """A complete encoding run's folder: its manifest, sentences and (memory-mapped) embeddings."""

    directory: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> EncodedCorpus:
        """The output of ``simcse-st encode`` in ``directory``, its files checked against its progress record.

        Raises:
            FileNotFoundError: when ``directory`` holds no encoding manifest.
            ValueError: when the run there is not complete, or its files are not what its progress record says
                (``sentences.jsonl`` or ``embeddings.npy`` of another size).
        """
        directory = Path(directory)
        manifest = read_json(directory / FILES["manifest"])
        if manifest is None or manifest.get("format") != STORE_FORMAT:
            raise FileNotFoundError(
                f"{directory} holds no encoded corpus (no {FILES['manifest']} written by simcse-st); write one with "
                f"`simcse-st encode MODEL --corpus FILE --out {directory}`."
            )
        progress = read_json(directory / FILES["progress"]) or {"chunks_done": 0}
        rerun = f"rerun the `simcse-st encode` command that wrote {directory} to finish or repair it"
        if not progress.get("complete"):
            raise ValueError(
                f"The encoding in {directory} is incomplete ({progress['chunks_done']} of {total_chunks(manifest)} "
                f"chunks): {rerun}."
            )
        sizes = {FILES["sentences"]: int(progress["sentences_bytes"]),
                 FILES["embeddings"]: embeddings_file_bytes(manifest)}
        for name, expected in sizes.items():
            found = (directory / name).stat().st_size if (directory / name).is_file() else None
            if found != expected:
                raise ValueError(
                    f"{directory / name} is {'missing' if found is None else f'{found:,} bytes'}, but the run that "
                    f"wrote it recorded {expected:,} bytes: {rerun}."
                )
        return cls(directory, manifest)

    def __len__(self) -> int:
        return int(self.manifest["count"])

    @property
    def sentences_path(self) -> Path:
        """The ``sentences.jsonl`` file of this folder (one JSON string a line, in corpus order)."""
        return self.directory / FILES["sentences"]

    @property
    def embeddings(self) -> np.ndarray:
        """The embeddings, memory-mapped read-only (rows are read from disk when used)."""
        return np.load(self.directory / FILES["embeddings"], mmap_mode="r")

    def sentences(self) -> list[str]:
        """The sentences, in corpus order."""
        return read_jsonl_sentences(self.sentences_path)


def jsonl_sentences(sentences: Sequence[str]) -> str:
    """The sentences as JSON strings, one a line (the format of ``sentences.jsonl`` here and in saved indexes)."""
    return "".join(json.dumps(sentence, ensure_ascii=False) + "\n" for sentence in sentences)


def read_jsonl_sentences(path: Path) -> list[str]:
    """The JSON strings of a file of one a line; split at ``"\\n"`` only, so U+2028, U+2029, U+0085 stay inside."""
    return [json.loads(line) for line in path.read_text("utf-8").split("\n") if line]
