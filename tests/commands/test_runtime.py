"""``--runtime`` / ``--runtime-file`` on every command that encodes, and an exported folder given as MODEL."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simcse_st.cli import main
from tests.openvino_models import SENTENCES, require_openvino, save_tiny_simcse, write_calibration

require_openvino()

OPENVINO = {"name": "openvino", "file": "openvino/openvino_model.xml"}


@pytest.fixture(scope="module")
def model(tiny_bert_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_simcse(tiny_bert_path, tmp_path_factory.mktemp("simcse") / "unsup", "unsup")


@pytest.fixture(scope="module")
def exported(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simcse_st.export import export_model

    out = tmp_path_factory.mktemp("export") / "unsup-openvino"
    export_model(model, out, data_dir=tmp_path_factory.mktemp("no-data"))
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_calibration(tmp_path_factory.mktemp("corpus") / "corpus.txt", SENTENCES)


def _embeddings(model_path: Path, **runtime: str) -> np.ndarray:
    from simcse_st.embedding import encode_sentences, load_encoder

    return encode_sentences(load_encoder(model_path, **runtime), SENTENCES, show_progress_bar=False)


def test_eval_and_mteb_score_the_export(model, exported, sample, tmp_path):
    from simcse_st.embedding import load_encoder
    from simcse_st.evaluation import SentEvalSTSEvaluator

    expected = SentEvalSTSEvaluator(sample.root, ["STSBenchmark"], name="", show_progress_bar=False)(
        load_encoder(exported))
    on_the_fly = tmp_path / "on-the-fly.json"
    assert main(["eval", str(model), "--runtime", "openvino", "--data-dir", str(sample.root), "--tasks",
                 "STSBenchmark", "--json", str(on_the_fly)]) == 0
    assert json.loads(on_the_fly.read_text())["STSBenchmark"] == pytest.approx(expected["STSBenchmark"], abs=0.006)
    pytest.importorskip("mteb")
    scored = tmp_path / "mteb.json"
    assert main(["mteb", str(exported), "--data-dir", str(sample.root), "--tasks", "STSBenchmark", "--output-dir",
                 str(tmp_path / "results"), "--license", "mit", "--json", str(scored)]) == 0
    # mteb batches the sentences otherwise, and OpenVINO's default precision (bf16 on CPUs that have it) rounds a
    # sentence's embedding slightly differently beside other padding; 16 pairs make Spearman move by tenths
    assert json.loads(scored.read_text())["STSBenchmark"] == pytest.approx(expected["STSBenchmark"], abs=0.5)


def test_encode_records_the_runtime_and_refuses_to_resume_in_another(model, exported, corpus, tmp_path, capsys):
    out = tmp_path / "enc"
    assert main(["encode", str(exported), "--corpus", str(corpus), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runtime"] == OPENVINO
    np.testing.assert_allclose(np.load(out / "embeddings.npy"), _embeddings(exported), atol=1e-5)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    capsys.readouterr()
    assert main(["encode", str(model), "--corpus", str(corpus), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "holds embeddings made in another runtime: openvino (openvino/openvino_model.xml) (now torch)" in error
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_index_and_search_run_the_stored_runtime(exported, corpus, tmp_path, capsys, caplog):
    out = tmp_path / "index"
    assert main(["index", str(exported), "--corpus", str(corpus), "--out", str(out)]) == 0
    assert json.loads((out / "index.json").read_text())["runtime"] == OPENVINO
    np.testing.assert_allclose(np.load(out / "embeddings.npy"), _embeddings(exported), atol=1e-5)
    capsys.readouterr()
    assert main(["search", "--index", str(out), "--query", SENTENCES[3], "--top-k", "1", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)[0]["hits"]
    assert hits[0]["position"] == 3 and hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert "runtime" not in caplog.text  # the query ran in the runtime the corpus was embedded in


def test_cluster_and_plot_take_the_runtime(exported, corpus, tmp_path):
    from simcse_st.apps import cluster
    from simcse_st.embedding import load_encoder

    labels = tmp_path / "labels.jsonl"
    assert main(["cluster", str(exported), "--runtime-file", "openvino/openvino_model.xml", "--corpus", str(corpus),
                 "--n-clusters", "3",
                 "--out", str(labels)]) == 0
    expected = cluster(load_encoder(exported), SENTENCES, n_clusters=3, show_progress_bar=False)
    written = [json.loads(line) for line in labels.read_text().splitlines()]
    assert [row["cluster"] for row in written] == list(expected.labels)
    png = tmp_path / "map.png"
    assert main(["plot", str(exported), "--corpus", str(corpus), "--method", "pca", "--out", str(png)]) == 0
    assert png.stat().st_size > 0


def test_serve_encodes_queries_in_the_chosen_runtime(exported, corpus, monkeypatch):
    from simcse_st.apps import SemanticIndex
    from simcse_st.serve import server

    runtimes = []
    monkeypatch.setattr(SemanticIndex, "prepare", lambda self: runtimes.append(self.runtime))
    monkeypatch.setattr(server, "serve", lambda app, host, port: None)
    assert main(["serve", str(exported), "--runtime", "openvino", "--corpus", str(corpus)]) == 0
    assert runtimes == [OPENVINO]
