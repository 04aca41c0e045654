"""The seven STS tasks of the SimCSE paper, read from the SentEval layout or from the Hugging Face Hub.

Local files follow ``senteval/`` under the data root (see :func:`simcse_st.data.resolve_data_dir`):

- ``senteval/STS/STS1{2..6}-en-test/STS.input.<subset>.txt`` (two tab-separated sentences a line; STS16 adds
  two source-note columns, which are ignored) with ``STS.gs.<subset>.txt`` (one gold score a line; an empty
  line marks an unscored pair, which is skipped);
- ``senteval/STS/STSBenchmark/sts-{train,dev,test}.csv`` (score in column 5, sentences in columns 6 and 7;
  trailing columns are ignored);
- ``senteval/SICK/SICK_{train,trial,test_annotated}.txt`` (a header line, then pair id, sentence A,
  sentence B, relatedness score).

Sentences are whitespace-normalized (split and re-joined with single spaces), as SentEval's tokenization
followed by SimCSE's ``" ".join`` batcher does, so scores match the paper's protocol.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from simcse_st.data.paths import data_path

STS_TASKS: tuple[str, ...] = (
    "STS12",
    "STS13",
    "STS14",
    "STS15",
    "STS16",
    "STSBenchmark",
    "SICKRelatedness",
)
"""The seven tasks of the paper's STS table, in its column order."""

STS_TASK_LABELS: dict[str, str] = {
    "STS12": "STS12",
    "STS13": "STS13",
    "STS14": "STS14",
    "STS15": "STS15",
    "STS16": "STS16",
    "STSBenchmark": "STS-B",
    "SICKRelatedness": "SICK-R",
}
"""Column headers of the paper's table for each task."""

MTEB_HUB_TASKS: dict[str, str] = {task: task for task in STS_TASKS} | {"SICKRelatedness": "SICK-R"}
"""MTEB's own (Hub) task for each of our task names."""

# SentEval's subset lists, in SentEval's order.
SENTEVAL_SUBSETS: dict[str, tuple[str, ...]] = {
    "STS12": ("MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"),
    "STS13": ("FNWN", "headlines", "OnWN"),
    "STS14": ("deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"),
    "STS15": ("answers-forums", "answers-students", "belief", "headlines", "images"),
    "STS16": ("answer-answer", "headlines", "plagiarism", "postediting", "question-question"),
}

_STSB_FILES = {"train": "sts-train.csv", "dev": "sts-dev.csv", "test": "sts-test.csv"}
_SICK_FILES = {"train": "SICK_train.txt", "dev": "SICK_trial.txt", "test": "SICK_test_annotated.txt"}



@dataclass(frozen=True)
class HubSource:
    """Where one task's pairs are on the Hugging Face Hub.

    Attributes:
        repository: the Hub dataset.
        splits: our split name -> the Hub split holding the same pairs.
        pairs: our split name -> the number of scored pairs SentEval's files hold, checked on every load.
        revision: the Hub commit to read (None: the latest).
    """

    repository: str
    splits: dict[str, str]
    pairs: dict[str, int]
    revision: str | None = None


# The first revision of mteb/sickr-sts holds SICK's SemEval-2014 files as its train (4,500 pairs), validation
# (SICK_trial, 500) and test (SICK_test_annotated, 4,927) splits; the later revisions put all 9,927 pairs into
# one "test" split (MTEB's SICK-R), which is not the paper's SICK-R test set.
SICKR_SPLIT_REVISION = "b589c9fc99a24743f4f6cc6c7c9633cd0fe40b9d"

_SENTEVAL_TEST_PAIRS = {"STS12": 3108, "STS13": 1500, "STS14": 3750, "STS15": 3000, "STS16": 1186}

HUB_DATASETS: dict[str, HubSource] = {
    **{
        task: HubSource(f"mteb/{task.lower()}-sts", {"test": "test"}, {"test": pairs})
        for task, pairs in _SENTEVAL_TEST_PAIRS.items()
    },
    "STSBenchmark": HubSource(
        "sentence-transformers/stsb",
        {"train": "train", "dev": "validation", "test": "test"},
        {"train": 5749, "dev": 1500, "test": 1379},
    ),
    "SICKRelatedness": HubSource(
        "mteb/sickr-sts",
        {"train": "train", "dev": "validation", "test": "test"},
        {"train": 4500, "dev": 500, "test": 4927},
        revision=SICKR_SPLIT_REVISION,
    ),
}
"""The Hub datasets with the same pairs as SentEval's files, task by task."""


@dataclass
class STSSubset:
    """One scored set of sentence pairs: a SentEval subset (e.g. STS12's MSRpar) or a whole split.

    Attributes:
        name: the subset name (``"MSRpar"``, ``"test"``, ...).
        sentences1: first sentence of each pair.
        sentences2: second sentence of each pair.
        scores: gold similarity of each pair (0-5 for STS, 1-5 for SICK; 0-1 for the Hub's STS-B).
    """

    name: str
    sentences1: list[str]
    sentences2: list[str]
    scores: list[float]

    def __len__(self) -> int:
        return len(self.scores)


def load_sts_task(
    task: str,
    split: str = "test",
    data_dir: str | os.PathLike[str] | None = None,
    source: str = "local",
) -> list[STSSubset]:
    """Read one STS task's scored pairs, one :class:`STSSubset` per SentEval subset.

    Args:
        task: one of :data:`STS_TASKS`.
        split: ``"test"`` for every task; ``"train"`` and ``"dev"`` for STSBenchmark and SICKRelatedness
            (SICK's dev split is ``SICK_trial.txt``).
        data_dir: the data root (holding ``senteval/``); defaults to ``$SIMCSE_DATA_DIR``.
        source: ``"local"`` for the SentEval files under the data root, ``"hub"`` for the Hugging Face Hub
            datasets in :data:`HUB_DATASETS` (one subset per task there, since they carry no subset names;
            SICK-R's test split is SICK's 4,927 SemEval test pairs, as in SentEval, not MTEB's 9,927).

    Returns:
        The task's subsets; unscored pairs are left out.

    Raises:
        ValueError: for an unknown task, split or source, a malformed line (naming file and line number), or a
            Hub split whose pair count is not SentEval's.
        DataNotFoundError: when the data root or a file is missing (naming the path and how to set the root).
        ConnectionError: when ``source="hub"`` and the Hub cannot be reached.

    Example:
        >>> [len(subset) for subset in load_sts_task("STS13")]  # FNWN, headlines, OnWN
        [189, 750, 561]
    """
    _check_task_split(task, split)
    if source == "hub":
        return [_load_from_hub(task, split)]
    if source != "local":
        raise ValueError(f"Unknown source {source!r}: use 'local' (SentEval files) or 'hub' (Hugging Face Hub).")
    if task in SENTEVAL_SUBSETS:
        return [_read_senteval_subset(task, subset, data_dir) for subset in SENTEVAL_SUBSETS[task]]
    if task == "STSBenchmark":
        path = data_path(f"senteval/STS/STSBenchmark/{_STSB_FILES[split]}", data_dir)
        return [_read_columns(path, split, score_col=4, sentence_cols=(5, 6), skip_header=False)]
    path = data_path(f"senteval/SICK/{_SICK_FILES[split]}", data_dir)
    return [_read_columns(path, split, score_col=3, sentence_cols=(1, 2), skip_header=True)]


def _check_task_split(task: str, split: str) -> None:
    if task not in STS_TASKS:
        raise ValueError(f"Unknown STS task {task!r}; choose from {', '.join(STS_TASKS)}.")
    splits = ("test",) if task in SENTEVAL_SUBSETS else ("train", "dev", "test")
    if split not in splits:
        raise ValueError(f"{task} has no split {split!r}; it has {', '.join(splits)}.")


def _normalize(sentence: str) -> str:
    """SentEval's whitespace tokenization followed by SimCSE's ``" ".join``."""
    return " ".join(sentence.split())


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line without its newline)`` for each line of a UTF-8 file."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.rstrip("\r\n")


def _parse_score(text: str, path: Path, number: int) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{path}, line {number}: the gold score {text!r} is not a number.") from None


def _read_senteval_subset(task: str, subset: str, data_dir: str | os.PathLike[str] | None) -> STSSubset:
    """One STS12-16 subset: ``STS.input.<subset>.txt`` paired line by line with ``STS.gs.<subset>.txt``."""
    folder = f"senteval/STS/{task}-en-test"
    input_path = data_path(f"{folder}/STS.input.{subset}.txt", data_dir)
    gold_path = data_path(f"{folder}/STS.gs.{subset}.txt", data_dir)
    inputs = list(_lines(input_path))
    golds = list(_lines(gold_path))
    if len(inputs) != len(golds):
        raise ValueError(
            f"{input_path} has {len(inputs)} lines but {gold_path} has {len(golds)}; they must pair line by line."
        )
    subset_data = STSSubset(subset, [], [], [])
    for (number, line), (_, gold) in zip(inputs, golds, strict=True):
        if not gold.strip():  # an unscored pair
            continue
        columns = line.split("\t")
        if len(columns) < 2:
            raise ValueError(f"{input_path}, line {number}: expected two tab-separated sentences, got {line!r}.")
        _append(subset_data, columns[0], columns[1], _parse_score(gold.strip(), gold_path, number))
    return subset_data


def _read_columns(
    path: Path, name: str, score_col: int, sentence_cols: tuple[int, int], skip_header: bool
) -> STSSubset:
    """A tab-separated file with the score and the two sentences in the given (0-based) columns."""
    subset = STSSubset(name, [], [], [])
    needed = max(score_col, *sentence_cols) + 1
    for number, line in _lines(path):
        if (skip_header and number == 1) or not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) < needed:
            raise ValueError(f"{path}, line {number}: expected at least {needed} tab-separated columns, "
                             f"got {len(columns)}.")
        score = _parse_score(columns[score_col].strip(), path, number)
        _append(subset, columns[sentence_cols[0]], columns[sentence_cols[1]], score)
    return subset


def _append(subset: STSSubset, sentence1: str, sentence2: str, score: float) -> None:
    subset.sentences1.append(_normalize(sentence1))
    subset.sentences2.append(_normalize(sentence2))
    subset.scores.append(score)


def _load_from_hub(task: str, split: str) -> STSSubset:
    """The task's pairs from the Hugging Face Hub (``datasets.load_dataset``), checked against SentEval's count."""
    source = HUB_DATASETS[task]
    hub_split = source.splits[split]
    name = source.repository + (f" (revision {source.revision})" if source.revision else "")
    from datasets import load_dataset

    try:
        dataset = load_dataset(source.repository, revision=source.revision, split=hub_split)
    except Exception as error:  # datasets raises many types when offline: name the cause and the way out
        raise ConnectionError(
            f"Could not load {name} ({task}, split {hub_split!r}) from the Hugging Face Hub: "
            f"{type(error).__name__}: {error}. Without the Hub, read the local SentEval files instead: "
            f"source='local' with data_dir=ROOT or $SIMCSE_DATA_DIR (the folder that holds senteval/)."
        ) from error
    if dataset.num_rows != source.pairs[split]:
        raise ValueError(
            f"{name}, split {hub_split!r}, holds {dataset.num_rows} pairs, but {task}'s {split} split has "
            f"{source.pairs[split]} (SentEval's files): the Hub copy is not the paper's set. Use source='local' "
            f"with the SentEval files under the data root."
        )
    subset = STSSubset(split, [], [], [])
    for row in dataset:
        _append(subset, row["sentence1"], row["sentence2"], float(row["score"]))
    return subset
