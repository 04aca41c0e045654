"""The application commands: index, search, cluster and plot, run through ``simcse-st``'s ``main``."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from simcse_st.apps import SemanticIndex, cluster
from simcse_st.cli import main
from tests.apps.test_maps import html_traces

SENTENCES = [
    "The cat sleeps on the sofa.",
    "A dog chases its ball in the park.",
    "Stock prices fell sharply today.",
    "The central bank raised interest rates.",
    "The striker scored twice in the final.",
    "The goalkeeper saved a penalty.",
    "It will rain in the north tomorrow.",
    "A storm is coming from the west.",
]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(SENTENCES) + "\n\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_index(tiny_bert_path: Path, corpus_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("index") / "tiny-index"
    assert main(["index", str(tiny_bert_path), "--corpus", str(corpus_file), "--out", str(out)]) == 0
    return out


def test_index_then_search_without_model_gives_the_api_results(tiny_index, tiny_bert_path, capsys):
    capsys.readouterr()
    queries = ["A storm is coming from the west.", "Who won the match?"]
    argv = ["search", "--index", str(tiny_index), "--top-k", "3", "--json"]
    assert main(argv + [arg for query in queries for arg in ("--query", query)]) == 0
    rows = json.loads(capsys.readouterr().out)
    expected = SemanticIndex(str(tiny_bert_path), SENTENCES, show_progress_bar=False).search(queries, top_k=3)
    assert [row["query"] for row in rows] == queries
    assert [[hit["position"] for hit in row["hits"]] for row in rows] == [[h.position for h in hits]
                                                                          for hits in expected]
    # a query that is in the corpus finds itself with cosine 1
    assert rows[0]["hits"][0]["sentence"] == queries[0]
    assert rows[0]["hits"][0]["score"] == pytest.approx(1.0, abs=1e-5)


def test_search_a_corpus_prints_a_table(tiny_bert_path, corpus_file, capsys):
    argv = ["search", str(tiny_bert_path), "--corpus", str(corpus_file), "--query", "The cat sleeps on the sofa.",
            "--top-k", "2", "--threshold", "0.0"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Query: The cat sleeps on the sofa."
    assert lines[1].startswith("   1. 1.0000  The cat sleeps on the sofa.  [#0]")
    assert len(lines) == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--query", ""], "Query entry 0 is blank"),
        (["--query", "fine", "--top-k", "0"], "top_k must be a positive integer"),
        (["--query", "fine", "--threshold", "2"], r"threshold .* \[-1, 1\]"),
    ],
)
def test_search_rejects_bad_queries(tiny_index, extra, message, capsys):
    assert main(["search", "--index", str(tiny_index), *extra]) == 2
    error = capsys.readouterr().err
    assert error.startswith("simcse-st search: error: ")
    assert re.search(message, error)


def test_search_a_corpus_needs_a_model(corpus_file, capsys):
    assert main(["search", "--corpus", str(corpus_file), "--query", "q"]) == 2
    assert "MODEL is required with --corpus" in capsys.readouterr().err


def test_search_index_with_a_model_of_another_dimension(tiny_index, minilm_path, capsys):
    assert main(["search", str(minilm_path), "--index", str(tiny_index), "--query", "q"]) == 2
    assert "holds 32-d embeddings" in capsys.readouterr().err


def test_commands_reject_empty_and_non_utf8_corpora(tiny_bert_path, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    cp1252 = tmp_path / "cp1252.txt"
    cp1252.write_bytes("\u201cQuoted\u201d text.\n".encode("cp1252"))
    for corpus, message in ((empty, "is empty"), (cp1252, "is not UTF-8 text: byte 0x93 at line 1")):
        for command in (["index", "--out", str(tmp_path / "out")], ["cluster"], ["plot", "--out", "x.png"]):
            argv = [command[0], str(tiny_bert_path), "--corpus", str(corpus), *command[1:]]
            assert main(argv) == 2
            assert message in capsys.readouterr().err


def test_cluster_writes_one_label_per_sentence(tiny_bert_path, corpus_file, tmp_path, capsys):
    out = tmp_path / "clusters.jsonl"
    argv = ["cluster", str(tiny_bert_path), "--corpus", str(corpus_file), "--n-clusters", "4", "--out", str(out)]
    assert main(argv) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["sentence"] for row in rows] == SENTENCES
    assert [row["position"] for row in rows] == list(range(len(SENTENCES)))
    expected = cluster(str(tiny_bert_path), SENTENCES, n_clusters=4, show_progress_bar=False).labels
    assert [row["cluster"] for row in rows] == expected.tolist()
    assert capsys.readouterr().out.startswith("4 clusters of 8 sentences (kmeans)")


def test_cluster_with_a_distance_threshold_is_agglomerative(tiny_bert_path, corpus_file, capsys):
    argv = ["cluster", str(tiny_bert_path), "--corpus", str(corpus_file), "--distance-threshold", "2"]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("1 cluster of 8 sentences (agglomerative)")


def test_plot_with_labels_writes_a_png_of_the_asked_size(tiny_bert_path, corpus_file, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("pets\npets\nmarkets\nmarkets\nfootball\nfootball\nweather\nweather\n", encoding="utf-8")
    out = tmp_path / "map.png"
    argv = ["plot", str(tiny_bert_path), "--corpus", str(corpus_file), "--out", str(out), "--labels", str(labels),
            "--method", "pca", "--width", "640", "--height", "480"]
    assert main(argv) == 0
    with Image.open(out) as image:
        assert image.size == (640, 480)


def test_plot_labels_must_match_the_corpus(tiny_bert_path, corpus_file, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n", encoding="utf-8")
    argv = ["plot", str(tiny_bert_path), "--corpus", str(corpus_file), "--out", str(tmp_path / "m.png"),
            "--labels", str(labels)]
    assert main(argv) == 2
    assert "Got 2 labels for 8 sentences" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("umap") is not None, reason="umap-learn is installed")
def test_plot_umap_without_its_extra_names_the_install_command(tiny_bert_path, corpus_file, tmp_path, capsys):
    argv = ["plot", str(tiny_bert_path), "--corpus", str(corpus_file), "--out", str(tmp_path / "u.png"),
            "--method", "umap"]
    assert main(argv) == 2
    assert "pip install simcse-st[umap]" in capsys.readouterr().err


def test_plot_dims_3_writes_a_png_and_a_rotatable_html_map(tiny_bert_path, corpus_file, tmp_path, capsys):
    out = tmp_path / "map.png"
    argv = ["plot", str(tiny_bert_path), "--corpus", str(corpus_file), "--out", str(out), "--method", "pca",
            "--n-clusters", "3", "--dims", "3"]
    assert main(argv) == 0
    with Image.open(out) as image:
        assert image.size == (1200, 900)
    traces = html_traces((tmp_path / "map.html").read_text(encoding="utf-8"))
    assert [trace["type"] for trace in traces] == ["scatter3d"] * 3
    assert sorted(text for trace in traces for text in trace["text"]) == sorted(SENTENCES)
    assert capsys.readouterr().out.startswith(f"Wrote a 3-D pca map of 8 sentences in 3 groups to {out} and ")


def test_plot_dims_3_html_map_shows_markup_in_sentences_as_text(tiny_bert_path, tmp_path):
    """plotly renders hover text and legend names as HTML-like markup: a sentence holding a tag must be escaped."""
    sentences = ['<img src=x onerror="alert(1)"> is a tag.', "Fish & chips <b>tonight</b>.", "A plain sentence.",
                 "Another plain one."]
    corpus = tmp_path / "markup.txt"
    corpus.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    argv = ["plot", str(tiny_bert_path), "--corpus", str(corpus), "--out", str(tmp_path / "map.png"), "--method",
            "pca", "--n-clusters", "4", "--dims", "3"]  # a cluster per sentence: each names a legend entry
    assert main(argv) == 0
    traces = html_traces((tmp_path / "map.html").read_text(encoding="utf-8"))
    texts = [text for trace in traces for text in trace["text"]]
    assert sorted(texts) == sorted(s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                                   for s in sentences)
    assert not any("<" in trace["name"] or "<" in text for trace in traces for text in trace["text"])
    assert any("&lt;img src=x" in trace["name"] for trace in traces)
