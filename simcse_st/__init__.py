"""SimCSE as a sentence-transformers plugin.

The public API is re-exported here and imported lazily, so ``simcse-st --help`` and ``import simcse_st``
stay fast; ``from simcse_st import SimCSELoss`` imports what it names on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "SimCSELoss": "simcse_st.losses",
    "SupervisedSimCSELoss": "simcse_st.losses",
    "build_simcse_model": "simcse_st.models",
    "resolve_data_dir": "simcse_st.data",
    "load_sts_task": "simcse_st.data",
    "STSSubset": "simcse_st.data",
    "SentEvalSTSEvaluator": "simcse_st.evaluation",
    "AlignmentUniformityEvaluator": "simcse_st.evaluation",
    "run_mteb": "simcse_st.evaluation",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'simcse_st' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
