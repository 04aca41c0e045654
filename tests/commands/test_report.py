"""Training you can watch: a small real run logs STS dev, alignment and uniformity at every evaluation, draws
training.png into its folder and card; ``simcse-st report`` redraws it from the run's log; bad input is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sentence_transformers import SentenceTransformer

from simcse_st.cli import main
from simcse_st.model_card import read_card
from simcse_st.training_plot import PLOT_MARKER
from tests.evaluation.test_watch import hand_watch_metrics
from tests.sts_sample import STSSample

STEPS, EVAL_STEPS = 8, 2
WATCHED = ("eval_sts_dev_STSBenchmark", "eval_stsb_dev_alignment", "eval_stsb_dev_uniformity")


def has_tensorboard() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, tiny_bert_path: Path, sample: STSSample,
            wiki_sentences: list[str]) -> Path:
    """A tiny BERT trained for 8 steps through ``simcse-st train``, evaluated every 2 (TensorBoard if installed)."""
    folder = tmp_path_factory.mktemp("watched") / "run"
    train_file = folder.parent / "wiki.txt"
    train_file.write_text("".join(f"{line}\n" for line in wiki_sentences[:64]), encoding="utf-8")
    report_to = "tensorboard" if has_tensorboard() else "none"
    assert main(["train", "unsup", "--model", str(tiny_bert_path), "--train-file", str(train_file),
                 "--output-dir", str(folder), "--batch-size", "8", "--max-steps", str(STEPS), "--eval-steps",
                 str(EVAL_STEPS), "--lr", "1e-3", "--data-dir", str(sample.root), "--no-final-scores",
                 "--report-to", report_to]) == 0
    return folder


def log_history(run: Path) -> list[dict]:
    return json.loads((run / "trainer_state.json").read_text())["log_history"]


def test_every_evaluation_logs_the_dev_score_alignment_and_uniformity_as_computed_by_hand(
    run_dir: Path, sample: STSSample
) -> None:
    history = log_history(run_dir)
    evaluations = [entry for entry in history if WATCHED[0] in entry]
    assert [entry["step"] for entry in evaluations] == list(range(EVAL_STEPS, STEPS + 1, EVAL_STEPS))
    assert all(key in entry for entry in evaluations for key in WATCHED)
    assert [entry["step"] for entry in history if "loss" in entry] == [entry["step"] for entry in evaluations]
    assert len({entry["eval_stsb_dev_uniformity"] for entry in evaluations}) > 1  # training moved the embeddings
    # the saved model is the kept checkpoint: its logged metrics are those of the model computed by hand
    state = json.loads((run_dir / "trainer_state.json").read_text())
    (kept,) = [entry for entry in evaluations if entry["step"] == state["best_global_step"]]
    expected = hand_watch_metrics(SentenceTransformer(str(run_dir)), sample.pairs["STSBenchmark", "dev"][0])
    for key, value in expected.items():
        assert kept[f"eval_{key}"] == pytest.approx(value, rel=1e-4, abs=1e-7), key


@pytest.mark.skipif(not has_tensorboard(), reason="tensorboard is not installed")
def test_report_to_tensorboard_receives_alignment_and_uniformity(run_dir: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = {path.parent for path in (run_dir / "runs").rglob("events.out.tfevents.*")}
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    logged = [entry for entry in log_history(run_dir) if "eval_stsb_dev_alignment" in entry]
    scalars = accumulator.Scalars("eval/stsb_dev_alignment")
    assert [(s.step, pytest.approx(s.value, rel=1e-6)) for s in scalars] == [
        (entry["step"], entry["eval_stsb_dev_alignment"]) for entry in logged]
    assert {"eval/stsb_dev_uniformity", "eval/sts_dev_STSBenchmark", "train/loss"} <= set(accumulator.Tags()["scalars"])


def test_train_draws_training_png_into_the_card_and_the_model_loads_in_plain_sentence_transformers(
    run_dir: Path,
) -> None:
    plot = run_dir / "training.png"
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.text.get("Software") == PLOT_MARKER
        assert image.width > 2 * image.height  # three panels side by side
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10  # not a blank canvas
    card = (run_dir / "README.md").read_text()
    assert card.count("](training.png)") == 1 and "Figure 2" in card
    assert read_card(run_dir).record is not None  # the training record is still read back
    script = (
        "import sys\n"
        "from sentence_transformers import SentenceTransformer\n"
        f"model = SentenceTransformer({str(run_dir)!r})\n"
        "print(model.encode(['A man is playing a guitar.']).shape)\n"
        "assert not any(name.startswith('simcse_st') for name in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    dimension = SentenceTransformer(str(run_dir)).get_embedding_dimension()
    assert result.stdout.strip().splitlines()[-1] == f"(1, {dimension})"


def test_report_redraws_from_the_log_and_replaces_its_own_card_section(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = shutil.copytree(run_dir, tmp_path / "run")
    (run / "training.png").unlink()
    assert main(["report", str(run)]) == 0
    assert f"to {run / 'training.png'}" in capsys.readouterr().out
    assert Image.open(run / "training.png").text.get("Software") == PLOT_MARKER
    assert (run / "README.md").read_text() == (run_dir / "README.md").read_text()  # one section, replaced

    elsewhere = tmp_path / "plots" / "mine.png"
    assert main(["report", str(run), "--out", str(elsewhere)]) == 0
    assert elsewhere.is_file() and (run / "README.md").read_text() == (run_dir / "README.md").read_text()


def test_report_reads_an_interrupted_run_from_its_latest_checkpoint(run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "interrupted"
    shutil.copytree(run_dir / f"checkpoint-{STEPS}", run / f"checkpoint-{STEPS}")
    assert main(["report", str(run)]) == 0
    assert (run / "training.png").is_file() and not (run / "README.md").exists()  # no card written for it


def test_report_refuses_what_is_not_a_run_and_a_plot_it_did_not_draw(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "not-a-run").mkdir()
    for folder, fragment in ((tmp_path / "not-a-run", "is not a training run"), (tmp_path / "missing", "not a folder")):
        assert main(["report", str(folder)]) == 2
        error = capsys.readouterr().err
        assert error.startswith("simcse-st report: error:") and fragment in error and error.count("\n") == 1
        assert sorted(path.name for path in tmp_path.iterdir()) == ["not-a-run"]  # nothing written

    run = shutil.copytree(run_dir, tmp_path / "run")
    foreign = run / "training.png"
    Image.new("RGB", (4, 4)).save(foreign)
    before = foreign.read_bytes()
    assert main(["report", str(run)]) == 2
    assert "was not drawn by simcse-st" in capsys.readouterr().err
    assert foreign.read_bytes() == before
