"""SimCSELoss: the unsupervised dropout-pair InfoNCE."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from simcse_st import SimCSELoss, SupervisedSimCSELoss, build_simcse_model
from tests.losses.conftest import SENTENCES, tokenize


def hand_info_nce(anchors: np.ndarray, candidates: np.ndarray, temperature: float, targets: np.ndarray) -> float:
    """InfoNCE written out in numpy: mean_i -log(e^{s_i,t_i} / sum_j e^{s_ij}), s = cosine / temperature."""
    a = anchors / np.linalg.norm(anchors, axis=1, keepdims=True)
    c = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    logits = a @ c.T / temperature
    log_normalizer = np.log(np.exp(logits - logits.max(axis=1, keepdims=True)).sum(axis=1)) + logits.max(axis=1)
    return float(np.mean(log_normalizer - logits[np.arange(len(a)), targets]))


@pytest.mark.parametrize("mlp_head", [False, True])
@pytest.mark.parametrize("temperature", [0.05, 0.5])
def test_loss_equals_hand_computed_info_nce_without_dropout(make_model, mlp_head, temperature):
    model = make_model(dropout=0.0)
    loss_fn = SimCSELoss(model, temperature=temperature, mlp_head=mlp_head)
    with torch.no_grad():
        loss = loss_fn(tokenize(model, SENTENCES)).item()
        embeddings = model.encode(SENTENCES, convert_to_tensor=True)
        h = loss_fn.head(embeddings).numpy()  # the head as the loss owns it (identity without mlp_head)
    # without dropout both views equal h, so the positive of anchor i is candidate i
    expected = hand_info_nce(h, h, temperature, np.arange(len(SENTENCES)))
    assert loss == pytest.approx(expected, rel=1e-5)


def test_one_encoder_call_per_batch_of_2b_rows(make_model):
    model = make_model(dropout=0.1)
    loss_fn = SimCSELoss(model)
    rows_seen = []
    hook = model[0].register_forward_hook(lambda module, args, output: rows_seen.append(args[0]["input_ids"].size(0)))
    try:
        loss_fn(tokenize(model, SENTENCES))
    finally:
        hook.remove()
    assert rows_seen == [2 * len(SENTENCES)]


def two_views(model, loss_fn) -> tuple[torch.Tensor, torch.Tensor]:
    features = tokenize(model, SENTENCES)[0]
    h = loss_fn.embed(features).view(len(SENTENCES), 2, -1)
    return h[:, 0], h[:, 1]


def test_views_differ_with_dropout_and_match_without(make_model):
    torch.manual_seed(0)
    with_dropout = make_model(dropout=0.1).train()
    first, second = two_views(with_dropout, SimCSELoss(with_dropout, mlp_head=False))
    assert (first - second).abs().max() > 1e-3

    without_dropout = make_model(dropout=0.0).train()
    first, second = two_views(without_dropout, SimCSELoss(without_dropout, mlp_head=False))
    torch.testing.assert_close(first, second)


def test_mlp_head_gets_gradients_and_is_not_in_the_model(make_model):
    model = make_model(dropout=0.1)
    loss_fn = SimCSELoss(model, mlp_head=True)
    loss_fn(tokenize(model, SENTENCES)).backward()
    head_parameters = list(loss_fn.head.parameters())
    assert head_parameters and all(p.grad is not None and p.grad.abs().sum() > 0 for p in head_parameters)
    model_parameter_ids = {id(p) for p in model.parameters()}
    assert not any(id(p) in model_parameter_ids for p in head_parameters)
    assert set(loss_fn.head_state_dict()) == {"head.0.weight", "head.0.bias"}


def test_bad_temperature_and_column_count(make_model):
    model = make_model()
    for temperature in (0.0, -0.05):
        with pytest.raises(ValueError, match="temperature must be > 0"):
            SimCSELoss(model, temperature=temperature)
    loss_fn = SimCSELoss(model)
    with pytest.raises(ValueError, match=r"expects 1 \(sentence\) text columns, but the batch has 2"):
        loss_fn(tokenize(model, SENTENCES, SENTENCES))
    with pytest.raises(ValueError, match=r"\['premise', 'hypothesis'\]"):
        loss_fn.validate_columns(["premise", "hypothesis", "label"])
    loss_fn.validate_columns(["text", "label"])


def test_empty_string_is_a_clear_error(make_model):
    model = make_model()
    with pytest.raises(ValueError, match=r"rows \[1\] of text column 0 .* empty strings"):
        SimCSELoss(model)(tokenize(model, ["A sentence.", "", "Another sentence."]))


def test_single_row_batch_warns_once_and_adds_no_loss(make_model, caplog):
    model = make_model()
    loss_fn = SimCSELoss(model)
    with caplog.at_level(logging.WARNING):
        first = loss_fn(tokenize(model, ["Only one sentence here."]))
        second = loss_fn(tokenize(model, ["And one more."]))
    assert first.item() == 0.0 and second.item() == 0.0
    first.backward()  # the trainer calls backward on it: no crash
    assert sum("no in-batch negatives" in record.message for record in caplog.records) == 1


def test_model_without_dropout_warns_about_collapse(make_model, caplog):
    with caplog.at_level(logging.WARNING):
        SimCSELoss(make_model(dropout=0.0))
    assert any("collapses" in record.message for record in caplog.records)


def test_config_and_citation(make_model):
    loss_fn = SimCSELoss(make_model(), temperature=0.1, mlp_head=False)
    assert loss_fn.get_config_dict() == {
        "max_seq_length": 32,
        "temperature": 0.1,
        "gather_across_devices": False,
        "mini_batch_size": None,
        "mlm_weight": 0.0,
        "mlp_head": False,
    }
    assert "gao2021simcse" in loss_fn.citation


@pytest.mark.parametrize(
    ("pooling", "mlp_head", "expected"),
    [("cls", None, True), ("mean", None, False), ("mean", True, True), ("cls", False, False)],
)
def test_mlp_head_by_default_only_with_cls_pooling(make_model, pooling, mlp_head, expected):
    loss_fn = SimCSELoss(make_model(pooling=pooling), mlp_head=mlp_head)
    assert loss_fn.mlp_head is expected
    assert isinstance(loss_fn.head, torch.nn.Sequential if expected else torch.nn.Identity)


def test_mlp_head_is_initialized_as_the_official_one(make_model):
    model = make_model(pooling="cls")
    model[0].auto_model.config.initializer_range = 0.3  # read from the encoder's config, not hard-coded
    torch.manual_seed(0)
    linear = SimCSELoss(model).head[0]
    assert torch.equal(linear.bias, torch.zeros_like(linear.bias))
    weights = linear.weight.detach().flatten()
    # 1024 draws of normal(0, 0.3): the sample std within 10 %, the mean within 4 standard errors of 0
    assert weights.std().item() == pytest.approx(0.3, rel=0.1)
    assert abs(weights.mean().item()) < 4 * 0.3 / weights.numel() ** 0.5


def test_view_zero_rows_are_the_anchors_and_view_one_rows_the_candidates(make_model):
    """With a pooling output that depends on the row (rows 2i and 2i+1 differ), the loss is eq. 4 with the
    first view of each sentence as h_i and the second as h_i' (InfoNCE is not symmetric in the two)."""
    model = make_model(dropout=0.0)
    shift = torch.randn(2 * len(SENTENCES), model.get_embedding_dimension(), generator=torch.Generator().manual_seed(3))

    def by_row(module, args, output):  # noqa: ANN001, ANN202
        pooled = output["sentence_embedding"]
        return {**output, "sentence_embedding": pooled + shift[: pooled.size(0)]}

    loss_fn = SimCSELoss(model, temperature=0.05, mlp_head=False)
    with torch.no_grad():
        h = model.encode(SENTENCES, convert_to_tensor=True).numpy()
        handle = model[1].register_forward_hook(by_row)
        try:
            loss = loss_fn(tokenize(model, SENTENCES)).item()
        finally:
            handle.remove()
    first, second = h + shift[0::2].numpy(), h + shift[1::2].numpy()
    targets = np.arange(len(SENTENCES))
    assert loss == pytest.approx(hand_info_nce(first, second, 0.05, targets), rel=1e-5)
    assert abs(loss - hand_info_nce(second, first, 0.05, targets)) > 1e-3  # the swapped roles give another value


def test_supervised_recipe_mlp_is_initialized_as_the_official_one(tiny_bert_path):
    linear = build_simcse_model(tiny_bert_path, mlp_at_inference=True)[2].linear
    assert torch.equal(linear.bias, torch.zeros_like(linear.bias))
    assert linear.weight.std().item() == pytest.approx(0.02, rel=0.1)  # BertConfig's initializer_range


@pytest.mark.parametrize("loss_class", [SimCSELoss, SupervisedSimCSELoss])
def test_gathering_defaults_to_on_with_more_than_one_process(make_model, monkeypatch, loss_class):
    model = make_model()
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert loss_class(model).gather_across_devices is False
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun --nproc_per_node 2 sets it, before the loss is built
    assert loss_class(model).gather_across_devices is True
    assert loss_class(model, gather_across_devices=False).gather_across_devices is False
