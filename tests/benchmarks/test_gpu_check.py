"""benchmarks/gpu_check.py --tiny: the GPU check runs on the CPU with tiny shapes, so it never rots before a GPU is
lent; its JSON has every part, the correctness and real-run verdicts pass, and what a CPU cannot measure says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
import torch

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "gpu_check.py"
PARTS = ["env", "correctness", "cuda_tests", "unsup_speed", "sup_speed", "encode", "real_run", "gradcache"]
CORRECTNESS_CASES = ["unsup (MLP head)", "unsup GradCache", "unsup + MLM", "sup triplets, hard negative weight 1",
                     "sup triplets GradCache"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """The JSON and the printed output of one ``--tiny`` run."""
    folder = tmp_path_factory.mktemp("gpu-check")
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--json", str(folder / "check.json"), "--work-dir",
         str(folder / "work")],
        cwd=folder, env=environment, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((folder / "check.json").read_text(encoding="utf-8")), result.stdout


def test_every_part_ran_or_says_why_not(tiny_run: tuple[dict[str, Any], str]) -> None:
    report, _ = tiny_run
    assert report["context"]["device"] == "cpu" and report["context"]["tiny"] is True
    parts = report["parts"]
    assert list(parts) == PARTS
    assert parts["cuda_tests"] == {"skipped": "the CUDA-only tests need CUDA"}
    for name in set(PARTS) - {"cuda_tests"}:
        assert "error" not in parts[name] and "skipped" not in parts[name], (name, parts[name])
        assert parts[name]["seconds"] > 0 and parts[name]["peak_memory_mib"] > 0, name


def test_correctness_on_the_device_matches_the_cpu_within_tolerance(tiny_run: tuple[dict[str, Any], str]) -> None:
    correctness = tiny_run[0]["parts"]["correctness"]
    measured = {key.rsplit(", ", 1)[0] for key in correctness["verdicts"]}
    assert measured == set(CORRECTNESS_CASES)
    assert all(correctness["verdicts"].values()), correctness["verdicts"]
    for case in CORRECTNESS_CASES:  # fp32 on the CPU is the CPU: exactly equal
        assert correctness["values"][f"{case}, fp32"]["loss_rel_error"] == 0.0
        assert correctness["values"][f"{case}, fp32"]["grad_rel_error"] == 0.0
    fp16_rows = [row for row in correctness["rows"] if row[0].endswith(", fp16")]
    assert len(fp16_rows) == len(CORRECTNESS_CASES)
    assert all(row[1:] == ["skipped", "fp16 autocast is meaningless on a CPU"] for row in fp16_rows)


def test_the_real_run_selects_resumes_and_reloads(tiny_run: tuple[dict[str, Any], str]) -> None:
    real_run = tiny_run[0]["parts"]["real_run"]
    assert real_run["verdicts"] == {
        "trained to the last step": True,
        "resumed run reached the last step": True,
        "resumed run ends as the uninterrupted one": True,
        "built-in modules only": True,
        "reloaded model scores what it was selected for": True,
        "card records the precision": True,
    }
    values = real_run["values"]
    assert values["resumed_from"] == "checkpoint-2" and list(values["dev_scores"]) == ["2", "4"]
    assert values["precision"] == "fp32"


def test_speed_and_memory_parts_measure_both_sides(tiny_run: tuple[dict[str, Any], str]) -> None:
    parts = tiny_run[0]["parts"]
    unsup = parts["unsup_speed"]["values"]
    assert {"fp32, batch 8", "fp32, batch 16"} <= set(unsup)
    for entry in unsup.values():
        rates = entry["steps_per_second"]
        assert set(rates) == {"SimCSELoss", "MNRL (s, s)"} and min(rates.values()) > 0
        assert entry["ratio"] == pytest.approx(rates["SimCSELoss"] / rates["MNRL (s, s)"])
    assert ["fp16", "skipped", "fp16 autocast is meaningless on a CPU"] in parts["unsup_speed"]["rows"]
    assert set(parts["sup_speed"]["values"]["steps_per_second"]) == {"triplets", "pairs"}
    gradcache = parts["gradcache"]["values"]
    assert gradcache["plain"]["batch"] == gradcache["GradCache"]["batch"] == gradcache["largest_plain_batch"] == 16
    assert all(gradcache[run]["seconds_per_step"] > 0 for run in ("plain", "GradCache"))
    assert set(parts["encode"]["values"]) == {"all-MiniLM-L6-v2", "BERT-base shape"}


def test_one_table_is_printed(tiny_run: tuple[dict[str, Any], str]) -> None:
    report, output = tiny_run
    table = output.split("All parts,", 1)[1]
    assert "| part | measure | value | note |" in table
    for name in PARTS:
        assert f"\n| {name} |" in table, name
    assert "| cuda_tests | skipped | | the CUDA-only tests need CUDA |" in table


def test_the_largest_batch_search_takes_out_of_memory_as_a_no_and_frees_the_gradients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    from gpu_check_speed import fits

    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    loss = torch.nn.Linear(2, 2)

    def step(error: Exception | None) -> None:
        loss(torch.ones(1, 2)).sum().backward()  # partial gradients, then the failure
        if error is not None:
            raise error

    assert fits(step, None, loss) and loss.weight.grad is not None
    for out_of_memory in (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
                          RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate(handle)")):
        assert not fits(step, out_of_memory, loss)
        assert loss.weight.grad is None and loss.bias.grad is None
    with pytest.raises(RuntimeError, match="shape mismatch"):
        fits(step, RuntimeError("shape mismatch"), loss)
