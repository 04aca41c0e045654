"""``simcse-st export``: folders plain sentence-transformers runs in OpenVINO, what quantization cost, bad input.

fp32 exports must give the PyTorch embeddings (cosine >= 0.999: only float rounding differs). int8 exports are held
to cosine >= 0.99: per-channel int8 weights carry a relative rounding error of about 1/(127*2*sqrt(3)) ~ 0.2% each,
and static activations add as much again; through two layers that moves a unit embedding by a few thousandths
(0.9999 was measured on these tiny models), so 0.99 leaves room and still catches a wrong scale or a broken graph
(which gives cosines far below 0.9).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simcse_st.cli import main
from tests.openvino_models import SENTENCES, require_openvino, save_tiny_simcse, write_calibration

require_openvino()

EXPORTS = {("unsup", "none"): 0.999, ("sup", "none"): 0.999, ("sup", "int8-static"): 0.99}


@pytest.fixture(scope="module")
def models(tiny_bert_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("simcse")
    return {objective: save_tiny_simcse(tiny_bert_path, root / objective, objective) for objective in ("unsup", "sup")}


@pytest.fixture(scope="module")
def calibration(wiki_sentences: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_calibration(tmp_path_factory.mktemp("calibration") / "sentences.txt", wiki_sentences[:120])


@pytest.fixture(scope="module")
def exports(models, calibration, data_dir, tmp_path_factory) -> dict[tuple[str, str], tuple[Path, str]]:
    """Each export of :data:`EXPORTS` through the CLI, with the Python line it printed. The supervised int8 export
    sees the data root (STS-B dev is scored), the others an empty one."""
    root, empty = tmp_path_factory.mktemp("exports"), tmp_path_factory.mktemp("no-data")
    made = {}
    for objective, quantization in EXPORTS:
        out = root / f"{objective}-{quantization}"
        data = data_dir if quantization == "int8-static" else empty
        argv = ["export", str(models[objective]), "--out", str(out), "--quantize", quantization, "--calibration",
                str(calibration), "--calibration-size", "40", "--data-dir", str(data)]
        made[objective, quantization] = (out, _printed_line(argv))
    return made


def _printed_line(argv: list[str]) -> str:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(argv) == 0
    return next(line.split("model = ", 1)[1] for line in buffer.getvalue().splitlines() if "model = " in line)


def test_the_printed_lines_load_the_exports_in_plain_sentence_transformers(models, exports, tmp_path):
    """One process without simcse-st runs each printed line; its embeddings match the PyTorch model's."""
    from sentence_transformers import SentenceTransformer

    code = ["import sys", "import numpy as np", "from sentence_transformers import SentenceTransformer"]
    for number, (_, line) in enumerate(exports.values()):
        code += [f"model = {line}", "assert model.backend == 'openvino'",
                 f"np.save('{number}.npy', model.encode({SENTENCES!r}, normalize_embeddings=True))"]
    code.append("assert not [name for name in sys.modules if name.startswith('simcse_st')], 'simcse_st was imported'")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    subprocess.run([sys.executable, "-c", "\n".join(code)], check=True, cwd=tmp_path, env=env)
    for number, (objective, quantization) in enumerate(exports):
        reference = SentenceTransformer(str(models[objective])).encode(SENTENCES, normalize_embeddings=True)
        cosines = np.sum(np.load(tmp_path / f"{number}.npy") * reference, axis=1)
        assert cosines.min() >= EXPORTS[objective, quantization], (objective, quantization, cosines)


def test_the_report_is_the_cosine_over_the_held_out_sentences(models, exports, calibration):
    from simcse_st.embedding import encode_sentences, load_encoder
    from simcse_st.export import calibration_sentences
    from simcse_st.exported import read_export

    folder, _ = exports["sup", "int8-static"]
    record = read_export(folder)
    sample, held_out, source = calibration_sentences(calibration, 40)
    assert record["calibration"] == {"source": source, "sentences": 40, "max_length": 128}
    assert not set(sample) & set(held_out) and len(held_out) == 80
    cosines = np.sum(encode_sentences(load_encoder(models["sup"]), held_out, show_progress_bar=False)
                     * encode_sentences(load_encoder(folder), held_out, show_progress_bar=False), axis=1)
    assert record["cosine"] == {"mean": pytest.approx(cosines.mean(), abs=2e-6),
                                "min": pytest.approx(cosines.min(), abs=2e-6), "sentences": 80}


def test_stsb_dev_before_and_after_is_reported_when_the_data_is_there(models, exports, data_dir):
    from simcse_st.embedding import load_encoder
    from simcse_st.evaluation import SentEvalSTSEvaluator
    from simcse_st.exported import read_export

    evaluator = SentEvalSTSEvaluator(data_dir, ["STSBenchmark"], split="dev", name="", show_progress_bar=False)
    folder, _ = exports["sup", "int8-static"]
    assert read_export(folder)["stsb_dev"] == {
        "torch": pytest.approx(evaluator(load_encoder(models["sup"]))["STSBenchmark"], abs=0.006),
        "export": pytest.approx(evaluator(load_encoder(folder))["STSBenchmark"], abs=0.006)}
    assert read_export(exports["unsup", "none"][0])["stsb_dev"] == {}  # no data root: not scored


def test_an_exported_folder_given_as_model_runs_its_quantized_file(exports):
    from simcse_st.embedding import load_encoder, runtime_of
    from simcse_st.fingerprint import model_fingerprint

    folder, _ = exports["sup", "int8-static"]
    quantized = load_encoder(folder)
    assert runtime_of(quantized) == {"name": "openvino", "file": "openvino/openvino_model_qint8_quantized.xml"}
    fp32 = load_encoder(folder, runtime_file="openvino/openvino_model.xml")
    assert model_fingerprint(quantized) != model_fingerprint(fp32)
    assert model_fingerprint(quantized) == model_fingerprint(load_encoder(folder))


def test_calibration_runs_at_the_recorded_training_length(models, tmp_path):
    import shutil

    from simcse_st.embedding import load_encoder
    from simcse_st.export import calibration_length
    from simcse_st.model_card import TrainingRecord, write_training_record

    folder = tmp_path / "trained"
    shutil.copytree(models["unsup"], folder)
    model = load_encoder(folder)
    assert calibration_length(model, str(folder)) == model.max_seq_length == 128  # no record: the model's own
    write_training_record(folder, TrainingRecord("unsup", "unsup-bert-base", "bert-base-uncased", "wiki.txt",
                                                 ("STSBenchmark",), "2026-01-01"))
    assert calibration_length(model, str(folder)) == 32  # the recipe's training length


def test_an_earlier_export_is_replaced_and_a_failed_one_leaves_it(models, exports, calibration, tmp_path,
                                                                   monkeypatch, capsys):
    import shutil

    from simcse_st import export
    from simcse_st.exported import read_export

    out = tmp_path / "out"
    shutil.copytree(exports["unsup", "none"][0], out)
    argv = ["export", str(models["unsup"]), "--out", str(out), "--calibration", str(calibration),
            "--calibration-size", "20", "--data-dir", str(tmp_path / "none"), "--quantize", "int8-weights"]
    assert main(argv) == 0
    assert read_export(out)["quantization"] == "int8-weights"
    assert read_export(out)["cosine"]["min"] >= 0.99
    before = {path.relative_to(out): path.read_bytes() for path in out.rglob("*") if path.is_file()}

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(export, "_quantize", fail)  # after the float32 graph is written into the new folder
    capsys.readouterr()
    assert main(argv) == 2
    assert "disk full" in capsys.readouterr().err
    assert {path.relative_to(out): path.read_bytes() for path in out.rglob("*") if path.is_file()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]  # no half-written folder beside


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str], message: str) -> None:
    capsys.readouterr()
    assert main(argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("simcse-st export: error")]
    assert len(errors) == 1 and message in errors[0], errors


def test_bad_inputs_are_refused_with_one_line_and_nothing_written(models, exports, calibration, tmp_path, capsys):
    out = tmp_path / "out"
    export = ["export", str(models["unsup"]), "--out", str(out), "--data-dir", str(tmp_path / "none")]
    not_a_model = tmp_path / "notes"
    not_a_model.mkdir()
    (not_a_model / "notes.txt").write_text("not a model\n", encoding="utf-8")
    _refused(["export", str(not_a_model), "--out", str(out)], capsys, "holds no weights")
    _refused(["export", str(exports["unsup", "none"][0]), "--out", str(out)], capsys, "is an OpenVINO export")
    empty = write_calibration(tmp_path / "empty.txt", ["", "  "])
    _refused([*export, "--quantize", "int8-static", "--calibration", str(empty)], capsys, "is empty")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Caf\xe9 au lait.\n".encode("latin-1"))
    _refused([*export, "--quantize", "int8-static", "--calibration", str(latin1)], capsys, "UTF-8")
    _refused([*export, "--calibration", str(calibration), "--calibration-size", "0"], capsys, "--calibration-size")
    assert not out.exists()
    out.mkdir()
    (out / "mine.txt").write_text("keep me\n", encoding="utf-8")
    _refused([*export, "--calibration", str(calibration)], capsys, "was not written by `simcse-st export`")
    assert [path.name for path in out.iterdir()] == ["mine.txt"]
    with pytest.raises(SystemExit) as exit_info:
        main([*export, "--quantize", "int4"])
    assert exit_info.value.code == 2


def test_unknown_quantization_in_the_api():
    from simcse_st.export import export_model

    with pytest.raises(ValueError, match="Unknown quantization 'int4': choose one of none, int8-weights, int8-static"):
        export_model("any", "out", "int4")


def test_a_cpu_without_int8_is_told_so(exports, monkeypatch):
    import openvino

    from simcse_st.embedding import load_encoder

    class NoInt8Core:
        def get_property(self, device, name):
            return ["FP32", "FP16"] if (device, name) == ("CPU", "OPTIMIZATION_CAPABILITIES") else None

    monkeypatch.setattr(openvino, "Core", NoInt8Core)
    with pytest.raises(ValueError, match=r"This CPU cannot run OpenVINO INT8 models \(it offers FP32, FP16\)"):
        load_encoder(exports["sup", "int8-static"][0])
    assert load_encoder(exports["sup", "none"][0]).backend == "openvino"  # fp32 still runs


def test_the_record_is_json_with_the_format_marker(exports):
    record = json.loads((exports["unsup", "none"][0] / "simcse-st-export.json").read_text("utf-8"))
    assert (record["format"], record["version"], record["file"]) == ("simcse-st-export", 1,
                                                                     "openvino/openvino_model.xml")
