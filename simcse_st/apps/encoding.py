"""Encoding a corpus of any size: streamed in chunks, resumable after a kill, sharded, multi-process or on Ray.

A corpus is a UTF-8 text file with one sentence a line; its sentences are its non-blank lines, stripped, as
:func:`simcse_st.apps.corpus.read_sentences` reads them, but read here a chunk at a time so memory follows the
chunk size, not the corpus. The output folder holds:

- ``manifest.json``: the model, dimension, dtype, chunk size, the corpus (path, size, SHA-256, sentence count)
  and the shard's slice of its sentences;
- ``embeddings.npy``: an ``(n, dimension)`` array of L2-normalized embeddings, memory-mapped while written;
- ``sentences.jsonl``: the slice's sentences, one JSON string a line (so a sentence holding U+2028 stays whole);
- ``progress.json``: the chunks completed and the length of ``sentences.jsonl`` they account for.

Every engine (one process, sentence-transformers' multi-process pool, Ray) hands its chunks, in order, to one
writer, :meth:`EmbeddingStore.write_chunk`, which writes the rows, then the sentences, then the progress record
(atomically). A run killed at any point leaves a progress record naming completed chunks only; run again with the
same arguments it truncates what came after, continues with the next chunk, and ends with the same bytes as an
uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from simcse_st.apps.corpus import ModelLike, embedding_dimension, encode_sentences, model_name_of, resolve_model
from simcse_st.data.text import iter_corpus, text_lines

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

STORE_FORMAT = "simcse-st-embeddings"
DTYPES: tuple[str, ...] = ("float32", "float16")
ENGINES: tuple[str, ...] = ("local", "ray")
_FILES = {"manifest": "manifest.json", "embeddings": "embeddings.npy", "sentences": "sentences.jsonl",
          "progress": "progress.json"}


class ShardSpec(NamedTuple):
    """Shard ``index`` (0-based) of ``count`` contiguous slices of a corpus."""

    index: int
    count: int

    def bounds(self, total: int) -> tuple[int, int]:
        """The ``[start, stop)`` sentence positions of this shard in a corpus of ``total`` sentences."""
        return total * self.index // self.count, total * (self.index + 1) // self.count


def parse_shard(spec: str | ShardSpec | tuple[int, int] | None) -> ShardSpec:
    """``"I/N"`` (0 <= I < N) as a :class:`ShardSpec`; None is the whole corpus, ``0/1``.

    Raises:
        ValueError: for a spec that is not two integers ``I/N`` with 0 <= I < N.
    """
    if spec is None:
        return ShardSpec(0, 1)
    if isinstance(spec, str):
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec)
        if match is None:
            raise ValueError(f"Shard spec {spec!r} is not I/N (e.g. 0/4 for the first of 4 shards).")
        spec = (int(match.group(1)), int(match.group(2)))
    index, count = spec
    if count < 1 or not 0 <= index < count:
        raise ValueError(
            f"Shard spec {index}/{count} is out of range: shards are numbered 0 to N-1, so I/N needs 0 <= I < N "
            f"(e.g. 0/{max(count, 2)} ... {max(count, 2) - 1}/{max(count, 2)})."
        )
    return ShardSpec(index, count)


@dataclass(frozen=True)
class CorpusScan:
    """What one pass over a corpus file finds: its size, SHA-256 and number of sentences."""

    path: str
    bytes: int
    sha256: str
    sentences: int


def scan_corpus(path: str | os.PathLike[str]) -> CorpusScan:
    """Count the sentences of a corpus file and hash it, reading it once, line by line.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: when it is not UTF-8 or has no non-blank line.
    """
    path = Path(path)
    digest = hashlib.sha256()
    count = 0
    for _, raw, sentence in text_lines(path):
        digest.update(raw)
        count += bool(sentence)
    if count == 0:
        raise ValueError(f"The corpus file {path} is empty: it needs one non-blank line per sentence.")
    return CorpusScan(str(path.resolve()), path.stat().st_size, digest.hexdigest(), count)


class Chunk(NamedTuple):
    """Chunk ``number`` of a shard: ``size`` sentences from byte ``offset`` of the corpus."""

    number: int
    offset: int
    size: int


def plan_chunks(path: str | os.PathLike[str], start: int, stop: int, chunk_size: int) -> list[Chunk]:
    """The chunks of sentences ``[start, stop)`` of a corpus, ``chunk_size`` sentences each (the last fewer)."""
    chunks = []
    for position, (offset, _) in enumerate(iter_corpus(path)):
        if position >= stop:
            break
        if position >= start and (position - start) % chunk_size == 0:
            chunks.append(Chunk(len(chunks), offset, min(chunk_size, stop - position)))
    return chunks


def read_chunk(path: str | os.PathLike[str], chunk: Chunk) -> list[str]:
    """The sentences of one chunk, read from its byte offset."""
    sentences = []
    for _, sentence in iter_corpus(path, chunk.offset):
        sentences.append(sentence)
        if len(sentences) == chunk.size:
            break
    return sentences


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
        self._header_bytes = int(np.load(directory / _FILES["embeddings"], mmap_mode="r").offset)

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
        manifest_path = directory / _FILES["manifest"]
        if manifest_path.is_file():
            found = _read_json(manifest_path)
            check_resumable(directory, found, manifest)
            store = cls(directory, found, _read_json(directory / _FILES["progress"]))
            store._truncate_sentences()
            return store
        if directory.exists() and not directory.is_dir():
            raise ValueError(f"--out {directory} is a file; give a folder to write the embeddings to.")
        ours = {*_FILES.values(), *(name + ".tmp" for name in _FILES.values())}
        foreign = sorted(p.name for p in directory.iterdir() if p.name not in ours) if directory.is_dir() else []
        if foreign:
            raise ValueError(
                f"--out {directory} already holds other files ({', '.join(foreign[:3])}...) and no encoding "
                f"manifest; give an empty or new folder."
            )
        directory.mkdir(parents=True, exist_ok=True)
        shape = (int(manifest["count"]), int(manifest["dimension"]))
        rows = np.lib.format.open_memmap(directory / _FILES["embeddings"], mode="w+", dtype=manifest["dtype"],
                                         shape=shape)
        del rows  # the header and a sparse file of the final size; chunks fill it in
        (directory / _FILES["sentences"]).write_bytes(b"")
        progress = {"chunks_done": 0, "sentences_bytes": 0, "complete": shape[0] == 0}
        _write_json_atomically(directory / _FILES["progress"], progress)
        _write_json_atomically(manifest_path, manifest)  # last: a folder with a manifest is fully set up
        return cls(directory, manifest, progress)

    def _truncate_sentences(self) -> None:
        """Cut ``sentences.jsonl`` back to what the completed chunks wrote (a kill may have left more)."""
        with open(self.directory / _FILES["sentences"], "r+b") as handle:
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
        rows = np.memmap(self.directory / _FILES["embeddings"], dtype=dtype, mode="r+", shape=(chunk.size, dimension),
                         offset=self._header_bytes + first_row * dimension * dtype.itemsize)
        rows[:] = embeddings.astype(dtype)
        rows.flush()
        del rows  # unmapped: resident memory stays that of one chunk
        lines = jsonl_sentences(sentences).encode("utf-8")
        with open(self.directory / _FILES["sentences"], "ab") as handle:
            handle.write(lines)
        self.progress = {
            "chunks_done": self.chunks_done + 1,
            "sentences_bytes": int(self.progress["sentences_bytes"]) + len(lines),
            "complete": self.chunks_done + 1 == total_chunks(self.manifest),
        }
        _write_json_atomically(self.directory / _FILES["progress"], self.progress)


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
        if not (directory / _FILES["manifest"]).is_file():
            raise FileNotFoundError(
                f"{directory} holds no encoded corpus (no {_FILES['manifest']}); write one with `simcse-st encode "
                f"MODEL --corpus FILE --out {directory}`."
            )
        manifest = _read_json(directory / _FILES["manifest"])
        progress = _read_json(directory / _FILES["progress"])
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
        return np.load(self.directory / _FILES["embeddings"], mmap_mode="r")

    def sentences(self) -> list[str]:
        """The sentences, in corpus order."""
        return read_jsonl_sentences(self.directory / _FILES["sentences"])


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


def _check_options(chunk_size: int, dtype: str, engine: str, batch_size: int, devices: Sequence[str] | None) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of sentences, got {chunk_size!r}.")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}.")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}.")
    if devices and engine == "ray":
        raise ValueError("devices are for the local engine (--devices); with the Ray engine use ray_actors and "
                         "ray_gpus_per_actor (--ray-actors, --ray-gpus-per-actor).")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive number of sentences, got {batch_size}.")


def local_chunk_embeddings(
    model: SentenceTransformer, corpus: str | os.PathLike[str], chunks: Sequence[Chunk], batch_size: int,
    devices: Sequence[str] | None = None,
) -> Iterator[tuple[list[str], np.ndarray]]:
    """``(sentences, embeddings)`` of each chunk in order, encoded in this process or, with ``devices``, by
    sentence-transformers' multi-process pool (one process a device, e.g. ``["cuda:0", "cuda:1"]`` or
    ``["cpu", "cpu"]``), started once for all chunks."""
    pool = model.start_multi_process_pool(list(devices)) if devices else None
    try:
        for chunk in chunks:
            sentences = read_chunk(corpus, chunk)
            yield sentences, encode_sentences(model, sentences, batch_size, show_progress_bar=False, pool=pool)
    finally:
        if pool is not None:
            model.stop_multi_process_pool(pool)


def encode_corpus(
    model: ModelLike,
    corpus: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    chunk_size: int = 10_000,
    dtype: str = "float32",
    shard: str | ShardSpec | tuple[int, int] | None = None,
    devices: Sequence[str] | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    ray_actors: int = 1,
    ray_gpus_per_actor: float = 0.0,
    batch_size: int = 64,
    model_name: str | None = None,
    show_progress_bar: bool = True,
) -> EncodedCorpus:
    """Encode the sentences of a corpus file (or one shard of them) into ``out``, chunk by chunk, resumably.

    Args:
        model: the encoder, or its local path or Hub name.
        corpus: a UTF-8 text file, one sentence a line (blank lines are skipped).
        out: the output folder (see the module docstring). If it holds an interrupted run with the same
            arguments, that run continues from its last completed chunk.
        chunk_size: sentences read, encoded and written at a time; memory follows it.
        dtype: ``float32`` or ``float16`` for the stored embeddings.
        shard: ``"I/N"``: encode only the I-th (0-based) of N contiguous slices of the sentences.
        devices: with the local engine, encode with sentence-transformers' multi-process pool on these devices.
        engine: ``local`` (this machine) or ``ray`` (a Ray Data pipeline; see :mod:`simcse_st.apps.ray_engine`).
        ray_address: the Ray cluster to connect to (default: the running Ray, else a local one).
        ray_actors: model replicas (Ray actors) encoding chunks side by side.
        ray_gpus_per_actor: GPUs each Ray actor reserves (0 on CPU).
        batch_size: sentences per forward pass.
        model_name: the name stored in the manifest; defaults to ``model`` when it is a name or path.
        show_progress_bar: show a tqdm bar of sentences with rate and ETA.

    Returns:
        The completed run.

    Raises:
        FileNotFoundError: when the corpus does not exist.
        ValueError: for a bad shard spec or option, a corpus that is not UTF-8 or is empty, or an ``out`` that
            holds another model's or corpus's embeddings, or the same corpus changed since the interrupted run.
    """
    from tqdm.auto import tqdm

    _check_options(chunk_size, dtype, engine, batch_size, devices)
    shard = parse_shard(shard)
    scan = scan_corpus(corpus)
    loaded = resolve_model(model)
    name = model_name if model_name is not None else model_name_of(model)
    manifest = corpus_manifest(name, embedding_dimension(loaded), scan, shard, chunk_size, dtype)
    store = EmbeddingStore.open(out, manifest)
    chunks = plan_chunks(corpus, manifest["start"], manifest["stop"], chunk_size)[store.chunks_done:]
    if store.chunks_done and chunks:
        logger.info("Resuming %s at chunk %d (%d sentences already encoded)", out, store.chunks_done, store.rows_done)
    if engine == "ray":
        from simcse_st.apps.ray_engine import ray_chunk_embeddings

        source = ray_chunk_embeddings(name or loaded, corpus, chunks, batch_size, address=ray_address,
                                      actors=ray_actors, gpus_per_actor=ray_gpus_per_actor)
    else:
        source = local_chunk_embeddings(loaded, corpus, chunks, batch_size, devices)
    with tqdm(total=manifest["count"], initial=store.rows_done, unit="sentence", desc="Encoding",
              disable=not show_progress_bar, dynamic_ncols=True) as progress_bar:
        for chunk, (sentences, embeddings) in zip(chunks, source, strict=True):
            store.write_chunk(chunk, sentences, embeddings)
            progress_bar.update(len(sentences))
    return EncodedCorpus.open(out)
