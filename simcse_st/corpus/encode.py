"""Encoding a corpus of any size: streamed in chunks, resumable after a kill, sharded, multi-process or on Ray.

:func:`encode_corpus` plans the chunks (:mod:`~simcse_st.corpus.chunks`), opens or resumes the output folder
(:mod:`~simcse_st.corpus.store`), and hands each chunk an engine (:mod:`~simcse_st.corpus.engines`,
:mod:`~simcse_st.corpus.ray_engine`) encoded to the store's one chunk writer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from simcse_st.corpus.chunks import ShardSpec, parse_shard, plan_chunks, scan_corpus
from simcse_st.corpus.engines import ENGINES, local_chunk_embeddings
from simcse_st.corpus.resume import open_store
from simcse_st.corpus.store import DTYPES, EncodedCorpus, corpus_manifest
from simcse_st.embedding import ModelLike, embedding_dimension, model_name_of, resolve_model, runtime_of
from simcse_st.fingerprint import model_fingerprint

logger = logging.getLogger(__name__)


def _check_options(chunk_size: int, dtype: str, engine: str, batch_size: int, devices: Sequence[str] | None) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of sentences, got {chunk_size!r}.")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}.")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}.")
    if devices and engine == "ray":
        raise ValueError("devices are for the local engine (--devices); with the Ray engine use ray_actors and "
                         "ray_gpus_per_actor (--ray-actors, --ray-gpus-per-actor).")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive number of sentences, got {batch_size}.")


def encode_corpus(
    model: ModelLike,
    corpus: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    chunk_size: int = 10_000,
    dtype: str = "float32",
    shard: str | ShardSpec | tuple[int, int] | None = None,
    devices: Sequence[str] | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    ray_actors: int = 1,
    ray_gpus_per_actor: float = 0.0,
    batch_size: int = 64,
    model_name: str | None = None,
    runtime: dict[str, Any] | None = None,
    show_progress_bar: bool = True,
) -> EncodedCorpus:
    """Encode the sentences of a corpus file (or one shard of them) into ``out``, chunk by chunk, resumably.

    Args:
        model: the encoder, or its local path or Hub name.
        corpus: a UTF-8 text file, one sentence a line (blank lines are skipped).
        out: the output folder (see the module docstring). If it holds an interrupted run with the same
            arguments, that run continues from its last completed chunk.
        chunk_size: sentences read, encoded and written at a time; memory follows it.
        dtype: ``float32`` or ``float16`` for the stored embeddings.
        shard: ``"I/N"``: encode only the I-th (0-based) of N contiguous slices of the sentences.
        devices: with the local engine, encode with sentence-transformers' multi-process pool on these devices.
        engine: ``local`` (this machine) or ``ray`` (a Ray Data pipeline; see :mod:`simcse_st.corpus.ray_engine`).
        ray_address: the Ray cluster to connect to (default: the running Ray, else a local one).
        ray_actors: model replicas (Ray actors) encoding chunks side by side.
        ray_gpus_per_actor: GPUs each Ray actor reserves (0 on CPU).
        batch_size: sentences per forward pass.
        model_name: the name stored in the manifest; defaults to ``model`` when it is a name or path.
        runtime: the runtime to load a named ``model`` in, ``{"name": "openvino", "file": ...}`` or
            ``{"name": "torch"}`` (default: an exported folder's OpenVINO file, else PyTorch). The manifest records
            the runtime that ran, and a resume in another runtime is refused.
        show_progress_bar: show a tqdm bar of sentences with rate and ETA.

    Returns:
        The completed run.

    Raises:
        FileNotFoundError: when the corpus does not exist.
        ValueError: for a bad shard spec or option, a corpus that is not UTF-8 or is empty, or an ``out`` that
            holds files this package did not write, another model's (by its fingerprint) or corpus's embeddings,
            or the same corpus changed since the interrupted run.
    """
    from tqdm.auto import tqdm

    _check_options(chunk_size, dtype, engine, batch_size, devices)
    shard = parse_shard(shard)
    scan = scan_corpus(corpus)
    loaded = resolve_model(model, runtime)
    name = model_name if model_name is not None else model_name_of(model)
    manifest = corpus_manifest(name, model_fingerprint(loaded), embedding_dimension(loaded), scan, shard, chunk_size,
                               dtype, runtime_of(loaded))
    store = open_store(out, manifest)
    chunks = plan_chunks(corpus, manifest["start"], manifest["stop"], chunk_size)[store.chunks_done:]
    if store.chunks_done and chunks:
        logger.info("Resuming %s at chunk %d (%d sentences already encoded)", out, store.chunks_done, store.rows_done)
    if engine == "ray":
        from simcse_st.corpus.ray_engine import ray_chunk_embeddings

        source = ray_chunk_embeddings(name or loaded, corpus, chunks, batch_size, address=ray_address,
                                      actors=ray_actors, gpus_per_actor=ray_gpus_per_actor,
                                      runtime=manifest["runtime"])
    else:
        source = local_chunk_embeddings(loaded, corpus, chunks, batch_size, devices)
    with tqdm(total=manifest["count"], initial=store.rows_done, unit="sentence", desc="Encoding",
              disable=not show_progress_bar, dynamic_ncols=True) as progress_bar:
        for chunk, (sentences, embeddings) in zip(chunks, source, strict=True):
            store.write_chunk(chunk, sentences, embeddings)
            progress_bar.update(len(sentences))
    return EncodedCorpus.open(out)
