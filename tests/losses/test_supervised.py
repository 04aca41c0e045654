"""SupervisedSimCSELoss: NLI InfoNCE with in-batch positives and hard negatives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from simcse_st import SupervisedSimCSELoss
from tests.losses.conftest import SENTENCES, tokenize
from tests.losses.test_simcse import hand_info_nce

ANCHORS = SENTENCES[:4]
POSITIVES = ["A person plays music.", "Someone cuts a vegetable.", "Animals are outside.", "Shares lost value."]
NEGATIVES = ["Nobody plays anything.", "The onion is whole.", "The dogs sleep indoors.", "Markets soared."]


def encode(model, sentences: list[str]) -> np.ndarray:
    return model.encode(sentences, convert_to_numpy=True)


@pytest.mark.parametrize("mlp_at_inference", [False, True])
def test_pairs_equal_hand_computed_info_nce(make_model, mlp_at_inference):
    model = make_model(dropout=0.0, mlp_at_inference=mlp_at_inference)
    loss_fn = SupervisedSimCSELoss(model, temperature=0.05)
    with torch.no_grad():
        loss = loss_fn(tokenize(model, ANCHORS, POSITIVES)).item()
    expected = hand_info_nce(encode(model, ANCHORS), encode(model, POSITIVES), 0.05, np.arange(4))
    assert loss == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("hard_negative_weight", [0.0, 1.0, -2.0])
def test_triplets_with_weighted_hard_negatives_equal_hand_computation(make_model, hard_negative_weight):
    model = make_model(dropout=0.0)
    temperature = 0.05
    loss_fn = SupervisedSimCSELoss(model, temperature=temperature, hard_negative_weight=hard_negative_weight)
    with torch.no_grad():
        loss = loss_fn(tokenize(model, ANCHORS, POSITIVES, NEGATIVES)).item()

    a, p, n = encode(model, ANCHORS), encode(model, POSITIVES), encode(model, NEGATIVES)
    normalize = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    # eq. 5 by hand, one anchor at a time, with +w on the anchor's own hard negative
    per_anchor = []
    for i in range(4):
        positives = normalize(p) @ normalize(a)[i] / temperature
        negatives = normalize(n) @ normalize(a)[i] / temperature
        negatives[i] += hard_negative_weight
        per_anchor.append(-positives[i] + np.log(np.exp(positives).sum() + np.exp(negatives).sum()))
    assert loss == pytest.approx(float(np.mean(per_anchor)), rel=1e-5)
    if hard_negative_weight == 0.0:
        candidates = np.concatenate([p, n])
        assert loss == pytest.approx(hand_info_nce(a, candidates, temperature, np.arange(4)), rel=1e-5)


def test_single_triplet_has_a_negative_but_single_pair_does_not(make_model):
    model = make_model()
    loss_fn = SupervisedSimCSELoss(model)
    assert loss_fn(tokenize(model, ANCHORS[:1], POSITIVES[:1], NEGATIVES[:1])).item() > 0
    assert loss_fn(tokenize(model, ANCHORS[:1], POSITIVES[:1])).item() == 0.0


def test_wrong_columns_name_what_was_given_and_expected(make_model):
    model = make_model()
    loss_fn = SupervisedSimCSELoss(model)
    with pytest.raises(ValueError, match=r"expects 2 \(anchor, positive\) or 3 \(anchor, positive, hard_negative\)"):
        loss_fn(tokenize(model, ANCHORS))
    with pytest.raises(ValueError, match=r"has 4: \['a', 'b', 'c', 'd'\]"):
        loss_fn.validate_columns(["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="empty strings"):
        loss_fn(tokenize(model, ANCHORS[:2], ["fine", "  "]))


def test_config(make_model):
    loss_fn = SupervisedSimCSELoss(make_model(), hard_negative_weight=0.5)
    assert loss_fn.get_config_dict()["hard_negative_weight"] == 0.5
    assert loss_fn.get_config_dict()["temperature"] == 0.05
