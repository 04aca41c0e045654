"""The SentEval STS readers: exact pair counts on the real files, skipping, parsing and the errors users see."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import datasets
import pytest

from simcse_st.data import STS_TASKS, DataNotFoundError, STSSubset, load_sts_task
from simcse_st.data.sts import HUB_DATASETS, SICKR_SPLIT_REVISION

# scored test pairs of the paper's tasks (SentEval; the data README)
EXPECTED_TEST_PAIRS = {
    "STS12": 3108,
    "STS13": 1500,
    "STS14": 3750,
    "STS15": 3000,
    "STS16": 1186,
    "STSBenchmark": 1379,
    "SICKRelatedness": 4927,
}


@pytest.mark.parametrize("task", STS_TASKS)
def test_scored_test_pair_counts_match_senteval(task: str, data_dir: Path) -> None:
    subsets = load_sts_task(task, data_dir=data_dir)
    assert sum(len(subset) for subset in subsets) == EXPECTED_TEST_PAIRS[task]
    for subset in subsets:
        assert len(subset.sentences1) == len(subset.sentences2) == len(subset.scores)
        assert all(subset.sentences1) and all(subset.sentences2)


def test_train_and_dev_splits(data_dir: Path) -> None:
    counts = {(task, split): len(load_sts_task(task, split, data_dir)[0])
              for task in ("STSBenchmark", "SICKRelatedness") for split in ("train", "dev")}
    assert counts == {("STSBenchmark", "train"): 5749, ("STSBenchmark", "dev"): 1500,
                      ("SICKRelatedness", "train"): 4500, ("SICKRelatedness", "dev"): 500}


def test_subsets_are_senteval_subsets_in_order(data_dir: Path) -> None:
    names = [subset.name for subset in load_sts_task("STS13", data_dir=data_dir)]
    assert names == ["FNWN", "headlines", "OnWN"]


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def senteval_root(tmp_path: Path, inputs: str, golds: str) -> Path:
    """A data root whose STS13 has FNWN = the given files and two well-formed other subsets."""
    folder = "senteval/STS/STS13-en-test"
    write(tmp_path, f"{folder}/STS.input.FNWN.txt", inputs)
    write(tmp_path, f"{folder}/STS.gs.FNWN.txt", golds)
    for subset in ("headlines", "OnWN"):
        write(tmp_path, f"{folder}/STS.input.{subset}.txt", "a b\tc d\n")
        write(tmp_path, f"{folder}/STS.gs.{subset}.txt", "1.0\n")
    return tmp_path


def test_unscored_pairs_are_skipped_and_whitespace_normalized(tmp_path: Path) -> None:
    root = senteval_root(
        tmp_path,
        "A  man plays.\tA man is playing.\tsource notes\n"
        "Unscored one.\tUnscored two.\n"
        " Dogs run. \tCats sleep.\n",
        "4.2\n\n0.5\n",
    )
    fnwn = load_sts_task("STS13", data_dir=root)[0]
    assert fnwn == STSSubset("FNWN", ["A man plays.", "Dogs run."], ["A man is playing.", "Cats sleep."], [4.2, 0.5])


def test_stsb_extra_trailing_columns_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "senteval/STS/STSBenchmark/sts-dev.csv",
          "main-captions\tMSRvid\t2012test\t0001\t5.000\tA plane takes off.\tAn air plane is taking off.\n"
          "main-forums\tanswer-answer\t2016\t0008\t3\tFirst one.\tSecond one.\tnote A\tnote B\n")
    (pairs,) = load_sts_task("STSBenchmark", "dev", tmp_path)
    assert pairs == STSSubset("dev", ["A plane takes off.", "First one."],
                              ["An air plane is taking off.", "Second one."], [5.0, 3.0])


def test_sick_header_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, "senteval/SICK/SICK_trial.txt",
          "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n"
          "4\tBoys play.\tNo boy plays.\t3.6\tCONTRADICTION\n")
    assert load_sts_task("SICKRelatedness", "dev", tmp_path) == [STSSubset("dev", ["Boys play."], ["No boy plays."],
                                                                           [3.6])]


def test_too_few_columns_names_file_and_line(tmp_path: Path) -> None:
    root = senteval_root(tmp_path, "One.\tTwo.\nonly one sentence\n", "1\n2\n")
    with pytest.raises(ValueError, match=r"STS\.input\.FNWN\.txt, line 2: expected two tab-separated sentences"):
        load_sts_task("STS13", data_dir=root)


def test_unparsable_score_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "senteval/STS/STSBenchmark/sts-test.csv",
                 "g\tt\ty\t1\t2.0\tA.\tB.\ng\tt\ty\t2\tfive\tC.\tD.\n")
    with pytest.raises(ValueError, match=rf"{path}, line 2: the gold score 'five' is not a number"):
        load_sts_task("STSBenchmark", data_dir=tmp_path)


def test_stsb_short_line_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "senteval/STS/STSBenchmark/sts-test.csv", "g\tt\ty\t1\t2.0\tA.\n")
    with pytest.raises(ValueError, match=r"sts-test\.csv, line 1: expected at least 7 tab-separated columns, got 6"):
        load_sts_task("STSBenchmark", data_dir=tmp_path)


def test_input_and_gold_files_of_different_lengths(tmp_path: Path) -> None:
    root = senteval_root(tmp_path, "One.\tTwo.\nThree.\tFour.\n", "1\n")
    with pytest.raises(ValueError, match="has 2 lines but .*STS.gs.FNWN.txt has 1"):
        load_sts_task("STS13", data_dir=root)


def test_missing_file_names_path_and_how_to_set_the_root(tmp_path: Path) -> None:
    (tmp_path / "senteval/STS/STS12-en-test").mkdir(parents=True)
    with pytest.raises(DataNotFoundError) as error:
        load_sts_task("STS12", data_dir=tmp_path)
    message = str(error.value)
    assert str(tmp_path / "senteval/STS/STS12-en-test/STS.input.MSRpar.txt") in message
    assert "--data-dir" in message and "SIMCSE_DATA_DIR" in message


def test_wrong_data_root(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=rf"{tmp_path / 'nowhere'} is not a folder.*SIMCSE_DATA_DIR"):
        load_sts_task("SICKRelatedness", data_dir=tmp_path / "nowhere")


def test_no_data_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIMCSE_DATA_DIR")
    with pytest.raises(DataNotFoundError, match="--data-dir ROOT.*SIMCSE_DATA_DIR"):
        load_sts_task("STS12")


@pytest.mark.parametrize(
    ("task", "split", "source", "message"),
    [
        ("STS17", "test", "local", "Unknown STS task 'STS17'"),
        ("STS12", "dev", "local", "STS12 has no split 'dev'; it has test"),
        ("STSBenchmark", "validation", "local", "has no split 'validation'; it has train, dev, test"),
        ("STS12", "test", "ftp", "Unknown source 'ftp'"),
        ("STS12", "dev", "hub", "STS12 has no split 'dev'; it has test"),
    ],
)
def test_bad_arguments(task: str, split: str, source: str, message: str, data_dir: Path) -> None:
    with pytest.raises(ValueError, match=message):
        load_sts_task(task, split, data_dir, source=source)


def test_hub_unreachable_says_so_and_points_to_local_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(ConnectionError) as error:
        load_sts_task("STS12", source="hub")
    message = str(error.value)
    assert "Could not load mteb/sts12-sts" in message and "Hugging Face Hub" in message
    assert "source='local'" in message and "SIMCSE_DATA_DIR" in message


# --- the Hub path ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("task", "split"), [(task, split) for task, source in HUB_DATASETS.items()
                                             for split in source.splits])
def test_hub_pair_counts_are_those_of_the_local_senteval_files(task: str, split: str, data_dir: Path) -> None:
    # the count every Hub load is checked against (SICK-R test: 4,927, not MTEB's 9,927)
    local = sum(len(subset) for subset in load_sts_task(task, split, data_dir))
    assert HUB_DATASETS[task].pairs[split] == local


def write_hub_sickr(folder: Path, data_dir: Path, splits: dict[str, list[str]]) -> Path:
    """A local copy of a mteb/sickr-sts revision: one gzipped JSON-lines file a Hub split, SICK files inside."""
    folder.mkdir()
    for hub_split, our_splits in splits.items():
        with gzip.open(folder / f"{hub_split}.json.gz", "wt", encoding="utf-8") as handle:
            for our_split in our_splits:
                (pairs,) = load_sts_task("SICKRelatedness", our_split, data_dir)
                for row in zip(pairs.sentences1, pairs.sentences2, pairs.scores, strict=True):
                    handle.write(json.dumps(dict(zip(("sentence1", "sentence2", "score"), row, strict=True))) + "\n")
    return folder


def serve_hub_locally(monkeypatch: pytest.MonkeyPatch, folder: Path, cache: Path) -> list[tuple]:
    """Point datasets.load_dataset at ``folder`` (read by the real json builder); returns the requests made."""
    requests = []
    load_dataset = datasets.load_dataset

    def local_load_dataset(path: str, revision: str | None = None, split: str | None = None):
        requests.append((path, revision, split))
        return load_dataset(str(folder), split=split, cache_dir=str(cache))

    monkeypatch.setattr(datasets, "load_dataset", local_load_dataset)
    return requests


def test_hub_sickr_is_the_semeval_test_split_of_the_pinned_revision(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the pinned revision's layout: SICK_train, SICK_trial and SICK_test_annotated as train, validation, test
    folder = write_hub_sickr(tmp_path / "sickr-sts", data_dir,
                             {"train": ["train"], "validation": ["dev"], "test": ["test"]})
    requests = serve_hub_locally(monkeypatch, folder, tmp_path / "cache")
    for split in ("test", "dev"):
        local = load_sts_task("SICKRelatedness", split, data_dir)
        assert load_sts_task("SICKRelatedness", split, source="hub") == local
    assert requests == [("mteb/sickr-sts", SICKR_SPLIT_REVISION, "test"),
                        ("mteb/sickr-sts", SICKR_SPLIT_REVISION, "validation")]


def test_hub_sickr_with_all_9927_pairs_in_its_test_split_is_refused(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the later revisions' layout (MTEB's SICK-R): every pair in one test split
    folder = write_hub_sickr(tmp_path / "sickr-sts", data_dir, {"test": ["train", "dev", "test"]})
    serve_hub_locally(monkeypatch, folder, tmp_path / "cache")
    with pytest.raises(ValueError) as error:
        load_sts_task("SICKRelatedness", source="hub")
    message = str(error.value)
    assert "holds 9927 pairs" in message and "has 4927" in message and "source='local'" in message
