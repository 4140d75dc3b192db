"""USCC (GB 32100-2015): valid codes pass, every single-character corruption is refused."""

from __future__ import annotations

import pytest

from finance.core.errors import Invalid
from finance.enterprises.uscc import ALPHABET, uscc_problem, validate_uscc, with_check_character

# Codes built the way registries build them: authority 9 (market regulation), type 1
# (company), a Henan division code, a 9-character organisation code, the check character.
VALID = [
    with_check_character("91410100" + "MA44XY7K0"),
    with_check_character("92410400" + "MA3R2TLH1"),
    with_check_character("93419001" + "0000000YX"),
    with_check_character("91411700" + "317012346"),
]
# Characters a corruption can introduce: the whole GB 32100 alphabet, plus characters
# the standard leaves out (I, O, Z, S, V) and ordinary typing slips.
REPLACEMENTS = ALPHABET + "IOZSV-* a"


@pytest.mark.parametrize("code", VALID)
def test_valid_codes_are_accepted(code: str) -> None:
    assert uscc_problem(code) is None
    assert validate_uscc(code) == code


@pytest.mark.parametrize("code", VALID)
def test_every_single_character_corruption_is_refused(code: str) -> None:
    corruptions = 0
    for position in range(18):
        for replacement in REPLACEMENTS:
            if replacement == code[position]:
                continue
            corrupted = code[:position] + replacement + code[position + 1 :]
            assert uscc_problem(corrupted) is not None, corrupted
            corruptions += 1
    assert corruptions == 18 * (len(REPLACEMENTS) - 1)


def test_reasons_say_what_is_wrong() -> None:
    code = VALID[0]
    assert "18 characters" in (uscc_problem(code[:17]) or "")
    assert "must be digits" in (uscc_problem("A" + code[1:]) or "")
    assert "outside the GB 32100 alphabet: O" in (uscc_problem(code[:10] + "O" + code[11:]) or "")
    wrong_check = code[:17] + ("0" if code[17] != "0" else "1")
    assert f"expected {code[17]}" in (uscc_problem(wrong_check) or "")
    with pytest.raises(Invalid) as raised:
        validate_uscc(wrong_check)
    assert raised.value.status == 422
