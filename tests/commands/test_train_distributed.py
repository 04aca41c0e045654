"""``simcse-st train`` under ``torchrun --nproc_per_node 2`` on CPU (gloo), gathering negatives across processes."""

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
        "--batch-size", "8", "--max-steps", "3", "--eval-steps", "2", "--gather-across-devices",
        "--data-dir", str(tmp_path / "no-dev-data"),
        *extra,
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("after 3 steps") == 1  # reported once, by the first process
    assert (output_dir / "checkpoint-2").is_dir()  # a checkpoint survives an interruption
    # real data parallelism: the two processes shared the data, 3 steps x 8 rows x 2 processes of 64 rows
    assert json.loads((output_dir / "checkpoint-3" / "trainer_state.json").read_text())["epoch"] == 0.75
    model = SentenceTransformer(str(output_dir), device="cpu")  # plain sentence-transformers, no simcse_st modules
    assert [type(module).__name__ for module in model] == ["Transformer", "Pooling"]
    assert model.encode(["A man is playing a guitar."]).shape == (1, 32)
