"""What training records of its base model: the Hub name MTEB's ``adapted_from`` needs, never a folder's name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from simcse_st.model_card import TrainingRecord, base_model_name, write_training_record
from tests.hub_cache import write_hub_cache


def test_base_model_is_a_hub_name_not_a_folder_name(
    tiny_bert_path: Path, minilm_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import huggingface_hub.constants

    commit = write_hub_cache(tmp_path / "hub", "my-org/base", tiny_bert_path)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert base_model_name("my-org/base") == "my-org/base"
    assert base_model_name(tmp_path / "hub" / "models--my-org--base" / "snapshots" / commit) == "my-org/base"

    model = tmp_path / "model"  # a local folder that names no Hub model
    shutil.copytree(tiny_bert_path, model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "_name_or_path"}))
    assert base_model_name(model) is None  # not 'model'
    assert "pass --base-model NAME" in caplog.text

    (model / "config.json").write_text(json.dumps(config | {"_name_or_path": "my-org/downloaded"}))
    assert base_model_name(model) == "my-org/downloaded"  # what save_pretrained of a download keeps
    (model / "README.md").write_text("---\nlicense: mit\n---\n")
    write_training_record(model, TrainingRecord("unsup", "r", "my-org/base", "data.txt", (), "2026-01-02",
                                                name="my-org/simcse"))
    assert base_model_name(model) == "my-org/simcse"  # a model simcse-st trained under a name
    # a sentence-transformers folder's config.json names the encoder it was first trained from, not itself
    assert json.loads((minilm_path / "config.json").read_text())["_name_or_path"] == "nreimers/MiniLM-L6-H384-uncased"
    assert base_model_name(minilm_path) is None


def test_a_record_without_a_base_model_reads_back() -> None:
    record = TrainingRecord("unsup", "r", None, "data.txt", ("STSBenchmark",), "2026-01-02", precision="fp32")
    assert "base_model" not in record.to_dict()
    assert TrainingRecord.from_dict(record.to_dict()) == record
