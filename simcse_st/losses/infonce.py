"""The InfoNCE pieces that both SimCSE losses share (Gao et al. 2021, eq. 1, 4 and 5).

For an anchor h_i with positive h_i^+ among candidates {h_j}, the training objective is

    l_i = -log( e^{sim(h_i, h_i^+)/tau} / sum_j e^{sim(h_i, h_j)/tau} )

with sim the cosine similarity and tau the temperature: a cross-entropy over cosine logits.

Under mixed precision (autocast in fp16 or bf16, as the trainer's ``fp16``/``bf16`` and ``simcse-st train
--precision`` run the encoder) the similarity matrix and its softmax are computed in fp32: low-precision
embeddings are cast up and autocast is switched off for these two steps (fp64, as some tests run, stays fp64). At
tau = 0.05 the logits span [-20, 20], where a bf16 matrix product of 384-d unit vectors errs by about 0.02 a logit;
in fp32 by about 1e-6 (tests/losses/test_mixed_precision.py).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
import torch.nn.functional as F
from sentence_transformers.util import all_gather_with_grad, cos_sim, get_rank
from torch import Tensor


def at_least_fp32(tensor: Tensor) -> Tensor:
    """``tensor`` in fp32 if it is in a lower precision (fp16, bf16); fp32 and fp64 tensors are returned as they are."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


def cosine_logits(anchors: Tensor, candidates: Tensor, temperature: float) -> Tensor:
    """``sim(h_i, h_j) / tau`` for every anchor i and candidate j: the exponent in eq. (1), in fp32 (or fp64) even
    under autocast (low-precision embeddings are cast up; gradients flow back to them in their own dtype)."""
    with torch.autocast(device_type=anchors.device.type, enabled=False):
        return cos_sim(at_least_fp32(anchors), at_least_fp32(candidates)) / temperature


def info_nce(logits: Tensor, positives: Tensor) -> Tensor:
    """Mean over anchors of ``-log softmax(logits_i)[positives_i]`` (eq. 1, 4, 5), in fp32 (or fp64) even under
    autocast."""
    with torch.autocast(device_type=logits.device.type, enabled=False):
        return F.cross_entropy(at_least_fp32(logits), positives)


def world_size() -> int:
    """Processes of this run (``WORLD_SIZE``, set by ``torchrun`` and ``accelerate launch``); 1 when not distributed."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def gathers_across_devices(option: bool | None) -> bool:
    """Whether a loss gathers the candidates of every process: ``option`` when given, else whether the run has more
    than one process, as the official code gathers whenever it runs distributed."""
    return world_size() > 1 if option is None else option


def gather_candidates(local: Tensor, across_devices: bool) -> tuple[Tensor, int]:
    """The candidates of every process and where this process's rows start among them.

    With ``across_devices`` under torch.distributed, the rows of all processes are concatenated with
    gradient flowing back to each process's own rows (sentence-transformers' all-gather-with-grad);
    otherwise the local rows are returned with offset 0.
    """
    if not (across_devices and dist.is_available() and dist.is_initialized()):
        return local, 0
    return all_gather_with_grad(local), get_rank() * local.size(0)


def positive_indices(batch_size: int, offset: int, device: torch.device) -> Tensor:
    """Index of anchor i's positive among the gathered candidates: ``offset + i``."""
    return torch.arange(offset, offset + batch_size, device=device)
