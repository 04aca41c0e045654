"""The reproduction's estimates: the encoder's size read from its configuration, the CPU figure against the step
time it was measured from, and the default choice of presets by hardware."""

from __future__ import annotations

from pathlib import Path

import pytest

from simcse_st.data.sts import STS_TASKS
from simcse_st.recipes import RECIPES
from simcse_st.reproduction import (
    CPU_FLOPS_PER_THREAD,
    HUB_ROWS,
    Hardware,
    encoder_parameters,
    estimate,
    paper_row,
    plan_presets,
)


def test_encoder_parameters_from_a_local_configuration(minilm_path: Path) -> None:
    # all-MiniLM-L6-v2: 6 layers of width 384 with a 1,536-wide feed-forward block
    assert encoder_parameters(minilm_path) == 6 * (4 * 384 * 384 + 2 * 384 * 1536)
    assert encoder_parameters("bert-base-uncased") == 12 * (4 * 768 * 768 + 2 * 768 * 3072)  # without the Hub


def test_the_cpu_estimate_gives_back_the_step_time_it_was_measured_from(minilm_path: Path) -> None:
    # measured: 2.7 s a step of 64 sentences (twice each) at length 32 with all-MiniLM-L6-v2 on 2 threads
    recipe = RECIPES["unsup-bert-base"].with_overrides(eval_steps=10**6)
    cpu = Hardware("2 threads", 2 * CPU_FLOPS_PER_THREAD, "measured")
    def seconds(steps: int) -> float:
        return estimate(recipe, encoder_parameters(minilm_path), 64, cpu, max_steps=steps).hours * 3600

    one_step = (seconds(200) - seconds(100)) / 100
    assert one_step == pytest.approx(2.7, rel=0.05)
    assert seconds(1) - one_step == pytest.approx(135, rel=0.5)  # the seven test sets: about 135 s measured


def test_by_default_the_presets_that_fit_the_hardware_are_chosen() -> None:
    fast = Hardware("fast", 1e15, "assumed")
    assert [plan.recipe.name for plan in plan_presets(None, fast)] == list(RECIPES)
    hours = {name: estimate(RECIPES[name], encoder_parameters(RECIPES[name].model), HUB_ROWS[RECIPES[name].objective],
                            fast).hours for name in RECIPES}
    middle = Hardware("middle", 1e15 * max(hours.values()) / 24 * 0.999, "assumed")  # the longest just misses a day
    chosen = [plan.recipe.name for plan in plan_presets(None, middle)]
    assert chosen == [name for name in RECIPES if hours[name] < max(hours.values())]
    with pytest.raises(ValueError, match="No preset trains in under 24 h"):
        plan_presets(None, Hardware("slow", 1e9, "assumed"))


def test_paper_rows_are_table_5_whose_mean_is_the_reported_average() -> None:
    for name, recipe in RECIPES.items():
        row = paper_row(name)
        assert list(row) == [*STS_TASKS, "avg"]
        assert row["avg"] == recipe.reported_sts_avg
        assert sum(row[task] for task in STS_TASKS) / len(STS_TASKS) == pytest.approx(row["avg"], abs=0.005)
