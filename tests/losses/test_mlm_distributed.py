"""The MLM term chunked by ``mini_batch_size`` under DDP: two gloo processes step like the average of their halves."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from simcse_st import SimCSELoss, build_simcse_model
from tests.losses.test_distributed import columns, free_port, one_step

MINI_BATCH_SIZE = 3


def build_mlm_loss(model_path: str, mini_batch_size: int | None) -> SimCSELoss:
    """Unsupervised SimCSE with the MLM term, in float64 and without dropout; the heads and masks seeded."""
    model = build_simcse_model(model_path, dropout=0.0).train()
    torch.manual_seed(0)  # the same heads in every process, then the same masking draws
    return SimCSELoss(model, mlp_head=True, mini_batch_size=mini_batch_size, mlm_weight=0.1).double()


def worker(rank: int, port: int, model_path: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        loss_fn = build_mlm_loss(model_path, MINI_BATCH_SIZE)
        loss_fn.model = DistributedDataParallel(loss_fn.model, find_unused_parameters=True)
        torch.save(one_step(loss_fn, columns("unsup", slice(rank * 8, (rank + 1) * 8))), Path(out) / f"rank{rank}.pt")
        del loss_fn  # free DDP's reducer while the process group lives (see test_distributed)
        gc.collect()
    finally:
        dist.destroy_process_group()


def test_chunked_mlm_under_ddp_steps_as_the_average_of_each_process_unchunked(tmp_path, tiny_bert_path):
    # spawned, not forked: a fork of the test process (torch's thread pools, a Ray client earlier in the session)
    # crashed with SIGSEGV in the child
    mp.start_processes(worker, args=(free_port(), str(tiny_bert_path), str(tmp_path)), nprocs=2, start_method="spawn")
    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]
    # what DDP must give: each process's whole-batch gradient on its own half (same masks: same seed), averaged;
    # from the same start, the parameters after one SGD step are then the average of the two local steps too
    local = [one_step(build_mlm_loss(str(tiny_bert_path), None), columns("unsup", slice(r * 8, (r + 1) * 8)))
             for r in range(2)]
    assert ranks[0].keys() == local[0].keys()
    assert any(name.startswith("mlm.decoder") and name.endswith(".grad") for name in ranks[0])
    for name in local[0]:
        expected = (local[0][name] + local[1][name]) / 2
        for rank in ranks:  # every process holds the same synchronized result
            torch.testing.assert_close(rank[name], expected, rtol=1e-5, atol=1e-5, msg=lambda m, n=name: f"{n}: {m}")
