"""Which Hub model a model argument is, and at which commit, read from the Hugging Face cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from simcse_st.hub import HubModel, hub_model, model_folder
from tests.hub_cache import write_hub_cache


def test_hub_name_and_commit_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    files = tmp_path / "files"
    (files / "1_Pooling").mkdir(parents=True)
    (files / "modules.json").write_text("[]")
    (files / "1_Pooling" / "config.json").write_text("{}")
    commit = write_hub_cache(tmp_path / "hub", "my-org/my-model", files)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    snapshot = tmp_path / "hub" / "models--my-org--my-model" / "snapshots" / commit

    assert hub_model("my-org/my-model") == HubModel("my-org/my-model", commit)
    assert model_folder("my-org/my-model") == snapshot
    assert hub_model(snapshot) == HubModel("my-org/my-model", commit)  # a folder of the cache
    assert hub_model("my-org/not-cached") == HubModel("my-org/not-cached", None)
    assert hub_model(files) is None  # any other folder
