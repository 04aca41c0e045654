"""Joining encoded corpora (``simcse-st encode`` outputs, e.g. shards) into one saved search index."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simcse_st.corpus.store import EncodedCorpus
from simcse_st.fingerprint import FINGERPRINT_LENGTH
from simcse_st.index.backends import (
    DEFAULT_RERANK,
    SAVED_FAISS,
    build_faiss_index,
    check_backend,
    ivfpq_settings,
    resolve_backend,
)
from simcse_st.index.storage import FILES, replaced_directory, write_index_files, write_rows


def build_index_from_encoded(
    directories: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], backend: str = "auto", *,
    nlist: int | None = None, pq_m: int | None = None, nprobe: int | None = None, rerank: int = DEFAULT_RERANK,
) -> tuple[int, str]:
    """Write a search index of encoded corpora (``simcse-st encode`` outputs, e.g. shards) without re-encoding.

    The folders must be the shards of one corpus encoded by one model, each once, together covering every
    sentence (:func:`joinable_shards`); their sentences and embeddings are copied in corpus order, whatever the
    order given, a block at a time. No model is loaded (the index names the shards' model).

    Args:
        directories: the encoded folders (e.g. ``enc-0 ... enc-3`` of ``--shard 0/4 ... 3/4``).
        out: the index folder to write (replaced if it holds an index).
        backend: one of :data:`BACKENDS`.
        nlist, pq_m, nprobe, rerank: IVF-PQ settings (:func:`ivfpq_settings`; None: chosen from the size).

    Returns:
        ``(sentences, backend)``: the index size and the backend it resolved to.

    Raises:
        FileNotFoundError: when a folder holds no encoded corpus.
        ValueError: for no folder, an unknown backend, an incomplete encoding, or folders that are not the shards
            of one corpus and model, each once, with no gap (:func:`joinable_shards`).
    """
    check_backend(backend)
    if not directories:
        raise ValueError("Give at least one encoded folder (written by `simcse-st encode`).")
    shards = joinable_shards([EncodedCorpus.open(directory) for directory in directories])
    first = shards[0]
    size, dimension = sum(len(shard) for shard in shards), int(first.manifest["dimension"])
    with replaced_directory(out) as folder:
        with open(folder / FILES["sentences"], "wb") as handle:
            for shard in shards:
                with open(shard.sentences_path, "rb") as source:
                    shutil.copyfileobj(source, handle)
        write_rows(folder / FILES["embeddings"], [shard.embeddings for shard in shards])
        embeddings = np.load(folder / FILES["embeddings"], mmap_mode="r")
        active = resolve_backend(backend, size)
        settings = (ivfpq_settings(size, dimension, nlist=nlist, m=pq_m, nprobe=nprobe, rerank=rerank)
                    if active == "faiss-ivfpq" else None)
        faiss_index = build_faiss_index(active, embeddings, settings) if active in SAVED_FAISS else None
        write_index_files(folder, first.manifest["model"], dimension, size, backend, active, faiss_index, settings,
                          first.manifest.get("runtime"))
    return size, active


def joinable_shards(shards: Sequence[EncodedCorpus]) -> list[EncodedCorpus]:
    """``shards`` in corpus order, after checking that they make one corpus encoded by one model.

    Raises:
        ValueError: naming every problem found: folders of different corpora (SHA-256) or models (fingerprint
            and dimension), the same folder or slice given twice, slices that overlap, and sentences no folder
            holds (a missing shard).
    """
    problems = [*_differences(shards, "corpora", lambda m: m["corpus"]["sha256"],
                              lambda m: f"{m['corpus']['path']} (SHA-256 {m['corpus']['sha256'][:12]}...)"),
                *_differences(shards, "models", lambda m: (m.get("model_fingerprint") or m["model"], m["dimension"],
                                                         str(m.get("runtime"))),
                              lambda m: f"{m['model']} ({m['dimension']}-d, fingerprint "
                                        f"{str(m.get('model_fingerprint'))[:FINGERPRINT_LENGTH]}...)")]
    ordered = sorted(shards, key=lambda shard: (int(shard.manifest["start"]), int(shard.manifest["stop"])))
    if not problems:
        problems = _range_problems(ordered)
    if problems:
        raise ValueError("The encoded folders do not make one index: " + "; ".join(problems) + ". Give each shard "
                         "of one `simcse-st encode` corpus and model once (e.g. enc-0 ... enc-3 of --shard I/4).")
    return ordered


def _differences(
    shards: Sequence[EncodedCorpus], what: str, key: Callable[[dict[str, Any]], Any],
    describe: Callable[[dict[str, Any]], str],
) -> list[str]:
    """``"different WHAT: A has X; B, C have Y"`` when ``key`` of the shards' manifests differ, else nothing."""
    groups: dict[Any, list[EncodedCorpus]] = {}
    for shard in shards:
        groups.setdefault(key(shard.manifest), []).append(shard)
    if len(groups) < 2:
        return []
    return ["they are of different " + what + ": " + "; ".join(
        f"{', '.join(str(shard.directory) for shard in group)} of {describe(group[0].manifest)}"
        for group in groups.values())]


def _range_problems(ordered: Sequence[EncodedCorpus]) -> list[str]:
    """Duplicates, overlaps and gaps of the shards' sentence ranges (sorted by start) over the whole corpus."""
    problems, covered = [], 0
    total = int(ordered[0].manifest["corpus"]["sentences"])
    for previous, shard in zip([None, *ordered], ordered, strict=False):
        start, stop = int(shard.manifest["start"]), int(shard.manifest["stop"])
        where = f"{shard.directory} (sentences {start:,}-{stop:,}, shard {shard.manifest['shard']})"
        if previous is not None and (start, stop) == (int(previous.manifest["start"]), int(previous.manifest["stop"])):
            same = Path(previous.directory).resolve() == Path(shard.directory).resolve()
            problems.append(f"{where} is given twice" if same else f"{previous.directory} and {where} hold the same "
                            f"sentences")
        elif start < covered:
            problems.append(f"{where} overlaps {previous.directory} (up to sentence {covered:,})")
        elif start > covered:
            problems.append(f"sentences {covered:,}-{start:,} are in none of the folders (a missing shard?)")
        covered = max(covered, stop)
    if covered < total:
        problems.append(f"sentences {covered:,}-{total:,} of the corpus's {total:,} are in none of the folders "
                        f"(a missing shard?)")
    return problems
