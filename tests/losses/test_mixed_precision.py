"""Under autocast the losses keep the similarity matrix and its softmax in fp32, and the loss stays within a stated
tolerance of the fp32 loss (bf16 autocast runs on any CPU, so this is tested everywhere)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from sentence_transformers.util import cos_sim

from simcse_st import SimCSELoss, SupervisedSimCSELoss, build_simcse_model
from simcse_st.losses.infonce import cosine_logits, info_nce

# |loss under bf16 autocast - loss in fp32|, all-MiniLM-L6-v2 with CLS pooling (the training MLP on), 32 Wikipedia
# sentences a column, the same dropout masks: measured 2e-4 (unsup) and 8e-4 (sup, loss 5.06) on this machine
BF16_LOSS_TOLERANCE = 2e-3


@pytest.fixture(scope="module")
def model(minilm_path: Path) -> SentenceTransformer:
    """all-MiniLM-L6-v2 with CLS pooling (the losses only read it)."""
    return build_simcse_model(minilm_path, pooling="cls", max_seq_length=32)


def test_similarity_matrix_and_softmax_are_fp32_under_autocast() -> None:
    generator = torch.Generator().manual_seed(0)
    anchors, candidates = (F.normalize(torch.randn(64, 384, generator=generator), dim=-1).bfloat16() for _ in "ab")
    exact = cos_sim(anchors.double(), candidates.double()) / 0.05
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = cosine_logits(anchors, candidates, 0.05)
        in_bf16 = cos_sim(anchors, candidates) / 0.05  # what autocast alone would compute
        loss = info_nce(logits.bfloat16(), torch.arange(64))
    assert logits.dtype == torch.float32 and loss.dtype == torch.float32
    ours, autocast_only = ((value.double() - exact).abs().max().item() for value in (logits, in_bf16))
    assert ours < 1e-5
    assert autocast_only > 100 * ours  # the fp32 matrix is what keeps the logits exact
    assert loss.item() == pytest.approx(F.cross_entropy(logits.bfloat16().double(), torch.arange(64)).item(), abs=1e-6)
    # fp64 (as the distributed tests run the losses) is kept, not cast down
    assert cosine_logits(anchors.double(), candidates.double(), 0.05).dtype == torch.float64
    assert info_nce(exact, torch.arange(64)).dtype == torch.float64


@pytest.mark.parametrize(
    ("loss_class", "columns", "options"),
    [(SimCSELoss, 1, {}), (SimCSELoss, 1, {"mlm_weight": 0.1}), (SupervisedSimCSELoss, 3, {}),
     (SimCSELoss, 1, {"mini_batch_size": 8})],
    ids=["unsup", "unsup-mlm", "sup", "unsup-gradcache"],
)
def test_loss_under_bf16_autocast_is_within_tolerance_of_fp32(
    model: SentenceTransformer, wiki_sentences: list[str], loss_class: type, columns: int, options: dict
) -> None:
    torch.manual_seed(0)
    loss = loss_class(model, **options)

    def value(autocast: bool) -> torch.Tensor:
        features = [model.preprocess(wiki_sentences[32 * i : 32 * (i + 1)]) for i in range(columns)]
        torch.manual_seed(1)  # the same dropout (and MLM) masks in both runs
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            return loss(features)

    full, mixed = value(False), value(True)
    assert mixed.dtype == torch.float32
    assert full.item() > 0.05  # a loss worth comparing, not a collapsed one
    assert abs(mixed.item() - full.item()) <= BF16_LOSS_TOLERANCE, (full.item(), mixed.item())
