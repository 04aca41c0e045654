"""Training data for SimCSE: sentence files, NLI triplet CSVs, raw SNLI/MNLI (SentEval layout or the Hub).

Every reader returns a :class:`datasets.Dataset` whose columns are what the losses take:

- unsupervised SimCSE: one column, ``sentence`` (:func:`load_sentence_file`);
- supervised SimCSE: ``anchor, positive, hard_negative`` triplets (or ``anchor, positive`` pairs):
  :func:`load_nli_csv` for the official ``nli_for_simcse.csv`` format (columns ``sent0, sent1, hard_neg``),
  :func:`load_senteval_nli` for SNLI/MNLI in the SentEval layout (``s1.<split>``, ``s2.<split>``,
  ``labels.<split>``), :func:`load_nli_from_hub` for the Hub's ``snli`` / ``multi_nli``.

Raw NLI becomes (premise, entailment, contradiction) triplets as the paper builds them (section 4): the premise
is the anchor, an entailment hypothesis of that premise its positive and a contradiction hypothesis of the same
premise its hard negative. :func:`load_training_data` picks the reader from what the user passed.

Every reader drops, with one warning that counts them, the lines or rows whose text tokenizes to nothing
(:func:`tokenizes_to_nothing`: only zero-width or control characters), which would otherwise stop training with an
"empty sentence" error whenever a batch holds one.
"""

from __future__ import annotations

import csv
import logging
import os
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from simcse_st.data.text import read_sentences

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

SENTENCE_COLUMN = "sentence"
TRIPLET_COLUMNS: tuple[str, str, str] = ("anchor", "positive", "hard_negative")
# the official nli_for_simcse.csv header -> our column names
NLI_CSV_COLUMNS: dict[str, str] = {"sent0": "anchor", "sent1": "positive", "hard_neg": "hard_negative"}
HUB_NLI_DATASETS: dict[str, str] = {"snli": "stanfordnlp/snli", "multi_nli": "nyu-mll/multi_nli"}
"""Hub names accepted for raw NLI -> the repository loaded (labels 0 entailment, 1 neutral, 2 contradiction)."""
_HUB_LABELS = {0: "entailment", 1: "neutral", 2: "contradiction"}


def _normalize(sentence: str) -> str:
    return " ".join(sentence.split())


def tokenizes_to_nothing(text: str) -> bool:
    """True for text that BERT-style tokenizers reduce to no token: empty, or only whitespace, U+FFFD and
    characters of the Unicode categories C* (control, format such as the zero-width space U+200B, unassigned,
    private use), which those tokenizers drop."""
    return all(char.isspace() or char == "\ufffd" or unicodedata.category(char).startswith("C") for char in text)


_INVISIBLE = "only zero-width or control characters, which tokenize to nothing"


def _existing_file(path: str | os.PathLike[str], what: str) -> Path:
    file = Path(path).expanduser()
    if not file.exists():
        raise FileNotFoundError(f"The {what} {file} does not exist; pass the path of an existing file.")
    if not file.is_file():
        raise FileNotFoundError(f"The {what} {file} is not a file.")
    return file


def load_sentence_file(path: str | os.PathLike[str]) -> Dataset:
    """One sentence a line (the unsupervised corpus, e.g. ``wiki1m_for_simcse.txt``) as a ``sentence`` column.

    Blank lines are skipped; whitespace is normalized; lines of only zero-width or control characters are dropped
    with one warning that counts them.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when the file holds no sentence with visible text or is not UTF-8.

    Example:
        >>> load_sentence_file("../shared/data/wiki/wiki1m_sample.txt").num_rows
        11915
    """
    from datasets import Dataset

    lines = [_normalize(line) for line in read_sentences(path, "sentence")]
    sentences = [line for line in lines if not tokenizes_to_nothing(line)]
    if len(sentences) < len(lines):
        logger.warning("Dropped %d lines of %s holding %s.", len(lines) - len(sentences), path, _INVISIBLE)
    if not sentences:
        raise ValueError(f"The sentence file {path} holds no line with visible text: every line has {_INVISIBLE}.")
    return Dataset.from_dict({SENTENCE_COLUMN: sentences})


def load_nli_csv(path: str | os.PathLike[str]) -> Dataset:
    """An NLI CSV in the official ``nli_for_simcse.csv`` format: columns ``sent0, sent1, hard_neg`` (triplets)
    or ``sent0, sent1`` (pairs), renamed to ``anchor, positive[, hard_negative]``.

    Rows with an empty field, or one of only zero-width or control characters, are skipped (with one warning
    giving their count).

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: for other columns (the message names the columns found) or a file with no usable row.
    """
    from datasets import Dataset

    file = _existing_file(path, "NLI CSV")
    with open(file, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        found = [name.strip() for name in reader.fieldnames or []]
        wanted = [name for name in NLI_CSV_COLUMNS if name in found]
        if wanted not in (["sent0", "sent1"], ["sent0", "sent1", "hard_neg"]):
            raise ValueError(
                f"The NLI CSV {file} has the columns {found}; it needs a header with sent0,sent1,hard_neg "
                "(anchor, entailment, contradiction: the nli_for_simcse.csv format) or sent0,sent1 (pairs)."
            )
        reader.fieldnames = found
        columns: dict[str, list[str]] = {NLI_CSV_COLUMNS[name]: [] for name in wanted}
        skipped = 0
        for row in reader:
            values = [_normalize(row.get(name) or "") for name in wanted]
            if any(tokenizes_to_nothing(value) for value in values):
                skipped += 1
                continue
            for name, value in zip(wanted, values, strict=True):
                columns[NLI_CSV_COLUMNS[name]].append(value)
    if skipped:
        logger.warning("Skipped %d rows of %s with an empty field or one holding %s.", skipped, file, _INVISIBLE)
    if not columns["anchor"]:
        raise ValueError(f"The NLI CSV {file} has no row with every field of {wanted} filled.")
    return Dataset.from_dict(columns)


def nli_triplets(rows: Iterable[tuple[str, str, str]]) -> Dataset:
    """(premise, entailment, contradiction) triplets from ``(premise, hypothesis, label)`` rows of raw NLI.

    Each entailment hypothesis of a premise becomes one triplet, its hard negative a contradiction hypothesis of
    the same premise (taken in turn when the premise has several); premises without both labels are skipped, and
    so are rows whose premise or hypothesis is empty or tokenizes to nothing (one warning counts them).

    Raises:
        ValueError: when no premise has both an entailment and a contradiction hypothesis.
    """
    from datasets import Dataset

    hypotheses: dict[str, dict[str, list[str]]] = {}
    skipped = 0
    for premise, hypothesis, label in rows:
        if label not in ("entailment", "contradiction"):
            continue
        premise, hypothesis = _normalize(premise), _normalize(hypothesis)
        if tokenizes_to_nothing(premise) or tokenizes_to_nothing(hypothesis):
            skipped += 1
            continue
        hypotheses.setdefault(premise, {"entailment": [], "contradiction": []})[label].append(hypothesis)
    if skipped:
        logger.warning("Skipped %d NLI rows with an empty premise or hypothesis, or one holding %s.", skipped,
                       _INVISIBLE)
    columns: dict[str, list[str]] = {name: [] for name in TRIPLET_COLUMNS}
    for premise, by_label in hypotheses.items():
        contradictions = by_label["contradiction"]
        if not contradictions:
            continue
        for index, entailment in enumerate(by_label["entailment"]):
            columns["anchor"].append(premise)
            columns["positive"].append(entailment)
            columns["hard_negative"].append(contradictions[index % len(contradictions)])
    if not columns["anchor"]:
        raise ValueError("No premise has both an entailment and a contradiction hypothesis: no triplet to train on.")
    return Dataset.from_dict(columns)


def senteval_nli_splits(folder: str | os.PathLike[str]) -> list[str]:
    """The splits of a SentEval NLI folder: those with ``s1.<split>``, ``s2.<split>`` and ``labels.<split>``."""
    root = Path(folder)
    splits = (path.name.removeprefix("s1.") for path in root.glob("s1.*"))
    return sorted(split for split in splits if all((root / f"{kind}.{split}").is_file() for kind in ("s2", "labels")))


def load_senteval_nli(folder: str | os.PathLike[str], splits: Iterable[str] | None = None) -> Dataset:
    """SNLI/MNLI in the SentEval layout (``s1.<split>`` premises, ``s2.<split>`` hypotheses, ``labels.<split>``,
    one a line) as (premise, entailment, contradiction) triplets; see :func:`nli_triplets`.

    Args:
        folder: the folder, e.g. ``<data root>/nli/snli``.
        splits: which splits to read; by default every split present (here: ``dev`` and ``test``).

    Raises:
        FileNotFoundError: when the folder or a split's file is missing.
        ValueError: when a split's three files differ in length, or no triplet can be built.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"The NLI folder {root} does not exist; it should hold s1.<split>, s2.<split> and "
                                "labels.<split> files (the SentEval layout).")
    chosen = list(splits) if splits is not None else senteval_nli_splits(root)
    if not chosen:
        raise FileNotFoundError(f"The NLI folder {root} holds no s1.<split>, s2.<split> and labels.<split> files.")
    rows: list[tuple[str, str, str]] = []
    for split in chosen:
        files = [_existing_file(root / f"{kind}.{split}", "NLI file") for kind in ("s1", "s2", "labels")]
        columns = [file.read_text(encoding="utf-8").splitlines() for file in files]
        if len({len(column) for column in columns}) != 1:
            raise ValueError(
                f"{', '.join(str(file) for file in files)} have {', '.join(str(len(c)) for c in columns)} lines; "
                "they must pair line by line."
            )
        rows.extend((premise, hypothesis, label.strip()) for premise, hypothesis, label in zip(*columns, strict=True))
    return nli_triplets(rows)


def load_nli_from_hub(name: str, split: str = "train") -> Dataset:
    """Raw SNLI or MNLI from the Hugging Face Hub (``"snli"`` or ``"multi_nli"``) as triplets.

    Raises:
        ValueError: for another name.
        ConnectionError: when the Hub cannot be reached; the message names the local alternatives.
    """
    if name not in HUB_NLI_DATASETS:
        raise ValueError(f"Unknown Hub NLI data set {name!r}; choose from {', '.join(HUB_NLI_DATASETS)}.")
    from datasets import load_dataset

    try:
        dataset = load_dataset(HUB_NLI_DATASETS[name], split=split)
    except Exception as error:  # datasets raises many types when offline: name the cause and the way out
        raise ConnectionError(
            f"Could not load {HUB_NLI_DATASETS[name]} (split {split!r}) from the Hugging Face Hub: "
            f"{type(error).__name__}: {error}. Without the Hub, pass a local file instead: an NLI CSV with columns "
            "sent0,sent1,hard_neg, or a folder in the SentEval layout such as <data root>/nli/snli."
        ) from error
    return nli_triplets(
        (row["premise"], row["hypothesis"], _HUB_LABELS.get(row["label"], "")) for row in dataset
    )


def load_training_data(objective: str, source: str | os.PathLike[str]) -> Dataset:
    """The training set for ``objective`` (``"unsup"`` or ``"sup"``) from what a user passes as ``--train-file``.

    - ``unsup``: a text file, one sentence a line -> a ``sentence`` column;
    - ``sup``: a ``.csv`` file (:func:`load_nli_csv`), a SentEval NLI folder (:func:`load_senteval_nli`), or the
      Hub names ``snli`` / ``multi_nli`` (:func:`load_nli_from_hub`) -> ``anchor, positive[, hard_negative]``.

    Raises:
        ValueError: for an unknown objective, or a source the readers reject.
        FileNotFoundError: for a path that does not exist.
    """
    if objective == "unsup":
        return load_sentence_file(source)
    if objective != "sup":
        raise ValueError(f"Unknown objective {objective!r}: use 'unsup' (sentences) or 'sup' (NLI).")
    if str(source) in HUB_NLI_DATASETS and not Path(source).exists():
        return load_nli_from_hub(str(source))
    path = Path(source).expanduser()
    if path.is_dir():
        return load_senteval_nli(path)
    if path.suffix.lower() != ".csv" and path.exists():
        raise ValueError(
            f"Supervised training reads an NLI CSV (sent0,sent1[,hard_neg] columns), a SentEval NLI folder or "
            f"the Hub names {' / '.join(HUB_NLI_DATASETS)}; {path} is none of these."
        )
    return load_nli_csv(path)
