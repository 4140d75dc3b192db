"""Unified Social Credit Code (统一社会信用代码), GB 32100-2015.

18 characters from ``0123456789ABCDEFGHJKLMNPQRTUWXY``: registration authority (1),
entity type (1), GB/T 2260 division (6), organisation code (9), check character (1)
computed mod 31 with weights 3^i mod 31. python-stdnum does the check.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from stdnum.cn import uscc as _uscc
from stdnum.exceptions import ValidationError

from finance.core.errors import Invalid

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def uscc_problem(code: str) -> str | None:
    """Why ``code`` is not a valid USCC, or None when it is.

    Only the canonical form is accepted (no spaces or separators, upper case) so the
    registry never holds two spellings of one enterprise.
    """
    if len(code) != 18:
        return f"USCC must be 18 characters, got {len(code)}"
    if not code[:8].isdigit():
        return "USCC characters 1-8 (authority, type and division code) must be digits"
    bad = sorted({c for c in code[8:] if c not in ALPHABET})
    if bad:
        return f"USCC contains characters outside the GB 32100 alphabet: {''.join(bad)}"
    return _check_character_problem(code)


@functools.lru_cache(maxsize=4096)
def _check_character_problem(code: str) -> str | None:
    """The check character's verdict on a well-formed code, remembered for the codes
    seen lately: every data call checks its enterprise's code, and python-stdnum's check
    cost about a tenth of a data call's CPU. Only 18-character codes of the alphabet get
    here, so the cache holds at most 4,096 short strings."""
    try:
        _uscc.validate(code)
    except ValidationError:
        return f"USCC check character is wrong (expected {_uscc.calc_check_digit(code[:17])})"
    return None


def validate_uscc(code: str) -> str:
    problem = uscc_problem(code)
    if problem is not None:
        raise Invalid(problem, uscc=code)
    return code


def with_check_character(first17: str) -> str:
    return first17 + _uscc.calc_check_digit(first17)


def division_code(code: str) -> str:
    return code[2:8]


_INDEX = np.full(256, -1, dtype=np.int64)
for _position, _character in enumerate(ALPHABET):
    _INDEX[ord(_character)] = _position
_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)


def uscc_problems(codes: Sequence[str]) -> list[str | None]:
    """``uscc_problem`` for many codes at once: the GB 32100 mod-31 check is computed with
    numpy for every well-formed code; only codes that fail go through ``uscc_problem`` (and
    python-stdnum) to get their reason. Agreement with stdnum is tested."""
    problems: list[str | None] = [None] * len(codes)
    shaped = [i for i, c in enumerate(codes) if len(c) == 18 and c.isascii()]
    shaped_set = set(shaped)
    for i, code in enumerate(codes):
        if i not in shaped_set:
            problems[i] = uscc_problem(code)
    if shaped:
        raw = np.frombuffer("".join(codes[i] for i in shaped).encode("ascii"), dtype=np.uint8)
        table = raw.reshape(-1, 18)
        values = _INDEX[table]
        digits = ((table[:, :8] >= ord("0")) & (table[:, :8] <= ord("9"))).all(axis=1)
        known = (values >= 0).all(axis=1)
        check = (31 - (values[:, :17] * _WEIGHTS).sum(axis=1) % 31) % 31
        good = digits & known & (values[:, 17] == check)
        for row in np.flatnonzero(~good):
            index = shaped[int(row)]
            problems[index] = uscc_problem(codes[index])
    return problems
