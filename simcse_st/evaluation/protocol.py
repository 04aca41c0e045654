"""The choices of the paper's evaluation protocol, as constants (no heavy imports, so the CLI can list them)."""

from __future__ import annotations

AGGREGATIONS: tuple[str, ...] = ("all", "mean", "wmean")
"""How a task's per-subset results combine: ``all`` (one Spearman over the concatenated subsets, the paper's
setting), ``mean`` / ``wmean`` (per-subset Spearman averaged, unweighted or weighted by size, as SentEval
also reports)."""

DEV_TASKS: tuple[str, ...] = ("STSBenchmark", "SICKRelatedness")
"""The tasks with a dev split. The official trainer picks checkpoints on STS-B dev alone (``stsb_spearman``);
their average is the optional alternative."""

BASELINE_POOLINGS: tuple[str, ...] = ("avg_first_last", "avg_top2", "cls_before_pooler")
"""Poolings of the official SimCSE ``evaluation.py`` for vanilla checkpoints:

- ``avg_first_last``: token average of the mean of the first and last Transformer layers' outputs;
- ``avg_top2``: token average of the mean of the last two layers' outputs;
- ``cls_before_pooler``: the last layer's ``[CLS]`` vector, before BERT's pooler.

They bypass the model's own pooling and any module after its Transformer.
"""


def check_choice(value: str | None, choices: tuple[str, ...], what: str, allow_none: bool = False) -> None:
    """Raise a ValueError naming ``what`` and the valid ``choices`` when ``value`` is not one of them."""
    if (value is None and allow_none) or value in choices:
        return
    none = "None or " if allow_none else ""
    raise ValueError(f"Unknown {what} {value!r}; choose {none}one of {', '.join(choices)}.")
