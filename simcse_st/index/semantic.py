"""Semantic search: the sentences of a corpus closest in meaning to a query, by cosine similarity.

SimCSE trains embeddings whose cosine similarity ranks paraphrases first, so retrieval is a nearest-neighbour
search over L2-normalized embeddings (the dot product of unit vectors is their cosine). The corpus is encoded
once; a saved index keeps sentences, embeddings and the model's name or path, and answers without re-encoding.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from simcse_st.corpus.store import jsonl_sentences, read_jsonl_sentences
from simcse_st.embedding import (
    ModelLike,
    check_sentences,
    embedding_dimension,
    encode_sentences,
    model_name_of,
    normalize_rows,
    read_sentences,
    resolve_model,
    runtime_of,
)
from simcse_st.index.backends import (
    DEFAULT_RERANK,
    SAVED_FAISS,
    IVFPQSettings,
    build_faiss_index,
    check_backend,
    exact_nearest,
    faiss_kind,
    faiss_nearest,
    import_faiss,
    ivfpq_settings,
    resolve_backend,
)
from simcse_st.index.storage import FILES, check_count, read_meta, replaced_directory, write_index_files, write_rows

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


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
        runtime: the runtime to load ``model`` in when it is a name or path, a
            :func:`~simcse_st.embedding.runtime_of` record such as ``{"name": "openvino", "file": ...}`` (default:
            an exported folder's OpenVINO file, else PyTorch); :meth:`save` records the one that ran.
        backend: one of :data:`BACKENDS`.
        batch_size: sentences per forward pass when encoding.
        show_progress_bar: show a tqdm bar while encoding the corpus.
        ef_search: size of the HNSW candidate list at query time (larger: higher recall, slower).
        nlist, pq_m, nprobe, rerank: IVF-PQ settings (:func:`ivfpq_settings`; None: chosen from the corpus size).

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
        runtime: dict[str, Any] | None = None,
        backend: str = "auto",
        batch_size: int = 64,
        show_progress_bar: bool = True,
        ef_search: int = 128,
        nlist: int | None = None,
        pq_m: int | None = None,
        nprobe: int | None = None,
        rerank: int = DEFAULT_RERANK,
    ) -> None:
        self._setup(resolve_model(model, runtime), model_name=model_name if model_name is not None else
                    model_name_of(model), backend=backend, batch_size=batch_size,
                    show_progress_bar=show_progress_bar, ef_search=ef_search, nlist=nlist, pq_m=pq_m, nprobe=nprobe,
                    rerank=rerank)
        self.add(sentences, embeddings)

    def _setup(
        self, model: ModelLike, *, model_name: str | None = None, backend: str = "auto", batch_size: int = 64,
        show_progress_bar: bool = True, ef_search: int = 128, nlist: int | None = None, pq_m: int | None = None,
        nprobe: int | None = None, rerank: int = DEFAULT_RERANK,
    ) -> None:
        """Check the options and set up an empty index (the constructor's arguments but the corpus)."""
        check_backend(backend)
        if backend.startswith("faiss"):
            import_faiss()
        self.model: SentenceTransformer = resolve_model(model)
        self.runtime = runtime_of(self.model)
        self.model_name = model_name if model_name is not None else model_name_of(model)
        self.dimension = embedding_dimension(self.model)
        self.backend = backend
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.ef_search = ef_search
        self.ivfpq_options: dict[str, Any] = {"nlist": nlist, "m": pq_m, "nprobe": nprobe, "rerank": rerank}
        ivfpq_settings(1, self.dimension, **self.ivfpq_options)  # refuse bad settings now, not at the first search
        self.sentences: list[str] = []
        self.embeddings: np.ndarray = np.zeros((0, self.dimension), dtype=np.float32)
        self._dense: np.ndarray | None = None
        self._faiss_index: Any = None

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

        Their positions continue after the sentences already indexed. (A loaded index's memory-mapped
        embeddings are read into memory by the first ``add``.)

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
        self.embeddings = np.concatenate([np.asarray(self.embeddings, dtype=np.float32), embeddings])
        self._dense = None
        if self._faiss_index is not None:
            self._faiss_index.add(embeddings)

    @property
    def active_backend(self) -> str:
        """The backend searches use: :attr:`backend`, with ``auto`` resolved for the current corpus size."""
        return resolve_backend(self.backend, len(self))

    @property
    def ivfpq(self) -> IVFPQSettings:
        """The IVF-PQ settings for the current corpus (the given ones, the rest chosen from its size)."""
        return ivfpq_settings(len(self), self.dimension, **self.ivfpq_options)

    def search(
        self, queries: str | Sequence[str], top_k: int | Sequence[int] = 5, threshold: float | None = None
    ) -> list[list[Hit]]:
        """The ``top_k`` corpus sentences most similar to each query, best first.

        A query's hits do not depend on the other queries of the call: queries are searched in groups of equal
        ``top_k``, so an approximate backend (HNSW's candidate list, IVF-PQ's re-scored candidates) works for each
        query from its own ``top_k``.

        Args:
            queries: one query or a list of them.
            top_k: hits per query, at least 1 (fewer when the corpus is smaller); or one such number per query
                (a list as long as ``queries``), e.g. for requests with different ``top_k`` batched together.
            threshold: if given, only hits with cosine similarity >= ``threshold`` (in [-1, 1]) are kept.

        Returns:
            One list of :class:`Hit` per query (a single string gives a list of one list), sorted by
            decreasing cosine similarity.

        Raises:
            ValueError: for no query, a blank query, ``top_k`` < 1, a list of ``top_k`` of another length than
                the queries, or a threshold outside [-1, 1].
        """
        queries = check_sentences(queries, what="query")
        _per_query(top_k, len(queries), threshold)  # checked before encoding
        query_embeddings = encode_sentences(self.model, queries, self.batch_size, show_progress_bar=False)
        return self.search_embeddings(query_embeddings, top_k, threshold)

    def prepare(self) -> None:
        """Build the search backend now (a FAISS index is otherwise built on the first search, which can take
        minutes for HNSW over millions of sentences). Idempotent; ``exact`` reads memory-mapped embeddings in."""
        if self.active_backend == "exact":
            self._dense_embeddings()
        else:
            self._faiss()

    def recall_at_k(self, queries: Sequence[str], top_k: int = 10) -> float:
        """Recall@k of this index's backend against exact search: the mean share of each query's exact top
        ``top_k`` that the backend also returns (1.0 for ``exact`` and ``faiss-flat``).

        Use it to check an approximate (``faiss-hnsw``, ``faiss-ivfpq``) index on queries like yours.
        """
        queries = check_sentences(queries, what="query")
        check_search_arguments(top_k, None)
        query_embeddings = encode_sentences(self.model, queries, self.batch_size, show_progress_bar=False)
        found = self.search_embeddings(query_embeddings, top_k)
        exact = self.search_embeddings(query_embeddings, top_k, backend="exact")
        return recall(found, exact)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the index to ``directory``: ``index.json`` (model name or path, dimension, size, backend),
        ``sentences.jsonl``, ``embeddings.npy`` and, for HNSW and IVF-PQ, the FAISS index.

        The files are written to a new folder beside ``directory``, fsynced, and swapped in
        (:mod:`simcse_st.index.storage`): a kill leaves the old index or the new one (put back by the next save or
        load if it was renamed aside), and no file of a previous backend stays behind.

        Returns:
            The directory.

        Raises:
            ValueError: when ``directory`` exists and is neither empty nor a saved index holding nothing else (a
                folder of the user's is never replaced; the error names what is there).
        """
        backend = self.active_backend
        with replaced_directory(directory) as folder:
            faiss_index = self._faiss() if backend in SAVED_FAISS else None
            (folder / FILES["sentences"]).write_text(jsonl_sentences(self.sentences), encoding="utf-8")
            write_rows(folder / FILES["embeddings"], [self.embeddings])
            write_index_files(folder, self.model_name, self.dimension, len(self), self.backend, backend, faiss_index,
                              self.ivfpq if backend == "faiss-ivfpq" else None, self.runtime)
        logger.info("Saved an index of %d sentences to %s", len(self), directory)
        return Path(directory)

    @classmethod
    def load(
        cls, directory: str | os.PathLike[str], model: ModelLike | None = None,
        runtime: dict[str, Any] | None = None, **kwargs: Any,
    ) -> SemanticIndex:
        """An index written by :meth:`save` (or ``simcse-st index``); the corpus is not re-encoded.

        The embeddings are memory-mapped: backends that do not need them in memory (HNSW and IVF-PQ with their
        saved FAISS index) read only the rows they re-score.

        Args:
            directory: the saved index.
            model: the model to encode queries with; defaults to the model name or path stored in the index.
                It must give embeddings of the stored dimension.
            runtime: the runtime to load a named ``model`` in (see the constructor); for the stored model it
                defaults to the one that embedded the corpus, as the index records it. Queries encoded in another
                runtime are logged as a warning (their embeddings differ slightly from the corpus's).
            kwargs: constructor options (``backend``, ``batch_size``, ``nprobe``, ...); ``backend`` and the IVF-PQ
                settings default to the saved ones.

        Raises:
            FileNotFoundError: when ``directory`` holds no saved index.
            ValueError: when the model's dimension differs from the index's, no model is stored or given, or the
                files disagree on the number of sentences.
        """
        directory = Path(directory)
        meta = read_meta(directory)
        if model is None and not meta.get("model"):
            raise ValueError(
                f"The index {directory} does not name its model (it was built from an in-memory model without "
                f"model_name); pass the model that built it."
            )
        stored_runtime = meta.get("runtime", {"name": "torch"})
        if model is None:
            model, runtime = meta["model"], runtime if runtime is not None else stored_runtime
        loaded = resolve_model(model, runtime)
        if runtime_of(loaded) != stored_runtime:
            logger.warning("The index %s was embedded in the %s runtime; its queries now run in %s.", directory,
                           stored_runtime, runtime_of(loaded))
        if embedding_dimension(loaded) != meta["dimension"]:
            raise ValueError(
                f"The index {directory} holds {meta['dimension']}-d embeddings (model {meta.get('model')!r}), but "
                f"the model {model_name_of(model) or type(loaded).__name__} gives {embedding_dimension(loaded)}-d "
                f"ones: search it with the model that built it, or rebuild the index with this model."
            )
        sentences = read_jsonl_sentences(directory / FILES["sentences"])
        embeddings = np.load(directory / FILES["embeddings"], mmap_mode="r")
        check_count(directory, "embeddings", len(embeddings), len(sentences))
        kwargs.setdefault("backend", meta.get("backend", "auto"))
        kwargs.setdefault("model_name", model_name_of(model) or meta.get("model"))
        for option, value in meta.get("ivfpq", {}).items():
            kwargs.setdefault("pq_m" if option == "m" else option, value)
        index = cls.__new__(cls)
        index._setup(loaded, **kwargs)
        index.sentences, index.embeddings = sentences, embeddings
        backend = index.active_backend
        if backend in SAVED_FAISS and (directory / FILES[backend]).is_file():
            index._faiss_index = import_faiss().read_index(str(directory / FILES[backend]))
            check_count(directory, f"FAISS {backend} vectors", index._faiss_index.ntotal, len(sentences))
        return index

    def search_embeddings(
        self, query_embeddings: np.ndarray, top_k: int | Sequence[int] = 5, threshold: float | None = None,
        backend: str | None = None,
    ) -> list[list[Hit]]:
        """:meth:`search` for queries already encoded (L2-normalized rows, e.g. by ``model.encode(...,
        normalize_embeddings=True)``).

        Args:
            query_embeddings: ``(queries, dimension)``.
            top_k: hits per query, or one number per query.
            threshold: if given, only hits with cosine similarity >= ``threshold``.
            backend: search with this backend instead of :attr:`active_backend` (e.g. ``exact`` to compare).

        Raises:
            ValueError: for a bad ``top_k`` or ``threshold``, or embeddings of another dimension.
        """
        query_embeddings = np.asarray(query_embeddings, dtype=np.float32)
        if query_embeddings.ndim != 2 or query_embeddings.shape[1] != self.dimension:
            raise ValueError(f"Expected query embeddings of shape (queries, {self.dimension}), got "
                             f"{query_embeddings.shape}.")
        top_ks = _per_query(top_k, len(query_embeddings), threshold)
        backend = self.active_backend if backend is None else resolve_backend(backend, len(self))
        results: list[list[Hit]] = [[] for _ in top_ks]
        for top_k in sorted(set(top_ks)):
            rows = [row for row, value in enumerate(top_ks) if value == top_k]
            scores, positions = self._nearest(query_embeddings[rows], min(top_k, len(self)), backend)
            for row, row_scores, row_positions in zip(rows, scores, positions, strict=True):
                results[row] = [
                    Hit(self.sentences[position], float(score), int(position))
                    for score, position in zip(row_scores, row_positions, strict=True)
                    if position >= 0 and (threshold is None or score >= threshold)
                ]
        return results

    def _nearest(self, query_embeddings: np.ndarray, top_k: int, backend: str) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, positions)``, each ``(queries, top_k)``, best first; position -1 where fewer were found."""
        if backend == "exact":
            return exact_nearest(query_embeddings, self._dense_embeddings(), top_k)
        return faiss_nearest(self._faiss(), query_embeddings, top_k, ef_search=self.ef_search,
                             ivfpq=self.ivfpq if backend == "faiss-ivfpq" else None, embeddings=self.embeddings)

    def _dense_embeddings(self) -> np.ndarray:
        """The embeddings as an in-memory float32 array (read from a memory-mapped file once, on first use)."""
        if self._dense is None:
            self._dense = np.array(self.embeddings, dtype=np.float32)  # a copy in memory, writable
        return self._dense

    def _faiss(self) -> Any:
        """The FAISS index of the active backend over the embeddings (built on first use, extended by :meth:`add`)."""
        backend = self.active_backend
        if self._faiss_index is None or faiss_kind(self._faiss_index) != backend:
            logger.info("Building a FAISS %s index over %d sentences", backend, len(self))
            self._faiss_index = build_faiss_index(backend, self.embeddings,
                                                  self.ivfpq if backend == "faiss-ivfpq" else None)
        return self._faiss_index


def recall(found: Sequence[Sequence[Hit]], exact: Sequence[Sequence[Hit]]) -> float:
    """Recall@k: the mean share of each query's exact hits that ``found`` also holds."""
    shares = [
        len({hit.position for hit in got} & {hit.position for hit in want}) / len(want)
        for got, want in zip(found, exact, strict=True)
    ]
    return float(np.mean(shares))


def check_search_arguments(top_k: int, threshold: float | None) -> None:
    """Raise a ValueError unless ``top_k`` is a positive integer and ``threshold`` is None or in [-1, 1]."""
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer (hits per query), got {top_k!r}.")
    if threshold is not None and not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold is a cosine similarity and must lie in [-1, 1], got {threshold!r}.")


def _per_query(top_k: int | Sequence[int], queries: int, threshold: float | None) -> list[int]:
    """``top_k`` as one number per query, after checking it and ``threshold`` (:func:`check_search_arguments`)."""
    top_ks = [top_k] * queries if isinstance(top_k, (int, np.integer)) else list(top_k)
    if len(top_ks) != queries:
        raise ValueError(f"Got {len(top_ks)} top_k values for {queries} queries; give one number for all queries "
                         f"or one per query.")
    for value in top_ks:
        check_search_arguments(value, threshold)
    return top_ks
