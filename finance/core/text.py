"""Free text typed by people (a demand's purpose, a product's description, a reason):
printable characters, tabs and line breaks only.

Control characters have no place in such text, and PostgreSQL refuses NUL outright (its
text type cannot hold it) while SQLite would store it: refused here, when the request is
parsed, so both databases answer the same 422.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def no_control_characters(value: str) -> str:
    found = _CONTROL.search(value)
    if found is not None:
        raise ValueError(
            f"must not contain control characters (found U+{ord(found.group()):04X} at "
            f"position {found.start()}); tabs and line breaks are allowed"
        )
    return value


# Placed after a field's own constraints: ``Annotated[str, Field(max_length=200), NoControl]``
# (inside another ``Annotated`` it would run before them and hide them).
NoControl = AfterValidator(no_control_characters)
PlainText = Annotated[str, NoControl]
