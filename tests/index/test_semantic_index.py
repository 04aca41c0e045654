"""Semantic search on STS-B with all-MiniLM-L6-v2: paraphrase retrieval, save/load, FAISS, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from simcse_st.apps import Hit, SemanticIndex


@pytest.fixture(scope="module")
def exact_hits(stsb_index, stsb_corpus) -> list[list[Hit]]:
    """Top 10 of each query by exact search."""
    return stsb_index.search(stsb_corpus.queries, top_k=10)


def test_paraphrase_partner_is_ranked_first(exact_hits):
    # query i's partner (gold score 5) sits at corpus row i; the query itself is not in the corpus
    first = [hits[0].position for hits in exact_hits]
    assert sum(position == i for i, position in enumerate(first)) >= 16


def test_hits_are_cosine_similarities_in_decreasing_order(exact_hits, stsb_corpus, minilm):
    query_embedding = minilm.encode(stsb_corpus.queries[:1])
    hits = exact_hits[0]
    corpus_embeddings = minilm.encode([hit.sentence for hit in hits])
    # cosine computed independently of the index, from fresh embeddings
    cosine = (corpus_embeddings @ query_embedding.T).ravel() / (
        np.linalg.norm(corpus_embeddings, axis=1) * np.linalg.norm(query_embedding)
    )
    np.testing.assert_allclose([hit.score for hit in hits], cosine, atol=1e-4)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert all(stsb_corpus.sentences[hit.position] == hit.sentence for hit in hits)
    assert len(hits) == 10


def test_exact_search_finds_the_true_top_k(stsb_index, exact_hits, stsb_corpus):
    queries = stsb_index.model.encode(stsb_corpus.queries, normalize_embeddings=True)
    best = np.argsort(-(queries @ stsb_index.embeddings.T), axis=1)[:, :10]
    assert [[hit.position for hit in hits] for hits in exact_hits] == best.tolist()


def test_threshold_keeps_only_hits_at_or_above_it(stsb_index, exact_hits, stsb_corpus):
    thresholded = stsb_index.search(stsb_corpus.queries, top_k=10, threshold=0.6)
    expected = [[hit for hit in hits if hit.score >= 0.6] for hits in exact_hits]
    assert [[hit.position for hit in hits] for hits in thresholded] == [[h.position for h in hits] for hits in expected]
    assert any(len(hits) < 10 for hits in thresholded)


def test_single_query_string_and_top_k_larger_than_corpus(minilm):
    index = SemanticIndex(minilm, ["A cat sleeps.", "Stocks fell sharply today."], show_progress_bar=False)
    [hits] = index.search("A kitten is sleeping.", top_k=5)
    assert [hit.position for hit in hits] == [0, 1]


def test_saved_index_reloads_and_answers_without_reencoding(stsb_index, exact_hits, stsb_corpus, tmp_path,
                                                            monkeypatch):
    stsb_index.save(tmp_path / "index")
    encoded: list[int] = []
    original = SentenceTransformer.encode

    def counting_encode(self, inputs, *args, **kwargs):
        encoded.append(len(inputs))
        return original(self, inputs, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "encode", counting_encode)
    loaded = SemanticIndex.load(tmp_path / "index")  # the model comes from the path stored in the index
    reloaded_hits = loaded.search(stsb_corpus.queries, top_k=10)
    assert encoded == [len(stsb_corpus.queries)]  # only the queries were encoded
    assert loaded.sentences == stsb_corpus.sentences
    assert [[h.position for h in hits] for hits in reloaded_hits] == [[h.position for h in hits] for hits in exact_hits]
    np.testing.assert_allclose([[h.score for h in hits] for hits in reloaded_hits],
                               [[h.score for h in hits] for hits in exact_hits], atol=1e-5)


def test_add_continues_positions_and_matches_a_full_index(stsb_index, stsb_corpus, exact_hits, minilm):
    half = len(stsb_corpus.sentences) // 2
    index = SemanticIndex(minilm, stsb_corpus.sentences[:half], stsb_index.embeddings[:half], backend="exact")
    index.add(stsb_corpus.sentences[half:], stsb_index.embeddings[half:])
    assert [[h.position for h in hits] for hits in index.search(stsb_corpus.queries, top_k=10)] == [
        [h.position for h in hits] for hits in exact_hits
    ]
    index.add(["A brand new sentence about volcanoes erupting."])  # encoded by the index's model
    [hits] = index.search(["A brand new sentence about volcanoes erupting."], top_k=1)
    assert hits[0].position == len(stsb_corpus.sentences)
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_faiss_flat_index_equals_exact_search(stsb_index, stsb_corpus, exact_hits, minilm):
    pytest.importorskip("faiss")
    flat = SemanticIndex(minilm, stsb_corpus.sentences, stsb_index.embeddings, backend="faiss-flat")
    flat_hits = flat.search(stsb_corpus.queries, top_k=10)
    assert [[h.position for h in hits] for hits in flat_hits] == [[h.position for h in hits] for hits in exact_hits]
    np.testing.assert_allclose([[h.score for h in hits] for hits in flat_hits],
                               [[h.score for h in hits] for hits in exact_hits], atol=1e-5)


def test_hnsw_index_recall_against_exact_search(stsb_index, stsb_corpus, exact_hits, minilm, tmp_path):
    pytest.importorskip("faiss")
    hnsw = SemanticIndex(minilm, stsb_corpus.sentences, stsb_index.embeddings, backend="faiss-hnsw")
    hnsw_hits = hnsw.search(stsb_corpus.queries, top_k=10)
    recall = np.mean([len({h.position for h in got} & {h.position for h in want}) / 10
                      for got, want in zip(hnsw_hits, exact_hits, strict=True)])
    assert recall >= 0.95
    assert hnsw.recall_at_k(stsb_corpus.queries, top_k=10) == pytest.approx(recall)
    # the saved HNSW graph is read back as it was built
    reloaded = SemanticIndex.load(hnsw.save(tmp_path / "hnsw"), model=minilm)
    assert reloaded.active_backend == "faiss-hnsw"
    assert [[h.position for h in hits] for hits in reloaded.search(stsb_corpus.queries, top_k=10)] == [
        [h.position for h in hits] for hits in hnsw_hits
    ]


@pytest.mark.parametrize("queries", ["", "   ", [], ["a fine query", ""]])
def test_empty_query_is_rejected(stsb_index, queries):
    with pytest.raises(ValueError, match="(?i)query"):
        stsb_index.search(queries)


@pytest.mark.parametrize("top_k", [0, -3])
def test_top_k_must_be_positive(stsb_index, top_k):
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        stsb_index.search("a query", top_k=top_k)


def test_threshold_outside_cosine_range_is_rejected(stsb_index):
    with pytest.raises(ValueError, match=r"threshold .* \[-1, 1\]"):
        stsb_index.search("a query", threshold=1.5)


def test_empty_corpus_is_rejected(minilm, tmp_path):
    with pytest.raises(ValueError, match="corpus is empty"):
        SemanticIndex(minilm, [])
    blank_file = tmp_path / "blank.txt"
    blank_file.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match=f"{blank_file}.* is empty"):
        SemanticIndex.from_file(minilm, blank_file)


def test_non_utf8_corpus_file_is_rejected(minilm, tmp_path):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("A good sentence.\nUn caf\u00e9 cr\u00e8me.\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.txt is not UTF-8 text: byte 0xe9 at line 2"):
        SemanticIndex.from_file(minilm, latin1)


def test_corpus_file_lines_are_read_without_blanks_or_bom(minilm, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\ufeffFirst sentence.\n\n  Second sentence.  \r\n", encoding="utf-8")
    index = SemanticIndex.from_file(minilm, corpus, show_progress_bar=False)
    assert index.sentences == ["First sentence.", "Second sentence."]


def test_missing_corpus_file_and_index_folder_are_named(minilm, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.txt does not exist"):
        SemanticIndex.from_file(minilm, tmp_path / "nowhere.txt")
    with pytest.raises(FileNotFoundError, match="is not a saved search index"):
        SemanticIndex.load(tmp_path)


def test_index_of_another_embedding_dimension_is_rejected(stsb_index, tmp_path, tiny_bert_path):
    small = SemanticIndex(stsb_index.model, stsb_index.sentences[:5], stsb_index.embeddings[:5])
    small.save(tmp_path / "minilm-index")
    with pytest.raises(ValueError, match="holds 384-d embeddings .* gives 32-d ones"):
        SemanticIndex.load(tmp_path / "minilm-index", model=str(tiny_bert_path))


def test_embeddings_of_the_wrong_shape_are_rejected(minilm):
    with pytest.raises(ValueError, match=r"Expected embeddings of shape \(2, 384\)"):
        SemanticIndex(minilm, ["one", "two"], np.zeros((2, 32), dtype=np.float32))


def test_auto_backend_uses_hnsw_from_the_large_corpus_size(stsb_index, stsb_corpus, minilm, monkeypatch):
    pytest.importorskip("faiss")
    from simcse_st.index import backends

    monkeypatch.setattr(backends, "LARGE_CORPUS", 1000)
    small = SemanticIndex(minilm, stsb_corpus.sentences[:999], stsb_index.embeddings[:999])
    assert small.active_backend == "exact"
    small.add(stsb_corpus.sentences[999:1000], stsb_index.embeddings[999:1000])
    assert small.active_backend == "faiss-hnsw"
    [hits] = small.search(stsb_corpus.sentences[999], top_k=1)
    assert hits[0].position == 999


def test_sentences_with_unicode_line_separators_survive_save_and_load(stsb_index, tmp_path):
    odd = ["One\u2028sentence over a line separator.", "A paragraph\u2029separator inside.", "A next-line\u0085mark."]
    index = SemanticIndex(stsb_index.model, odd + stsb_index.sentences[:3], backend="exact", show_progress_bar=False)
    loaded = SemanticIndex.load(index.save(tmp_path / "odd"), model=stsb_index.model)
    assert loaded.sentences == index.sentences
    np.testing.assert_array_equal(loaded.embeddings, index.embeddings)


def test_save_replaces_the_folder_and_leaves_no_file_of_another_backend(stsb_index, tmp_path):
    pytest.importorskip("faiss")
    hnsw = SemanticIndex(stsb_index.model, stsb_index.sentences[:50], stsb_index.embeddings[:50], backend="faiss-hnsw")
    hnsw.save(tmp_path / "index")
    assert (tmp_path / "index" / "faiss-hnsw.index").is_file()
    exact = SemanticIndex(stsb_index.model, stsb_index.sentences[:40], stsb_index.embeddings[:40], backend="exact")
    exact.save(tmp_path / "index")
    assert sorted(path.name for path in (tmp_path / "index").iterdir()) == [
        "embeddings.npy", "index.json", "sentences.jsonl"]
    assert [path.name for path in tmp_path.iterdir()] == ["index"]  # no temporary folder left beside it
    assert len(SemanticIndex.load(tmp_path / "index", model=stsb_index.model)) == 40


def test_a_failed_save_leaves_the_previous_index_whole(stsb_index, tmp_path, monkeypatch):
    from simcse_st.index import semantic

    first = SemanticIndex(stsb_index.model, stsb_index.sentences[:30], stsb_index.embeddings[:30], backend="exact")
    first.save(tmp_path / "index")
    before = {path.name: path.read_bytes() for path in (tmp_path / "index").iterdir()}

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(semantic, "write_index_files", disk_full)
    second = SemanticIndex(stsb_index.model, stsb_index.sentences[:60], stsb_index.embeddings[:60], backend="exact")
    with pytest.raises(OSError, match="No space left"):
        second.save(tmp_path / "index")
    assert {path.name: path.read_bytes() for path in (tmp_path / "index").iterdir()} == before
    assert [path.name for path in tmp_path.iterdir()] == ["index"]


def test_save_refuses_to_replace_a_folder_that_is_not_an_index(stsb_index, tmp_path):
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "chapter1.tex").write_text("precious", encoding="utf-8")
    small = SemanticIndex(stsb_index.model, stsb_index.sentences[:5], stsb_index.embeddings[:5], backend="exact")
    with pytest.raises(ValueError, match="thesis exists and is not a saved search index"):
        small.save(tmp_path / "thesis")
    assert (tmp_path / "thesis" / "chapter1.tex").read_text(encoding="utf-8") == "precious"


def test_load_refuses_a_faiss_index_of_another_size(stsb_index, tmp_path):
    pytest.importorskip("faiss")
    for size, folder in ((50, "fifty"), (40, "forty")):
        SemanticIndex(stsb_index.model, stsb_index.sentences[:size], stsb_index.embeddings[:size],
                      backend="faiss-hnsw").save(tmp_path / folder)
    (tmp_path / "fifty" / "faiss-hnsw.index").write_bytes((tmp_path / "forty" / "faiss-hnsw.index").read_bytes())
    with pytest.raises(ValueError, match="inconsistent: 50 sentences but 40 FAISS faiss-hnsw vectors"):
        SemanticIndex.load(tmp_path / "fifty", model=stsb_index.model)


def test_ivfpq_recall_on_real_sentences_and_memory_per_vector(stsb_index, stsb_corpus, tmp_path):
    pytest.importorskip("faiss")
    # 200 corpus sentences held out as queries; IVF-PQ over the other 1,800 against exact search over them
    queries = stsb_corpus.sentences[:200]
    ivfpq = SemanticIndex(stsb_index.model, stsb_corpus.sentences[200:], stsb_index.embeddings[200:],
                          backend="faiss-ivfpq")
    assert ivfpq.recall_at_k(queries, top_k=10) >= 0.90
    settings = ivfpq.ivfpq
    assert settings.code_bytes + 8 <= 4 * ivfpq.dimension / 8  # a code and its id: <= 1/8 of float32 (48 + 8 bytes)
    loaded = SemanticIndex.load(ivfpq.save(tmp_path / "ivfpq"), model=stsb_index.model)
    assert isinstance(loaded.embeddings, np.memmap)
    assert [[h.position for h in hits] for hits in loaded.search(queries[:20], top_k=10)] == [
        [h.position for h in hits] for hits in ivfpq.search(queries[:20], top_k=10)]
    assert loaded._dense is None  # searched without reading the embeddings into memory


def test_an_unknown_backend_is_refused_naming_the_choices(minilm, tmp_path):
    from simcse_st.index import build_index_from_encoded

    with pytest.raises(ValueError, match=r"Unknown search backend 'annoy'; choose from auto, exact"):
        SemanticIndex(minilm, ["A sentence."], backend="annoy")
    with pytest.raises(ValueError, match=r"Unknown search backend 'annoy'; choose from auto, exact"):
        build_index_from_encoded([tmp_path / "encoded"], tmp_path / "index", backend="annoy")
