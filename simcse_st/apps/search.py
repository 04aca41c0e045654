"""Semantic search: the sentences of a corpus closest in meaning to a query, by cosine similarity.

SimCSE trains embeddings whose cosine similarity ranks paraphrases first, so retrieval is a nearest-neighbour
search over L2-normalized embeddings (the dot product of unit vectors is their cosine). The corpus is encoded
once; a saved index keeps sentences, embeddings and the model's name or path, and answers without re-encoding.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import math
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from simcse_st.apps.corpus import (
    ModelLike,
    check_sentences,
    embedding_dimension,
    encode_sentences,
    model_name_of,
    normalize_rows,
    read_sentences,
    resolve_model,
)
from simcse_st.apps.encoding import EncodedCorpus, jsonl_sentences, read_jsonl_sentences

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("auto", "exact", "faiss-flat", "faiss-hnsw", "faiss-ivfpq")
"""How :class:`SemanticIndex` searches:

- ``exact``: cosine similarity with every corpus sentence (torch, through sentence-transformers'
  ``util.semantic_search``); the embeddings are held in memory as float32;
- ``faiss-flat``: FAISS ``IndexFlatIP``, the same exact search in FAISS (same results as ``exact``);
- ``faiss-hnsw``: FAISS ``IndexHNSWFlat`` (M=32, efConstruction=200), approximate: on 10,000 STS-B sentences
  encoded by all-MiniLM-L6-v2, its recall@10 against exact search over 500 held-out queries is 0.9988 with
  ``ef_search=128`` (the default), 0.9976 with 64 and 0.9914 with 32 (``benchmarks/bench_search_recall.py``);
- ``faiss-ivfpq``: FAISS IVF with product quantization for millions of sentences (:class:`IVFPQSettings`): the
  corpus is split into ``nlist`` k-means cells and each embedding is kept in memory as an ``m``-byte code; a
  query scans its ``nprobe`` nearest cells, and the ``rerank`` x ``top_k`` best candidates are re-scored with the
  stored embeddings, which a loaded index reads from its memory-mapped file (only those rows);
- ``auto``: ``exact`` below :data:`LARGE_CORPUS` sentences, ``faiss-hnsw`` below :data:`HUGE_CORPUS`,
  ``faiss-ivfpq`` from there on (the FAISS ones when FAISS is installed).
"""

LARGE_CORPUS = 100_000
"""Corpus size from which ``backend="auto"`` switches to the approximate FAISS HNSW index."""

HUGE_CORPUS = 1_000_000
"""Corpus size from which ``backend="auto"`` switches to FAISS IVF-PQ (HNSW would hold 4 bytes a dimension)."""

INDEX_FORMAT = "simcse-st-index"
_FILES = {"meta": "index.json", "sentences": "sentences.jsonl", "embeddings": "embeddings.npy",
          "faiss-hnsw": "faiss-hnsw.index", "faiss-ivfpq": "faiss-ivfpq.index"}
_HNSW_M = 32  # neighbours per node of the HNSW graph
DEFAULT_RERANK = 8
"""IVF-PQ: candidates per hit re-scored with the stored embeddings (``rerank``), by default."""
_HNSW_EF_CONSTRUCTION = 200  # candidate list size while building the graph
_SAVED_FAISS = ("faiss-hnsw", "faiss-ivfpq")  # backends whose FAISS index is saved (flat is rebuilt in seconds)
_BLOCK_ROWS = 65_536  # embeddings copied or added to FAISS at a time, so a memory-mapped file is never read whole
_POINTS_PER_CENTROID = 39  # FAISS's minimum of training points per k-means centroid


@dataclass(frozen=True)
class IVFPQSettings:
    """The shape of a FAISS IVF-PQ index.

    Attributes:
        nlist: inverted lists (k-means cells over the embeddings).
        m: sub-quantizers: each embedding is cut into ``m`` pieces, each stored as one ``nbits``-bit code.
        nbits: bits per code (8: 256 centroids per piece).
        nprobe: cells scanned per query.
        rerank: candidates per hit re-scored with the stored embeddings (0: rank by the codes alone).
        train_size: embeddings sampled to train the cells and codes.
    """

    nlist: int
    m: int
    nbits: int
    nprobe: int
    rerank: int
    train_size: int

    @property
    def code_bytes(self) -> int:
        """Bytes of one embedding's code (without its 8-byte id)."""
        return math.ceil(self.m * self.nbits / 8)


def ivfpq_settings(
    size: int, dimension: int, *, nlist: int | None = None, m: int | None = None, nprobe: int | None = None,
    rerank: int = DEFAULT_RERANK,
) -> IVFPQSettings:
    """IVF-PQ settings for ``size`` embeddings of ``dimension`` dimensions; given values override the defaults.

    Defaults: ``nlist`` the power of two nearest 2 sqrt(size) (at most size / 39, FAISS's minimum of training
    points per cell); ``m`` the largest divisor of the dimension up to dimension / 8 (a code of 1/32 the bytes
    of the float32 embedding); 8-bit codes (fewer for tiny corpora); ``nprobe`` nlist / 8, at least 16;
    training on 50 x nlist embeddings, at least 20,000 (or all).

    Raises:
        ValueError: for an ``m`` that does not divide the dimension, or a non-positive value.
    """
    for name, value in (("nlist", nlist), ("m", m), ("nprobe", nprobe)):
        if value is not None and value < 1:
            raise ValueError(f"IVF-PQ {name} must be a positive integer, got {value}.")
    if rerank < 0:
        raise ValueError(f"rerank must be 0 (off) or a positive number of candidates per hit, got {rerank}.")
    if m is not None and dimension % m:
        raise ValueError(f"IVF-PQ m={m} must divide the embedding dimension {dimension} (each code covers "
                         f"{dimension}/m dimensions).")
    max_cells = max(1, size // _POINTS_PER_CENTROID)
    nlist = nlist or min(max_cells, 2 ** round(math.log2(max(1.0, 2 * math.sqrt(size)))))
    m = m or max(divisor for divisor in range(1, max(1, dimension // 8) + 1) if dimension % divisor == 0)
    train_size = min(size, max(50 * nlist, 20_000))
    nbits = int(min(8, max(1, math.floor(math.log2(max(2, train_size // 4))))))
    nprobe = min(nlist, nprobe or max(16, nlist // 8))
    return IVFPQSettings(nlist, m, nbits, nprobe, rerank, train_size)


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
        backend: str = "auto",
        batch_size: int = 64,
        show_progress_bar: bool = True,
        ef_search: int = 128,
        nlist: int | None = None,
        pq_m: int | None = None,
        nprobe: int | None = None,
        rerank: int = DEFAULT_RERANK,
    ) -> None:
        self._setup(model, model_name=model_name, backend=backend, batch_size=batch_size,
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
            _import_faiss()
        self.model: SentenceTransformer = resolve_model(model)
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
        found = self._search(query_embeddings, top_k, None, self.active_backend)
        exact = self._search(query_embeddings, top_k, None, "exact")
        return recall(found, exact)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the index to ``directory``: ``index.json`` (model name or path, dimension, size, backend),
        ``sentences.jsonl``, ``embeddings.npy`` and, for HNSW and IVF-PQ, the FAISS index.

        The files are written to a new folder beside ``directory``, which then replaces it: a kill leaves the
        old index or the new one, and no file of a previous backend stays behind.

        Returns:
            The directory.

        Raises:
            ValueError: when ``directory`` exists and holds something other than a saved index.
        """
        backend = self.active_backend
        with replaced_directory(directory) as folder:
            faiss_index = self._faiss() if backend in _SAVED_FAISS else None
            (folder / _FILES["sentences"]).write_text(jsonl_sentences(self.sentences), encoding="utf-8")
            write_rows(folder / _FILES["embeddings"], [self.embeddings])
            write_index_files(folder, self.model_name, self.dimension, len(self), self.backend, backend, faiss_index,
                              self.ivfpq if backend == "faiss-ivfpq" else None)
        logger.info("Saved an index of %d sentences to %s", len(self), directory)
        return Path(directory)

    @classmethod
    def load(
        cls, directory: str | os.PathLike[str], model: ModelLike | None = None, **kwargs: Any
    ) -> SemanticIndex:
        """An index written by :meth:`save` (or ``simcse-st index``); the corpus is not re-encoded.

        The embeddings are memory-mapped: backends that do not need them in memory (HNSW and IVF-PQ with their
        saved FAISS index) read only the rows they re-score.

        Args:
            directory: the saved index.
            model: the model to encode queries with; defaults to the model name or path stored in the index.
                It must give embeddings of the stored dimension.
            kwargs: constructor options (``backend``, ``batch_size``, ``nprobe``, ...); ``backend`` and the IVF-PQ
                settings default to the saved ones.

        Raises:
            FileNotFoundError: when ``directory`` holds no saved index.
            ValueError: when the model's dimension differs from the index's, no model is stored or given, or the
                files disagree on the number of sentences.
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
                f"the model {model_name_of(model) or type(loaded).__name__} gives {embedding_dimension(loaded)}-d "
                f"ones: search it with the model that built it, or rebuild the index with this model."
            )
        sentences = read_jsonl_sentences(directory / _FILES["sentences"])
        embeddings = np.load(directory / _FILES["embeddings"], mmap_mode="r")
        _check_count(directory, "embeddings", len(embeddings), len(sentences))
        kwargs.setdefault("backend", meta.get("backend", "auto"))
        kwargs.setdefault("model_name", model_name_of(model) or meta.get("model"))
        for option, value in meta.get("ivfpq", {}).items():
            kwargs.setdefault("pq_m" if option == "m" else option, value)
        index = cls.__new__(cls)
        index._setup(loaded, **kwargs)
        index.sentences, index.embeddings = sentences, embeddings
        backend = index.active_backend
        if backend in _SAVED_FAISS and (directory / _FILES[backend]).is_file():
            index._faiss_index = _import_faiss().read_index(str(directory / _FILES[backend]))
            _check_count(directory, f"FAISS {backend} vectors", index._faiss_index.ntotal, len(sentences))
        return index

    def _search(
        self, query_embeddings: np.ndarray, top_k: int, threshold: float | None, backend: str
    ) -> list[list[Hit]]:
        """Hits for already normalized query embeddings with the given (resolved) backend."""
        scores, positions = self._nearest(query_embeddings, min(top_k, len(self)), backend)
        return [
            [
                Hit(self.sentences[position], float(score), int(position))
                for score, position in zip(row_scores, row_positions, strict=True)
                if position >= 0 and (threshold is None or score >= threshold)
            ]
            for row_scores, row_positions in zip(scores, positions, strict=True)
        ]

    def _nearest(self, query_embeddings: np.ndarray, top_k: int, backend: str) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, positions)``, each ``(queries, top_k)``, best first; position -1 where fewer were found."""
        if backend == "exact":
            import torch
            from sentence_transformers.util import semantic_search

            results = semantic_search(torch.from_numpy(query_embeddings), torch.from_numpy(self._dense_embeddings()),
                                      top_k=top_k)
            scores = np.array([[result["score"] for result in row] for row in results], dtype=np.float32)
            positions = np.array([[result["corpus_id"] for result in row] for row in results], dtype=np.int64)
            return scores, positions
        index = self._faiss()
        if backend == "faiss-hnsw":
            index.hnsw.efSearch = max(self.ef_search, top_k)
            return index.search(query_embeddings, top_k)
        if backend == "faiss-ivfpq":
            settings = self.ivfpq
            index.nprobe = settings.nprobe
            scores, positions = index.search(query_embeddings, min(len(self), top_k * max(1, settings.rerank)))
            if settings.rerank:
                scores, positions = rescore(query_embeddings, positions, self.embeddings)
            return scores[:, :top_k], positions[:, :top_k]
        return index.search(query_embeddings, top_k)

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


def rescore(
    query_embeddings: np.ndarray, positions: np.ndarray, embeddings: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates re-ranked by their exact cosine with each query, reading only the candidates' embedding rows.

    Args:
        query_embeddings: ``(queries, dimension)``, normalized.
        positions: ``(queries, candidates)`` corpus positions, -1 for none.
        embeddings: the corpus embeddings (a memory-mapped array is read only at ``positions``).

    Returns:
        ``(scores, positions)`` sorted best first per query, -1 positions (score -inf) last.
    """
    wanted = np.unique(positions[positions >= 0])
    rows = np.asarray(embeddings[wanted], dtype=np.float32)  # sorted positions: a forward pass over the file
    found = positions >= 0
    row_of = np.searchsorted(wanted, np.where(found, positions, wanted[0] if len(wanted) else 0))
    scores = np.einsum("qcd,qd->qc", rows[row_of], query_embeddings) if len(wanted) else np.zeros(positions.shape)
    scores = np.where(found, scores, -np.inf).astype(np.float32)
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(positions, order, axis=1)


def build_faiss_index(backend: str, embeddings: np.ndarray, settings: IVFPQSettings | None = None) -> Any:
    """A FAISS index of ``backend`` over normalized ``embeddings``, added a block of rows at a time.

    IVF-PQ is trained on ``settings.train_size`` rows sampled at random (seed 0).
    """
    faiss = _import_faiss()
    dimension = embeddings.shape[1]
    if backend == "faiss-hnsw":
        index = faiss.IndexHNSWFlat(dimension, _HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = _HNSW_EF_CONSTRUCTION
    elif backend == "faiss-ivfpq":
        if settings is None:
            raise ValueError("An IVF-PQ index needs its IVFPQSettings.")
        index = faiss.index_factory(dimension, f"IVF{settings.nlist},PQ{settings.m}x{settings.nbits}",
                                    faiss.METRIC_INNER_PRODUCT)
        index.do_polysemous_training = False  # polysemous codes are not used here, and their training takes minutes
        index.pq.cp.max_points_per_centroid = 64  # each codebook learns from up to 64 x 2^nbits residuals
        sample = np.sort(np.random.default_rng(0).choice(len(embeddings), settings.train_size, replace=False))
        index.train(np.ascontiguousarray(embeddings[sample], dtype=np.float32))
    else:
        index = faiss.IndexFlatIP(dimension)
    for start in range(0, len(embeddings), _BLOCK_ROWS):
        index.add(np.ascontiguousarray(embeddings[start:start + _BLOCK_ROWS], dtype=np.float32))
    return index


def faiss_kind(index: Any) -> str:
    """The backend name of a FAISS index built by :func:`build_faiss_index` or read from a file."""
    if hasattr(index, "hnsw"):
        return "faiss-hnsw"
    return "faiss-ivfpq" if hasattr(index, "nprobe") else "faiss-flat"


def write_rows(path: Path, blocks: Sequence[np.ndarray]) -> None:
    """Write the rows of ``blocks`` (arrays of one width and dtype, e.g. memory-mapped shards) as one ``.npy``,
    copying a block of rows at a time."""
    dtype = np.result_type(*(block.dtype for block in blocks))
    rows = np.lib.format.open_memmap(path, mode="w+", dtype=dtype,
                                     shape=(sum(len(block) for block in blocks), blocks[0].shape[1]))
    start = 0
    for block in blocks:
        for offset in range(0, len(block), _BLOCK_ROWS):
            part = block[offset:offset + _BLOCK_ROWS]
            rows[start:start + len(part)] = part
            start += len(part)
    rows.flush()
    del rows


def write_index_files(
    folder: Path, model_name: str | None, dimension: int, size: int, backend: str, active_backend: str,
    faiss_index: Any, ivfpq: IVFPQSettings | None,
) -> None:
    """Write ``index.json`` and, for HNSW and IVF-PQ, the FAISS index beside the sentences and embeddings."""
    meta: dict[str, Any] = {"format": INDEX_FORMAT, "version": 2, "model": model_name, "dimension": dimension,
                            "size": size, "backend": backend}
    if ivfpq is not None:
        meta["ivfpq"] = {key: value for key, value in asdict(ivfpq).items() if key in ("nlist", "m", "nprobe",
                                                                                        "rerank")}
    if faiss_index is not None:
        _import_faiss().write_index(faiss_index, str(folder / _FILES[active_backend]))
    (folder / _FILES["meta"]).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


@contextlib.contextmanager
def replaced_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A new folder beside ``target`` to write into; on success it is renamed to ``target``, replacing it.

    Raises:
        ValueError: when ``target`` exists and is neither empty nor a saved index (it is never replaced).
    """
    target = Path(target)
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / _FILES["meta"]).is_file())):
        raise ValueError(
            f"{target} exists and is not a saved search index: saving would replace it; give a new or empty folder."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    folder.mkdir()
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
    if target.exists():
        os.replace(target, old)
    os.replace(folder, target)
    shutil.rmtree(old, ignore_errors=True)


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
        with open(folder / _FILES["sentences"], "wb") as handle:
            for shard in shards:
                with open(shard.directory / _FILES["sentences"], "rb") as source:
                    shutil.copyfileobj(source, handle)
        write_rows(folder / _FILES["embeddings"], [shard.embeddings for shard in shards])
        embeddings = np.load(folder / _FILES["embeddings"], mmap_mode="r")
        active = resolve_backend(backend, size)
        settings = (ivfpq_settings(size, dimension, nlist=nlist, m=pq_m, nprobe=nprobe, rerank=rerank)
                    if active == "faiss-ivfpq" else None)
        faiss_index = build_faiss_index(active, embeddings, settings) if active in _SAVED_FAISS else None
        write_index_files(folder, first.manifest["model"], dimension, size, backend, active, faiss_index, settings)
    return size, active


def resolve_backend(backend: str, size: int) -> str:
    """``backend``, or for ``auto`` the one :data:`BACKENDS` documents for a corpus of ``size`` sentences."""
    if backend != "auto":
        return backend
    if size < LARGE_CORPUS or importlib.util.find_spec("faiss") is None:
        return "exact"
    return "faiss-hnsw" if size < HUGE_CORPUS else "faiss-ivfpq"


def _check_count(directory: Path, what: str, count: int, sentences: int) -> None:
    if count != sentences:
        raise ValueError(
            f"The index {directory} is inconsistent: {sentences} sentences but {count} {what}; rebuild it with "
            f"`simcse-st index`."
        )


def check_backend(backend: str) -> None:
    """Raise a ValueError naming the choices unless ``backend`` is one of :data:`BACKENDS`."""
    if backend not in BACKENDS:
        raise ValueError(f"Unknown search backend {backend!r}; choose from {', '.join(BACKENDS)}.")


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
