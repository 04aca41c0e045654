"""build_simcse_model / load_model: built-in modules only, dropout override, clear errors, plain reload."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Dense, Pooling, Transformer
from torch import nn

from simcse_st import SimCSELoss, build_simcse_model
from simcse_st.models import ModelNotFoundError, load_model, training_max_seq_length

SENTENCES = ["A man is playing a guitar.", "The weather is lovely today.", "Stocks fell sharply."]


def dropout_probabilities(model: SentenceTransformer) -> set[float]:
    return {module.p for module in model.modules() if isinstance(module, nn.Dropout)}


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_builds_transformer_and_pooling(tiny_bert_path, pooling):
    model = build_simcse_model(tiny_bert_path, pooling=pooling, max_seq_length=16)
    assert [type(module) for module in model] == [Transformer, Pooling]
    assert model[1].pooling_mode == pooling
    # the model encodes at full length (the tiny BERT's 128 positions); 16 is the length the losses train at
    assert (model.max_seq_length, training_max_seq_length(model)) == (128, 16)


def test_saved_sentence_transformer_keeps_its_own_full_length(minilm_path, tmp_path):
    model = build_simcse_model(minilm_path, pooling="mean", max_seq_length=32)
    assert (model.max_seq_length, training_max_seq_length(model)) == (256, 32)  # all-MiniLM-L6-v2's 256, not 512
    model.save(str(tmp_path / "model"))
    assert SentenceTransformer(str(tmp_path / "model")).max_seq_length == 256


def test_mlp_at_inference_adds_a_tanh_dense_layer(tiny_bert_path):
    model = build_simcse_model(tiny_bert_path, mlp_at_inference=True)
    assert [type(module) for module in model] == [Transformer, Pooling, Dense]
    assert isinstance(model[2].activation_function, nn.Tanh)
    assert model[2].linear.in_features == model[2].linear.out_features == 32


def test_dropout_overrides_hidden_and_attention_dropout(tiny_bert_path):
    assert dropout_probabilities(build_simcse_model(tiny_bert_path)) == {0.1}
    model = build_simcse_model(tiny_bert_path, dropout=0.25)
    assert dropout_probabilities(model) == {0.25}
    config = model[0].auto_model.config
    assert config.hidden_dropout_prob == config.attention_probs_dropout_prob == 0.25
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        build_simcse_model(tiny_bert_path, dropout=1.5)


def test_bad_pooling_and_missing_paths_are_clear_errors(tiny_bert_path, tmp_path):
    with pytest.raises(ValueError, match="pooling must be 'cls' or 'mean'"):
        build_simcse_model(tiny_bert_path, pooling="max")
    missing = tmp_path / "no-such-model"
    for loader in (build_simcse_model, load_model):
        with pytest.raises(ModelNotFoundError, match=f"The model path {missing} does not exist"):
            loader(missing)


def test_hub_name_without_hub_says_what_to_pass_instead(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="pass a local folder instead"):
        build_simcse_model("princeton-nlp/no-such-model-for-simcse-st-tests")


def reload_in_fresh_process(path, sentences: list[str]) -> tuple[np.ndarray, list[str]]:
    """Encode with plain sentence-transformers in a new interpreter: no simcse_st, no trust_remote_code."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from sentence_transformers import SentenceTransformer
        model = SentenceTransformer({str(path)!r})
        assert "simcse_st" not in sys.modules
        print(json.dumps({{"embeddings": model.encode({sentences!r}).tolist(),
                          "modules": [type(m).__name__ for m in model]}}))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    return np.array(payload["embeddings"]), payload["modules"]


@pytest.mark.parametrize("mlp_at_inference", [False, True])
def test_saved_model_reloads_in_plain_sentence_transformers(tiny_bert_path, tmp_path, mlp_at_inference):
    model = build_simcse_model(tiny_bert_path, mlp_at_inference=mlp_at_inference)
    loss = SimCSELoss(model, mlp_head=True)  # a loss-owned head must not end up in the saved model
    torch.nn.init.normal_(loss.head[0].weight)
    model.save(str(tmp_path / "model"))
    model.eval()
    expected = model.encode(SENTENCES)
    embeddings, modules = reload_in_fresh_process(tmp_path / "model", SENTENCES)
    assert modules == (["Transformer", "Pooling", "Dense"] if mlp_at_inference else ["Transformer", "Pooling"])
    assert np.abs(embeddings - expected).max() < 1e-5
    saved_files = " ".join(p.name for p in (tmp_path / "model").rglob("*"))
    assert "head" not in saved_files
