"""train_simcse: STS-B dev checkpoint selection, training short and saving full length, the global batch, and
exact resume after an interruption."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Transformer
from transformers import TrainerCallback

import simcse_st
from simcse_st.evaluation import SentEvalSTSEvaluator
from simcse_st.recipes import get_recipe
from simcse_st.training import (
    DEV_SELECTIONS,
    LOSS_HEAD_FILE,
    TrainingResult,
    build_loss,
    build_model,
    dev_metric,
    per_device_batch_size,
    train_simcse,
    training_arguments,
)

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
    return train_simcse(
        tiny_bert_path, sentences, output_dir, RECIPE, max_steps=STEPS, seed=7, final_scores=False, **kwargs
    )


class EncoderWidths:
    """Records the input width of every encoder (Transformer module) call, split by train and eval mode."""

    def __init__(self) -> None:
        self.widths: dict[bool, list[int]] = {True: [], False: []}

    def __call__(self, module: torch.nn.Module, args: tuple, output: object) -> None:
        if isinstance(module, Transformer):
            self.widths[module.training].append(args[0]["input_ids"].size(1))

    def __enter__(self) -> EncoderWidths:
        self.handle = torch.nn.modules.module.register_module_forward_hook(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.handle.remove()


@pytest.fixture(scope="module")
def spied_run(
    tmp_path_factory: pytest.TempPathFactory, tiny_bert_path: Path, sentences: Dataset
) -> tuple[TrainingResult, EncoderWidths]:
    with EncoderWidths() as spy:
        result = train(tiny_bert_path, sentences, tmp_path_factory.mktemp("uninterrupted") / "run")
    return result, spy


@pytest.fixture(scope="module")
def uninterrupted(spied_run: tuple[TrainingResult, EncoderWidths]) -> TrainingResult:
    return spied_run[0]


def state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    return SentenceTransformer(str(path)).state_dict()


def test_keeps_the_checkpoint_with_the_best_sts_b_dev_score_as_the_official_scripts(
    uninterrupted: TrainingResult,
) -> None:
    assert uninterrupted.global_step == STEPS
    state = json.loads((uninterrupted.output_dir / f"checkpoint-{STEPS}" / "trainer_state.json").read_text())
    evaluations = [entry for entry in state["log_history"] if "eval_sts_dev_avg" in entry]
    assert [entry["step"] for entry in evaluations] == [2, 4, 6]
    # STS-B dev alone is evaluated and selected on (the official metric_for_best_model stsb_spearman)
    assert all("eval_sts_dev_SICKRelatedness" not in entry for entry in evaluations)
    stsb = [(entry["step"], entry["eval_sts_dev_STSBenchmark"]) for entry in evaluations]
    assert uninterrupted.dev_scores == stsb
    best_step, best_score = max(stsb, key=lambda entry: entry[1])
    assert Path(uninterrupted.best_checkpoint).name == f"checkpoint-{best_step}"
    assert uninterrupted.best_dev_score == pytest.approx(best_score)
    saved, best = state_dict(uninterrupted.output_dir), state_dict(uninterrupted.best_checkpoint)
    assert all(torch.equal(saved[key], best[key]) for key in best)
    # the STS-B dev score recomputed from the saved model, outside training, is the one it was selected for
    rescored = SentEvalSTSEvaluator(tasks=["STSBenchmark"], split="dev", name="", show_progress_bar=False)(
        SentenceTransformer(str(uninterrupted.output_dir))
    )
    assert rescored["STSBenchmark"] == pytest.approx(best_score, abs=1e-4)


def test_selection_metric_and_the_stsb_sickr_option(tmp_path: Path) -> None:
    assert dev_metric() == "eval_sts_dev_STSBenchmark"
    averaged = training_arguments(RECIPE, tmp_path, dev_tasks=DEV_SELECTIONS["stsb-sickr"])
    assert averaged.metric_for_best_model == "eval_sts_dev_avg"
    assert training_arguments(RECIPE, tmp_path).metric_for_best_model == "eval_sts_dev_STSBenchmark"


def test_gathering_across_devices_is_on_by_default_with_more_than_one_process(
    tiny_bert_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = build_model(RECIPE, tiny_bert_path)
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun sets it
    assert build_loss(model, RECIPE).gather_across_devices
    assert not build_loss(model, RECIPE, gather_across_devices=False).gather_across_devices
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not build_loss(model, RECIPE).gather_across_devices


def test_the_recipe_batch_is_the_global_batch() -> None:
    assert per_device_batch_size(512, 4) == 128  # the official supervised recipe: 4 GPUs x 128
    assert per_device_batch_size(64, 1) == 64
    with pytest.raises(ValueError, match="batch size 64 is the global batch.*3 processes.*multiple of 3"):
        per_device_batch_size(64, 3)


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


def test_training_passes_saw_the_recipe_length_and_evaluation_the_full_length(
    spied_run: tuple[TrainingResult, EncoderWidths],
) -> None:
    widths = spied_run[1].widths
    assert len(widths[True]) == STEPS and max(widths[True]) == RECIPE.max_seq_length  # long sentences were cut
    assert max(widths[False]) > RECIPE.max_seq_length  # STS dev is encoded whole


def test_every_torch_load_in_the_package_is_weights_only() -> None:
    calls = [
        (path.name, node)
        for path in Path(simcse_st.__file__).parent.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load"
    ]
    assert calls  # the checkpoint heads are read with torch.load
    for name, call in calls:
        keywords = {keyword.arg: ast.unparse(keyword.value) for keyword in call.keywords}
        assert keywords.get("weights_only") == "True", (name, ast.unparse(call))


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
