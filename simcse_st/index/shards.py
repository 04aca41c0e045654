"""Joining encoded corpora (``simcse-st encode`` outputs, e.g. shards) into one saved search index."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

import numpy as np

from simcse_st.corpus.store import EncodedCorpus
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

    The sentences and embeddings are copied in the order of ``directories``, a block at a time; no model is
    loaded (the index names the shards' model).

    Args:
        directories: the encoded folders, in corpus order.
        out: the index folder to write (replaced if it holds an index).
        backend: one of :data:`BACKENDS`.
        nlist, pq_m, nprobe, rerank: IVF-PQ settings (:func:`ivfpq_settings`; None: chosen from the size).

    Returns:
        ``(sentences, backend)``: the index size and the backend it resolved to.

    Raises:
        FileNotFoundError: when a folder holds no encoded corpus.
        ValueError: for no folder, an unknown backend, an incomplete encoding, or shards of different models or
            dimensions.
    """
    check_backend(backend)
    if not directories:
        raise ValueError("Give at least one encoded folder (written by `simcse-st encode`).")
    shards = [EncodedCorpus.open(directory) for directory in directories]
    first = shards[0]
    for shard in shards[1:]:
        for key in ("model", "dimension"):
            if shard.manifest[key] != first.manifest[key]:
                raise ValueError(
                    f"The encoded folders differ in {key}: {first.directory} has {first.manifest[key]!r}, "
                    f"{shard.directory} has {shard.manifest[key]!r}; an index holds the embeddings of one model."
                )
    size, dimension = sum(len(shard) for shard in shards), int(first.manifest["dimension"])
    with replaced_directory(out) as folder:
        with open(folder / FILES["sentences"], "wb") as handle:
            for shard in shards:
                with open(shard.directory / FILES["sentences"], "rb") as source:
                    shutil.copyfileobj(source, handle)
        write_rows(folder / FILES["embeddings"], [shard.embeddings for shard in shards])
        embeddings = np.load(folder / FILES["embeddings"], mmap_mode="r")
        active = resolve_backend(backend, size)
        settings = (ivfpq_settings(size, dimension, nlist=nlist, m=pq_m, nprobe=nprobe, rerank=rerank)
                    if active == "faiss-ivfpq" else None)
        faiss_index = build_faiss_index(active, embeddings, settings) if active in SAVED_FAISS else None
        write_index_files(folder, first.manifest["model"], dimension, size, backend, active, faiss_index, settings)
    return size, active
