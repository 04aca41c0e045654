"""``simcse-st train`` under ``torchrun --nproc_per_node 2`` on CPU (gloo): the batch is the global batch, split over
the processes, with negatives gathered across them by default."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sentence_transformers import SentenceTransformer


# plain; gradient caching; and the MLM term, a second forward pass of the DDP model in each step
@pytest.mark.parametrize(
    "extra", [[], ["--mini-batch-size", "4"], ["--mlm-weight", "0.1"]], ids=["plain", "cached", "mlm"]
)
def test_torchrun_two_processes_train_and_save_a_plain_model(tiny_bert_path, wiki_sentences, tmp_path, extra):
    train_file = tmp_path / "sentences.txt"
    train_file.write_text("\n".join(wiki_sentences[:64]) + "\n", encoding="utf-8")
    output_dir = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "simcse_st.cli", "train", "unsup",
        "--model", str(tiny_bert_path), "--train-file", str(train_file), "--output-dir", str(output_dir),
        "--batch-size", "16", "--max-steps", "3", "--eval-steps", "2",
        "--data-dir", str(tmp_path / "no-dev-data"),
        *extra,
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("after 3 steps") == 1  # reported once, by the first process
    # --batch-size is the global batch: each process gets half, and gathering is on without being asked for
    batch_lines = [line for line in result.stdout.splitlines() if "global batch" in line]
    assert len(batch_lines) == 1, result.stdout
    assert "global batch 16 = 2 process(es) x 8 per device (negatives gathered across devices)" in batch_lines[0]
    assert '"gather_across_devices": true' in (output_dir / "README.md").read_text()
    assert (output_dir / "checkpoint-2").is_dir()  # a checkpoint survives an interruption
    # real data parallelism at 8 rows a process: 3 steps x 8 rows x 2 processes of 64 rows
    assert json.loads((output_dir / "checkpoint-3" / "trainer_state.json").read_text())["epoch"] == 0.75
    model = SentenceTransformer(str(output_dir), device="cpu")  # plain sentence-transformers, no simcse_st modules
    assert [type(module).__name__ for module in model] == ["Transformer", "Pooling"]
    assert model.encode(["A man is playing a guitar."]).shape == (1, 32)
