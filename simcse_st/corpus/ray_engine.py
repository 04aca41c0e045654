"""Ray as the engine of :func:`simcse_st.corpus.encode.encode_corpus`: the same chunks, encoded by a pool of Ray actors.

The pipeline is Ray Data batch inference: a dataset of the chunks still to encode (their byte offsets and sizes in
the corpus) -> ``map_batches`` with an actor pool, each actor holding one copy of the model and reading and
encoding its chunks -> iterated in order (``preserve_order``) by the driver, which hands every chunk to the one
chunk writer, :meth:`~simcse_st.corpus.store.EmbeddingStore.write_chunk`. So the output, resuming and sharding are
those of the local engine; Ray only supplies the distribution, on one machine (``ray.init()``) or a cluster
(``address``), where the corpus path must be readable by every worker (a shared file system).

The dataset is made of chunk descriptors rather than ``ray.data.read_text(corpus)``: ``read_text`` reads a whole
file into one block (memory would follow the corpus, not the chunk), splits lines at U+2028 and U+0085 too (other
sentences than the local engine's), and gives rows no position, so neither a shard's slice nor a resumed run could
skip what is already done.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from simcse_st.corpus.chunks import Chunk, read_chunk
from simcse_st.embedding import ModelLike, encode_sentences, resolve_model


class ChunkEncoder:
    """A Ray Data actor: loads the model once, then encodes the chunks of each batch it is given.

    Args:
        model: the encoder or its name or path (loaded in the actor).
        corpus: the corpus file, readable where the actor runs.
        batch_size: sentences per forward pass.
        runtime: the runtime to load a named model in (:func:`simcse_st.embedding.resolve_model`).
    """

    def __init__(self, model: ModelLike, corpus: str, batch_size: int, runtime: dict[str, Any] | None = None) -> None:
        self.model = resolve_model(model, runtime)
        self.corpus = corpus
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Encode each chunk of the batch: its sentences as a JSON list and its float32 embeddings as raw bytes."""
        sentences, embeddings = [], []
        for number, offset, size in zip(batch["number"], batch["offset"], batch["size"], strict=True):
            chunk_sentences = read_chunk(self.corpus, Chunk(int(number), int(offset), int(size)))
            vectors = encode_sentences(self.model, chunk_sentences, self.batch_size, show_progress_bar=False)
            sentences.append(json.dumps(chunk_sentences, ensure_ascii=False))
            embeddings.append(vectors.tobytes())
        return {"number": batch["number"], "sentences": np.array(sentences, dtype=object),
                "embeddings": np.array(embeddings, dtype=object)}


def ray_chunk_embeddings(
    model: ModelLike,
    corpus: str | os.PathLike[str],
    chunks: Sequence[Chunk],
    batch_size: int,
    *,
    address: str | None = None,
    actors: int = 1,
    gpus_per_actor: float = 0.0,
    runtime: dict[str, Any] | None = None,
) -> Iterator[tuple[list[str], np.ndarray]]:
    """``(sentences, embeddings)`` of each chunk, in order, computed by a Ray Data actor pool.

    Args:
        model: the encoder's name or path (each actor loads it), or a loaded model (sent to the actors).
        corpus: the corpus file.
        chunks: the chunks to encode.
        batch_size: sentences per forward pass.
        address: the Ray cluster to connect to when Ray is not running yet (None: a local Ray).
        actors: how many model replicas encode chunks side by side.
        gpus_per_actor: GPUs reserved by each actor (0 on CPU).
        runtime: the runtime each actor loads a named model in (default: PyTorch, or an exported folder's file).

    Raises:
        ImportError: when Ray Data is not installed.
    """
    if not chunks:
        return
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False)
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        rows = [{"number": chunk.number, "offset": chunk.offset, "size": chunk.size} for chunk in chunks]
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            ChunkEncoder,
            fn_constructor_args=(model, os.path.abspath(corpus), batch_size, runtime),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_gpus=gpus_per_actor,
            batch_format="numpy",
        )
        for chunk, row in zip(chunks, dataset.iter_rows(), strict=True):
            if int(row["number"]) != chunk.number:
                raise RuntimeError(f"Ray returned chunk {row['number']} where chunk {chunk.number} was due.")
            sentences = json.loads(row["sentences"])
            yield sentences, np.frombuffer(row["embeddings"], dtype=np.float32).reshape(len(sentences), -1)
    finally:
        if started:
            ray.shutdown()


def import_ray() -> Any:
    """The ``ray`` module with Ray Data, or an ImportError naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        raise ImportError("--engine ray needs Ray Data: `pip install simcse-st[ray]` (ray[data]).") from error
    return ray
