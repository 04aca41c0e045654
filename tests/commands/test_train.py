"""``simcse-st train``: refuses bad input before training; trains, logs, selects, and saves a plain model."""

from __future__ import annotations

import csv
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from simcse_st.cli import build_parser, main
from simcse_st.commands import train as train_command
from simcse_st.commands.train import loss_options
from simcse_st.data.training import load_senteval_nli
from simcse_st.recipes import RECIPES
from simcse_st.training import DEV_SELECTIONS
from tests.test_training import EncoderWidths


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def train(*arguments: str | Path) -> int:
    return main(["train", *map(str, arguments), "--no-final-scores"])  # the card's test scores: test_mteb_submission


@pytest.fixture(scope="module")
def triplet_csv(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """64 SNLI triplets in the official nli_for_simcse.csv format."""
    triplets = load_senteval_nli(data_dir / "nli" / "snli", splits=["dev"]).select(range(64))
    path = tmp_path_factory.mktemp("nli") / "nli_for_simcse.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sent0", "sent1", "hard_neg"])
        writer.writerows(zip(triplets["anchor"], triplets["positive"], triplets["hard_negative"], strict=True))
    return path


def bad_input_cases(tmp_path: Path) -> list[tuple[list[str | Path], list[str]]]:
    """(arguments, fragments the error must contain)."""
    empty = write_lines(tmp_path / "empty.txt", [])
    few = write_lines(tmp_path / "few.txt", ["one sentence", "another one", "a third"])
    wrong = write_lines(tmp_path / "wrong.csv", ["premise,hypothesis,label", "a,b,entailment"])
    missing = tmp_path / "missing.txt"
    return [
        (["unsup", "--train-file", missing], [str(missing), "does not exist"]),
        (["unsup", "--train-file", empty], [str(empty), "empty"]),
        (["sup", "--train-file", wrong], ["['premise', 'hypothesis', 'label']", "sent0,sent1,hard_neg"]),
        (["unsup", "--train-file", few, "--batch-size", "8"], ["3 rows", "one batch of 8"]),
        (["unsup", "--train-file", few, "--preset", "unsup-bert-small"], ["unsup-bert-small", *RECIPES]),
        (["unsup", "--train-file", few, "--preset", "sup-bert-base"], ["sup-bert-base", "simcse-st train sup"]),
        (["unsup", "--train-file", few, "--hard-negative-weight", "1"], ["--hard-negative-weight", "supervised"]),
        (["unsup", "--train-file", few, "--resume"], ["--resume", "no checkpoint"]),
    ]


def test_bad_input_fails_before_training_with_a_clear_message(
    tmp_path: Path, tiny_bert_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output_dir = tmp_path / "out"
    for arguments, fragments in bad_input_cases(tmp_path):
        assert train(*arguments, "--model", tiny_bert_path, "--output-dir", output_dir) == 2, arguments
        error = capsys.readouterr().err
        assert error.startswith("simcse-st train: error:"), error
        for fragment in fragments:
            assert fragment in error, (arguments, error)
        assert not output_dir.exists(), arguments  # nothing was trained or saved


def test_gathering_flags_reach_the_loss_and_default_to_the_world_size() -> None:
    def gather(*flags: str) -> bool | None:
        args = build_parser().parse_args(["train", "unsup", "--train-file", "x", "--output-dir", "y", *flags])
        return loss_options(args)["gather_across_devices"]

    assert gather() is None  # left to the loss: on with more than one process
    assert gather("--gather-across-devices") is True
    assert gather("--no-gather-across-devices") is False


def test_a_batch_the_processes_do_not_divide_is_refused_before_training(
    tmp_path: Path, tiny_bert_path: Path, triplet_csv: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "3")  # as torchrun --nproc_per_node 3 sets it
    assert train("sup", "--model", tiny_bert_path, "--train-file", triplet_csv, "--output-dir", tmp_path / "out",
                 "--batch-size", "16") == 2
    error = capsys.readouterr().err
    assert "batch size 16 is the global batch" in error and "multiple of 3" in error
    assert not (tmp_path / "out").exists()


def test_supervised_run_selects_on_dev_writes_a_card_and_loads_in_plain_sentence_transformers(
    tmp_path: Path, tiny_bert_path: Path, triplet_csv: Path, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    output_dir = tmp_path / "sup-model"
    caplog.set_level(logging.INFO)
    with EncoderWidths() as spy:
        assert train("sup", "--model", tiny_bert_path, "--train-file", triplet_csv, "--output-dir", output_dir,
                     "--batch-size", "16", "--max-steps", "4", "--eval-steps", "2", "--lr", "1e-4",
                     "--max-seq-length", "12", "--select-on", "stsb-sickr") == 0
    out = capsys.readouterr().out
    assert "global batch 16 = 1 process(es) x 16 per device" in out
    assert "Best STS-B + SICK-R dev average" in out and f"to {output_dir}" in out
    # a log line per evaluation, over both dev tasks (the --select-on option; STS-B alone is the default)
    evaluations = [r.getMessage() for r in caplog.records if r.getMessage().startswith("SentEvalSTSEvaluator (dev")]
    assert [message.split(": ")[0].split(", ")[-1] for message in evaluations] == ["step 2", "step 4"]
    assert all("STS-B" in message and "SICK-R" in message for message in evaluations)
    # training saw --max-seq-length tokens (SNLI has longer sentences); the saved model encodes at full length
    assert max(spy.widths[True]) == 12
    assert SentenceTransformer(str(output_dir)).max_seq_length == 128

    card = (output_dir / "README.md").read_text()
    for fragment in ("SupervisedSimCSELoss", "recipe custom", triplet_csv.name, "sts_dev_avg"):
        assert fragment in card, fragment

    # the supervised recipe keeps its MLP: a built-in Dense layer; the model loads without simcse_st
    model = SentenceTransformer(str(output_dir))
    assert [type(module).__name__ for module in model] == ["Transformer", "Pooling", "Dense"]
    sentences = ["A man is playing a guitar.", "It is raining in the city."]
    script = (
        "import json, sys\n"
        "from sentence_transformers import SentenceTransformer\n"
        f"model = SentenceTransformer({str(output_dir)!r})\n"
        f"embeddings = model.encode({sentences!r}).tolist()\n"
        "assert not any(name.startswith('simcse_st') for name in sys.modules)\n"
        "print(json.dumps(embeddings))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    outside = json.loads(result.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(model.encode(sentences), np.array(outside), atol=1e-5)

    # a second run into the same folder must not silently overwrite it
    assert train("sup", "--model", tiny_bert_path, "--train-file", triplet_csv, "--output-dir", output_dir,
                 "--batch-size", "16", "--max-steps", "4") == 2
    assert "--resume" in capsys.readouterr().err


def test_select_on_choices_are_the_training_dev_selections() -> None:
    # the command keeps its own copy of the names so that --help does not import torch
    assert train_command.DEV_SELECTIONS == tuple(DEV_SELECTIONS)
