"""Encoding corpora of any size: chunked, resumable, sharded, multi-process or on Ray.

- :mod:`simcse_st.corpus.chunks`: scanning a corpus file, its shards and chunks, reading a chunk;
- :mod:`simcse_st.corpus.store`: the output folder (manifest, progress record, embeddings, sentences) and its one
  chunk writer;
- :mod:`simcse_st.corpus.engines` and :mod:`simcse_st.corpus.ray_engine`: who encodes the chunks;
- :mod:`simcse_st.corpus.encode`: :func:`encode_corpus`, the driver.
"""

from __future__ import annotations

from simcse_st.corpus.encode import encode_corpus
from simcse_st.corpus.store import EncodedCorpus

__all__ = ["EncodedCorpus", "encode_corpus"]
