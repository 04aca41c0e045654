"""Applications of sentence embeddings: semantic search, clustering and 2-D maps of a corpus, and encoding corpora
of any size (chunked, resumable, sharded, multi-process or on Ray).

They work with any sentence-transformers model (a SimCSE model or another), given as a loaded
``SentenceTransformer`` or as its local path or Hugging Face Hub name.
"""

from __future__ import annotations

from simcse_st.apps.clustering import Cluster, Clustering, cluster
from simcse_st.apps.corpus import read_sentences
from simcse_st.apps.encoding import EncodedCorpus, encode_corpus
from simcse_st.apps.maps import Map, plot_map, project
from simcse_st.apps.search import Hit, SemanticIndex

__all__ = ["Cluster", "Clustering", "EncodedCorpus", "Hit", "Map", "SemanticIndex", "cluster", "encode_corpus",
           "plot_map", "project", "read_sentences"]
