"""The parts of MTEB's ModelMeta that come from the card or the command line rather than the model."""

from __future__ import annotations

import dataclasses
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


def test_adapted_from_is_a_hub_name_under_the_registry_name(caplog: pytest.LogCaptureFixture) -> None:
    from simcse_st.evaluation.mteb_meta import adapted_from, registry_name

    assert registry_name("all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"  # a bare name, as registered
    assert registry_name("my-org/unknown") == "my-org/unknown"
    record = dataclasses.replace(RECORD, base_model="all-MiniLM-L6-v2")
    assert adapted_from("my-org/simcse", CardInfo(record=record), None) == "sentence-transformers/all-MiniLM-L6-v2"
    assert adapted_from("my-org/simcse", CardInfo(record=RECORD), "my-org/base") == "my-org/base"  # --base-model
    assert "not in MTEB's registry" in caplog.text
    caplog.clear()
    for unknown in (None, "a folder/with space"):  # nothing recorded; a folder's path as old versions recorded it
        assert adapted_from("my-org/simcse", CardInfo(record=dataclasses.replace(RECORD, base_model=unknown)),
                           None) is None
        assert "adapted_from is left empty" in caplog.text and "pass --base-model NAME" in caplog.text


def test_release_date_from_option_then_record_never_file_times(
    tiny_bert_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from simcse_st.evaluation.mteb_meta import release_date

    assert release_date(tiny_bert_path, RECORD, "2025-05-05") == "2025-05-05"
    assert release_date(tiny_bert_path, RECORD, None) == "2026-01-02"
    assert release_date(tiny_bert_path, None, None) is None  # offline, no record: empty, said so
    assert "release_date is left empty; pass --release-date YYYY-MM-DD" in caplog.text
    with pytest.raises(ValueError, match="is not a date: pass YYYY-MM-DD"):
        release_date(tiny_bert_path, None, "05/05/2025")


def test_public_training_data_from_option_then_record_then_official_names() -> None:
    from simcse_st.evaluation.mteb_meta import _training_data_url

    recorded = dataclasses.replace(RECORD, training_data="mine.txt", training_data_url="https://example.org/mine")
    assert _training_data_url(recorded, None) == "https://example.org/mine"
    assert _training_data_url(recorded, "https://example.org/other") == "https://example.org/other"
    assert _training_data_url(RECORD, None) == "https://huggingface.co/datasets/princeton-nlp/datasets-for-simcse"
    assert _training_data_url(dataclasses.replace(RECORD, training_data="mine.txt"), None) is None
    with pytest.raises(ValueError, match="is not a web address"):
        _training_data_url(RECORD, "ftp:/nowhere")
