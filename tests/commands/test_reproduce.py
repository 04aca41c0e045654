"""``simcse-st reproduce``: local files and tiny steps give a table of the scores computed independently; offline it
names the files to pass; unknown presets and runs estimated at days are refused."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr
from sentence_transformers import SentenceTransformer

from simcse_st import reproduction
from simcse_st.cli import main
from simcse_st.data.sts import STS_TASKS
from simcse_st.data.training import load_senteval_nli
from simcse_st.recipes import RECIPES
from simcse_st.reproduction import Hardware
from tests.sts_sample import STSSample

PRESETS = ("unsup-bert-base", "sup-bert-base")


@pytest.fixture(scope="module")
def local_files(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, wiki_sentences: list[str]
                ) -> dict[str, Path]:
    """Stand-ins of the paper's two training files: 64 Wikipedia sentences, 32 SNLI triplets."""
    folder = tmp_path_factory.mktemp("paper-data")
    wiki = folder / "wiki1m_for_simcse.txt"
    wiki.write_text("".join(f"{line}\n" for line in wiki_sentences[:64]), encoding="utf-8")
    triplets = load_senteval_nli(data_dir / "nli" / "snli", splits=["dev"]).select(range(32))
    nli = folder / "nli_for_simcse.csv"
    with open(nli, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sent0", "sent1", "hard_neg"])
        writer.writerows(zip(triplets["anchor"], triplets["positive"], triplets["hard_negative"], strict=True))
    return {"wiki": wiki, "nli": nli}


def independent_sts(model: SentenceTransformer, sample: STSSample) -> dict[str, float]:
    """The seven-task table computed plainly: per task, one Spearman x100 of cosines over all its subsets' pairs."""
    scores = {}
    for task in STS_TASKS:
        subsets = sample.pairs[task, "test"]
        first = [" ".join(s.split()) for subset in subsets for s in subset.sentences1]
        second = [" ".join(s.split()) for subset in subsets for s in subset.sentences2]
        a, b = model.encode(first).astype(np.float64), model.encode(second).astype(np.float64)
        cosines = np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        scores[task] = spearmanr([g for subset in subsets for g in subset.scores], cosines)[0] * 100
    scores["avg"] = float(np.mean(list(scores.values())))
    return scores


def markdown_row(label: str, scores: dict[str, float | None]) -> str:
    cells = ["-" if scores[task] is None else f"{scores[task]:.2f}" for task in [*STS_TASKS, "avg"]]
    return f"| {label} | " + " | ".join(cells) + " |"


def test_reproduce_with_local_files_writes_the_independently_computed_scores_beside_the_papers(
    tmp_path: Path, tiny_bert_path: Path, sample: STSSample, local_files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "reproduction"
    arguments = ["reproduce", "--preset", *PRESETS, "--model", str(tiny_bert_path), "--wiki-file",
                 str(local_files["wiki"]), "--nli-file", str(local_files["nli"]), "--data-dir", str(sample.root),
                 "--output-dir", str(out), "--batch-size", "8", "--max-steps", "2", "--eval-steps", "1"]
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "reproduction.json").read_text())
    markdown = (out / "reproduction.md").read_text()
    assert list(results["presets"]) == list(PRESETS)
    for preset in PRESETS:
        entry = results["presets"][preset]
        expected = independent_sts(SentenceTransformer(str(out / preset)), sample)
        assert entry["reproduced"] == pytest.approx(expected, abs=1e-6)
        assert entry["steps"] == 2 and entry["model"] == str(tiny_bert_path)
        assert entry["paper"]["avg"] == RECIPES[preset].reported_sts_avg
        paper = [entry["paper"][task] for task in STS_TASKS]
        assert sum(paper) / 7 == pytest.approx(entry["paper"]["avg"], abs=0.006)  # the paper's own average
        for row in (markdown_row(f"{preset} (paper)", entry["paper"]),
                    markdown_row(f"{preset} (reproduced)", expected)):
            assert row in markdown and row in printed, row

    # run again: the presets done are skipped, the results kept
    before = (out / "reproduction.json").read_text()
    assert main(arguments) == 0
    assert printed.count("done in an earlier run") == 0 and "done in an earlier run" in capsys.readouterr().out
    assert (out / "reproduction.json").read_text() == before


def test_offline_without_local_files_it_names_every_file_to_pass(
    tmp_path: Path, sample: STSSample, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reproduction"
    assert main(["reproduce", "--preset", *PRESETS, "--max-steps", "2", "--data-dir", str(sample.root),
                 "--output-dir", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    for fragment in ("--wiki-file PATH (a local wiki1m_for_simcse.txt", "--nli-file PATH (a local nli_for_simcse.csv",
                     "--model PATH (a local copy of bert-base-uncased)"):
        assert fragment in error
    assert not out.exists()


@pytest.mark.parametrize(("arguments", "fragment"), [
    (["--preset", "unsup-bert-small"], "Unknown preset 'unsup-bert-small'; the presets are: unsup-bert-base"),
    (["--preset", "sup-bert-base", "--max-steps", "0"], "--max-steps must be a positive integer"),
    (["--wiki-file", "/no/such/wiki.txt"], "--wiki-file /no/such/wiki.txt does not exist"),
])
def test_bad_arguments_give_one_line_and_exit_2(
    tmp_path: Path, arguments: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reproduce", *arguments, "--output-dir", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("simcse-st reproduce: error:") and fragment in error and error.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_preset_estimated_at_days_is_refused_with_the_estimate_unless_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    slow = Hardware("a slow test machine", 1e11, "1e11 FLOP/s assumed for the test")
    monkeypatch.setattr(reproduction, "detect_hardware", lambda: slow)
    hours = reproduction.estimate(RECIPES["unsup-bert-base"], reproduction.encoder_parameters("bert-base-uncased"),
                                  reproduction.HUB_ROWS["unsup"], slow).hours
    assert hours > 48
    assert main(["reproduce", "--preset", "unsup-bert-base", "--output-dir", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert f"would take about {hours / 24:.1f} days" in error and "a slow test machine" in error and "--force" in error
    assert main(["reproduce", "--preset", "unsup-bert-base", "--force", "--dry-run"]) == 0
    assert f"estimated {hours / 24:.1f} days" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()
