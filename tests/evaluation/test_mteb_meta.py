"""The parts of MTEB's ModelMeta that come from the card or the command line rather than the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from simcse_st.evaluation.mteb_meta import model_languages, model_license, model_name
from simcse_st.model_card import CardInfo, TrainingRecord

RECORD = TrainingRecord("unsup", "unsup-bert-base", "bert-base-uncased", "wiki1m_for_simcse.txt", ("STSBenchmark",),
                        "2026-01-02", name="my-org/simcse")


def test_name_from_option_then_record_then_folder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert model_name(tmp_path, CardInfo(record=RECORD), "other-org/other") == "other-org/other"
    assert model_name(tmp_path, CardInfo(record=RECORD), None) == "my-org/simcse"
    (tmp_path / "my-model").mkdir()
    assert model_name(tmp_path / "my-model", CardInfo(), None) == "local/my-model"
    assert "pass --name ORG/NAME" in caplog.text
    with pytest.raises(ValueError, match="must be ORG/NAME"):
        model_name(tmp_path, CardInfo(), "no-organization")


def test_languages_from_option_then_card_then_english() -> None:
    assert model_languages(CardInfo(languages=("en",)), None) == ["eng-Latn"]
    assert model_languages(CardInfo(languages=("en",)), ("deu-Latn",)) == ["deu-Latn"]
    assert model_languages(CardInfo(), None) == ["eng-Latn"]
    with pytest.raises(ValueError, match="pass --languages"):
        model_languages(CardInfo(languages=("de",)), None)


def test_licence_from_option_then_card_else_refused_when_required() -> None:
    assert model_license("m", CardInfo(license="mit"), "apache-2.0") == "apache-2.0"
    assert model_license("m", CardInfo(license="mit"), None) == "mit"
    assert model_license("m", CardInfo(), None, required=False) is None
    with pytest.raises(ValueError, match="pass --license"):
        model_license("m", CardInfo(), None)
