"""Planning and reading the chunks of a corpus file: its scan (size, hash, sentence count), shards and chunks.

A corpus is a UTF-8 text file with one sentence a line; its sentences are its non-blank lines, stripped, as
:func:`simcse_st.data.text.read_sentences` reads them, but read here a chunk at a time so memory follows the chunk
size, not the corpus.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from simcse_st.data.text import iter_corpus, text_lines


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
