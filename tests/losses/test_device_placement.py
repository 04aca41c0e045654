"""On a CUDA device every tensor the losses create is on that device (run only where CUDA exists; skipped elsewhere).

A ``TorchFunctionMode`` sees every torch call made while a loss runs forward and backward; calls made from the code
of ``simcse_st/losses`` are checked: each tensor they return must be on the loss's device, and none may mix
devices among its tensor arguments (a CPU index or 0-d CPU tensor works silently on CUDA, with a synchronization).
The one exception is the MLM head's ``mask``, which masks on the CPU as transformers' collator does and then moves
the masked ids and labels to the device. ``benchmarks/gpu_check.py`` runs this file on a GPU.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import torch
from sentence_transformers.util import batch_to_device
from torch.overrides import TorchFunctionMode

import simcse_st.losses
from simcse_st import SimCSELoss, SupervisedSimCSELoss, build_simcse_model
from tests.losses.conftest import SENTENCES

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="device placement is checked on CUDA")

LOSSES_DIR = str(Path(simcse_st.losses.__file__).resolve().parent)
TORCH_DIR = str(Path(torch.__file__).resolve().parent)
CPU_BY_DESIGN = {"mask"}  # MaskedLanguageModelingHead.mask: masks on the CPU, then moves the result


def _calling_loss_function(frame: FrameType | None) -> str | None:
    """The function of simcse_st/losses that made this torch call (the first caller outside torch), if any."""
    while frame is not None and frame.f_code.co_filename.startswith((TORCH_DIR, __file__)):
        frame = frame.f_back
    if frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(LOSSES_DIR):
        return frame.f_code.co_name
    return None


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


class LossTensorDevices(TorchFunctionMode):
    """Records the torch calls of the losses' code that return a tensor off ``device`` or mix devices."""

    TRANSFERS = {"to", "cuda", "cpu", "copy_"}

    def __init__(self, device: torch.device) -> None:
        super().__init__()
        self.device = device
        self.off_device: list[str] = []
        self.mixed: list[str] = []
        self.calls = 0

    def __torch_function__(self, func: Callable, types: tuple, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        caller = _calling_loss_function(sys._getframe(1))
        name = getattr(func, "__name__", str(func))
        if caller is None or caller in CPU_BY_DESIGN:
            return result
        self.calls += 1
        where = f"{name} in {caller}"
        if any(tensor.device != self.device for tensor in _tensors(result)):
            self.off_device.append(where)
        devices = {tensor.device for tensor in _tensors((args, kwargs))}
        if len(devices) > 1 and name not in self.TRANSFERS:
            self.mixed.append(where)
        return result


def loss_cases() -> dict[str, tuple[Callable, int, int]]:
    """name -> (loss factory, text columns, sentences a column)."""
    return {
        "unsup-mlp": (lambda model: SimCSELoss(model, mlp_head=True), 1, 8),
        "unsup-gradcache": (lambda model: SimCSELoss(model, mlp_head=True, mini_batch_size=3), 1, 8),
        "unsup-mlm": (lambda model: SimCSELoss(model, mlm_weight=0.1), 1, 8),
        "unsup-mlm-gradcache": (lambda model: SimCSELoss(model, mlm_weight=0.1, mini_batch_size=3), 1, 8),
        "unsup-truncated": (lambda model: SimCSELoss(model, max_seq_length=8), 1, 8),
        "unsup-single-row": (lambda model: SimCSELoss(model), 1, 1),
        "sup-pairs": (lambda model: SupervisedSimCSELoss(model), 2, 4),
        "sup-triplets-weighted": (lambda model: SupervisedSimCSELoss(model, hard_negative_weight=1.0), 3, 4),
        "sup-triplets-gradcache": (lambda model: SupervisedSimCSELoss(model, mini_batch_size=2), 3, 4),
    }


@pytest.fixture
def device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device())


@pytest.mark.parametrize("case", list(loss_cases()))
def test_every_tensor_the_loss_creates_is_on_the_device(tiny_bert_path: Path, device: torch.device, case: str) -> None:
    make_loss, columns, rows = loss_cases()[case]
    model = build_simcse_model(tiny_bert_path, pooling="cls", max_seq_length=32).to(device)
    loss = make_loss(model).to(device)
    features = [
        batch_to_device(model.preprocess(SENTENCES[column * rows : (column + 1) * rows] or SENTENCES[:rows]), device)
        for column in range(columns)
    ]
    torch.manual_seed(0)
    with LossTensorDevices(device) as spy:
        value = loss(features)
        value.backward()
    assert spy.calls > 0  # the spy saw the loss's own code
    assert spy.off_device == [] and spy.mixed == []
    assert value.device == device
    gradients = [parameter.grad for parameter in loss.parameters() if parameter.grad is not None]
    assert case == "unsup-single-row" or gradients
    assert all(gradient.device == device for gradient in gradients)
