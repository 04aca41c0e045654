"""Corpus encoding: chunked output equal to the model's embeddings, shards, and each refused input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from simcse_st.corpus import EncodedCorpus, encode_corpus
from simcse_st.corpus.chunks import parse_shard
from simcse_st.corpus.store import EmbeddingStore
from simcse_st.embedding import read_sentences

ODD_SENTENCE = "A line\u2028with a line separator, a paragraph\u2029separator and a next-line\u0085mark."


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, wiki_sentences: list[str]) -> Path:
    """230 sentences: Wikipedia lines with blank lines between some, and one holding U+2028, U+2029 and U+0085."""
    lines = wiki_sentences[:120] + ["", "   ", ODD_SENTENCE] + wiki_sentences[120:229]
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny(tiny_bert_path: Path) -> SentenceTransformer:
    return SentenceTransformer(str(tiny_bert_path))


@pytest.fixture(scope="module")
def whole(tiny, tiny_bert_path, corpus, tmp_path_factory) -> EncodedCorpus:
    """The corpus encoded in one run, chunks of 64."""
    return encode_corpus(tiny, corpus, tmp_path_factory.mktemp("whole") / "out", chunk_size=64,
                         model_name=str(tiny_bert_path), show_progress_bar=False)


def test_encoded_corpus_holds_the_models_normalized_embeddings(whole, tiny, corpus):
    sentences = read_sentences(corpus)
    assert len(sentences) == 230 and ODD_SENTENCE in sentences
    assert whole.sentences() == sentences  # the separators stay inside their sentence
    expected = tiny.encode(sentences, normalize_embeddings=True)
    assert whole.embeddings.shape == (230, 32) and whole.embeddings.dtype == np.float32
    np.testing.assert_allclose(whole.embeddings, expected, atol=1e-6)
    assert whole.manifest["corpus"]["sentences"] == 230


def test_shards_joined_equal_one_unsharded_run(whole, tiny, tiny_bert_path, corpus, tmp_path):
    shards = [encode_corpus(tiny, corpus, tmp_path / f"shard{i}", chunk_size=64, shard=f"{i}/3",
                            model_name=str(tiny_bert_path), show_progress_bar=False) for i in range(3)]
    # 230 sentences in 3 contiguous slices: [0, 76), [76, 153), [153, 230)
    assert [(s.manifest["start"], s.manifest["stop"]) for s in shards] == [(0, 76), (76, 153), (153, 230)]
    assert [sentence for shard in shards for sentence in shard.sentences()] == whole.sentences()
    np.testing.assert_allclose(np.concatenate([shard.embeddings for shard in shards]), whole.embeddings, atol=1e-6)


def test_float16_output(whole, tiny, tiny_bert_path, corpus, tmp_path):
    half = encode_corpus(tiny, corpus, tmp_path / "half", chunk_size=100, dtype="float16",
                         model_name=str(tiny_bert_path), show_progress_bar=False)
    assert half.embeddings.dtype == np.float16
    np.testing.assert_allclose(half.embeddings.astype(np.float32), whole.embeddings, atol=1e-3)


@pytest.mark.parametrize(("spec", "message"), [
    ("3/2", r"3/2 is out of range: .* 0 <= I < N"),
    ("2/2", r"2/2 is out of range"),
    ("1/0", r"1/0 is out of range"),
    ("first/4", r"'first/4' is not I/N"),
])
def test_bad_shard_specs_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_shard(spec)


def test_out_holding_another_corpus_or_model_is_refused(whole, tiny, minilm_path, tiny_bert_path, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("Another corpus.\nWith two sentences.\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"holds embeddings of another corpus \(.*corpus.txt, 230 sentences.*"
                                         r"not of .*other.txt \(2 sentences"):
        encode_corpus(tiny, other, whole.directory, chunk_size=64, model_name=str(tiny_bert_path))
    corpus = whole.manifest["corpus"]["path"]
    with pytest.raises(ValueError, match=r"another model: model .*tiny-bert.* \(now .*minilm.*\); dimension 32 "
                                         r"\(now 384\)"):
        encode_corpus(str(minilm_path), corpus, whole.directory, chunk_size=64)
    with pytest.raises(ValueError, match=r"other settings: chunk_size 64 \(now 50\)"):
        encode_corpus(tiny, corpus, whole.directory, chunk_size=50, model_name=str(tiny_bert_path))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ValueError, match=r"already holds files this package did not write \(notes.txt"):
        encode_corpus(tiny, corpus, foreign, chunk_size=64, model_name=str(tiny_bert_path))


def test_corpus_changed_since_the_interrupted_run_is_refused(tiny, tiny_bert_path, wiki_sentences, tmp_path,
                                                             monkeypatch):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(wiki_sentences[:40]) + "\n", encoding="utf-8")
    write_chunk = EmbeddingStore.write_chunk

    def interrupted(store, chunk, sentences, embeddings):
        if chunk.number == 1:
            raise KeyboardInterrupt  # stands in for a kill after the first chunk
        write_chunk(store, chunk, sentences, embeddings)

    monkeypatch.setattr(EmbeddingStore, "write_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        encode_corpus(tiny, corpus, tmp_path / "out", chunk_size=16, model_name=str(tiny_bert_path))
    monkeypatch.setattr(EmbeddingStore, "write_chunk", write_chunk)
    corpus.write_text("\n".join(wiki_sentences[:41]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"corpus .*corpus.txt changed since the interrupted run .*40 sentences.*"
                                         r"now .*41 sentences"):
        encode_corpus(tiny, corpus, tmp_path / "out", chunk_size=16, model_name=str(tiny_bert_path))
    with pytest.raises(ValueError, match=r"is incomplete \(1 of 3 chunks\)"):
        EncodedCorpus.open(tmp_path / "out")


def test_missing_and_non_utf8_corpora_are_named(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.txt does not exist"):
        encode_corpus(tiny, tmp_path / "nowhere.txt", tmp_path / "out")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Fine.\nUn caf\u00e9.\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.txt is not UTF-8 text: byte 0xe9 at line 2"):
        encode_corpus(tiny, latin1, tmp_path / "out")


def test_devices_with_the_ray_engine_are_refused_before_anything_is_written(tiny, corpus, tmp_path):
    with pytest.raises(ValueError, match=r"devices are for the local engine .*ray_actors"):
        encode_corpus(tiny, corpus, tmp_path / "out", devices=["cpu", "cpu"], engine="ray")
    assert not (tmp_path / "out").exists()
