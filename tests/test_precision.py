"""simcse_st.precision: what ``auto`` picks on each kind of hardware, what is refused, and the trainer's arguments.

The hardware is monkeypatched (CUDA present or not, the GPU's compute capability, the CPU's bf16 instructions), so
every answer is tested on any machine, whatever its CPU has today.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from simcse_st import precision
from simcse_st.precision import cpuinfo_has_bf16, precision_arguments, resolve_precision
from simcse_st.recipes import get_recipe
from simcse_st.training import training_arguments

X86_FLAGS = "fpu vme de pse tsc msr pae mce cx8 apic sse sse2 avx avx2 avx512f avx512bw avx512_vnni"


def cpu(monkeypatch: pytest.MonkeyPatch, *, bf16: bool) -> None:
    """No CUDA; a CPU with or without bf16 instructions."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: bf16)


def gpu(monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int], name: str) -> None:
    """A CUDA GPU of the given compute capability."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *args: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args: name)


@pytest.mark.parametrize("bf16", [True, False])
def test_on_a_cpu_auto_is_fp32_fp16_is_refused_and_bf16_needs_the_instructions(
    monkeypatch: pytest.MonkeyPatch, bf16: bool
) -> None:
    cpu(monkeypatch, bf16=bf16)
    assert resolve_precision("auto") == "fp32"
    assert resolve_precision("fp32") == "fp32"
    with pytest.raises(ValueError, match=r"^--precision fp16 needs a CUDA GPU and this machine has none"):
        resolve_precision("fp16")
    if bf16:
        assert resolve_precision("bf16") == "bf16"
    else:
        with pytest.raises(ValueError, match=r"this machine's CPU has no native bf16 support: use --precision fp32"):
            resolve_precision("bf16")


@pytest.mark.parametrize(
    ("capability", "name", "auto"), [((9, 0), "NVIDIA H100", "bf16"), ((8, 0), "NVIDIA A100", "bf16"),
                                     ((7, 5), "Tesla T4", "fp16"), ((7, 0), "Tesla V100", "fp16")]
)
def test_on_a_gpu_auto_is_bf16_from_ampere_on_else_fp16(
    monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int], name: str, auto: str
) -> None:
    gpu(monkeypatch, capability, name)
    assert resolve_precision("auto") == auto
    assert resolve_precision("fp16") == "fp16"
    if auto == "bf16":
        assert resolve_precision("bf16") == "bf16"
    else:
        with pytest.raises(ValueError, match=f"the GPU {name} has no native bf16 support: use --precision fp16"):
            resolve_precision("bf16")


def test_an_unknown_precision_names_the_choices() -> None:
    with pytest.raises(ValueError, match="Unknown precision 'fp8': choose one of auto, fp32, fp16, bf16"):
        resolve_precision("fp8")


def test_cpuinfo_flags_of_bf16() -> None:
    assert not cpuinfo_has_bf16(f"processor\t: 0\nflags\t\t: {X86_FLAGS}\n", "x86_64")
    assert cpuinfo_has_bf16(f"processor\t: 0\nflags\t\t: {X86_FLAGS} avx512_bf16\n", "x86_64")
    assert cpuinfo_has_bf16(f"flags\t\t: {X86_FLAGS} amx_bf16 amx_tile\n", "x86_64")
    assert cpuinfo_has_bf16("Features\t: fp asimd evtstrm aes sve bf16 i8mm\n", "aarch64")
    assert not cpuinfo_has_bf16("Features\t: fp asimd evtstrm aes sve i8mm\n", "aarch64")
    assert not cpuinfo_has_bf16("Features\t: bf16\n", "x86_64")  # an x86 CPU's 'bf16' is not a feature line
    assert not cpuinfo_has_bf16("", "x86_64")


@pytest.mark.parametrize(
    ("cuda", "resolved", "expected"),
    [(False, "fp32", {"fp16": False, "bf16": False}), (False, "bf16", {"fp16": False, "bf16": True, "use_cpu": True}),
     (True, "fp16", {"fp16": True, "bf16": False}), (True, "bf16", {"fp16": False, "bf16": True})],
)
def test_trainer_arguments_of_each_precision(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, resolved: str, expected: dict[str, bool]
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert precision_arguments(resolved) == expected


def test_bf16_on_a_cpu_reaches_the_trainer_with_use_cpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cpu(monkeypatch, bf16=True)
    args = training_arguments(get_recipe("unsup-bert-base"), tmp_path, precision="bf16")
    assert (args.bf16, args.fp16, args.use_cpu) == (True, False, True)
    args = training_arguments(get_recipe("unsup-bert-base"), tmp_path)  # auto on a CPU: fp32
    assert (args.bf16, args.fp16, args.use_cpu) == (False, False, False)
