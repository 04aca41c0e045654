"""The paper's recipes by name, and flags overriding them."""

from __future__ import annotations

import pytest

from simcse_st.recipes import RECIPES, default_recipe, get_recipe

# The official repository's hyperparameter table (README, "Hyperparameters") and run scripts:
# name -> (batch size, learning rate, epochs, MLP kept at inference)
OFFICIAL = {
    "unsup-bert-base": (64, 3e-5, 1, False),
    "unsup-bert-large": (64, 1e-5, 1, False),
    "unsup-roberta-base": (512, 1e-5, 1, False),
    "unsup-roberta-large": (512, 3e-5, 1, False),
    "sup-bert-base": (512, 5e-5, 3, True),
    "sup-bert-large": (512, 1e-5, 3, True),
    "sup-roberta-base": (512, 5e-5, 3, True),
    "sup-roberta-large": (512, 1e-5, 3, True),
}


def test_presets_carry_the_official_hyperparameters() -> None:
    assert set(RECIPES) == set(OFFICIAL)
    for name, (batch_size, learning_rate, epochs, mlp_at_inference) in OFFICIAL.items():
        recipe = get_recipe(name)
        assert (recipe.batch_size, recipe.learning_rate, recipe.epochs, recipe.mlp_at_inference) == (
            batch_size, learning_rate, epochs, mlp_at_inference), name
        # shared by every recipe of the paper
        assert (recipe.max_seq_length, recipe.temperature, recipe.pooling, recipe.eval_steps) == (32, 0.05, "cls", 125)
        assert recipe.objective == name.split("-")[0]
        assert recipe.model.startswith(name.split("-")[1])


def test_flags_override_a_preset_and_unset_flags_keep_it() -> None:
    preset = get_recipe("sup-bert-base")
    recipe = preset.with_overrides(batch_size=128, learning_rate=None, temperature=0.1)
    assert (recipe.batch_size, recipe.learning_rate, recipe.temperature) == (128, preset.learning_rate, 0.1)
    assert preset.batch_size == 512  # the preset itself is untouched


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unsup-bert-small") as error:
        get_recipe("unsup-bert-small")
    assert all(name in str(error.value) for name in RECIPES)


@pytest.mark.parametrize(
    ("override", "message"),
    [({"batch_size": 0}, "batch_size"), ({"learning_rate": -1.0}, "learning_rate"),
     ({"temperature": 0.0}, "temperature"), ({"batch_size": 1}, "at least 2"), ({"dropout": 0.1}, "no field")],
)
def test_out_of_range_overrides_are_refused(override: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        get_recipe("unsup-bert-base").with_overrides(**override)


def test_default_recipe_is_the_bert_base_recipe_of_the_objective() -> None:
    for objective in ("unsup", "sup"):
        recipe = default_recipe(objective)
        assert recipe.name == "custom"
        assert recipe.learning_rate == get_recipe(f"{objective}-bert-base").learning_rate
    with pytest.raises(ValueError, match="'unsup' or 'sup'"):
        default_recipe("semi")
