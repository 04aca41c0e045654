"""``simcse-st serve MODEL --corpus FILE``: served on 127.0.0.1, the URL printed when ready, a clean stop on Ctrl-C
within 5 s, and clear errors for bad arguments, given before anything is loaded: a non-loopback ``--host`` without
an API key, options out of range. (``--index DIR``, ``--api-key`` and SIGTERM: the live server of tests/serve.)"""

from __future__ import annotations

import importlib.util
import signal

import httpx
import pytest

from simcse_st.cli import main
from tests.serve.conftest import CORPUS, start_server, stop_server


def test_serve_corpus_prints_its_url_answers_and_stops_on_ctrl_c(tiny_bert_path, tmp_path):
    from simcse_st.apps import SemanticIndex

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS[:6]) + "\n\n", encoding="utf-8")
    server = start_server([str(tiny_bert_path), "--corpus", str(corpus), "--no-micro-batching"])
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.get(server.url + "healthz").json() == {"status": "ok", "model": str(tiny_bert_path),
                                                            "sentences": 6}
        hits = httpx.post(server.url + "api/search", json={"queries": [CORPUS[4]], "top_k": 6}).json()["results"][0]
        expected = SemanticIndex(tiny_bert_path, CORPUS[:6], show_progress_bar=False).search(CORPUS[4], top_k=6)[0]
        assert [hit["position"] for hit in hits] == [hit.position for hit in expected]
        assert hits[0]["position"] == 4  # a corpus sentence finds itself first
    finally:
        stop_server(server, signal.SIGINT)  # Ctrl-C


@pytest.mark.parametrize(("argv", "message"), [
    (["serve", "--corpus", "c.txt"], "MODEL is required with --corpus"),
    (["serve", "--index", "no-such-index"], "is not a saved search index"),
    (["serve", "m", "--corpus", "c.txt", "--port", "70000"], "--port must lie in 0..65535"),
    (["serve", "m", "--corpus", "c.txt", "--host", "0.0.0.0"], "set --api-key KEY (or the SIMCSE_ST_API_KEY"),
    (["serve", "m", "--corpus", "c.txt", "--host", "::"], "set --api-key KEY"),
    (["serve", "m", "--corpus", "c.txt", "--host", "192.168.1.20"], "set --api-key KEY"),
    (["serve", "m", "--corpus", "c.txt", "--host", "127.0.0.1", "--api-key", ""], "--api-key (or SIMCSE_ST_API_KEY) "
     "must not be empty"),
    (["serve", "m", "--index", "i", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["serve", "m", "--corpus", "c.txt", "--max-wait-ms", "-1"], "--max-wait-ms must lie in 0..1000, got -1.0"),
    (["serve", "m", "--corpus", "c.txt", "--max-wait-ms", "nan"], "--max-wait-ms must lie in 0..1000"),
    (["serve", "m", "--corpus", "c.txt", "--max-queue", "0"], "--max-queue must be at least 1, got 0"),
    (["serve", "m", "--corpus", "c.txt", "--map-max-points", "0"], "--map-max-points must be at least 4, got 0"),
])
def test_serve_errors_name_the_fix(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("umap") is not None, reason="umap-learn is installed")
def test_serve_umap_map_without_its_extra_is_refused_before_encoding(tiny_bert_path, tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS[:6]) + "\n", encoding="utf-8")
    assert main(["serve", str(tiny_bert_path), "--corpus", str(corpus), "--map-method", "umap"]) == 2
    assert "pip install simcse-st[umap]" in capsys.readouterr().err


def test_a_public_host_with_a_key_from_the_environment_passes_the_check(capsys, tmp_path, monkeypatch):
    """SIMCSE_ST_API_KEY stands for --api-key: the start goes on (to the missing corpus here)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIMCSE_ST_API_KEY", "from-the-environment")
    assert main(["serve", "m", "--corpus", "c.txt", "--host", "0.0.0.0"]) == 2
    error = capsys.readouterr().err
    assert "--api-key" not in error and "c.txt" in error


def test_serve_builds_the_search_backend_before_it_serves(tiny_bert_path, tmp_path, monkeypatch):
    """The index's backend (a lazy HNSW or IVF-PQ build otherwise) is built before the URL is printed, so no search
    runs it and a shutdown is never held up by it."""
    from simcse_st.apps import SemanticIndex
    from simcse_st.serve import server

    events = []
    prepare = SemanticIndex.prepare
    monkeypatch.setattr(SemanticIndex, "prepare", lambda self: events.append("prepare") or prepare(self))
    monkeypatch.setattr(server, "serve", lambda app, host, port: events.append("serve"))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS[:6]) + "\n", encoding="utf-8")
    assert main(["serve", str(tiny_bert_path), "--corpus", str(corpus)]) == 0
    assert events == ["prepare", "serve"]
