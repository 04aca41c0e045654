"""Real runs: all-MiniLM-L6-v2 trained for 20 steps with both losses, through the trainer and through ``fit``.

The loss is measured on the training batches before and after, with the same dropout seed, so "the loss
falls" compares like with like; the weights (and the unsupervised loss's MLP head) must have moved.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.readers import InputExample
from torch import nn
from torch.utils.data import DataLoader

from simcse_st import SimCSELoss, SupervisedSimCSELoss, build_simcse_model
from simcse_st.data.training import load_senteval_nli

BATCH_SIZE = 8
BATCHES = 5  # 4 epochs over 5 batches: 20 steps
STEPS = 20


@pytest.fixture(scope="module")
def unsup_data(wiki_sentences: list[str]) -> Dataset:
    return Dataset.from_dict({"sentence": wiki_sentences[: BATCH_SIZE * BATCHES]})


@pytest.fixture(scope="module")
def sup_data(data_dir: Path) -> Dataset:
    triplets = load_senteval_nli(data_dir / "nli" / "snli", splits=["dev"])
    return triplets.select(range(BATCH_SIZE * BATCHES))


def make_loss(kind: str, minilm_path: Path) -> nn.Module:
    """A fresh MiniLM SimCSE model (dropout 0.1, as trained) and its loss."""
    torch.manual_seed(0)
    model = build_simcse_model(minilm_path, pooling="mean", max_seq_length=32)
    # mean pooling has no MLP by default (the official avg pooler); forced here so its training is checked
    return SimCSELoss(model, mlp_head=True) if kind == "unsup" else SupervisedSimCSELoss(model)


def loss_on(loss_fn: nn.Module, data: Dataset) -> float:
    """Mean loss over the data's batches, in training mode with a fixed dropout seed."""
    model = loss_fn.model
    model.train()
    torch.manual_seed(1)
    total = 0.0
    with torch.no_grad():
        for start in range(0, data.num_rows, BATCH_SIZE):
            rows = data[start : start + BATCH_SIZE]
            total += loss_fn([model.preprocess(rows[column]) for column in data.column_names]).item()
    return total * BATCH_SIZE / data.num_rows


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def train_with_trainer(loss_fn: nn.Module, data: Dataset, output_dir: Path) -> None:
    args = SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=BATCH_SIZE,
        max_steps=STEPS,
        learning_rate=1e-4,
        warmup_steps=0,
        save_strategy="no",
        report_to="none",
        seed=0,
    )
    SentenceTransformerTrainer(model=loss_fn.model, args=args, train_dataset=data, loss=loss_fn).train()


def train_with_fit(loss_fn: nn.Module, data: Dataset, output_dir: Path) -> None:
    examples = [InputExample(texts=[row[column] for column in data.column_names]) for row in data]
    loader = DataLoader(examples, batch_size=BATCH_SIZE, shuffle=True)
    loss_fn.model.fit(
        train_objectives=[(loader, loss_fn)],
        epochs=STEPS // BATCHES,
        warmup_steps=0,
        optimizer_params={"lr": 1e-4},
        show_progress_bar=False,
    )


@pytest.mark.parametrize("kind", ["unsup", "sup"])
@pytest.mark.parametrize("train", [train_with_trainer, train_with_fit], ids=["trainer", "fit"])
def test_twenty_steps_lower_the_loss_and_move_the_weights(
    kind: str, train: Callable[[nn.Module, Dataset, Path], None], minilm_path, unsup_data, sup_data, tmp_path
):
    data = unsup_data if kind == "unsup" else sup_data
    loss_fn = make_loss(kind, minilm_path)
    before = loss_on(loss_fn, data)
    weights, head = snapshot(loss_fn.model), snapshot(loss_fn.head)
    train(loss_fn, data, tmp_path)
    after = loss_on(loss_fn, data)
    assert after < 0.9 * before, f"the {kind} loss went from {before:.4f} to {after:.4f}"
    moved = [name for name, value in loss_fn.model.state_dict().items() if not torch.equal(value, weights[name])]
    assert any("encoder.layer.5" in name for name in moved) and any("word_embeddings" in name for name in moved)
    if kind == "unsup":  # the training-only MLP head is optimized by the trainer too
        assert all(not torch.equal(value, head[name]) for name, value in loss_fn.head.state_dict().items())
        assert not any("head" in name for name in loss_fn.model.state_dict())
