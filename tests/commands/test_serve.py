"""``simcse-st serve MODEL --corpus FILE``: served on 127.0.0.1, the URL printed when ready, a clean stop on Ctrl-C
within 5 s, and clear errors for bad arguments. (``--index DIR`` and SIGTERM: the live server of tests/serve.)"""

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
