"""A small copy of the SentEval STS layout, cut from the real files, and the pairs it holds parsed independently.

Evaluation tests point ``data_dir`` at the copy so they run on real sentences in a second or two, and
compare the code under test with the pairs returned here, which come from a separate, plain parse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

STS_SUBSETS = {
    "STS12": ["MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"],
    "STS13": ["FNWN", "headlines", "OnWN"],
    "STS14": ["deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"],
    "STS15": ["answers-forums", "answers-students", "belief", "headlines", "images"],
    "STS16": ["answer-answer", "headlines", "plagiarism", "postediting", "question-question"],
}
STSB_FILES = {"train": "sts-train.csv", "dev": "sts-dev.csv", "test": "sts-test.csv"}
SICK_FILES = {"train": "SICK_train.txt", "dev": "SICK_trial.txt", "test": "SICK_test_annotated.txt"}


@dataclass
class Pairs:
    """Scored pairs of one subset, as written to the sample."""

    sentences1: list[str] = field(default_factory=list)
    sentences2: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)


@dataclass
class STSSample:
    """The sample's root and, per (task, split), its subsets' pairs in file order."""

    root: Path
    pairs: dict[tuple[str, str], list[Pairs]]

    def sentences(self, keys: list[tuple[str, str]]) -> list[str]:
        """Every sentence occurrence of the given (task, split) keys."""
        return [s for key in keys for p in self.pairs[key] for s in p.sentences1 + p.sentences2]


def same_words(first: str, second: str) -> bool:
    """Whether two sentences differ only in case and spacing."""
    return first.lower().split() == second.lower().split()


def write_sts_sample(source: Path, target: Path, scored_per_subset: int = 16, rows_per_file: int = 40) -> STSSample:
    """Copy the first ``scored_per_subset`` scored pairs of each STS12-16 subset (with the unscored lines between
    them) and the first ``rows_per_file`` rows of each STS-B and SICK file from ``source`` to ``target``.

    Scored pairs whose sentences differ only in case are left out: under an uncased model their cosine is 1 up
    to float noise, so two correct implementations may order them differently and the few-pair Spearman of
    the sample would change in the second decimal (on the full sets the effect is far below 0.01).
    """
    pairs: dict[tuple[str, str], list[Pairs]] = {}
    for task, subsets in STS_SUBSETS.items():
        folder = Path("senteval/STS") / f"{task}-en-test"
        (target / folder).mkdir(parents=True, exist_ok=True)
        pairs[task, "test"] = []
        for subset in subsets:
            inputs = (source / folder / f"STS.input.{subset}.txt").read_text(encoding="utf-8").split("\n")
            golds = (source / folder / f"STS.gs.{subset}.txt").read_text(encoding="utf-8").split("\n")
            kept, lines = Pairs(), []
            for line, gold in zip(inputs, golds, strict=True):
                if len(kept.scores) == scored_per_subset:
                    break
                first, second = line.split("\t")[:2]
                if gold.strip() and same_words(first, second):
                    continue  # their cosine is 1 up to float noise for an uncased model: ties broken at random
                if gold.strip():
                    kept.sentences1.append(first)
                    kept.sentences2.append(second)
                    kept.scores.append(float(gold))
                lines.append((line, gold))
            (target / folder / f"STS.input.{subset}.txt").write_text(
                "".join(f"{line}\n" for line, _ in lines), encoding="utf-8")
            (target / folder / f"STS.gs.{subset}.txt").write_text(
                "".join(f"{gold}\n" for _, gold in lines), encoding="utf-8")
            pairs[task, "test"].append(kept)
    tables = [("STSBenchmark", "senteval/STS/STSBenchmark", STSB_FILES, 0, (4, 5, 6)),
              ("SICKRelatedness", "senteval/SICK", SICK_FILES, 1, (3, 1, 2))]
    for task, folder, files, header, (score, first, second) in tables:
        (target / folder).mkdir(parents=True, exist_ok=True)
        for split, name in files.items():
            lines = (source / folder / name).read_text(encoding="utf-8").split("\n")[: header + rows_per_file]
            (target / folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
            columns = [line.split("\t") for line in lines[header:]]
            pairs[task, split] = [Pairs([c[first] for c in columns], [c[second] for c in columns],
                                        [float(c[score]) for c in columns])]
    return STSSample(target, pairs)
