"""The one place where simcse-st reaches into sentence-transformers beyond its documented API.

Verified with sentence-transformers 6.2.0 and 6.3.0. Each piece below is something simcse-st relies on for a specific
behaviour; ``tests/test_compat.py`` checks that behaviour and fails with a message naming the installed
sentence-transformers version, so an upgrade that changes one of them is caught here and not mid-training.

- GradCache (``sentence_transformers.base.losses.gradcache``): ``CachedLossMixin`` runs the three-step cached
  forward; ``RandContext`` snapshots the RNG so the second pass replays the first pass's dropout masks;
  ``_create_minibatch`` (private) slices every batch-indexed tensor of a feature dict by rows.
- Merged forward (``sentence_transformers.base.losses.merged_forward``, private): ``merge_feature_batches`` pads
  the columns of a batch to one width and stacks them, ``embed_columns`` encodes columns in one forward pass.
- The trainer's checkpoint hooks ``_save_checkpoint(model, trial)`` and ``_load_from_checkpoint(checkpoint_path)``
  (private to transformers' and sentence-transformers' trainers), which ``simcse_st.training`` overrides to
  save and restore the loss-owned heads: :func:`check_trainer_checkpoint_hooks` checks their signatures.
"""

from __future__ import annotations

import inspect

import sentence_transformers
from sentence_transformers.base.losses import CachedLossMixin, RandContext
from sentence_transformers.base.losses.gradcache import _create_minibatch
from sentence_transformers.base.losses.merged_forward import embed_columns, merge_feature_batches

SENTENCE_TRANSFORMERS_VERSION: str = sentence_transformers.__version__
"""The installed sentence-transformers version, named in every compatibility error."""

VERIFIED_RANGE = ">=6.2,<6.4"
"""The sentence-transformers versions whose internals ``tests/test_compat.py`` has passed on (setup.cfg's range)."""

#: the trainer's private checkpoint hooks that simcse_st.training overrides -> the parameters we call them with
TRAINER_CHECKPOINT_HOOKS: dict[str, tuple[str, ...]] = {
    "_save_checkpoint": ("self", "model", "trial"),
    "_load_from_checkpoint": ("self", "checkpoint_path"),
}

__all__ = [
    "SENTENCE_TRANSFORMERS_VERSION",
    "TRAINER_CHECKPOINT_HOOKS",
    "VERIFIED_RANGE",
    "CachedLossMixin",
    "RandContext",
    "_create_minibatch",
    "check_trainer_checkpoint_hooks",
    "embed_columns",
    "incompatibility",
    "merge_feature_batches",
]


def incompatibility(what: str) -> str:
    """An error message saying which internal changed, under which sentence-transformers version.

    Args:
        what: what was expected and what was found instead.

    Returns:
        The message, naming the installed version and the range simcse-st was verified with.
    """
    return (
        f"simcse-st relies on a sentence-transformers internal that changed in the installed version "
        f"{SENTENCE_TRANSFORMERS_VERSION} (verified: {VERIFIED_RANGE}): {what}. Install a verified version "
        f"(pip install 'sentence-transformers{VERIFIED_RANGE}') or update simcse_st/_compat.py."
    )


def check_trainer_checkpoint_hooks(trainer_class: type) -> None:
    """Check that ``trainer_class`` still has the checkpoint hooks, with the parameters simcse-st overrides.

    Args:
        trainer_class: ``SentenceTransformerTrainer`` or a subclass.

    Raises:
        TypeError: naming the hook and the sentence-transformers version, if one is missing or its
            parameters changed.
    """
    for name, expected in TRAINER_CHECKPOINT_HOOKS.items():
        hook = getattr(trainer_class, name, None)
        if hook is None:
            raise TypeError(incompatibility(f"{trainer_class.__name__}.{name} no longer exists"))
        parameters = tuple(inspect.signature(hook).parameters)
        if parameters[: len(expected)] != expected:
            raise TypeError(
                incompatibility(f"{trainer_class.__name__}.{name} takes {parameters}, expected {expected}")
            )
