"""The runtime choice of :func:`simcse_st.embedding.load_encoder`: its errors, and the missing ``[openvino]`` extra
(these tests need no OpenVINO)."""

from __future__ import annotations

import sys

import pytest

from simcse_st.cli import main
from simcse_st.embedding import check_openvino, load_encoder, runtime_of

INSTALL = 'pip install "simcse-st[openvino]"'


def test_a_missing_openvino_extra_is_named_in_one_line(tiny_bert_path, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "openvino", None)  # what an environment without the extra imports
    with pytest.raises(ValueError, match="needs the \\[openvino\\] extra") as error:
        check_openvino()
    assert str(error.value).endswith(INSTALL)
    for argv in (["eval", str(tiny_bert_path), "--runtime", "openvino"],
                 ["export", str(tiny_bert_path), "--out", str(tmp_path / "out")]):
        assert main(argv) == 2
        message = capsys.readouterr().err.strip()
        assert message.endswith(INSTALL) and len(message.splitlines()) == 1, message
    assert not (tmp_path / "out").exists()


def test_runtime_options_are_checked(tiny_bert_path):
    with pytest.raises(ValueError, match="Unknown runtime 'onnx': choose one of torch, openvino"):
        load_encoder(tiny_bert_path, runtime="onnx")
    with pytest.raises(ValueError, match="OpenVINO options"):
        load_encoder(tiny_bert_path, runtime="torch", runtime_file="openvino/openvino_model.xml")


def test_a_plain_model_runs_in_torch_by_default(tiny_bert_path):
    assert runtime_of(load_encoder(tiny_bert_path)) == {"name": "torch"}
