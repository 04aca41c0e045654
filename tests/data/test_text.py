from __future__ import annotations

import pytest

from simcse_st.data.text import is_usable_text
from simcse_st.embedding import check_sentences


@pytest.mark.parametrize("text", ["", " ", "\t\n", "\u001c", "\u001f", "\u3000", "\x85 \u2028"])
def test_blank_texts_are_not_usable_and_the_library_refuses_them(text: str) -> None:
    assert not is_usable_text(text)
    with pytest.raises(ValueError, match="entry 1 is blank"):
        check_sentences(["fine", text], what="query")


@pytest.mark.parametrize("text", ["a", " a ", "\u001ca", "\u200b"])
def test_texts_with_something_left_after_strip_are_usable(text: str) -> None:
    assert is_usable_text(text)
    assert check_sentences([text]) == [text]
