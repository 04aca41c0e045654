"""The SimCSE losses: one per file, shared InfoNCE helpers in :mod:`simcse_st.losses.infonce`."""

from __future__ import annotations

from simcse_st.losses.base import SIMCSE_CITATION, SimCSELossBase
from simcse_st.losses.mlm import MaskedLanguageModelingHead
from simcse_st.losses.simcse import SimCSELoss
from simcse_st.losses.supervised import SupervisedSimCSELoss

__all__ = [
    "SIMCSE_CITATION",
    "MaskedLanguageModelingHead",
    "SimCSELoss",
    "SimCSELossBase",
    "SupervisedSimCSELoss",
]
