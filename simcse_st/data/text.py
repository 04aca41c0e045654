"""Reading text files of one entry a line: corpora, sentence files, labels."""

from __future__ import annotations

import os
from pathlib import Path


def read_sentences(path: str | os.PathLike[str], what: str = "corpus") -> list[str]:
    """The non-blank lines of a UTF-8 text file, stripped, in order.

    Args:
        path: a text file with one sentence (or label) a line; a UTF-8 byte-order mark is accepted.
        what: what the file holds, for error messages (``"corpus"``, ``"labels"``).

    Returns:
        One string per non-blank line.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: when the file is not UTF-8 (naming the line and byte), or has no non-blank line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"The {what} file {path} does not exist (expected a text file, one entry a line).")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ValueError(
            f"The {what} file {path} is not UTF-8 text: byte 0x{data[error.start]:02x} at line {line} cannot be "
            f"decoded. Convert it first, e.g. `iconv -f latin1 -t utf-8 {path} > {path}.utf8`."
        ) from None
    # "\n" only: str.splitlines would also split inside a sentence at Unicode separators such as U+2028
    sentences = [line.strip() for line in text.split("\n") if line.strip()]
    if not sentences:
        raise ValueError(f"The {what} file {path} is empty: it needs one non-blank line per entry.")
    return sentences
