"""The Ray engine on a local Ray writes the same folder as the local engine, and continues its interrupted runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simcse_st.corpus import encode_corpus
from simcse_st.corpus.store import EmbeddingStore

ray = pytest.importorskip("ray")


def test_ray_engine_on_a_local_ray_equals_the_local_engine(tiny_bert_path: Path, wiki_sentences, tmp_path,
                                                           monkeypatch):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(wiki_sentences[:150]) + "\n", encoding="utf-8")
    local = encode_corpus(str(tiny_bert_path), corpus, tmp_path / "local", chunk_size=40, show_progress_bar=False)
    write_chunk = EmbeddingStore.write_chunk

    def interrupted(store, chunk, sentences, embeddings):
        if chunk.number == 2:
            raise KeyboardInterrupt  # a local run stopped after two of its four chunks
        write_chunk(store, chunk, sentences, embeddings)

    monkeypatch.setattr(EmbeddingStore, "write_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        encode_corpus(str(tiny_bert_path), corpus, tmp_path / "ray", chunk_size=40, show_progress_bar=False)
    monkeypatch.setattr(EmbeddingStore, "write_chunk", write_chunk)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = encode_corpus(str(tiny_bert_path), corpus, tmp_path / "ray", chunk_size=40, engine="ray",
                               show_progress_bar=False)
    finally:
        ray.shutdown()
    assert on_ray.sentences() == local.sentences() == wiki_sentences[:150]
    np.testing.assert_allclose(on_ray.embeddings, local.embeddings, atol=1e-6)
    for name in ("sentences.jsonl", "progress.json", "manifest.json"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
