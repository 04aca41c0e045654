"""The speed and memory parts of benchmarks/gpu_check.py: training steps per second of the losses against
sentence-transformers' recipe, hard negatives against none, encoding throughput, GradCache against plain batches."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from bench_gradcache import peak_of, seconds_of
from bench_speed import interleaved_seconds, step_function
from gpu_check_common import (
    PRECISIONS,
    Context,
    free_memory,
    grad_scaler,
    peak_memory,
    steps_per_second,
    training_model,
)


def part_unsup_speed(ctx: Context) -> dict[str, Any]:
    """Steps per second of SimCSELoss against MNRL on (s, s), BERT-base shape, per precision and batch."""
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from simcse_st import SimCSELoss

    path, sizes = ctx.encoder("base"), ctx.sizes
    rows, values = [], {}
    for precision in PRECISIONS:
        reason = ctx.supported(precision)
        if reason:
            rows.append((f"{precision}", "skipped", reason))
            continue
        model = training_model(path, ctx.device, precision)
        scaler = grad_scaler(precision, ctx.device)
        runs = {
            "SimCSELoss": step_function(model, SimCSELoss(model).to(ctx.device), 1, scaler),
            "MNRL (s, s)": step_function(model, MultipleNegativesRankingLoss(model, scale=20.0), 2, scaler),
        }
        for batch_size in sizes.unsup_batches:
            data = ctx.sentences(sizes.steps, batch_size)
            seconds = interleaved_seconds(runs, data, sizes.rounds, ctx.device)
            rates = {name: steps_per_second(times, sizes.steps) for name, times in seconds.items()}
            ratio = rates["SimCSELoss"] / rates["MNRL (s, s)"]
            values[f"{precision}, batch {batch_size}"] = {"steps_per_second": rates, "ratio": ratio}
            rows.append((f"{precision}, batch {batch_size}: steps/s SimCSELoss vs MNRL (s, s)",
                         f"{rates['SimCSELoss']:.2f} vs {rates['MNRL (s, s)']:.2f}", f"**{ratio:.2f}x**"))
        del model, runs
        free_memory()
    return {"values": values, "rows": rows}


def part_sup_speed(ctx: Context) -> dict[str, Any]:
    """Steps per second of SupervisedSimCSELoss with hard negatives against without, BERT-base shape."""
    from simcse_st import SupervisedSimCSELoss
    from simcse_st.data import data_path
    from simcse_st.data.training import load_senteval_nli
    from simcse_st.precision import resolve_precision

    sizes, precision = ctx.sizes, resolve_precision("auto")
    triplets = load_senteval_nli(data_path("nli/snli", ctx.data_dir), splits=["dev", "test"])
    size = sizes.sup_batch
    data = [tuple(triplets[column][size * i : size * (i + 1)] for column in ("anchor", "positive", "hard_negative"))
            for i in range(sizes.steps)]
    model = training_model(ctx.encoder("base"), ctx.device, precision)
    loss = SupervisedSimCSELoss(model).to(ctx.device)
    scaler = grad_scaler(precision, ctx.device)
    with_negatives, without = step_function(model, loss, 3, scaler), step_function(model, loss, 2, scaler)
    runs = {"triplets": with_negatives, "pairs": lambda batch: without(batch[:2])}
    seconds = interleaved_seconds(runs, data, sizes.rounds, ctx.device)
    rates = {name: steps_per_second(times, sizes.steps) for name, times in seconds.items()}
    ratio = rates["triplets"] / rates["pairs"]
    row = (f"{precision}, batch {size}: steps/s with hard negatives vs without",
           f"{rates['triplets']:.2f} vs {rates['pairs']:.2f}", f"**{ratio:.2f}x** (3 vs 2 columns encoded)")
    return {"values": {"steps_per_second": rates, "ratio": ratio, "precision": precision}, "rows": [row]}


def part_encode(ctx: Context) -> dict[str, Any]:
    """Sentences per second of ``model.encode``, fp32 against fp16, MiniLM and the BERT-base shape."""
    import torch
    from sentence_transformers import SentenceTransformer

    sizes = ctx.sizes
    sentences = ctx.sentences(sizes.encode_sentences)[0]
    rows, values = [], {}
    for name, path in (("all-MiniLM-L6-v2", ctx.minilm), ("BERT-base shape", ctx.encoder("base"))):
        rates = {}
        for precision in ("fp32", "fp16"):
            reason = ctx.supported(precision)
            if reason:
                rows.append((f"{name}, {precision}", "skipped", reason))
                continue
            model = SentenceTransformer(str(path), device=ctx.device)
            if precision == "fp16":
                model.half()

            def encode(model: SentenceTransformer = model, texts: list[str] = sentences) -> torch.Tensor:
                return model.encode(texts, batch_size=sizes.encode_batch, convert_to_tensor=True)

            encode(texts=sentences[: sizes.encode_batch])  # warm-up
            rates[precision] = len(sentences) / seconds_of(encode, ctx.device)
            rows.append((f"{name}, {precision}: sentences/s at batch {sizes.encode_batch}",
                         f"{rates[precision]:,.0f}", f"{len(sentences):,} Wikipedia sentences"))
            del model
            free_memory()
        if len(rates) == 2:
            rows.append((f"{name}: fp16 / fp32 throughput", f"**{rates['fp16'] / rates['fp32']:.2f}x**", ""))
        values[name] = rates
    return {"values": values, "rows": rows}


def fits(step: Callable[[Any], None], batch: Any, loss: Any) -> bool:
    """Whether one training step on ``batch`` fits in GPU memory. Out of memory shows as torch's
    ``OutOfMemoryError`` or, when cuBLAS cannot get its workspace, a ``RuntimeError`` saying so; after either the
    partial gradients and the cache are freed (outside the ``except`` block, whose traceback holds the tensors)."""
    import torch

    try:
        step(batch)
        torch.cuda.synchronize()
        return True
    except RuntimeError as error:  # torch.cuda.OutOfMemoryError is a RuntimeError
        if not isinstance(error, torch.cuda.OutOfMemoryError) and "ALLOC_FAILED" not in str(error):
            raise
    loss.zero_grad(set_to_none=True)
    free_memory()
    return False


def part_gradcache(ctx: Context) -> dict[str, Any]:
    """Peak memory and time per step: GradCache at the global batch against the largest plain batch that fits."""
    from simcse_st import SimCSELoss
    from simcse_st.precision import resolve_precision

    sizes, precision = ctx.sizes, resolve_precision("auto")
    model = training_model(ctx.encoder("large"), ctx.device, precision)
    scaler = grad_scaler(precision, ctx.device)
    sentences = ctx.sentences(sizes.global_batch)[0]
    plain_loss = SimCSELoss(model).to(ctx.device)
    plain = step_function(model, plain_loss, 1, scaler)
    plain(sentences[: sizes.mini_batch])  # warm-up: the optimizer state exists from here on
    if ctx.device == "cuda":
        largest = 0
        for size in sizes.plain_batches:
            if not fits(plain, sentences[:size], plain_loss):
                break
            largest = size
        search = f"largest plain batch that fits (of {', '.join(map(str, sizes.plain_batches))})"
    else:
        largest = sizes.global_batch
        search = "no out-of-memory search on a CPU: the plain run takes the global batch"
    if largest == 0:
        raise RuntimeError(f"not even a plain batch of {sizes.plain_batches[0]} fits")
    cached = step_function(model, SimCSELoss(model, mini_batch_size=sizes.mini_batch).to(ctx.device), 1, scaler)
    cached(sentences)  # warm-up
    earlier_peak = peak_memory(ctx.device)[0]  # peak_of resets the statistics
    measures = {}
    for name, step, batch in (("plain", plain, sentences[:largest]), ("GradCache", cached, sentences)):
        times = [seconds_of(lambda step=step, batch=batch: step(batch), ctx.device) for _ in range(2)]
        peak, resident = peak_of(lambda step=step, batch=batch: step(batch), ctx.device)
        seconds = statistics.median(times)
        measures[name] = {"batch": len(batch), "seconds_per_step": seconds, "sentences_per_second":
                          len(batch) / seconds, "peak_above_resident_mib": peak / 2**20,
                          "resident_mib": resident / 2**20}
    plain_m, cached_m = measures["plain"], measures["GradCache"]
    rows = [
        (f"plain, batch {plain_m['batch']} ({search})",
         f"{plain_m['peak_above_resident_mib']:,.0f} MiB, {plain_m['seconds_per_step']:.2f} s/step",
         f"{plain_m['sentences_per_second']:,.0f} sentences/s; BERT-large shape, {precision}"),
        (f"GradCache, batch {cached_m['batch']}, mini-batch {sizes.mini_batch}",
         f"{cached_m['peak_above_resident_mib']:,.0f} MiB, {cached_m['seconds_per_step']:.2f} s/step",
         f"{cached_m['sentences_per_second']:,.0f} sentences/s"),
        ("GradCache / plain: peak memory, sentences/s",
         f"**{cached_m['peak_above_resident_mib'] / plain_m['peak_above_resident_mib']:.2f}x**, "
         f"**{cached_m['sentences_per_second'] / plain_m['sentences_per_second']:.2f}x**",
         "peak above the resident model and optimizer state"),
    ]
    values = measures | {"precision": precision, "largest_plain_batch": largest}
    return {"values": values, "rows": rows, "earlier_peak_mib": earlier_peak}


