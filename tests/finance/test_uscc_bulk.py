"""The vectorised USCC check used by ingestion agrees with python-stdnum on every code."""

from __future__ import annotations

import random

from stdnum.cn import uscc as stdnum_uscc

from finance.enterprises.uscc import ALPHABET, uscc_problem, uscc_problems, with_check_character


def test_bulk_check_agrees_with_the_single_check_and_stdnum() -> None:
    rng = random.Random(20261122)
    valid = [
        with_check_character("91" + "410100" + "".join(rng.choice(ALPHABET) for _ in range(9)))
        for _ in range(3000)
    ]
    corrupted = []
    for code in valid[:1500]:
        position = rng.randrange(18)
        corrupted.append(code[:position] + rng.choice(ALPHABET + "IOZSV") + code[position + 1 :])
    odd = ["", "9141010", "x" * 18, "统一社会信用代码统一社会信用代码统一", valid[0].lower()]
    codes = valid + corrupted + odd
    bulk = uscc_problems(codes)
    assert bulk == [uscc_problem(c) for c in codes]
    for code, problem in zip(codes, bulk, strict=True):
        canonical = code == code.upper() and code.strip() == code
        assert (problem is None) == (canonical and stdnum_uscc.is_valid(code)), code
    assert sum(p is None for p in bulk) >= 3000
