"""Reading text files of one entry a line: corpora, sentence files, labels.

Lines end at ``"\n"`` only, not at U+2028 or U+0085, which may sit inside a sentence (``str.splitlines`` would
split there); a UTF-8 byte-order mark at the start of the file is dropped; lines are stripped and blank ones skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def is_usable_text(text: str) -> bool:
    """Whether ``text`` is a usable sentence: something is left after removing whitespace and every character
    ``str.strip`` removes (U+001C..U+001F included).

    The one rule for a blank text, shared by the library's checks and the web service's request models.
    """
    return bool(text.strip())


def text_lines(path: Path, offset: int = 0, what: str = "corpus") -> Iterator[tuple[int, bytes, str]]:
    """``(byte offset, raw line, stripped text)`` for every line of ``path`` from byte ``offset`` (a line start) on,
    read line by line.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: when a line is not UTF-8, naming the line (counted from ``offset``) and the byte.
    """
    if not path.is_file():
        raise FileNotFoundError(f"The {what} file {path} does not exist (expected a text file, one entry a line).")
    with open(path, "rb") as handle:
        handle.seek(offset)
        for line_number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if offset == 0 else "utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"The {what} file {path} is not UTF-8 text: byte 0x{raw[error.start]:02x} at line {line_number} "
                    f"cannot be decoded. Convert it first, e.g. `iconv -f latin1 -t utf-8 {path} > {path}.utf8`."
                ) from None
            yield offset, raw, text.strip()
            offset += len(raw)


def iter_corpus(path: str | os.PathLike[str], offset: int = 0, what: str = "corpus") -> Iterator[tuple[int, str]]:
    """``(byte offset, sentence)`` for each non-blank line of a text file from byte ``offset`` (a line start) on.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: when a line is not UTF-8.
    """
    for line_offset, _, sentence in text_lines(Path(path), offset, what):
        if sentence:
            yield line_offset, sentence


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
    sentences = [sentence for _, sentence in iter_corpus(path, what=what)]
    if not sentences:
        raise ValueError(f"The {what} file {path} is empty: it needs one non-blank line per entry.")
    return sentences
