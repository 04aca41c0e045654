"""Applications of sentence embeddings: sentence similarity, clustering and 2-D/3-D maps of a corpus.

They work with any sentence-transformers model (a SimCSE model or another), given as a loaded
``SentenceTransformer`` or as its local path or Hugging Face Hub name. Semantic search (:mod:`simcse_st.index`)
and the encoding of corpora of any size (:mod:`simcse_st.corpus`) are re-exported here too; every name is
imported on first use.
"""

from __future__ import annotations

from simcse_st._lazy import lazy_exports

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Cluster": "simcse_st.apps.clustering",
    "Clustering": "simcse_st.apps.clustering",
    "cluster": "simcse_st.apps.clustering",
    "CorpusMap": "simcse_st.apps.maps",
    "Map": "simcse_st.apps.maps",
    "corpus_map": "simcse_st.apps.maps",
    "plot_map": "simcse_st.apps.maps",
    "project": "simcse_st.apps.maps",
    "embed": "simcse_st.apps.similarity",
    "pair_similarities": "simcse_st.apps.similarity",
    "read_sentences": "simcse_st.data.text",
    "EncodedCorpus": "simcse_st.corpus.store",
    "encode_corpus": "simcse_st.corpus.encode",
    "Hit": "simcse_st.index.semantic",
    "SemanticIndex": "simcse_st.index.semantic",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
