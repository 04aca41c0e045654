"""The engines that encode a corpus's chunks: this process, sentence-transformers' multi-process pool, or Ray.

Each yields ``(sentences, embeddings)`` for the chunks it is given, in order; the driver
(:func:`simcse_st.corpus.encode.encode_corpus`) hands them to the one chunk writer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from simcse_st.corpus.chunks import Chunk, read_chunk
from simcse_st.embedding import encode_sentences

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

ENGINES: tuple[str, ...] = ("local", "ray")


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
