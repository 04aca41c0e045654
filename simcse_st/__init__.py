"""SimCSE as a sentence-transformers plugin.

The public API is re-exported here and imported lazily, so ``simcse-st --help`` and ``import simcse_st``
stay fast; ``from simcse_st import SimCSELoss`` imports what it names on first use.
"""

from __future__ import annotations

from simcse_st._lazy import lazy_exports

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
    "SemanticIndex": "simcse_st.apps",
    "cluster": "simcse_st.apps",
    "plot_map": "simcse_st.apps",
    "load_sentence_file": "simcse_st.data",
    "load_nli_csv": "simcse_st.data",
    "load_senteval_nli": "simcse_st.data",
    "load_training_data": "simcse_st.data",
    "Recipe": "simcse_st.recipes",
    "RECIPES": "simcse_st.recipes",
    "get_recipe": "simcse_st.recipes",
    "train_simcse": "simcse_st.training",
}

__all__ = ["__version__", *_EXPORTS]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
