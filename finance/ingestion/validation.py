"""Row-level validation of a chunk against its category's schema, column by column.

Works on whole columns at once (pandas), so a million-row file validates in seconds.
Each refused value yields one rejection (line, column, value, reason); a row with any
rejection is refused whole. Accepted rows come out typed for the table: integer fen for
money, dates for dates and months, canonical codes for enumerations.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from stdnum.cn import ric

from finance.core.reference import city_of, section_of
from finance.enterprises.uscc import uscc_problems
from finance.govdata.categories import Category, Column, Kind

MISSING = ("", "\\N", "NULL", "null")
TRUE_WORDS = {"true", "1", "yes", "y", "t", "是"}
FALSE_WORDS = {"false", "0", "no", "n", "f", "否"}
EARLIEST = pd.Timestamp("1900-01-01")
REJECTION_COLUMNS = ["line", "column", "value", "reason"]


@dataclass
class ChunkResult:
    accepted: pd.DataFrame  # typed table columns (db names) plus "line"
    rejections: pd.DataFrame  # line, column, value, reason
    rows_read: int


@dataclass
class _Errors:
    parts: list[pd.DataFrame] = field(default_factory=list)

    def add(
        self, frame: pd.DataFrame, mask: pd.Series, column: str, reason: str | pd.Series
    ) -> None:
        if not mask.any():
            return
        reasons = reason[mask] if isinstance(reason, pd.Series) else reason
        self.parts.append(
            pd.DataFrame(
                {
                    "line": frame.loc[mask, "line"].to_numpy(),
                    "column": column,
                    "value": frame.loc[mask, column].astype(str).to_numpy()
                    if column in frame
                    else "",
                    "reason": reasons if isinstance(reasons, str) else reasons.to_numpy(),
                }
            )
        )

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=REJECTION_COLUMNS)
        return pd.concat(self.parts, ignore_index=True)


def _missing(text: pd.Series) -> pd.Series:
    """Empty cells and the usual null spellings of database exports."""
    missing = text.eq(MISSING[0])
    for spelling in MISSING[1:]:
        missing |= text.eq(spelling)
    return missing


_INTEGER = r"[+-]?\d+"
_AMOUNT = r"[+-]?\d+(?:\.\d+)?"
_AMOUNT_2DP = r"[+-]?\d+(?:\.\d{1,2})?"


def _parse_dates(text: pd.Series) -> pd.Series:
    """YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD -> Timestamp (NaT when not a real date)."""
    normal = text.str.replace("/", "-", regex=False)
    compact = normal.str.fullmatch(r"\d{8}")
    spelled = normal.str.slice(0, 4) + "-" + normal.str.slice(4, 6) + "-" + normal.str.slice(6, 8)
    normal = normal.where(~compact, spelled)
    return pd.to_datetime(normal, format="%Y-%m-%d", errors="coerce")


def _parse_months(text: pd.Series) -> pd.Series:
    """YYYY-MM, YYYY/MM or YYYYMM -> Timestamp of the first day (NaT when invalid)."""
    normal = text.str.replace("/", "-", regex=False)
    compact = normal.str.fullmatch(r"\d{6}")
    normal = normal.where(~compact, normal.str.slice(0, 4) + "-" + normal.str.slice(4, 6))
    return pd.to_datetime(normal, format="%Y-%m", errors="coerce")


def _strings(values: pd.Series) -> pa.Array:
    """A text column as one Arrow string array (pandas may hold it in several chunks)."""
    strings = pa.array(values, type=pa.string())
    if isinstance(strings, pa.ChunkedArray):
        return strings.combine_chunks()
    return strings


def _per_distinct(text: pd.Series, parse: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``parse`` applied to each distinct value once (a month column of a million rows has
    a few dozen), spread back over the rows."""
    encoded = pc.dictionary_encode(pc.fill_null(_strings(text), ""))
    distinct = pd.Series(encoded.dictionary.to_pylist(), dtype="str")
    parsed = parse(distinct).to_numpy()
    positions = encoded.indices.to_numpy(zero_copy_only=False)
    return pd.Series(parsed[positions], index=text.index)


def id_number_is_valid(number: str) -> bool:
    """Length, digits, GB 11643 check digit and a real birth date. The birth-place code is
    not checked against its county's history (python-stdnum's ``validate`` does that), as
    renamed counties would make real cards fail."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    if number[-1] != ric.calc_check_digit(number):
        return False
    try:
        ric.get_birth_date(number)
    except ValueError:
        return False
    return True


def _uscc_problems(codes: pd.Series) -> pd.Series:
    """Reason per row (None when valid); each distinct code is checked once."""
    return _per_distinct(codes, lambda distinct: pd.Series(uscc_problems(distinct.tolist())))


def _matches(text: pd.Series, pattern: str) -> pd.Series:
    """Whether each whole value matches ``pattern`` (RE2 syntax, as pandas uses)."""
    found = pc.match_substring_regex(_strings(text), f"^(?:{pattern})$")
    flags = pc.fill_null(found, False).to_numpy(zero_copy_only=False)
    return pd.Series(flags, index=text.index, dtype=bool)


def _number_shapes(text: pd.Series, kind: Kind, present: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(has the form of the kind's numbers, has at most two decimals). Values are matched
    against the common form first (integers; amounts with at most two decimals) and only
    the few that miss it against the general amount form, one regex pass instead of two."""
    if kind is Kind.INT:
        shaped = _matches(text, _INTEGER)
        return shaped, shaped
    two_places = _matches(text, _AMOUNT_2DP)
    shaped = two_places.copy()
    others = present & ~two_places
    if others.any():
        shaped[others] = _matches(text[others], _AMOUNT)
    return shaped, two_places


def _numbers(text: pd.Series, ok: pd.Series) -> pd.Series:
    """The values where ``ok`` as floats (0 elsewhere); they already have a number's form."""
    strings = pc.if_else(pa.array(ok.to_numpy()), _strings(text), "0")
    values = pc.cast(strings, pa.float64()).to_numpy(zero_copy_only=False)
    return pd.Series(values, index=text.index, dtype="float64")


def _validate_column(
    frame: pd.DataFrame,
    spec: Column,
    errors: _Errors,
    present: pd.Series,
    latest: pd.Timestamp,
) -> pd.Series:
    """Typed values of one column; invalid ones are reported and come back as missing."""
    text = frame[spec.name]
    name = spec.name
    match spec.kind:
        case Kind.TEXT:
            if spec.max_length is not None:
                too_long = present & (text.str.len() > spec.max_length)
                errors.add(frame, too_long, name, f"longer than {spec.max_length} characters")
            return text.where(present, None)
        case Kind.INT | Kind.MONEY:
            shaped, two_places = _number_shapes(text, spec.kind, present)
            bad = present & ~shaped
            what = "an integer" if spec.kind is Kind.INT else "an amount in yuan"
            errors.add(frame, bad, name, f"not {what}")
            ok = present & shaped
            if spec.kind is Kind.MONEY:
                cents = ok & ~two_places
                errors.add(frame, cents, name, "more than 2 decimal places")
                ok &= ~cents
            numbers = _numbers(text, ok)
            if spec.minimum is not None:
                low = ok & (numbers < spec.minimum)
                errors.add(frame, low, name, f"must be at least {spec.minimum}")
                ok &= ~low
            if spec.maximum is not None:
                high = ok & (numbers > spec.maximum)
                errors.add(frame, high, name, f"must be at most {spec.maximum}")
                ok &= ~high
            scaled = (numbers * 100).round() if spec.kind is Kind.MONEY else numbers
            return scaled.where(ok).astype("Int64")
        case Kind.DATE | Kind.MONTH:
            parsed = _per_distinct(text, _parse_dates if spec.kind is Kind.DATE else _parse_months)
            form = "YYYY-MM-DD" if spec.kind is Kind.DATE else "YYYY-MM"
            bad = present & parsed.isna()
            noun = "date" if spec.kind is Kind.DATE else "month"
            errors.add(frame, bad, name, f"not a valid {noun} ({form})")
            ok = present & ~bad
            future = ok & (parsed > latest)
            errors.add(frame, future, name, f"after the extract's as-of date {latest.date()}")
            early = ok & (parsed < EARLIEST)
            errors.add(frame, early, name, "before 1900")
            return parsed.where(ok & ~future & ~early)
        case Kind.ENUM:
            accepted = spec.accepted
            codes = text.map(accepted)
            bad = present & codes.isna()
            expected = ", ".join(c.code for c in spec.choices)
            errors.add(frame, bad, name, f"unknown value; expected one of: {expected}")
            return codes.where(present & ~bad, None)
        case Kind.BOOL:
            lowered = text.str.lower()
            truth = lowered.isin(TRUE_WORDS)
            falsity = lowered.isin(FALSE_WORDS)
            bad = present & ~truth & ~falsity
            errors.add(frame, bad, name, "not a yes/no value (true/false, 1/0, 是/否)")
            return pd.Series(np.where(truth, True, False), index=frame.index, dtype=object).where(
                present & ~bad, None
            )
        case Kind.ID_NUMBER:
            upper = text.str.upper()
            verdicts = {value: id_number_is_valid(value) for value in upper[present].unique()}
            bad = present & ~upper.map(verdicts).fillna(False).astype(bool)
            errors.add(frame, bad, name, "not a valid resident ID number (GB 11643)")
            return upper.where(present & ~bad, None)
        case Kind.DIVISION:
            verdicts = {value: city_of(value) is not None for value in text[present].unique()}
            bad = present & ~text.map(verdicts).fillna(False).astype(bool)
            errors.add(frame, bad, name, "not a GB/T 2260 division code in Henan")
            return text.where(present & ~bad, None)
        case Kind.INDUSTRY:
            verdicts = {value: section_of(value) is not None for value in text[present].unique()}
            bad = present & ~text.map(verdicts).fillna(False).astype(bool)
            errors.add(frame, bad, name, "not a GB/T 4754-2017 2-digit division")
            return text.where(present & ~bad, None)
    raise ValueError(f"unhandled column kind {spec.kind}")


def _cross_field_checks(
    category: Category, frame: pd.DataFrame, typed: dict[str, pd.Series], errors: _Errors
) -> None:
    if category.name == "registration":
        founded, event = typed["founded_on"], typed["event_date"]
        late = founded.notna() & event.notna() & (founded > event)
        errors.add(frame, late, "founded_on", "founding date is after the event date")
    if category.name == "judicial":
        filed, closed = typed["filed_on"], typed["closed_on"]
        early = filed.notna() & closed.notna() & (closed < filed)
        errors.add(frame, early, "closed_on", "closed before it was filed")


def known_enterprises(usccs: Collection[str]) -> pa.Array:
    """The registry's USCCs in the form ``validate_chunk`` looks them up in: built once per
    file, so each chunk's lookup costs the chunk's size, not the registry's."""
    return pa.array(list(usccs), type=pa.string())


def _is_in(values: pd.Series, value_set: pa.Array) -> pd.Series:
    found = pc.is_in(_strings(values), value_set=value_set).to_numpy(zero_copy_only=False)
    return pd.Series(found, index=values.index, dtype=bool)


def _repeated(values: pd.Series, among: pd.Series) -> pd.Series:
    """Rows of ``among`` whose value an earlier row of ``among`` already has."""
    chosen = among.to_numpy(dtype=bool)
    encoded = pc.dictionary_encode(_strings(values[chosen]))
    positions = encoded.indices.to_numpy(zero_copy_only=False)
    first = np.zeros(len(positions), dtype=bool)
    first[np.unique(positions, return_index=True)[1]] = True
    repeated = np.zeros(len(values), dtype=bool)
    repeated[np.flatnonzero(chosen)[~first]] = True
    return pd.Series(repeated, index=values.index, dtype=bool)


def validate_chunk(
    frame: pd.DataFrame,
    category: Category,
    *,
    known_usccs: pa.Array | Collection[str] | None,
    seen_keys: dict[str, int],
    latest: dt.date,
) -> ChunkResult:
    """Validate one chunk (strings plus ``line``). ``known_usccs`` is None for the category
    that creates enterprises; ``seen_keys`` carries natural keys across chunks to find
    duplicates inside the file (the first occurrence wins)."""
    errors = _Errors()
    frame = frame.copy()
    for name in category.file_columns:
        frame[name] = frame[name].astype("str").str.strip()
    limit = pd.Timestamp(latest)

    uscc = frame["uscc"]
    uscc_present = ~_missing(uscc)
    errors.add(frame, ~uscc_present, "uscc", "required value missing")
    problems = _uscc_problems(uscc.where(uscc_present, ""))
    bad_code = uscc_present & problems.notna()
    errors.add(frame, bad_code, "uscc", problems)
    if known_usccs is not None:
        if not isinstance(known_usccs, pa.Array):
            known_usccs = known_enterprises(known_usccs)
        unknown = uscc_present & ~bad_code & ~_is_in(uscc, known_usccs)
        errors.add(
            frame,
            unknown,
            "uscc",
            "unknown enterprise: no registration record for this USCC (load registration first)",
        )

    typed: dict[str, pd.Series] = {}
    for spec in category.columns:
        present = ~_missing(frame[spec.name])
        if spec.required:
            errors.add(frame, ~present, spec.name, "required value missing")
        typed[spec.name] = _validate_column(frame, spec, errors, present, limit)
    _cross_field_checks(category, frame, typed, errors)

    rejections = errors.frame()
    refused = frame["line"].isin(rejections["line"]) if len(rejections) else None
    keep = ~refused if refused is not None else pd.Series(True, index=frame.index)

    key_text = uscc.astype("str")
    for name in category.key:
        part = typed[name]
        if pd.api.types.is_datetime64_any_dtype(part):
            days = part.to_numpy(dtype="datetime64[D]")
            spelled = np.where(np.isnat(days), "", np.datetime_as_string(days, unit="D"))
            part = pd.Series(spelled, index=part.index, dtype="str")
        key_text = key_text + "|" + part.astype("str").where(part.notna(), "")
    lines = frame["line"]
    duplicate_in_chunk = keep & _repeated(key_text, keep)
    keys = np.asarray(key_text.tolist(), dtype=object)
    already = np.fromiter(map(seen_keys.__contains__, keys), dtype=bool, count=len(keys))
    seen_before = keep & pd.Series(already, index=frame.index, dtype=bool)
    duplicate = duplicate_in_chunk | seen_before
    if duplicate.any():
        first_line_in_chunk = (
            pd.Series(lines[keep].to_numpy(), index=key_text[keep].to_numpy())
            .groupby(level=0)
            .first()
        )
        original = key_text[duplicate].map(
            lambda key: seen_keys.get(key, first_line_in_chunk.get(key))
        )
        key_names = ", ".join(["uscc", *category.key])
        reasons = "duplicate of line " + original.astype(str) + f" (same {key_names})"
        errors.add(frame, duplicate, "uscc", reasons.reindex(frame.index))
        keep &= ~duplicate
        rejections = errors.frame()
    kept = keep.to_numpy(dtype=bool)
    seen_keys.update(zip(keys[kept].tolist(), lines.to_numpy()[kept].tolist(), strict=True))

    accepted = pd.DataFrame({"line": lines[keep].to_numpy(), "uscc": uscc[keep].to_numpy()})
    for spec in category.columns:
        column = typed[spec.name][keep]
        if spec.name in category.key:
            column = column.where(column.notna(), "")
        accepted[spec.db_name] = column.to_numpy()
    rejections = rejections.sort_values(["line", "column"], kind="stable", ignore_index=True)
    return ChunkResult(accepted=accepted, rejections=rejections, rows_read=len(frame))
