"""The SimCSE paper's training recipes, by name.

The hyperparameters are those of the official repository's README ("Hyperparameters") and run scripts
(``run_unsup_example.sh``, ``run_sup_example.sh``), with which the released checkpoints were trained:

=================  ==========  ====================  ====================
                   Unsup BERT  Unsup RoBERTa         Sup (BERT, RoBERTa)
=================  ==========  ====================  ====================
batch size         64          512                   512
lr (base)          3e-5        1e-5                  5e-5
lr (large)         1e-5        3e-5                  1e-5
epochs             1           1                     3
=================  ==========  ====================  ====================

All recipes: max length 32 in training (the saved model encodes at the encoder's full length, as the official
evaluation does), temperature 0.05, [CLS] pooling, STS-B dev evaluated every 125 steps with the best checkpoint
kept (the official ``--metric_for_best_model stsb_spearman``). Unsupervised recipes train an MLP over [CLS] and
drop it at inference (it lives in the loss); supervised ones keep it (a Dense layer with tanh in the model) and
use the contradiction as a hard negative with weight 1 (``hard_negative_weight`` 0, its logarithm).

The batch size is the global batch, as in the official scripts (the supervised 512 is 4 GPUs x 128): under
``torchrun`` with N processes each gets batch/N and the embeddings of all processes are gathered as negatives.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Recipe:
    """One training recipe: what :func:`simcse_st.training.train_simcse` needs besides the data.

    Attributes:
        name: the preset name (``"custom"`` for one built from flags only).
        objective: ``"unsup"`` (dropout positives, one sentence column) or ``"sup"`` (NLI triplets).
        model: the checkpoint the paper starts from (a Hub name).
        batch_size: sentences (unsup) or triplets (sup) per step over all processes (the global batch).
        learning_rate: peak learning rate (linear decay, no warm-up, as the official trainer).
        epochs: passes over the training data.
        max_seq_length: training tokens per sentence (the saved model keeps the encoder's full length).
        temperature: tau of the InfoNCE loss.
        pooling: ``"cls"`` or ``"mean"``.
        mlp_at_inference: keep the MLP over the pooled embedding in the saved model (supervised recipe);
            otherwise it is trained in the loss and dropped (unsupervised recipe).
        hard_negative_weight: log of the weight of each anchor's own hard negative (supervised only).
        eval_steps: evaluate on STS dev (STS-B by default) every so many steps and keep the best checkpoint.
        reported_sts_avg: the seven-task STS average of the official checkpoint trained with this recipe.
    """

    name: str
    objective: str
    model: str
    batch_size: int
    learning_rate: float
    epochs: float
    max_seq_length: int = 32
    temperature: float = 0.05
    pooling: str = "cls"
    mlp_at_inference: bool = False
    hard_negative_weight: float = 0.0
    eval_steps: int = 125
    reported_sts_avg: float | None = None

    def with_overrides(self, **overrides: Any) -> Recipe:
        """A copy with the given fields replaced; ``None`` values leave a field as it is (an unset flag).

        Raises:
            ValueError: for a field the recipe does not have, or a value out of range.
        """
        unknown = set(overrides) - {field.name for field in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"Recipe has no field {sorted(unknown)}.")
        recipe = dataclasses.replace(self, **{key: value for key, value in overrides.items() if value is not None})
        recipe.validate()
        return recipe

    def validate(self) -> None:
        """Raise a ValueError naming the first field out of range."""
        if self.objective not in ("unsup", "sup"):
            raise ValueError(f"objective must be 'unsup' or 'sup', got {self.objective!r}.")
        for name in ("batch_size", "max_seq_length", "eval_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}.")
        if self.objective == "unsup" and self.batch_size < 2:
            raise ValueError("batch_size must be at least 2: the other sentences of a batch are the negatives.")
        for name in ("learning_rate", "epochs", "temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}.")


def _unsup(name: str, model: str, batch_size: int, learning_rate: float, reported: float) -> Recipe:
    return Recipe(name, "unsup", model, batch_size, learning_rate, epochs=1, reported_sts_avg=reported)


def _sup(name: str, model: str, learning_rate: float, reported: float) -> Recipe:
    return Recipe(name, "sup", model, 512, learning_rate, epochs=3, mlp_at_inference=True, reported_sts_avg=reported)


RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        _unsup("unsup-bert-base", "bert-base-uncased", 64, 3e-5, 76.25),
        _unsup("unsup-bert-large", "bert-large-uncased", 64, 1e-5, 78.41),
        _unsup("unsup-roberta-base", "roberta-base", 512, 1e-5, 76.57),
        _unsup("unsup-roberta-large", "roberta-large", 512, 3e-5, 78.90),
        _sup("sup-bert-base", "bert-base-uncased", 5e-5, 81.57),
        _sup("sup-bert-large", "bert-large-uncased", 1e-5, 82.21),
        _sup("sup-roberta-base", "roberta-base", 5e-5, 82.52),
        _sup("sup-roberta-large", "roberta-large", 1e-5, 83.76),
    )
}
"""The paper's recipes by name; ``reported_sts_avg`` is the official checkpoint's score (the repository's table)."""


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``.

    Raises:
        ValueError: for an unknown name; the message lists the known ones.

    Example:
        >>> get_recipe("unsup-bert-base").learning_rate
        3e-05
    """
    if name not in RECIPES:
        raise ValueError(f"Unknown preset {name!r}; the presets are: {', '.join(RECIPES)}.")
    return RECIPES[name]


def default_recipe(objective: str) -> Recipe:
    """The recipe a run without ``--preset`` starts from: the BERT-base recipe of ``objective``, named ``custom``.

    Raises:
        ValueError: for an objective other than ``"unsup"`` and ``"sup"``.
    """
    if objective not in ("unsup", "sup"):
        raise ValueError(f"objective must be 'unsup' or 'sup', got {objective!r}.")
    return dataclasses.replace(get_recipe(f"{objective}-bert-base"), name="custom", reported_sts_avg=None)
