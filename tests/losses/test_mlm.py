"""The auxiliary MLM objective (appendix F): masking, the loss against a hand computation, the official fresh
untied head, logits at masked positions only, and chunking under ``mini_batch_size``."""

from __future__ import annotations

import math

import pytest
import torch

from simcse_st import SimCSELoss, SupervisedSimCSELoss
from simcse_st.losses.base import MLM_LABELS, MLM_NUM_MASKED
from tests.losses.conftest import SENTENCES, tokenize
from tests.losses.test_gradcache import loss_and_gradients, make_loss


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


def hand_mlm_loss(loss_fn, columns: list[dict]) -> float:
    """Mean over masked tokens of -log softmax(decoder(transform(h_t)))[original token], one token at a time."""
    terms = []
    with torch.no_grad():
        for column in columns:
            features = {key: value for key, value in column.items() if key not in (MLM_LABELS, MLM_NUM_MASKED)}
            hidden = loss_fn.model(features)["token_embeddings"]
            for row, position in (column[MLM_LABELS] != -100).nonzero().tolist():
                logits = loss_fn.mlm.decoder(loss_fn.mlm.transform(hidden[row, position])).double()
                label = column[MLM_LABELS][row, position]
                terms.append((logits.exp().sum().log() - logits[label]).item())
    return sum(terms) / len(terms)


@pytest.mark.parametrize("loss_class", [SimCSELoss, SupervisedSimCSELoss])
def test_total_is_contrastive_plus_lambda_times_hand_computed_mlm(make_model, loss_class):
    model = make_model(dropout=0.0)
    texts = [SENTENCES] if loss_class is SimCSELoss else [SENTENCES[:4], SENTENCES[4:]]
    features = tokenize(model, *texts)
    with_mlm = loss_class(model, mlm_weight=0.1)
    without_mlm = loss_class(model, mlm_weight=0.0)
    if loss_class is SimCSELoss:
        without_mlm.head = with_mlm.head
    torch.manual_seed(1)
    total = with_mlm(features).item()
    torch.manual_seed(1)  # the forward pass masks first: the same seed gives the same masks
    columns = with_mlm.mlm_columns(features)
    mlm = hand_mlm_loss(with_mlm, columns)
    assert total == pytest.approx(without_mlm(features).item() + 0.1 * mlm, rel=1e-5)
    assert mlm == pytest.approx(math.log(model.tokenizer.vocab_size), rel=0.05)  # a fresh head: near uniform
    labels = torch.cat([column[MLM_LABELS] for column in columns])
    # every row the encoder sees is masked: both dropout copies of each sentence, each with its own mask
    assert labels.size(0) == (2 * len(SENTENCES) if loss_class is SimCSELoss else len(SENTENCES))
    assert columns[0][MLM_NUM_MASKED] == (labels != -100).sum()
    if loss_class is SimCSELoss:
        assert not torch.equal(labels[0::2], labels[1::2])


def test_logits_are_computed_at_masked_positions_only(make_model):
    model = make_model(dropout=0.0)
    loss_fn = SimCSELoss(model, mlm_weight=0.1)
    decoder_inputs = []
    loss_fn.mlm.decoder.register_forward_hook(lambda module, args, output: decoder_inputs.append(args[0].shape))
    torch.manual_seed(0)
    num_masked = loss_fn.mlm_columns(tokenize(model, SENTENCES))[0][MLM_NUM_MASKED]
    torch.manual_seed(0)
    loss_fn(tokenize(model, SENTENCES))
    assert decoder_inputs == [torch.Size([num_masked, 32])]  # not batch x length x hidden


def test_mlm_head_is_the_official_fresh_untied_bert_head(make_model):
    model = make_model()
    loss_fn = SimCSELoss(model, mlm_weight=0.1)
    head = loss_fn.mlm
    word_embeddings = model[0].auto_model.get_input_embeddings().weight
    assert head.decoder.weight is not word_embeddings and head.decoder.weight.shape == word_embeddings.shape
    # BERT's initialization with the encoder config's initializer_range (0.02), zero biases, LayerNorm 1 / 0
    assert head.decoder.weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert head.decoder.weight.mean().abs().item() < 1e-3
    dense, activation, layer_norm = head.transform
    assert dense.weight.std().item() == pytest.approx(0.02, rel=0.15)
    assert type(activation).__name__ == "GELUActivation"  # the config's hidden_act, "gelu"
    assert layer_norm.eps == model[0].auto_model.config.layer_norm_eps
    for bias in (head.decoder.bias, dense.bias, layer_norm.bias):
        assert torch.count_nonzero(bias) == 0
    assert torch.all(layer_norm.weight == 1)
    loss_fn(tokenize(model, SENTENCES)).backward()
    assert all(p.grad is not None for p in head.parameters())
    assert word_embeddings.grad is not None  # the encoder learns from the MLM term through its inputs


@pytest.mark.parametrize("loss_class", [SimCSELoss, SupervisedSimCSELoss])
def test_chunked_mlm_equals_the_whole_batch(make_model, loss_class):
    plain, features = make_loss(make_model, loss_class, dropout=0.0, mlm_weight=0.1)
    cached, _ = make_loss(make_model, loss_class, dropout=0.0, mlm_weight=0.1, mini_batch_size=3)
    cached.load_state_dict(plain.state_dict())
    decoder_rows = []
    cached.mlm.decoder.register_forward_hook(lambda module, args, output: decoder_rows.append(args[0].size(0)))
    plain_loss, plain_grads = loss_and_gradients(plain, features, seed=5)
    cached_loss, cached_grads = loss_and_gradients(cached, features, seed=5)
    # the masks are drawn with the seed before any encoding: the same masks, so the same loss and gradients
    assert cached_loss == pytest.approx(plain_loss, rel=1e-5)
    assert plain_grads.keys() == cached_grads.keys()
    assert any(name.startswith("mlm.decoder") for name in cached_grads)
    for name, gradient in plain_grads.items():
        torch.testing.assert_close(cached_grads[name], gradient, rtol=1e-5, atol=1e-5, msg=name)
    # chunk by chunk: the MLM rows went through the decoder in chunks of 3, in both passes
    rows = 2 * 16 if loss_class is SimCSELoss else 3 * 16
    assert len(decoder_rows) == 2 * math.ceil(rows / 3)


def test_negative_mlm_weight_is_rejected(make_model):
    with pytest.raises(ValueError, match="mlm_weight must be >= 0"):
        SimCSELoss(make_model(), mlm_weight=-0.1)
