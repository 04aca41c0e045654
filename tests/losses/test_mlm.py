"""The auxiliary MLM objective (appendix F): masking, the lambda weighting and the loss-owned head."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers.base.losses.merged_forward import merge_feature_batches

from simcse_st import SimCSELoss, SupervisedSimCSELoss
from tests.losses.conftest import SENTENCES, tokenize


def test_masking_follows_15_percent_and_80_10_10(make_model):
    model = make_model()
    head = SimCSELoss(model, mlm_weight=0.1).mlm
    features = model.preprocess(SENTENCES * 200)
    torch.manual_seed(0)
    masked_features, labels = head.mask(features)
    masked = masked_features["input_ids"]
    original = features["input_ids"]
    special = torch.isin(original, torch.tensor(model.tokenizer.all_special_ids))
    chosen = labels != -100
    assert not (chosen & special).any(), "special and padding tokens are never predicted"
    assert torch.equal(labels[chosen], original[chosen])
    assert chosen.sum() / (~special).sum() == pytest.approx(0.15, abs=0.01)
    as_mask = (masked == model.tokenizer.mask_token_id) & chosen
    unchanged = (masked == original) & chosen
    assert as_mask.sum() / chosen.sum() == pytest.approx(0.8, abs=0.02)
    assert unchanged.sum() / chosen.sum() == pytest.approx(0.1, abs=0.02)  # (random draws rarely hit the original)


@pytest.mark.parametrize("loss_class", [SimCSELoss, SupervisedSimCSELoss])
def test_total_is_contrastive_plus_lambda_mlm(make_model, loss_class):
    model = make_model(dropout=0.0)
    columns = [SENTENCES] if loss_class is SimCSELoss else [SENTENCES[:4], SENTENCES[4:]]
    features = tokenize(model, *columns)
    with_mlm = loss_class(model, mlm_weight=0.1)
    without_mlm = loss_class(model, mlm_weight=0.0)
    if loss_class is SimCSELoss:
        without_mlm.head = with_mlm.head
    torch.manual_seed(1)
    total = with_mlm(features)
    torch.manual_seed(1)
    # one MLM term over the masked tokens of all columns together
    mlm_terms = with_mlm.mlm(model, merge_feature_batches(features) if len(features) > 1 else features[0])
    contrastive = without_mlm(features)
    assert total.item() == pytest.approx(contrastive.item() + 0.1 * mlm_terms.item(), rel=1e-5)
    assert mlm_terms.item() > 0


def test_mlm_head_is_trained_and_tied_to_the_word_embeddings(make_model):
    model = make_model()
    loss_fn = SimCSELoss(model, mlm_weight=0.1)
    assert loss_fn.mlm.decoder.weight is model[0].auto_model.get_input_embeddings().weight
    loss_fn(tokenize(model, SENTENCES)).backward()
    assert all(p.grad is not None for p in loss_fn.mlm.transform.parameters())
    assert any(key.startswith("mlm.transform") for key in loss_fn.head_state_dict())


def test_negative_mlm_weight_is_rejected(make_model):
    with pytest.raises(ValueError, match="mlm_weight must be >= 0"):
        SimCSELoss(make_model(), mlm_weight=-0.1)
