"""benchmarks/reproduce_paper.py: the plan it prints, the paper's numbers it compares with, and bad arguments."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from simcse_st.recipes import get_recipe

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "reproduce_paper.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reproduce_paper", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dry_run_prints_the_paper_recipes_and_trains_nothing(
    script: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert script.main(["--dry-run", "--output-dir", str(tmp_path / "runs")]) == 0
    unsup, sup = capsys.readouterr().out.strip().splitlines()
    for line, preset in ((unsup, "unsup-bert-base"), (sup, "sup-bert-base")):
        recipe = get_recipe(preset)
        for fragment in (f"recipe {preset}", f"batch {recipe.batch_size}", f"lr {recipe.learning_rate:g}",
                         "bert-base-uncased", "princeton-nlp/datasets-for-simcse", str(tmp_path / "runs")):
            assert fragment in line, (fragment, line)
    assert "MLP dropped" in unsup and "MLP kept" in sup
    assert not (tmp_path / "runs").exists()


def test_one_part_with_local_file_and_overrides(
    script: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nli = tmp_path / "nli_for_simcse.csv"
    nli.write_text("sent0,sent1,hard_neg\na,b,c\n")
    assert script.main(["--dry-run", "--part", "sup", "--nli-file", str(nli), "--batch-size", "128",
                        "--max-steps", "10"]) == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert line.startswith("sup:") and str(nli) in line and "batch 128" in line and "10 steps" in line


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["--wiki-file", "/no/such/wiki.txt"], "--wiki-file /no/such/wiki.txt does not exist"),
     (["--max-steps", "0"], "positive integer"),
     (["--part", "semi"], "invalid choice")],
)
def test_bad_arguments_exit_with_status_2(
    script: ModuleType, arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        script.main([*arguments, "--dry-run"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_paper_table_is_consistent(script: ModuleType) -> None:
    for part, preset in (("unsup", "unsup-bert-base"), ("sup", "sup-bert-base")):
        scores = script.PAPER_RESULTS[part]
        tasks = [score for task, score in scores.items() if task != "avg"]
        assert len(tasks) == 7
        assert sum(tasks) / 7 == pytest.approx(scores["avg"], abs=0.006)  # the paper's average of its seven columns
        assert get_recipe(preset).reported_sts_avg == scores["avg"]
