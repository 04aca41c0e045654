"""Applications of sentence embeddings: semantic search, sentence similarity, clustering and 2-D/3-D maps of a
corpus, and encoding corpora of any size (chunked, resumable, sharded, multi-process or on Ray).

They work with any sentence-transformers model (a SimCSE model or another), given as a loaded
``SentenceTransformer`` or as its local path or Hugging Face Hub name.
"""

from __future__ import annotations

from simcse_st.apps.clustering import Cluster, Clustering, cluster
from simcse_st.apps.corpus import read_sentences
from simcse_st.apps.encoding import EncodedCorpus, encode_corpus
from simcse_st.apps.maps import CorpusMap, Map, corpus_map, plot_map, project
from simcse_st.apps.search import Hit, SemanticIndex
from simcse_st.apps.similarity import embed, pair_similarities

__all__ = ["Cluster", "Clustering", "CorpusMap", "EncodedCorpus", "Hit", "Map", "SemanticIndex", "cluster",
           "corpus_map", "embed", "encode_corpus", "pair_similarities", "plot_map", "project", "read_sentences"]
