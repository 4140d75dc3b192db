"""Identifiers of synthetic enterprises and people: USCCs (GB 32100-2015), resident ID
numbers (GB 11643-1999), Chinese personal and enterprise names. Vectorised draws; the check
characters come from the same functions the platform validates with."""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
from stdnum.cn import ric

from finance.enterprises.uscc import ALPHABET
from finance.synth.vocabulary import GIVEN_CHARS, ID_REGION_HISTORY, SURNAMES, TRADE_WORDS

StrArray = npt.NDArray[np.str_]

_ALPHABET_BYTES = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)
_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)


def _join_bytes(columns: npt.NDArray[np.uint8]) -> StrArray:
    """Rows of ASCII codes (n, k) -> an array of n strings of length k."""
    width = columns.shape[1]
    packed = np.ascontiguousarray(columns).view(f"S{width}").ravel()
    return packed.astype(f"U{width}")


_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_VALUE = np.full(128, -1, dtype=np.int64)
_VALUE[_ALPHABET_BYTES] = np.arange(31)


def check_characters(first17: StrArray) -> StrArray:
    """GB 32100 check characters of many 17-character prefixes at once: the same mod-31
    weighted sum as ``with_check_character`` (python-stdnum), on whole arrays."""
    codes = np.frombuffer(first17.astype("S17").tobytes(), dtype=np.uint8).reshape(-1, 17)
    total = (_VALUE[codes] * _WEIGHTS).sum(axis=1)
    return _join_bytes(_ALPHABET_BYTES[(31 - total % 31) % 31][:, None])


def usccs(
    rng: np.random.Generator, division_codes: StrArray, exclude: set[str] | None = None
) -> StrArray:
    """Valid, distinct USCCs of enterprises (registration authority 9 = market regulation,
    type 1 = company), with the given division codes and random organisation codes."""
    count = len(division_codes)
    taken = set() if exclude is None else set(exclude)
    result = np.empty(count, dtype="U18")
    todo = np.arange(count)
    while len(todo):
        organisation = _join_bytes(_ALPHABET_BYTES[rng.integers(0, 31, size=(len(todo), 9))])
        first17 = np.char.add(np.char.add("91", division_codes[todo]), organisation)
        codes = np.char.add(first17, check_characters(first17)).tolist()
        retry = []
        for index, code in zip(todo, codes, strict=True):
            if code in taken:
                retry.append(index)
            else:
                taken.add(code)
                result[index] = code
        todo = np.array(retry, dtype=np.int64)
    return result


def id_region(city_code: str, birth_year: int) -> str:
    """The division code a resident ID number of someone born then in that city carries."""
    for first_year, code in ID_REGION_HISTORY.get(city_code, ((0, city_code),)):
        if birth_year >= first_year:
            return code
    raise ValueError(f"no division code for {city_code} in {birth_year}")


def id_numbers(
    rng: np.random.Generator, city_codes: StrArray, birth_dates: npt.NDArray[np.datetime64]
) -> StrArray:
    """Valid 18-digit resident ID numbers: region, birth date, sequence, GB 11643 check."""
    years = birth_dates.astype("datetime64[Y]").astype(np.int64) + 1970
    regions = np.array(
        [id_region(str(city), int(year)) for city, year in zip(city_codes, years, strict=True)]
    )
    births = np.char.replace(np.datetime_as_string(birth_dates, unit="D"), "-", "")
    sequence = _join_bytes(_DIGITS[rng.integers(0, 10, size=(len(city_codes), 3))])
    first17 = np.char.add(np.char.add(regions, births), sequence)
    # stdnum's calc_check_digit reads the first 17 characters of an 18-character number.
    return np.array([f"{code}{ric.calc_check_digit(f'{code}0')}" for code in first17])


def person_names(rng: np.random.Generator, count: int) -> StrArray:
    surnames = np.array(SURNAMES)[rng.integers(0, len(SURNAMES), count)]
    given = np.array(GIVEN_CHARS)
    first = given[rng.integers(0, len(given), count)]
    second = np.where(rng.random(count) < 0.7, given[rng.integers(0, len(given), count)], "")
    return np.char.add(np.char.add(surnames, first), second)


def enterprise_names(
    rng: np.random.Generator, city_names: StrArray, industry_words: StrArray
) -> StrArray:
    """Distinct names: city + trade name (one or two words) + industry word + 有限公司."""
    words = np.array(TRADE_WORDS)
    count = len(city_names)
    names = np.empty(count, dtype=object)
    taken: set[str] = set()
    todo = np.arange(count)
    while len(todo):
        first = words[rng.integers(0, len(words), len(todo))]
        second = np.where(
            rng.random(len(todo)) < 0.5, words[rng.integers(0, len(words), len(todo))], ""
        )
        drawn = np.char.add(
            np.char.add(np.char.add(city_names[todo], first), second),
            np.char.add(industry_words[todo], "有限公司"),
        )
        retry = []
        for index, name in zip(todo, drawn, strict=True):
            text = str(name)
            if text in taken:
                retry.append(index)
            else:
                taken.add(text)
                names[index] = text
        todo = np.array(retry, dtype=np.int64)
    return names.astype(str)


def birth_dates(
    rng: np.random.Generator, founded_on: npt.NDArray[np.datetime64]
) -> npt.NDArray[np.datetime64]:
    """Legal representatives aged 22 to 55 when they founded the enterprise."""
    ages_days = rng.integers(22 * 365, 55 * 365, len(founded_on))
    latest = np.datetime64(dt.date(2004, 12, 31), "D")
    births: npt.NDArray[np.datetime64] = np.minimum(
        founded_on - ages_days.astype("timedelta64[D]"), latest
    )
    return births
