"""Free text typed by people refuses control characters (tabs and line breaks pass)."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from finance.core.text import PlainText

TEXT = TypeAdapter(PlainText)


@pytest.mark.parametrize("value", ["", "周转资金 working capital", "line one\nline two\r\n\tend"])
def test_printable_text_tabs_and_line_breaks_pass(value: str) -> None:
    assert TEXT.validate_python(value) == value


@pytest.mark.parametrize(
    ("value", "code", "position"),
    [
        ("a\x00b", "U+0000", 1),
        ("\x07", "U+0007", 0),
        ("ok\x1b[0m", "U+001B", 2),
        ("\x7f", "U+007F", 0),
    ],
)
def test_control_characters_are_refused_naming_the_first(
    value: str, code: str, position: int
) -> None:
    with pytest.raises(ValidationError) as refused:
        TEXT.validate_python(value)
    message = str(refused.value)
    assert code in message
    assert f"position {position}" in message
