"""train_simcse: STS dev checkpoint selection, the saved model, and exact resume after an interruption."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from sentence_transformers import SentenceTransformer
from transformers import TrainerCallback

from simcse_st.evaluation import SentEvalSTSEvaluator
from simcse_st.recipes import get_recipe
from simcse_st.training import LOSS_HEAD_FILE, TrainingResult, train_simcse

RECIPE = get_recipe("unsup-bert-base").with_overrides(batch_size=16, eval_steps=2)
STEPS = 6


class InterruptAt(TrainerCallback):
    """Stops the run abruptly (as a kill would) once ``step`` steps are done, before anything is saved at it."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003
        if state.global_step == self.step:
            raise KeyboardInterrupt(f"interrupted at step {self.step}")


@pytest.fixture(scope="module")
def sentences(wiki_sentences: list[str]) -> Dataset:
    return Dataset.from_dict({"sentence": wiki_sentences[:128]})


def train(tiny_bert_path: Path, sentences: Dataset, output_dir: Path, **kwargs: object) -> TrainingResult:
    return train_simcse(tiny_bert_path, sentences, output_dir, RECIPE, max_steps=STEPS, seed=7, **kwargs)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, tiny_bert_path: Path, sentences: Dataset) -> TrainingResult:
    return train(tiny_bert_path, sentences, tmp_path_factory.mktemp("uninterrupted") / "run")


def state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    return SentenceTransformer(str(path)).state_dict()


def test_keeps_the_checkpoint_with_the_best_sts_dev_average(uninterrupted: TrainingResult) -> None:
    assert uninterrupted.global_step == STEPS
    assert [step for step, _ in uninterrupted.dev_scores] == [2, 4, 6]
    best_step, best_score = max(uninterrupted.dev_scores, key=lambda entry: entry[1])
    assert Path(uninterrupted.best_checkpoint).name == f"checkpoint-{best_step}"
    assert uninterrupted.best_dev_score == pytest.approx(best_score)
    saved, best = state_dict(uninterrupted.output_dir), state_dict(uninterrupted.best_checkpoint)
    assert all(torch.equal(saved[key], best[key]) for key in best)
    # the score recomputed from the saved model, outside training, is the one it was selected for
    rescored = SentEvalSTSEvaluator(split="dev", name="", show_progress_bar=False)(
        SentenceTransformer(str(uninterrupted.output_dir))
    )
    assert rescored["avg"] == pytest.approx(best_score, abs=1e-4)


def test_saved_model_drops_the_training_head_and_trains_short_but_encodes_full_length(
    uninterrupted: TrainingResult, tiny_bert_path: Path
) -> None:
    model = SentenceTransformer(str(uninterrupted.output_dir))
    assert [type(module).__name__ for module in model] == ["Transformer", "Pooling"]
    assert not any("head" in key for key in model.state_dict())
    assert not (uninterrupted.output_dir / LOSS_HEAD_FILE).exists()
    assert (Path(uninterrupted.best_checkpoint) / LOSS_HEAD_FILE).is_file()
    max_positions = json.loads((tiny_bert_path / "config.json").read_text())["max_position_embeddings"]
    assert model.max_seq_length == max_positions != RECIPE.max_seq_length


def test_resume_after_an_interruption_gives_the_uninterrupted_run(
    tmp_path: Path, tiny_bert_path: Path, sentences: Dataset, uninterrupted: TrainingResult
) -> None:
    output_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(tiny_bert_path, sentences, output_dir, callbacks=[InterruptAt(3)])
    assert sorted(path.name for path in output_dir.glob("checkpoint-*")) == ["checkpoint-2"]
    headless = tmp_path / "headless"
    shutil.copytree(output_dir, headless)
    (headless / "checkpoint-2" / LOSS_HEAD_FILE).unlink()

    resumed = train(tiny_bert_path, sentences, output_dir, resume=True)
    assert resumed.global_step == uninterrupted.global_step == STEPS
    resumed_steps, resumed_scores = zip(*resumed.dev_scores[-2:], strict=True)
    expected_steps, expected_scores = zip(*uninterrupted.dev_scores[-2:], strict=True)
    assert resumed_steps == expected_steps
    assert resumed_scores == pytest.approx(expected_scores)
    expected, got = state_dict(uninterrupted.output_dir), state_dict(output_dir)
    assert all(torch.equal(expected[key], got[key]) for key in expected)

    # without the loss's MLP head in the checkpoint, the resumed run drifts: the head file is what makes it exact
    train(tiny_bert_path, sentences, headless, resume=True)
    last, drifted = (state_dict(run / f"checkpoint-{STEPS}") for run in (uninterrupted.output_dir, headless))
    assert not all(torch.equal(last[key], drifted[key]) for key in last)


def test_refuses_to_overwrite_a_run_or_resume_nothing(
    tmp_path: Path, tiny_bert_path: Path, sentences: Dataset, uninterrupted: TrainingResult
) -> None:
    with pytest.raises(ValueError, match="already holds checkpoints.*--resume"):
        train(tiny_bert_path, sentences, uninterrupted.output_dir)
    with pytest.raises(ValueError, match="no checkpoint-<step> folder"):
        train(tiny_bert_path, sentences, tmp_path / "empty", resume=True)


def test_without_dev_data_it_says_so_and_keeps_the_last_step(
    tmp_path: Path, tiny_bert_path: Path, sentences: Dataset, caplog: pytest.LogCaptureFixture
) -> None:
    empty_root = tmp_path / "no-data"
    empty_root.mkdir()
    result = train_simcse(tiny_bert_path, sentences, tmp_path / "run", RECIPE, max_steps=2, data_dir=empty_root)
    assert "No STS dev data" in caplog.text and str(empty_root) in caplog.text
    assert (result.global_step, result.best_checkpoint, result.dev_scores) == (2, None, [])
    assert (tmp_path / "run" / "checkpoint-2" / LOSS_HEAD_FILE).is_file()  # still resumable
