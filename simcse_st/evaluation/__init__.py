"""The paper's evaluation: the SentEval STS suite, alignment/uniformity, baseline poolings, and MTEB.

Names are imported lazily, so the command line can read :data:`BASELINE_POOLINGS` without importing
sentence-transformers.
"""

from __future__ import annotations

from simcse_st._lazy import lazy_exports

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "AlignmentUniformityEvaluator": "simcse_st.evaluation.alignment_uniformity",
    "BASELINE_POOLINGS": "simcse_st.evaluation.protocol",
    "encode": "simcse_st.evaluation.encoding",
    "encode_unique": "simcse_st.evaluation.encoding",
    "alignment": "simcse_st.evaluation.metrics",
    "paired_cosine": "simcse_st.evaluation.metrics",
    "spearman_x100": "simcse_st.evaluation.metrics",
    "uniformity": "simcse_st.evaluation.metrics",
    "MTEB_HUB_TASKS": "simcse_st.evaluation.mteb_bridge",
    "run_mteb": "simcse_st.evaluation.mteb_bridge",
    "AGGREGATIONS": "simcse_st.evaluation.protocol",
    "DEV_TASKS": "simcse_st.evaluation.protocol",
    "SentEvalSTSEvaluator": "simcse_st.evaluation.sts",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
