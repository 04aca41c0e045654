"""What both losses share: cutting batches to the training length, and checkpoints holding loss-owned heads only."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer

from simcse_st import SimCSELoss, SupervisedSimCSELoss, build_simcse_model
from simcse_st.losses.base import closing_token_count, truncate_features
from tests.losses.conftest import SENTENCES, tokenize

LONG = [
    "The committee, which had met every spring since the founding of the town in the early eighteenth century, "
    "finally agreed to rebuild the old stone bridge over the river before the autumn floods arrived again.",
    "Short one.",
    " ".join(["word"] * 31),  # exactly at the edge of 32 tokens with [CLS] and [SEP]
    " ".join(["word"] * 30),
    "Researchers at the observatory measured the faint light of a distant galaxy whose spectrum, unusually, "
    "showed no trace of hydrogen at all, puzzling astronomers around the world for several years.",
]


@pytest.fixture(params=["all-MiniLM-L6-v2", "tiny-bert"])
def encoder_path(request, minilm_path, tiny_bert_path):
    return minilm_path if request.param == "all-MiniLM-L6-v2" else tiny_bert_path


@pytest.mark.parametrize("length", [8, 32])
def test_cutting_a_full_length_batch_equals_the_tokenizers_own_truncation(encoder_path, length):
    tokenizer = build_simcse_model(encoder_path).tokenizer
    full = tokenizer(LONG, padding=True, truncation=True, return_tensors="pt")
    assert full["input_ids"].size(1) > length  # the long sentences really are longer
    expected = tokenizer(LONG, padding=True, truncation=True, max_length=length, return_tensors="pt")
    cut = truncate_features(dict(full), length, closing_token_count(tokenizer))
    assert cut.keys() == dict(expected).keys()
    for key, value in expected.items():
        assert torch.equal(cut[key], value), key


def record_encoder_widths(model: SentenceTransformer) -> tuple[list[int], torch.utils.hooks.RemovableHandle]:
    widths: list[int] = []
    handle = model[0].register_forward_hook(lambda module, args, output: widths.append(args[0]["input_ids"].size(1)))
    return widths, handle


@pytest.mark.parametrize("loss_class", [SimCSELoss, SupervisedSimCSELoss])
def test_model_keeps_its_full_length_while_the_loss_encodes_the_training_length(tiny_bert_path, loss_class):
    model = build_simcse_model(tiny_bert_path, max_seq_length=32)
    assert model.max_seq_length == 128  # the tiny BERT's max_position_embeddings: encode and save at full length
    columns = [LONG] if loss_class is SimCSELoss else [LONG, LONG[::-1]]
    features = tokenize(model, *columns)
    assert features[0]["input_ids"].size(1) > 32
    widths, handle = record_encoder_widths(model)
    try:
        loss_class(model)(features)
        loss_class(model, max_seq_length=12)(features)  # an explicit length overrides the model's
    finally:
        handle.remove()
    assert widths == [32, 12]


def test_a_model_without_a_training_length_trains_at_its_own(tiny_bert_path):
    model = build_simcse_model(tiny_bert_path, max_seq_length=None)
    features = tokenize(model, LONG)
    widths, handle = record_encoder_widths(model)
    try:
        loss = SimCSELoss(model)
        loss(features)
    finally:
        handle.remove()
    assert loss.max_seq_length is None and widths == [features[0]["input_ids"].size(1)] and widths[0] > 32


def test_head_state_dict_leaves_out_the_models_tensors_by_identity(make_model):
    model = make_model()
    loss = SimCSELoss(model, mlp_head=True, mlm_weight=0.1)
    word_embeddings = model[0].auto_model.get_input_embeddings().weight
    loss.alias = torch.nn.Linear(*reversed(word_embeddings.shape), bias=False)
    loss.alias.weight = word_embeddings  # tied to the model under a name that is not the model's
    heads = loss.head_state_dict()
    assert "alias.weight" not in heads
    model_keys = {f"model.{key}" for key in model.state_dict()}
    expected = {key for key in loss.state_dict() if key not in model_keys} - {"alias.weight"}
    # the MLM head is the official fresh, untied one: its decoder is the loss's own and is kept
    assert set(heads) == expected and {"head.0.weight", "mlm.decoder.weight", "mlm.transform.0.weight"} <= expected
    assert all(not tensor.requires_grad for tensor in heads.values())


def test_too_short_a_training_length_is_refused(make_model, tiny_bert_path):
    with pytest.raises(ValueError, match="max_seq_length must be an integer above"):
        SimCSELoss(make_model(), max_seq_length=2)
    with pytest.raises(ValueError, match="max_seq_length must be an integer >= 2"):
        build_simcse_model(tiny_bert_path, max_seq_length=1)


def test_sentences_shorter_than_the_training_length_are_untouched(make_model):
    model = make_model()
    features = tokenize(model, SENTENCES)[0]
    assert truncate_features(features, 32, 1) is features
