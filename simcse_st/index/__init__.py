"""Semantic search over a corpus: :class:`SemanticIndex`, its backends, its saved format, and joining encoded shards.

- :mod:`simcse_st.index.semantic`: the :class:`SemanticIndex` class and its :class:`Hit` results;
- :mod:`simcse_st.index.backends`: exact search and the FAISS flat, HNSW and IVF-PQ indexes;
- :mod:`simcse_st.index.storage`: the on-disk format of a saved index and the safe replacement of its folder;
- :mod:`simcse_st.index.shards`: an index of ``simcse-st encode`` outputs, without re-encoding.
"""

from __future__ import annotations

from simcse_st.index.backends import BACKENDS, IVFPQSettings, ivfpq_settings
from simcse_st.index.semantic import Hit, SemanticIndex, recall
from simcse_st.index.shards import build_index_from_encoded

__all__ = ["BACKENDS", "Hit", "IVFPQSettings", "SemanticIndex", "build_index_from_encoded", "ivfpq_settings",
           "recall"]
