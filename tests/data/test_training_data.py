"""Training data readers: sentence files, NLI CSVs, raw SNLI in the SentEval layout, the Hub offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from simcse_st.data import (
    load_nli_csv,
    load_nli_from_hub,
    load_sentence_file,
    load_senteval_nli,
    load_training_data,
)
from simcse_st.data.training import tokenizes_to_nothing


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_sentence_file_keeps_every_nonblank_line_with_normalized_spaces(tmp_path: Path) -> None:
    path = write(tmp_path / "corpus.txt", "A  first\tsentence.\n\n   \nSecond one.  \nlast line without newline")
    assert load_sentence_file(path)["sentence"] == ["A first sentence.", "Second one.", "last line without newline"]


def test_wiki_sample_has_one_row_per_line(data_dir: Path) -> None:
    path = data_dir / "wiki" / "wiki1m_sample.txt"
    lines = [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    dataset = load_sentence_file(path)
    assert dataset.column_names == ["sentence"]
    assert dataset.num_rows == len(lines)


def test_missing_or_empty_sentence_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere.txt does not exist"):
        load_sentence_file(tmp_path / "nowhere.txt")
    with pytest.raises(ValueError, match="empty"):
        load_sentence_file(write(tmp_path / "blank.txt", "\n  \n"))


def test_nli_csv_triplets_and_pairs(tmp_path: Path) -> None:
    triplets = write(tmp_path / "t.csv", 'sent0,sent1,hard_neg\n"A man, smiling.",A man smiles.,Nobody smiles.\n'
                                         "Rain.,,Sun.\nDogs run.,Animals move.,Dogs sleep.\n")
    dataset = load_nli_csv(triplets)
    assert dataset.column_names == ["anchor", "positive", "hard_negative"]
    assert dataset["anchor"] == ["A man, smiling.", "Dogs run."]  # the row with an empty field is skipped
    assert dataset["hard_negative"] == ["Nobody smiles.", "Dogs sleep."]
    pairs = load_nli_csv(write(tmp_path / "p.csv", "sent0,sent1\nA,B\n"))
    assert pairs.column_names == ["anchor", "positive"]


def test_nli_csv_with_other_columns_names_the_columns_found(tmp_path: Path) -> None:
    path = write(tmp_path / "raw.csv", "premise,hypothesis,label\na,b,entailment\n")
    with pytest.raises(ValueError, match=r"\['premise', 'hypothesis', 'label'\].*sent0,sent1,hard_neg"):
        load_nli_csv(path)
    with pytest.raises(ValueError, match="no row"):
        load_nli_csv(write(tmp_path / "header-only.csv", "sent0,sent1,hard_neg\n"))


def test_senteval_nli_triplets_pair_each_entailment_with_a_contradiction_of_the_same_premise(tmp_path: Path) -> None:
    write(tmp_path / "s1.train", "P1 .\nP1 .\nP1 .\nP1 .\nP2 .\nP3 .\nP3 .\n")
    write(tmp_path / "s2.train", "e1 .\nn1 .\nc1 .\ne2 .\ne3 .\ne4 .\nc4 .\n")
    write(tmp_path / "labels.train", "entailment\nneutral\ncontradiction\nentailment\nentailment\nentailment\n"
                                     "contradiction\n")
    dataset = load_senteval_nli(tmp_path)
    rows = list(zip(dataset["anchor"], dataset["positive"], dataset["hard_negative"], strict=True))
    # P2 has no contradiction: no triplet; P1's two entailments share its one contradiction
    assert rows == [("P1 .", "e1 .", "c1 ."), ("P1 .", "e2 .", "c1 ."), ("P3 .", "e4 .", "c4 .")]


def test_snli_triplets_agree_with_the_raw_labels(data_dir: Path) -> None:
    folder = data_dir / "nli" / "snli"
    raw = []
    for split in ("dev", "test"):
        columns = [(folder / f"{kind}.{split}").read_text(encoding="utf-8").splitlines()
                   for kind in ("s1", "s2", "labels")]
        raw.extend((" ".join(p.split()), " ".join(h.split()), label) for p, h, label in zip(*columns, strict=True))
    labels: dict[tuple[str, str], set[str]] = {}
    for premise, hypothesis, label in raw:
        labels.setdefault((premise, hypothesis), set()).add(label)
    with_contradiction = {premise for premise, _, label in raw if label == "contradiction"}
    # one triplet per entailment pair whose premise also has a contradiction
    expected_rows = sum(label == "entailment" and premise in with_contradiction for premise, _, label in raw)

    dataset = load_senteval_nli(folder)
    assert dataset.num_rows == expected_rows
    for anchor, positive, negative in zip(dataset["anchor"], dataset["positive"], dataset["hard_negative"],
                                          strict=True):
        assert "entailment" in labels[(anchor, positive)]
        assert "contradiction" in labels[(anchor, negative)]


def test_senteval_nli_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="s1.<split>"):
        load_senteval_nli(tmp_path)
    write(tmp_path / "s1.dev", "a\nb\n")
    write(tmp_path / "s2.dev", "c\n")
    write(tmp_path / "labels.dev", "entailment\ncontradiction\n")
    with pytest.raises(ValueError, match="pair line by line"):
        load_senteval_nli(tmp_path)


def test_hub_nli_offline_says_what_to_pass_instead() -> None:
    with pytest.raises(ConnectionError, match="nli/snli"):
        load_nli_from_hub("snli")
    with pytest.raises(ValueError, match="snli, multi_nli"):
        load_nli_from_hub("anli")


def test_training_data_picks_the_reader(tmp_path: Path, data_dir: Path) -> None:
    assert load_training_data("unsup", write(tmp_path / "s.txt", "x\ny\n")).column_names == ["sentence"]
    assert load_training_data("sup", data_dir / "nli" / "snli").column_names == ["anchor", "positive", "hard_negative"]
    with pytest.raises(ValueError, match="none of these"):
        load_training_data("sup", tmp_path / "s.txt")
    with pytest.raises(ValueError, match="objective"):
        load_training_data("semi", tmp_path / "s.txt")


INVISIBLE = ["\u200b\u200b", "\x00", "\ufeff \u200d", "\ufffd", "\x7f\u2060"]  # zero-width, NUL, BOM, U+FFFD, DEL
VISIBLE = ["a\u200b", "\u00e9", "\u4e2d", "\U0001F600", "-"]


def test_invisible_lines_really_tokenize_to_nothing(minilm_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    for text in INVISIBLE + VISIBLE:
        ids = tokenizer(text)["input_ids"]
        assert tokenizes_to_nothing(text) is (len(ids) == tokenizer.num_special_tokens_to_add()), repr(text)


def test_readers_drop_exactly_the_invisible_lines_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sentences = write(tmp_path / "s.txt", "\n".join(["First.", *INVISIBLE, *VISIBLE, "Last."]) + "\n")
    with caplog.at_level("WARNING"):
        assert load_sentence_file(sentences)["sentence"] == ["First.", *VISIBLE, "Last."]
    assert [record.getMessage().split(" of ")[0] for record in caplog.records] == [f"Dropped {len(INVISIBLE)} lines"]

    caplog.clear()
    rows = [("P1.", "E1.", "C1."), ("\u200b", "E2.", "C2."), ("P3.", "\x00", "C3."), ("P4.", "", "C4."),
            ("P5.", "E5.", "C5.")]
    triplets = write(tmp_path / "t.csv", "sent0,sent1,hard_neg\n" + "".join(",".join(row) + "\n" for row in rows))
    with caplog.at_level("WARNING"):
        assert load_nli_csv(triplets)["anchor"] == ["P1.", "P5."]
    assert [record.getMessage().split(" of ")[0] for record in caplog.records] == ["Skipped 3 rows"]

    caplog.clear()
    write(tmp_path / "s1.train", "P1 .\n\u200b\nP1 .\nP2 .\nP2 .\n")
    write(tmp_path / "s2.train", "e1 .\ne0 .\nc1 .\n\ufffd\nc2 .\n")
    write(tmp_path / "labels.train", "entailment\nentailment\ncontradiction\nentailment\ncontradiction\n")
    with caplog.at_level("WARNING"):
        dataset = load_senteval_nli(tmp_path)
    assert list(zip(dataset["anchor"], dataset["positive"], strict=True)) == [("P1 .", "e1 .")]
    assert [record.getMessage().split(" NLI")[0] for record in caplog.records] == ["Skipped 2"]


def test_a_file_of_only_invisible_lines_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no line with visible text"):
        load_sentence_file(write(tmp_path / "zw.txt", "\u200b\n\x00\n"))
