"""Readers for the local data sets (SentEval STS layout, sentence files, NLI) and Hub loading."""

from __future__ import annotations

from simcse_st.data.paths import DATA_DIR_ENV, DataNotFoundError, data_path, resolve_data_dir
from simcse_st.data.sts import STS_TASK_LABELS, STS_TASKS, STSSubset, load_sts_task
from simcse_st.data.training import (
    load_nli_csv,
    load_nli_from_hub,
    load_sentence_file,
    load_senteval_nli,
    load_training_data,
)

__all__ = [
    "DATA_DIR_ENV",
    "DataNotFoundError",
    "data_path",
    "resolve_data_dir",
    "STS_TASKS",
    "STS_TASK_LABELS",
    "STSSubset",
    "load_sts_task",
    "load_sentence_file",
    "load_nli_csv",
    "load_senteval_nli",
    "load_nli_from_hub",
    "load_training_data",
]
