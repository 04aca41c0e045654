"""Gradient caching (mini_batch_size): the same loss and gradients as one big batch, dropout masks replayed."""

from __future__ import annotations

import pytest
import torch

from simcse_st import SimCSELoss, SupervisedSimCSELoss
from tests.losses.conftest import tokenize

BATCH = [f"Sentence number {i} talks about topic {i % 5} and item {i * 7}." for i in range(16)]
POSITIVES = [f"A paraphrase of sentence {i} on topic {i % 5}." for i in range(16)]
NEGATIVES = [f"Something unrelated, case {i}, about a different thing." for i in range(16)]


def make_loss(make_model, loss_class, dropout: float, **kwargs):
    model = make_model(dropout=dropout).train()  # as the trainer does: dropout active
    torch.manual_seed(0)
    if loss_class is SimCSELoss:
        loss = SimCSELoss(model, mlp_head=True, **kwargs)
        columns = (BATCH,)
    else:
        loss = SupervisedSimCSELoss(model, hard_negative_weight=0.5, **kwargs)
        columns = (BATCH, POSITIVES, NEGATIVES)
    return loss, tokenize(model, *columns)


def loss_and_gradients(loss_fn, features, seed: int = 0) -> tuple[float, dict[str, torch.Tensor]]:
    loss_fn.zero_grad()
    torch.manual_seed(seed)
    loss = loss_fn(features)
    loss.backward()
    return loss.item(), {name: p.grad.clone() for name, p in loss_fn.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("loss_class", [SimCSELoss, SupervisedSimCSELoss])
def test_cached_equals_plain_without_dropout(make_model, loss_class):
    plain, features = make_loss(make_model, loss_class, dropout=0.0)
    cached, _ = make_loss(make_model, loss_class, dropout=0.0, mini_batch_size=4)
    cached.load_state_dict(plain.state_dict())
    plain_loss, plain_grads = loss_and_gradients(plain, features)
    cached_loss, cached_grads = loss_and_gradients(cached, features)
    assert cached_loss == pytest.approx(plain_loss, rel=1e-5)
    assert plain_grads.keys() == cached_grads.keys()
    assert any(name.startswith("head.") for name in plain_grads) == (loss_class is SimCSELoss)
    for name, gradient in plain_grads.items():
        torch.testing.assert_close(cached_grads[name], gradient, rtol=1e-5, atol=1e-7, msg=name)


def chunked_reference(loss_fn, features, chunk: int, seed: int) -> tuple[float, dict[str, torch.Tensor]]:
    """The plain loss with the masks the cached loss draws: chunks embedded in order, with gradient, one seed."""
    loss_fn.zero_grad()
    torch.manual_seed(seed)
    embeddings = []
    for column in features:
        rows = column["input_ids"].size(0)
        parts = [
            loss_fn.embed({key: value[i : i + chunk] for key, value in column.items() if torch.is_tensor(value)})
            for i in range(0, rows, chunk)
        ]
        embeddings.append(torch.cat(parts))
    loss = loss_fn.contrastive_loss(embeddings)
    loss.backward()
    return loss.item(), {name: p.grad.clone() for name, p in loss_fn.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("loss_class", [SimCSELoss, SupervisedSimCSELoss])
def test_cached_second_pass_replays_the_dropout_masks(make_model, loss_class):
    cached, features = make_loss(make_model, loss_class, dropout=0.1, mini_batch_size=4)
    cached_loss, cached_grads = loss_and_gradients(cached, features, seed=123)
    reference_loss, reference_grads = chunked_reference(cached, features, chunk=4, seed=123)
    # the gradient is that of the embeddings drawn in the first pass: the second pass used the same masks
    assert cached_loss == pytest.approx(reference_loss, rel=1e-5)
    for name, gradient in reference_grads.items():
        torch.testing.assert_close(cached_grads[name], gradient, rtol=1e-4, atol=1e-6, msg=name)
    # and dropout matters here: another seed gives other masks, another loss
    other_loss, _ = chunked_reference(cached, features, chunk=4, seed=7)
    assert other_loss != pytest.approx(reference_loss, rel=1e-4)


def test_mini_batch_size_must_be_positive(make_model):
    model = make_model()
    for bad in (0, -4, 2.5):
        with pytest.raises(ValueError, match="mini_batch_size must be a positive integer"):
            SimCSELoss(model, mini_batch_size=bad)
