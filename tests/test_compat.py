"""The sentence-transformers internals of simcse_st._compat still behave as simcse-st relies on.

Every failure names the installed sentence-transformers version and what changed (``incompatibility``).
"""

from __future__ import annotations

import configparser
import inspect
from pathlib import Path

import pytest
import torch
import transformers
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from sentence_transformers import SentenceTransformerTrainer
from torch import nn

from simcse_st import _compat
from simcse_st._compat import (
    CachedLossMixin,
    RandContext,
    _create_minibatch,
    check_trainer_checkpoint_hooks,
    embed_columns,
    incompatibility,
    merge_feature_batches,
)
from simcse_st.losses.base import SimCSELossBase


def expect(condition: bool, what: str) -> None:
    if not condition:
        pytest.fail(incompatibility(what))


def features(rows: int, width: int, length: int) -> dict:
    """A padded batch: row i has ``length`` real tokens, then padding; plus a per-row tensor and a non-tensor."""
    input_ids = torch.arange(1, rows * width + 1).view(rows, width)
    attention_mask = torch.zeros(rows, width, dtype=torch.long)
    attention_mask[:, :length] = 1
    return {"input_ids": input_ids * attention_mask, "attention_mask": attention_mask,
            "labels": input_ids.clone(), "count": 7}


def test_create_minibatch_slices_every_tensor_by_rows_and_passes_other_values():
    batch = features(rows=5, width=6, length=4)
    chunk = _create_minibatch(batch, 1, 3)
    expect(set(chunk) == set(batch), f"_create_minibatch returned keys {sorted(chunk)}, not {sorted(batch)}")
    expect(chunk["count"] == 7, "_create_minibatch no longer passes non-tensor values through unchanged")
    for key in ("input_ids", "attention_mask", "labels"):
        # rows 1-2; the trailing columns that are padding in every row of the chunk may be trimmed
        width = chunk[key].size(1)
        expect(4 <= width <= 6 and torch.equal(chunk[key], batch[key][1:3, :width]),
               f"_create_minibatch(batch, 1, 3)[{key!r}] is not rows 1-2 of the batch")
    expect(_create_minibatch(batch, 4, 10)["input_ids"].size(0) == 1, "_create_minibatch does not clip `end`")


def test_merge_feature_batches_pads_columns_to_one_width_column_after_column():
    narrow, wide = features(rows=2, width=3, length=3), features(rows=2, width=5, length=5)
    narrow.pop("count"), wide.pop("count")
    merged = merge_feature_batches([narrow, wide])
    expect(merged is not None, "merge_feature_batches refused two homogeneous columns")
    for key in ("input_ids", "attention_mask"):
        expect(merged[key].shape == (4, 5), f"merged {key!r} has shape {tuple(merged[key].shape)}, not (4, 5)")
        expect(torch.equal(merged[key][:2, :3], narrow[key]) and torch.equal(merged[key][2:], wide[key]),
               f"merge_feature_batches no longer stacks {key!r} column after column")
        expect(not merged[key][:2, 3:].any(), f"merge_feature_batches pads {key!r} with something else than 0")


class CountingEncoder(nn.Module):
    """A stand-in model: the sentence embedding of a row is the sum of its input ids; counts forward calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, batch: dict) -> dict:
        self.calls += 1
        return {"sentence_embedding": batch["input_ids"].float().sum(dim=1, keepdim=True)}


def test_embed_columns_encodes_mergeable_columns_in_one_forward_pass():
    columns = [features(rows=2, width=3, length=3), features(rows=2, width=5, length=2)]
    for column in columns:
        column.pop("count")
    encoder = CountingEncoder()
    embeddings = embed_columns(encoder, columns, separate_first=False)
    expect(encoder.calls == 1, f"embed_columns made {encoder.calls} forward passes for two mergeable columns, not 1")
    expect(len(embeddings) == 2, "embed_columns no longer returns one tensor per column")
    for column, embedding in zip(columns, embeddings, strict=True):
        expect(torch.equal(embedding, column["input_ids"].float().sum(dim=1, keepdim=True)),
               "embed_columns returns the columns' embeddings in another order or shape")


def test_rand_context_replays_the_rng_of_its_creation_and_restores_the_outer_one():
    torch.manual_seed(0)
    state = RandContext(torch.zeros(1))
    first = torch.nn.functional.dropout(torch.ones(64), p=0.5)
    after_first = torch.rand(4)
    torch.manual_seed(0)
    torch.nn.functional.dropout(torch.ones(64), p=0.5)  # the same draws as above, without the context
    with state:
        replay = torch.nn.functional.dropout(torch.ones(64), p=0.5)
    expect(torch.equal(replay, first), "RandContext no longer replays the dropout mask drawn after its creation")
    expect(torch.equal(torch.rand(4), after_first), "RandContext no longer restores the outer RNG state on exit")


def test_cached_loss_mixin_calls_the_hooks_simcse_st_overrides_with_the_same_parameters():
    for name in ("embed_minibatch", "calculate_loss"):
        ours = list(inspect.signature(getattr(SimCSELossBase, name)).parameters)
        theirs = list(inspect.signature(getattr(CachedLossMixin, name)).parameters)
        expect(ours == theirs, f"CachedLossMixin.{name} takes {theirs}; simcse-st overrides it with {ours}")
    expect(callable(getattr(CachedLossMixin, "forward_cached", None)), "CachedLossMixin.forward_cached is gone")


def test_trainer_checkpoint_hooks_keep_the_parameters_simcse_st_overrides():
    check_trainer_checkpoint_hooks(SentenceTransformerTrainer)
    # and the trainers still call them where checkpoints are written, resumed and the best one is loaded
    for method, call in ((transformers.Trainer._maybe_log_save_evaluate, "self._save_checkpoint(model, trial)"),
                         (transformers.Trainer.train, "self._load_from_checkpoint(resume_from_checkpoint)"),
                         (SentenceTransformerTrainer._load_best_model,
                          "self._load_from_checkpoint(self.state.best_model_checkpoint)")):
        expect(call in inspect.getsource(method), f"{method.__qualname__} no longer calls {call}")


def test_a_changed_hook_fails_with_the_installed_version_named():
    class Changed:
        def _save_checkpoint(self, model):  # lost its ``trial`` parameter
            pass

        def _load_from_checkpoint(self, checkpoint_path):
            pass

    with pytest.raises(TypeError) as error:
        check_trainer_checkpoint_hooks(Changed)
    message = str(error.value)
    assert f"installed version {_compat.SENTENCE_TRANSFORMERS_VERSION}" in message
    assert "Changed._save_checkpoint takes ('self', 'model')" in message and _compat.VERIFIED_RANGE in message

    class Missing:
        def _save_checkpoint(self, model, trial):
            pass

    with pytest.raises(TypeError, match="Missing._load_from_checkpoint no longer exists"):
        check_trainer_checkpoint_hooks(Missing)


def test_the_verified_range_is_the_range_setup_cfg_installs():
    """A user installs only sentence-transformers releases whose internals this file checked (and names them)."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(Path(__file__).resolve().parents[1] / "setup.cfg", encoding="utf-8")
    lines = config.get("options", "install_requires").splitlines()
    requirements = [Requirement(line.split("#")[0]) for line in lines if line.split("#")[0].strip()]
    installed = next(r for r in requirements if r.name == "sentence-transformers")
    assert installed.specifier == SpecifierSet(_compat.VERIFIED_RANGE)
