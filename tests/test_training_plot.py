"""training.png from logs that lack parts: no evaluation, nothing logged yet, a file that is not a trainer state."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from PIL import Image

from simcse_st.cli import main
from simcse_st.training_log import read_training_log
from simcse_st.training_plot import plot_finished_run


def write_state(folder: Path, history: list[dict], **state: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 6, "log_history": history, **state}))
    return folder


def test_a_run_without_dev_data_draws_the_loss_alone(tmp_path: Path) -> None:
    run = write_state(tmp_path / "run", [{"loss": 2.0, "step": 2}, {"loss": 1.5, "step": 4}, {"loss": 1.0, "step": 6},
                                         {"train_loss": 1.5, "step": 6}])
    log = read_training_log(run)
    assert log.loss == [(2, 2.0), (4, 1.5), (6, 1.0)] and not log.dev and not log.geometry
    assert main(["report", str(run)]) == 0
    with Image.open(run / "training.png") as image:
        assert image.width < 2 * image.height  # one panel


def test_the_kept_checkpoint_is_read_from_the_best_checkpoint_name(tmp_path: Path) -> None:
    run = write_state(tmp_path / "run", [{"eval_sts_dev_STSBenchmark": 70.0, "eval_sts_dev_avg": 70.0, "step": 3}],
                      best_model_checkpoint=str(tmp_path / "run" / "checkpoint-3"))
    assert read_training_log(run).best_step == 3


def test_nothing_logged_yet_is_a_clear_refusal_and_only_a_warning_at_the_end_of_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    run = write_state(tmp_path / "run", [])
    assert main(["report", str(run)]) == 2
    assert "has no logged loss or evaluation yet" in capsys.readouterr().err
    with caplog.at_level(logging.WARNING):
        assert plot_finished_run(run) is None
    assert "No training.png" in caplog.text and not (run / "training.png").exists()


def test_a_state_file_that_is_not_the_trainers_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "trainer_state.json").write_text("{not json")
    assert main(["report", str(run)]) == 2
    error = capsys.readouterr().err
    assert "is not a trainer state" in error and error.count("\n") == 1
