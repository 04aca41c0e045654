"""Semantic search: the sentences of a corpus closest in meaning to a query, by cosine similarity.

SimCSE trains embeddings whose cosine similarity ranks paraphrases first, so retrieval is a nearest-neighbour
search over L2-normalized embeddings (the dot product of unit vectors is their cosine). The corpus is encoded
once; a saved index keeps sentences, embeddings and the model's name or path, and answers without re-encoding.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from simcse_st.apps.corpus import (
    ModelLike,
    check_sentences,
    embedding_dimension,
    encode_sentences,
    normalize_rows,
    read_sentences,
    resolve_model,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("auto", "exact", "faiss-flat", "faiss-hnsw")
"""How :class:`SemanticIndex` searches:

- ``exact``: cosine similarity with every corpus sentence (torch, through sentence-transformers'
  ``util.semantic_search``);
- ``faiss-flat``: FAISS ``IndexFlatIP``, the same exact search in FAISS (same results as ``exact``);
- ``faiss-hnsw``: FAISS ``IndexHNSWFlat`` (M=32, efConstruction=200), approximate: on 10,000 STS-B sentences
  encoded by all-MiniLM-L6-v2, its recall@10 against exact search over 500 held-out queries is 0.9988 with
  ``ef_search=128`` (the default), 0.9976 with 64 and 0.9914 with 32 (``benchmarks/bench_search_recall.py``);
- ``auto``: ``exact`` below :data:`LARGE_CORPUS` sentences, ``faiss-hnsw`` from there on when FAISS is installed.
"""

LARGE_CORPUS = 100_000
"""Corpus size from which ``backend="auto"`` switches to the approximate FAISS HNSW index."""

INDEX_FORMAT = "simcse-st-index"
_FILES = {"meta": "index.json", "sentences": "sentences.jsonl", "embeddings": "embeddings.npy",
          "hnsw": "faiss-hnsw.index"}
_HNSW_M = 32  # neighbours per node of the HNSW graph
_HNSW_EF_CONSTRUCTION = 200  # candidate list size while building the graph


class Hit(NamedTuple):
    """One search result.

    Attributes:
        sentence: the corpus sentence.
        score: its cosine similarity with the query.
        position: its index in the corpus (the line among the non-blank lines of a corpus file).
    """

    sentence: str
    score: float
    position: int


class SemanticIndex:
    """A corpus of sentences with their embeddings, searched by cosine similarity.

    Args:
        model: the encoder, or its local path or Hugging Face Hub name (loaded with sentence-transformers).
        sentences: the corpus, at least one non-blank sentence.
        embeddings: precomputed embeddings of ``sentences`` (one row each), e.g. from ``model.encode``;
            encoded with ``model`` when None.
        model_name: the model's name or path stored by :meth:`save` so :meth:`load` can reload it; defaults to
            ``model`` when that is a name or path (a local folder is stored as its absolute path).
        backend: one of :data:`BACKENDS`.
        batch_size: sentences per forward pass when encoding.
        show_progress_bar: show a tqdm bar while encoding the corpus.
        ef_search: size of the HNSW candidate list at query time (larger: higher recall, slower).

    Raises:
        ValueError: for an empty corpus, a blank sentence, an unknown backend, or embeddings whose shape does
            not match the sentences and the model's dimension.

    Example:
        >>> index = SemanticIndex("princeton-nlp/sup-simcse-bert-base-uncased", ["A man plays a guitar.", ...])
        >>> for sentence, score, position in index.search("Someone is playing an instrument.", top_k=3)[0]:
        ...     print(f"{score:.3f} {sentence}")
        >>> index.save("my-index")
        >>> SemanticIndex.load("my-index").search(["another query"])
    """

    def __init__(
        self,
        model: ModelLike,
        sentences: Sequence[str],
        embeddings: np.ndarray | None = None,
        *,
        model_name: str | None = None,
        backend: str = "auto",
        batch_size: int = 64,
        show_progress_bar: bool = True,
        ef_search: int = 128,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"Unknown search backend {backend!r}; choose from {', '.join(BACKENDS)}.")
        if backend.startswith("faiss"):
            _import_faiss()
        self.model: SentenceTransformer = resolve_model(model)
        self.model_name = model_name if model_name is not None else _name_of(model)
        self.dimension = embedding_dimension(self.model)
        self.backend = backend
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.ef_search = ef_search
        self.sentences: list[str] = []
        self.embeddings = np.zeros((0, self.dimension), dtype=np.float32)
        self._faiss_index: Any = None
        self.add(sentences, embeddings)

    @classmethod
    def from_file(cls, model: ModelLike, path: str | os.PathLike[str], **kwargs: Any) -> SemanticIndex:
        """An index of the non-blank lines of the UTF-8 text file ``path``; ``kwargs`` go to the constructor.

        Raises:
            FileNotFoundError: when the file does not exist.
            ValueError: when it is not UTF-8 or has no non-blank line.
        """
        return cls(model, read_sentences(path), **kwargs)

    def __len__(self) -> int:
        return len(self.sentences)

    def add(self, sentences: Sequence[str], embeddings: np.ndarray | None = None) -> None:
        """Append ``sentences`` (encoded with the index's model unless ``embeddings`` are given) to the corpus.

        Their positions continue after the sentences already indexed.

        Raises:
            ValueError: for no sentence, a blank sentence, or embeddings of the wrong shape.
        """
        sentences = check_sentences(sentences)
        if embeddings is None:
            embeddings = encode_sentences(self.model, sentences, self.batch_size, self.show_progress_bar)
        embeddings = normalize_rows(embeddings)
        if embeddings.shape != (len(sentences), self.dimension):
            raise ValueError(
                f"Expected embeddings of shape ({len(sentences)}, {self.dimension}) (one row per sentence, the "
                f"model's dimension), got {embeddings.shape}."
            )
        self.sentences.extend(sentences)
        self.embeddings = np.concatenate([self.embeddings, embeddings])
        if self._faiss_index is not None:
            self._faiss_index.add(embeddings)

    @property
    def active_backend(self) -> str:
        """The backend searches use: :attr:`backend`, with ``auto`` resolved for the current corpus size."""
        if self.backend != "auto":
            return self.backend
        if len(self) >= LARGE_CORPUS and importlib.util.find_spec("faiss") is not None:
            return "faiss-hnsw"
        return "exact"

    def search(
        self, queries: str | Sequence[str], top_k: int = 5, threshold: float | None = None
    ) -> list[list[Hit]]:
        """The ``top_k`` corpus sentences most similar to each query, best first.

        Args:
            queries: one query or a list of them.
            top_k: hits per query, at least 1 (fewer when the corpus is smaller).
            threshold: if given, only hits with cosine similarity >= ``threshold`` (in [-1, 1]) are kept.

        Returns:
            One list of :class:`Hit` per query (a single string gives a list of one list), sorted by
            decreasing cosine similarity.

        Raises:
            ValueError: for no query, a blank query, ``top_k`` < 1 or a threshold outside [-1, 1].
        """
        queries = check_sentences(queries, what="query")
        check_search_arguments(top_k, threshold)
        query_embeddings = encode_sentences(self.model, queries, self.batch_size, show_progress_bar=False)
        return self._search(query_embeddings, top_k, threshold, self.active_backend)

    def recall_at_k(self, queries: Sequence[str], top_k: int = 10) -> float:
        """Recall@k of this index's backend against exact search: the mean share of each query's exact top
        ``top_k`` that the backend also returns (1.0 for ``exact`` and ``faiss-flat``).

        Use it to check an approximate (``faiss-hnsw``) index on queries like yours.
        """
        queries = check_sentences(queries, what="query")
        check_search_arguments(top_k, None)
        query_embeddings = encode_sentences(self.model, queries, self.batch_size, show_progress_bar=False)
        found = self._search(query_embeddings, top_k, None, self.active_backend)
        exact = self._search(query_embeddings, top_k, None, "exact")
        shares = [
            len({hit.position for hit in got} & {hit.position for hit in want}) / len(want)
            for got, want in zip(found, exact, strict=True)
        ]
        return float(np.mean(shares))

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the index to ``directory`` (created if needed): ``index.json`` (model name or path,
        dimension, size, backend), ``sentences.jsonl``, ``embeddings.npy`` and, for HNSW, the FAISS graph.

        Returns:
            The directory.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"format": INDEX_FORMAT, "version": 1, "model": self.model_name, "dimension": self.dimension,
                "size": len(self), "backend": self.backend}
        (directory / _FILES["meta"]).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        with open(directory / _FILES["sentences"], "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(sentence, ensure_ascii=False) + "\n" for sentence in self.sentences)
        np.save(directory / _FILES["embeddings"], self.embeddings)
        if self.active_backend == "faiss-hnsw":
            _import_faiss().write_index(self._faiss(), str(directory / _FILES["hnsw"]))
        logger.info("Saved an index of %d sentences to %s", len(self), directory)
        return directory

    @classmethod
    def load(
        cls, directory: str | os.PathLike[str], model: ModelLike | None = None, **kwargs: Any
    ) -> SemanticIndex:
        """An index written by :meth:`save`; the corpus is not re-encoded.

        Args:
            directory: the saved index.
            model: the model to encode queries with; defaults to the model name or path stored in the index.
                It must give embeddings of the stored dimension.
            kwargs: constructor options (``backend``, ``batch_size``, ...); ``backend`` defaults to the saved one.

        Raises:
            FileNotFoundError: when ``directory`` holds no saved index.
            ValueError: when the model's dimension differs from the index's, or no model is stored or given.
        """
        directory = Path(directory)
        meta = _read_meta(directory)
        if model is None and not meta.get("model"):
            raise ValueError(
                f"The index {directory} does not name its model (it was built from an in-memory model without "
                f"model_name); pass the model that built it."
            )
        model = meta["model"] if model is None else model
        loaded = resolve_model(model)
        if embedding_dimension(loaded) != meta["dimension"]:
            raise ValueError(
                f"The index {directory} holds {meta['dimension']}-d embeddings (model {meta.get('model')!r}), but "
                f"the model {_name_of(model) or type(loaded).__name__} gives {embedding_dimension(loaded)}-d ones: "
                f"search it with the model that built it, or rebuild the index with this model."
            )
        sentences = [json.loads(line) for line in (directory / _FILES["sentences"]).read_text("utf-8").splitlines()]
        embeddings = np.load(directory / _FILES["embeddings"])
        if len(sentences) != len(embeddings):
            raise ValueError(
                f"The index {directory} is inconsistent: {len(sentences)} sentences but {len(embeddings)} "
                f"embeddings; rebuild it with `simcse-st index`."
            )
        kwargs.setdefault("backend", meta.get("backend", "auto"))
        kwargs.setdefault("model_name", _name_of(model) or meta.get("model"))
        index = cls(loaded, sentences, embeddings, **kwargs)
        hnsw_path = directory / _FILES["hnsw"]
        if index.active_backend == "faiss-hnsw" and hnsw_path.is_file():
            index._faiss_index = _import_faiss().read_index(str(hnsw_path))
        return index

    def _search(
        self, query_embeddings: np.ndarray, top_k: int, threshold: float | None, backend: str
    ) -> list[list[Hit]]:
        """Hits for already normalized query embeddings with the given (resolved) backend."""
        top_k = min(top_k, len(self))
        if backend == "exact":
            import torch
            from sentence_transformers.util import semantic_search

            results = semantic_search(torch.from_numpy(query_embeddings), torch.from_numpy(self.embeddings),
                                      top_k=top_k)
        else:
            from sentence_transformers.util.quantization import semantic_search_faiss

            index = self._faiss()
            if backend == "faiss-hnsw":
                index.hnsw.efSearch = max(self.ef_search, top_k)
            results, _ = semantic_search_faiss(query_embeddings, corpus_index=index, top_k=top_k, rescore=False)
        return [
            [
                Hit(self.sentences[result["corpus_id"]], float(result["score"]), int(result["corpus_id"]))
                for result in query_results
                if threshold is None or result["score"] >= threshold
            ]
            for query_results in results
        ]

    def _faiss(self) -> Any:
        """The FAISS index of the active backend over the embeddings (built on first use, extended by :meth:`add`)."""
        backend = self.active_backend
        if self._faiss_index is None or _faiss_kind(self._faiss_index) != backend:
            faiss = _import_faiss()
            if backend == "faiss-hnsw":
                self._faiss_index = faiss.IndexHNSWFlat(self.dimension, _HNSW_M, faiss.METRIC_INNER_PRODUCT)
                self._faiss_index.hnsw.efConstruction = _HNSW_EF_CONSTRUCTION
                logger.info("Building a FAISS HNSW index over %d sentences", len(self))
            else:
                self._faiss_index = faiss.IndexFlatIP(self.dimension)
            self._faiss_index.add(self.embeddings)
        return self._faiss_index


def _faiss_kind(index: Any) -> str:
    return "faiss-hnsw" if hasattr(index, "hnsw") else "faiss-flat"


def check_search_arguments(top_k: int, threshold: float | None) -> None:
    """Raise a ValueError unless ``top_k`` is a positive integer and ``threshold`` is None or in [-1, 1]."""
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer (hits per query), got {top_k!r}.")
    if threshold is not None and not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold is a cosine similarity and must lie in [-1, 1], got {threshold!r}.")


def _import_faiss() -> Any:
    try:
        import faiss
    except ImportError as error:
        raise ImportError(
            "The FAISS backends need the faiss package: `pip install simcse-st[faiss]` (faiss-cpu), "
            "or use backend='exact'."
        ) from error
    return faiss


def _name_of(model: ModelLike) -> str | None:
    """A Hub name as given, a local folder as its absolute path (so a saved index works from any folder)."""
    if not isinstance(model, (str, os.PathLike)):
        return None
    name = os.fspath(model)
    return os.path.abspath(name) if os.path.isdir(name) else name


def _read_meta(directory: Path) -> dict[str, Any]:
    path = directory / _FILES["meta"]
    if not path.is_file():
        raise FileNotFoundError(
            f"{directory} is not a saved search index (no {_FILES['meta']}); build one with `simcse-st index "
            f"MODEL --corpus FILE --out {directory}` or SemanticIndex.save()."
        )
    meta = json.loads(path.read_text("utf-8"))
    if meta.get("format") != INDEX_FORMAT:
        raise ValueError(f"{path} is not a simcse-st search index (format {meta.get('format')!r}).")
    return meta
