"""gather_across_devices under DDP: two gloo processes with half a batch each step like one process on all of it."""

from __future__ import annotations

import gc
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from simcse_st import SimCSELoss, SupervisedSimCSELoss, build_simcse_model
from tests.losses.test_gradcache import BATCH, NEGATIVES, POSITIVES

LEARNING_RATE = 0.5  # large, so that a difference in gradients shows in the parameters


def build_loss(model_path: str, loss_name: str, gather: bool, mini_batch_size: int | None):
    model = build_simcse_model(model_path, dropout=0.0).train()
    torch.manual_seed(0)  # the same head initialisation in every process
    if loss_name == "unsup":
        loss = SimCSELoss(model, mlp_head=True, gather_across_devices=gather, mini_batch_size=mini_batch_size)
    else:
        loss = SupervisedSimCSELoss(
            model, hard_negative_weight=0.5, gather_across_devices=gather, mini_batch_size=mini_batch_size
        )
    # float64: without dropout the unsupervised gradient is a small difference of large terms, which float32
    # rounding would blur at the 1e-3 level between differently padded batches
    return loss.double()


def columns(loss_name: str, rows: slice) -> list[list[str]]:
    chosen = (BATCH,) if loss_name == "unsup" else (BATCH, POSITIVES, NEGATIVES)
    return [column[rows] for column in chosen]


def one_step(loss_fn, texts: list[list[str]]) -> dict[str, torch.Tensor]:
    """One SGD step on these texts; returns every trainable parameter after it and its gradient."""
    optimizer = torch.optim.SGD(loss_fn.parameters(), lr=LEARNING_RATE)
    model = getattr(loss_fn.model, "module", loss_fn.model)
    features = [model.preprocess(column) for column in texts]
    loss_fn(features).backward()
    optimizer.step()
    after = {}
    for name, parameter in loss_fn.named_parameters():
        name = name.replace("model.module.", "model.")
        after[name] = parameter.detach().clone()
        if parameter.grad is not None:
            after[f"{name}.grad"] = parameter.grad.clone()
    return after


def worker(rank: int, port: int, model_path: str, loss_name: str, gather: bool, mini_batch_size, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        loss_fn = build_loss(model_path, loss_name, gather, mini_batch_size)
        # what the trainer does with its model (BERT's pooler is unused, so find_unused_parameters, the default)
        loss_fn.model = DistributedDataParallel(loss_fn.model, find_unused_parameters=True)
        half = slice(rank * 8, (rank + 1) * 8)
        parameters = one_step(loss_fn, columns(loss_name, half))
        torch.save(parameters, Path(out) / f"rank{rank}.pt")
        # free DDP's reducer while the process group lives: freed at interpreter exit, it deadlocks gloo's threads
        del loss_fn
        gc.collect()
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_two_processes(tmp_path, model_path, loss_name: str, gather: bool, mini_batch_size=None):
    mp.spawn(
        worker, args=(free_port(), str(model_path), loss_name, gather, mini_batch_size, str(tmp_path)), nprocs=2
    )
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for name, value in ranks[0].items():  # DDP keeps the processes in step, the loss-owned head included
        torch.testing.assert_close(ranks[1][name], value, rtol=0, atol=1e-6, msg=lambda m, name=name: f"{name}: {m}")
    return ranks[0]


def max_relative_gradient_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(
        ((a[name] - b[name]).norm() / b[name].norm().clamp_min(1e-12)).item() for name in b if name.endswith(".grad")
    )


@pytest.mark.parametrize("loss_name, mini_batch_size", [("unsup", None), ("sup", None), ("unsup", 4)])
def test_gathered_ddp_step_equals_one_process_on_the_full_batch(tmp_path, tiny_bert_path, loss_name, mini_batch_size):
    single = one_step(build_loss(str(tiny_bert_path), loss_name, False, None), columns(loss_name, slice(0, 16)))
    gathered = run_two_processes(tmp_path, tiny_bert_path, loss_name, gather=True, mini_batch_size=mini_batch_size)
    assert single.keys() == gathered.keys()
    for name, value in single.items():
        torch.testing.assert_close(gathered[name], value, rtol=1e-5, atol=1e-5, msg=lambda m, name=name: f"{name}: {m}")
    if mini_batch_size is None:
        # without gathering each process only sees its own half as negatives: another gradient
        local = run_two_processes(tmp_path, tiny_bert_path, loss_name, gather=False)
        # (hard negatives make the local loss closer to the full one, but still four orders of magnitude off)
        assert max_relative_gradient_difference(local, single) > 0.01
        assert max_relative_gradient_difference(gathered, single) < 1e-6
