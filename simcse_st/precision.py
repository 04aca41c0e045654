"""Mixed precision for training: which of fp32, fp16 and bf16 a run uses, and what the hardware allows.

``auto`` picks bf16 where the GPU has it natively (NVIDIA Ampere or newer), else fp16 on CUDA, and fp32 on a
machine without CUDA. bf16 on a CPU is allowed when the CPU has bf16 instructions (x86 ``avx512_bf16`` or
``amx_bf16``, Arm ``bf16``), read from ``/proc/cpuinfo``; fp16 is refused on a CPU. The choice becomes the
trainer's ``fp16=`` / ``bf16=`` (autocast for the forward pass, with a gradient scaler for fp16) and, on a machine
without CUDA, ``use_cpu=True`` for bf16, which the trainer needs to autocast on the CPU. The losses compute the
similarity matrix and its softmax in fp32 whatever the precision (:func:`simcse_st.losses.infonce.cosine_logits`).
"""

from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
"""The ``--precision`` choices."""
CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""x86 ``/proc/cpuinfo`` flags of native bf16 arithmetic."""
ARM_BF16_FEATURE = "bf16"
"""The Arm ``/proc/cpuinfo`` feature of native bf16 arithmetic."""
NATIVE_BF16_CUDA_CAPABILITY = 8
"""The first CUDA compute capability (Ampere) with bf16 tensor cores; older GPUs only emulate it."""


@lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """Whether this machine's CPU has bf16 instructions, as its ``/proc/cpuinfo`` says (False without that file)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return cpuinfo_has_bf16(text, platform.machine())


def cpuinfo_has_bf16(cpuinfo: str, machine: str) -> bool:
    """Whether a ``/proc/cpuinfo`` text lists native bf16: x86 ``avx512_bf16`` or ``amx_bf16`` among its ``flags``,
    or ``bf16`` among an Arm CPU's ``Features`` (``machine`` is ``platform.machine()``)."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    is_arm = machine.lower() in ("aarch64", "arm64")
    return bool(flags & CPU_BF16_FLAGS) or (is_arm and ARM_BF16_FEATURE in flags)


def cuda_supports_bf16() -> bool:
    """Whether the current CUDA GPU has native bf16 (compute capability 8.0 or newer); False without CUDA."""
    return torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= NATIVE_BF16_CUDA_CAPABILITY


def resolve_precision(precision: str = "auto") -> str:
    """The precision a run uses on this machine: ``precision`` itself once checked, or what ``auto`` picks.

    Args:
        precision: one of :data:`PRECISIONS`.

    Returns:
        ``"fp32"``, ``"fp16"`` or ``"bf16"``.

    Raises:
        ValueError: for an unknown name, bf16 on hardware without it, or fp16 without CUDA.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}.")
    on_cuda = torch.cuda.is_available()
    if precision == "auto":
        if on_cuda:
            return "bf16" if cuda_supports_bf16() else "fp16"
        return "fp32"
    if precision == "fp16" and not on_cuda:
        raise ValueError("--precision fp16 needs a CUDA GPU and this machine has none: use --precision fp32 (or "
                         "bf16 on a CPU with bf16 instructions), or auto.")
    if precision == "bf16" and not (cuda_supports_bf16() if on_cuda else cpu_supports_bf16()):
        where = f"the GPU {torch.cuda.get_device_name()}" if on_cuda else "this machine's CPU"
        instead = "fp16" if on_cuda else "fp32"
        raise ValueError(f"--precision bf16: {where} has no native bf16 support: use --precision {instead} or auto.")
    return precision


def precision_arguments(precision: str) -> dict[str, Any]:
    """The trainer's arguments for a resolved precision: ``fp16`` and ``bf16``, plus ``use_cpu=True`` for bf16 on a
    machine without CUDA (the trainer autocasts on the CPU only when told to use it)."""
    arguments: dict[str, Any] = {"fp16": precision == "fp16", "bf16": precision == "bf16"}
    if precision == "bf16" and not torch.cuda.is_available():
        arguments["use_cpu"] = True
    return arguments


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision (None for fp32: no autocast)."""
    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
