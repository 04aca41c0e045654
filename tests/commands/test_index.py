"""``simcse-st index --from-embeddings``: an index of encoded shards, without re-encoding, equal to one built whole."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from simcse_st.apps import SemanticIndex
from simcse_st.cli import main
from simcse_st.index import recall

QUERIES = ["A city in Australia.", "The war ended in a treaty."]


@pytest.fixture(scope="module")
def corpus(wiki_sentences: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(wiki_sentences[:300]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def shards(tiny_bert_path: Path, corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("shards")
    for index in range(2):
        argv = ["encode", str(tiny_bert_path), "--corpus", str(corpus), "--out", str(folder / f"shard{index}"),
                "--shard", f"{index}/2", "--chunk-size", "64"]
        assert main(argv) == 0
    return [folder / "shard0", folder / "shard1"]


@pytest.fixture(scope="module")
def whole(tiny_bert_path: Path, corpus: Path) -> SemanticIndex:
    """An exact index of the corpus file, encoded in one go."""
    return SemanticIndex.from_file(str(tiny_bert_path), corpus, backend="exact", show_progress_bar=False)


def index_from_shards(shards: list[Path], out: Path, backend: str, monkeypatch) -> SemanticIndex:
    """``simcse-st index --from-embeddings`` over the shards, checked to encode nothing; the index loaded."""
    encoded: list[int] = []
    original = SentenceTransformer.encode
    monkeypatch.setattr(SentenceTransformer, "encode",
                        lambda self, inputs, *a, **k: encoded.append(len(inputs)) or original(self, inputs, *a, **k))
    assert main(["index", "--from-embeddings", *map(str, shards), "--out", str(out), "--backend", backend]) == 0
    assert encoded == []  # no sentence was re-encoded
    monkeypatch.setattr(SentenceTransformer, "encode", original)
    return SemanticIndex.load(out)  # the model is the shards' one


def test_index_from_encoded_shards_equals_an_index_of_the_corpus(shards, whole, tmp_path, monkeypatch):
    loaded = index_from_shards(shards, tmp_path / "index", "exact", monkeypatch)
    assert loaded.sentences == whole.sentences
    np.testing.assert_allclose(loaded.embeddings, whole.embeddings, atol=1e-6)
    got, want = loaded.search(QUERIES, top_k=5), whole.search(QUERIES, top_k=5)
    assert [[hit.position for hit in hits] for hits in got] == [[hit.position for hit in hits] for hits in want]


def test_ivfpq_index_from_shards_searches_without_loading_the_embeddings(shards, whole, tmp_path, monkeypatch):
    pytest.importorskip("faiss")
    loaded = index_from_shards(shards, tmp_path / "index", "faiss-ivfpq", monkeypatch)
    assert loaded.active_backend == "faiss-ivfpq"
    hits = loaded.search(QUERIES, top_k=5)
    assert isinstance(loaded.embeddings, np.memmap) and loaded._dense is None  # rows re-scored from the file
    exact = whole.search(QUERIES, top_k=5)
    assert recall(hits, exact) >= 0.8  # 300 sentences: 7 cells all scanned, 6-bit codes, 40 candidates re-scored


def test_index_refuses_shards_of_different_models_and_corpora(shards, tiny_bert_path, minilm_path, wiki_sentences,
                                                              tmp_path, capsys):
    other_corpus = tmp_path / "few.txt"
    other_corpus.write_text("\n".join(wiki_sentences[:3]) + "\n", encoding="utf-8")
    other = tmp_path / "minilm"
    assert main(["encode", str(minilm_path), "--corpus", str(other_corpus), "--out", str(other)]) == 0
    assert main(["index", "--from-embeddings", str(shards[0]), str(other), "--out", str(tmp_path / "i")]) == 2
    error = capsys.readouterr().err
    assert "simcse-st index: error: The encoded folders do not make one index" in error
    assert f"they are of different corpora: {shards[0]} of {shards[0].parent.parent}" in error
    assert f"they are of different models: {shards[0]} of {tiny_bert_path} (32-d" in error
    assert f"{other} of {minilm_path} (384-d" in error
    assert not (tmp_path / "i").exists()


def test_index_refuses_an_incomplete_encoding_and_a_model_with_it(shards, tiny_bert_path, tmp_path, capsys):
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("manifest.json", "sentences.jsonl", "embeddings.npy"):
        (partial / name).write_bytes((shards[0] / name).read_bytes())
    (partial / "progress.json").write_text(json.dumps({"chunks_done": 1, "sentences_bytes": 0, "complete": False}))
    assert main(["index", "--from-embeddings", str(partial), "--out", str(tmp_path / "i")]) == 2
    assert "is incomplete (1 of 3 chunks): rerun the `simcse-st encode`" in capsys.readouterr().err
    argv = ["index", str(tiny_bert_path), "--from-embeddings", str(shards[0]), "--out", str(tmp_path / "i")]
    assert main(argv) == 2
    assert "give neither MODEL nor --corpus" in capsys.readouterr().err


def test_index_refuses_a_folder_of_the_users_files_and_leaves_it_untouched(tiny_bert_path, corpus, tmp_path, capsys):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("\\chapter{Results}", encoding="utf-8")
    (thesis / "index.json").write_text('{"entries": ["SimCSE", "contrastive"]}', encoding="utf-8")
    before = {path.name: path.read_bytes() for path in thesis.iterdir()}
    assert main(["index", str(tiny_bert_path), "--corpus", str(corpus), "--out", str(thesis)]) == 2
    error = capsys.readouterr().err
    assert "thesis exists and is not a saved search index" in error
    assert "an index.json that is not a simcse-st index's" in error and "index.json, thesis.tex" in error
    assert {path.name: path.read_bytes() for path in thesis.iterdir()} == before
    assert [path.name for path in tmp_path.iterdir()] == ["thesis"]  # nothing written beside it either


def test_index_refuses_a_saved_index_holding_a_file_of_the_users(tiny_bert_path, corpus, tmp_path, capsys):
    out = tmp_path / "idx"
    assert main(["index", str(tiny_bert_path), "--corpus", str(corpus), "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["index", str(tiny_bert_path), "--corpus", str(corpus), "--out", str(out)]) == 2
    assert "files this package did not write (notes.txt)" in capsys.readouterr().err
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_an_interrupted_save_is_put_back_on_load_and_cleaned_on_the_next_save(tiny_bert_path, corpus, tmp_path,
                                                                              capsys):
    out = tmp_path / "idx"
    assert main(["index", str(tiny_bert_path), "--corpus", str(corpus), "--out", str(out)]) == 0
    saved = {path.name: path.read_bytes() for path in out.iterdir()}
    # killed between "old index renamed aside" and "new index renamed in": the target is missing
    out.rename(tmp_path / ".idx.0a1b2c3d.old")
    partial = tmp_path / ".idx.4e5f6a7b.tmp"
    partial.mkdir()
    (partial / ".simcse-st-partial").write_bytes(b"")
    (partial / "sentences.jsonl").write_text('"half"\n', encoding="utf-8")
    users = tmp_path / ".idx.12345678.tmp"  # the same shape of name, but not ours: never touched
    users.mkdir()
    (users / "draft.txt").write_text("mine", encoding="utf-8")

    assert main(["search", "--index", str(out), "--query", QUERIES[0], "--top-k", "2"]) == 0
    assert "Query: A city in Australia." in capsys.readouterr().out
    assert {path.name: path.read_bytes() for path in out.iterdir()} == saved  # put back as it was

    assert main(["index", str(tiny_bert_path), "--corpus", str(corpus), "--out", str(out)]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == [".idx.12345678.tmp", "idx"]
    assert (users / "draft.txt").read_text(encoding="utf-8") == "mine"


def test_save_without_an_atomic_exchange_renames_the_old_index_aside(tiny_bert_path, corpus, tmp_path, monkeypatch):
    from simcse_st.index import storage

    out = tmp_path / "idx"
    assert main(["index", str(tiny_bert_path), "--corpus", str(corpus), "--out", str(out), "--backend", "exact"]) == 0
    renames: list[tuple[str, str]] = []
    rename = os.rename
    monkeypatch.setattr(storage, "_exchange", lambda first, second: False)
    monkeypatch.setattr(storage.os, "rename", lambda a, b: renames.append((Path(a).name, Path(b).name)) or rename(a, b))
    assert main(["index", str(tiny_bert_path), "--corpus", str(corpus), "--out", str(out), "--backend",
                 "faiss-flat"]) == 0
    shapes = [tuple(re.sub(r"[0-9a-f]{8}", "X", name) for name in pair) for pair in renames]
    assert shapes == [("idx", ".idx.X.old"), (".idx.X.tmp", "idx")]  # aside, then in; then the old one deleted
    assert json.loads((out / "index.json").read_text("utf-8"))["backend"] == "faiss-flat"
    assert [path.name for path in tmp_path.iterdir()] == ["idx"]


def test_index_refuses_duplicate_overlapping_and_missing_shards_naming_each(shards, tmp_path, capsys):
    copy = tmp_path / "copy-of-shard0"
    copy.mkdir()
    for name in ("manifest.json", "sentences.jsonl", "embeddings.npy", "progress.json"):
        (copy / name).write_bytes((shards[0] / name).read_bytes())
    out = tmp_path / "i"
    assert main(["index", "--from-embeddings", str(shards[0]), str(shards[0]), str(shards[1]), "--out", str(out)]) == 2
    assert f"{shards[0]} (sentences 0-150, shard 0/2) is given twice" in capsys.readouterr().err
    assert main(["index", "--from-embeddings", str(shards[0]), str(copy), str(shards[1]), "--out", str(out)]) == 2
    assert f"{shards[0]} and {copy} (sentences 0-150, shard 0/2) hold the same sentences" in capsys.readouterr().err
    assert main(["index", "--from-embeddings", str(shards[0]), "--out", str(out)]) == 2
    assert "sentences 150-300 of the corpus's 300 are in none of the folders (a missing shard?)" in \
        capsys.readouterr().err
    assert main(["index", "--from-embeddings", str(shards[1]), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "sentences 0-150 are in none of the folders" in error and "150-300" not in error
    assert not out.exists()


def test_shards_given_out_of_order_are_joined_in_corpus_order(shards, whole, tmp_path, monkeypatch):
    loaded = index_from_shards(shards[::-1], tmp_path / "index", "exact", monkeypatch)
    assert loaded.sentences == whole.sentences


def test_index_refuses_shards_of_a_model_retrained_in_place_between_them(tiny_bert_path, corpus, tmp_path, capsys):
    import shutil

    import torch
    from transformers import BertModel

    model = tmp_path / "model"
    shutil.copytree(tiny_bert_path, model)
    encode = ["encode", str(model), "--corpus", str(corpus), "--chunk-size", "64", "--shard"]
    assert main([*encode, "0/2", "--out", str(tmp_path / "enc-0")]) == 0
    bert = BertModel.from_pretrained(model)
    with torch.no_grad():
        bert.pooler.dense.bias.add_(0.01)  # retrained in place: the same path names both shards' model
        bert.encoder.layer[1].output.dense.bias.add_(0.01)
    bert.save_pretrained(model)
    assert main([*encode, "1/2", "--out", str(tmp_path / "enc-1")]) == 0
    capsys.readouterr()
    assert main(["index", "--from-embeddings", str(tmp_path / "enc-0"), str(tmp_path / "enc-1"), "--out",
                 str(tmp_path / "i")]) == 2
    error = capsys.readouterr().err
    assert f"they are of different models: {tmp_path / 'enc-0'} of {model} (32-d, fingerprint" in error
    assert not (tmp_path / "i").exists()
