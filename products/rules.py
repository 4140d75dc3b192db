"""Eligibility rules: a small typed language over the enterprise facts (products.facts).

A product version's eligibility is a JSON list of rules, all of which must pass:

    {"fact": "months_in_operation", "op": ">=", "value": 24}
    {"fact": "tax_paid_12m", "op": "between", "value": [5000000, 500000000]}   (fen)
    {"fact": "tax_credit_rating", "op": "at_least", "value": "B"}
    {"fact": "city", "op": "in", "value": ["410100", "410300"]}
    {"fact": "penalty_records", "within_months": 24, "op": "<=", "value": 0}
    {"any_of": [rule, rule, ...]}                 (one level, at least two rules)

``parse_eligibility`` validates the list and names every offending place by a JSON
pointer (RFC 6901); ``evaluate`` is the one evaluator (matching, the automatic decision
and the plain words all go through it); ``describe`` renders a rule in zh-CN or en.
A rule over a fact the data does not tell (no tax record, say) fails, and says so.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from finance.core.errors import Invalid
from products.facts import (
    BY_NAME,
    NUMERIC_TYPES,
    RECORD_MONTHS_MAX,
    Fact,
    Facts,
    FactType,
    Value,
)

Lang = Literal["zh", "en"]
COMPARISONS = (">=", ">", "<=", "<", "==", "!=")
NUMBER_OPS = (*COMPARISONS, "between")
CHOICE_OPS = ("in", "not_in")
GRADE_OPS = (*CHOICE_OPS, "at_least", "at_most")
MAX_RULES = 50
MAX_ALTERNATIVES = 10
MONEY_MAX_FEN = 10**14  # a trillion yuan, beyond any SME figure


def pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901) from path segments, escaping ``~`` and ``/``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("rule", message)


def _fact_of(name: Any, allowed: Sequence[FactType]) -> Fact:
    if not isinstance(name, str) or name not in BY_NAME:
        raise _error("unknown fact; see the documented facts")
    fact = BY_NAME[name]
    if fact.type not in allowed:
        raise _error(f"fact {name} ({fact.type.value}) cannot be used in this kind of rule")
    return fact


def _number(fact: Fact, value: Any) -> int | float:
    """A rule's numeric operand, of the type the fact holds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _error(f"must be a number ({fact.unit})")
    if isinstance(value, float) and not math.isfinite(value):
        raise _error("must be a finite number")
    if fact.type in (FactType.COUNT, FactType.MONEY, FactType.RECORDS):
        if isinstance(value, float):
            if not value.is_integer():
                raise _error(f"must be a whole number ({fact.unit})")
            value = int(value)
        if value < 0:
            raise _error("must not be negative")
        if value > MONEY_MAX_FEN:
            raise _error("is out of range")
        return int(value)
    if value < -100 or value > 1_000_000:
        raise _error("must be a percentage change between -100 and 1000000")
    return value


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NumberRule(_Rule):
    """A comparison of a numeric fact: counts, money in fen, percentage changes."""

    fact: str
    op: str
    value: Any

    @field_validator("fact")
    @classmethod
    def _known_fact(cls, name: Any) -> str:
        return _fact_of(name, NUMERIC_TYPES).name

    @field_validator("op")
    @classmethod
    def _known_op(cls, op: Any) -> str:
        if op not in NUMBER_OPS:
            raise _error(f"must be one of {', '.join(NUMBER_OPS)}")
        return str(op)

    @field_validator("value")
    @classmethod
    def _typed_value(cls, value: Any, info: Any) -> Any:
        fact, op = BY_NAME.get(info.data.get("fact", "")), info.data.get("op")
        if fact is None or op is None:
            return value  # already reported
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise _error("between takes [lowest, highest]")
            low, high = _number(fact, value[0]), _number(fact, value[1])
            if low > high:
                raise _error("lowest must not exceed highest")
            return (low, high)
        return _number(fact, value)


class ChoiceRule(_Rule):
    """Membership of a category or grade fact; grades also compare (``at_least`` B
    means B or better)."""

    fact: str
    op: str
    value: Any

    @field_validator("fact")
    @classmethod
    def _known_fact(cls, name: Any) -> str:
        return _fact_of(name, (FactType.CATEGORY, FactType.GRADE)).name

    @field_validator("op")
    @classmethod
    def _known_op(cls, op: Any, info: Any) -> str:
        fact = BY_NAME.get(info.data.get("fact", ""))
        allowed = GRADE_OPS if fact is not None and fact.type is FactType.GRADE else CHOICE_OPS
        if op not in allowed:
            raise _error(f"must be one of {', '.join(allowed)}")
        return str(op)

    @field_validator("value")
    @classmethod
    def _typed_value(cls, value: Any, info: Any) -> Any:
        fact, op = BY_NAME.get(info.data.get("fact", "")), info.data.get("op")
        if fact is None or op is None:
            return value
        if op in ("at_least", "at_most"):
            if value not in fact.codes:
                raise _error(f"must be one of {', '.join(fact.codes)}")
            return value
        if not isinstance(value, list) or not value:
            raise _error("must be a non-empty list of codes")
        unknown = [v for v in value if not isinstance(v, str) or v not in fact.codes]
        if unknown:
            raise _error(f"unknown codes {unknown!r} for {fact.name}")
        return tuple(dict.fromkeys(value))


class RecordsRule(_Rule):
    """The number of a fact's records dated within the last ``within_months`` months."""

    fact: str
    within_months: Any
    op: str
    value: Any

    @field_validator("fact")
    @classmethod
    def _known_fact(cls, name: Any) -> str:
        return _fact_of(name, (FactType.RECORDS,)).name

    @field_validator("within_months")
    @classmethod
    def _months(cls, months: Any) -> int:
        if isinstance(months, bool) or not isinstance(months, int):
            raise _error("must be a whole number of months")
        if not 1 <= months <= RECORD_MONTHS_MAX:
            raise _error(f"must be between 1 and {RECORD_MONTHS_MAX}")
        return months

    @field_validator("op")
    @classmethod
    def _known_op(cls, op: Any) -> str:
        if op not in COMPARISONS:
            raise _error(f"must be one of {', '.join(COMPARISONS)}")
        return str(op)

    @field_validator("value")
    @classmethod
    def _typed_value(cls, value: Any, info: Any) -> Any:
        fact = BY_NAME.get(info.data.get("fact", ""))
        return value if fact is None else _number(fact, value)


Condition = NumberRule | ChoiceRule | RecordsRule


class AnyOf(_Rule):
    """Passes when at least one of its rules passes."""

    any_of: Annotated[tuple[Condition, ...], Field(min_length=2, max_length=MAX_ALTERNATIVES)]


Rule = Condition | AnyOf


def _condition_class(data: dict[str, Any]) -> type[Condition]:
    if "within_months" in data:
        return RecordsRule
    fact = BY_NAME.get(data["fact"]) if isinstance(data.get("fact"), str) else None
    if fact is not None and fact.type in (FactType.CATEGORY, FactType.GRADE):
        return ChoiceRule
    if fact is not None and fact.type is FactType.RECORDS:
        return RecordsRule
    return NumberRule


def _parse_condition(data: Any, at: str, errors: list[dict[str, str]]) -> Condition | None:
    if not isinstance(data, dict):
        errors.append({"pointer": at, "detail": "a rule must be an object"})
        return None
    if "fact" not in data:
        errors.append({"pointer": pointer_join(at, "fact"), "detail": "a rule names a fact"})
        return None
    try:
        return _condition_class(data).model_validate(data)
    except ValidationError as error:
        errors.extend(_pointed(error, at))
        return None


def pointer_join(base: str, *parts: str | int) -> str:
    return base + pointer(*parts)


def _pointed(error: ValidationError, at: str) -> list[dict[str, str]]:
    found = []
    for item in error.errors():
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "missing":
            message = "required"
        found.append({"pointer": pointer_join(at, *item["loc"]), "detail": message})
    return found


def _parse_rule(data: Any, at: str, errors: list[dict[str, str]]) -> Rule | None:
    if isinstance(data, dict) and "any_of" in data:
        extra = sorted(set(data) - {"any_of"})
        if extra:
            errors.append({"pointer": pointer_join(at, extra[0]), "detail": "unknown field"})
            return None
        alternatives = data["any_of"]
        if not isinstance(alternatives, list) or not (2 <= len(alternatives) <= MAX_ALTERNATIVES):
            errors.append(
                {
                    "pointer": pointer_join(at, "any_of"),
                    "detail": f"any_of takes a list of 2 to {MAX_ALTERNATIVES} rules",
                }
            )
            return None
        before = len(errors)
        parsed = []
        for i, alternative in enumerate(alternatives):
            if isinstance(alternative, dict) and "any_of" in alternative:
                errors.append(
                    {"pointer": pointer_join(at, "any_of", i), "detail": "any_of cannot nest"}
                )
                continue
            parsed.append(_parse_condition(alternative, pointer_join(at, "any_of", i), errors))
        if len(errors) > before:
            return None
        return AnyOf(any_of=tuple(p for p in parsed if p is not None))
    return _parse_condition(data, at, errors)


@dataclass(frozen=True, slots=True)
class Eligibility:
    """A product version's rules; all must pass."""

    rules: tuple[Rule, ...]
    checks: tuple[Callable[[Facts], bool], ...] = field(init=False, repr=False, compare=False)
    # Each rule's words (zh, en), rendered once: matching shows them for every enterprise.
    words: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Equal rules (of different products) share one compiled check: matching keys its
        # per-enterprise memo of outcomes by the check.
        object.__setattr__(self, "checks", tuple(_compiled(rule) for rule in self.rules))
        object.__setattr__(
            self, "words", tuple((describe(r, "zh"), describe(r, "en")) for r in self.rules)
        )

    def to_json(self) -> list[dict[str, Any]]:
        return [rule_json(rule) for rule in self.rules]


def rule_json(rule: Rule) -> dict[str, Any]:
    if isinstance(rule, AnyOf):
        return {"any_of": [rule_json(r) for r in rule.any_of]}
    data = rule.model_dump()
    if isinstance(data["value"], tuple):
        data["value"] = list(data["value"])
    return data


def parse_eligibility(data: Any, pointer: str = "/eligibility") -> Eligibility:
    """The rules of a JSON list, or ``Invalid`` (422) with ``errors``: one
    ``{"pointer", "detail"}`` per offending place, pointers under ``pointer``."""
    if not isinstance(data, list):
        raise Invalid(
            "eligibility must be a list of rules",
            errors=[{"pointer": pointer, "detail": "must be a list of rules"}],
        )
    if len(data) > MAX_RULES:
        raise Invalid(
            f"at most {MAX_RULES} eligibility rules",
            errors=[{"pointer": pointer, "detail": f"at most {MAX_RULES} rules"}],
        )
    errors: list[dict[str, str]] = []
    rules = [_parse_rule(item, pointer_join(pointer, i), errors) for i, item in enumerate(data)]
    if errors:
        raise Invalid(f"{len(errors)} invalid eligibility rule field(s)", errors=errors)
    return Eligibility(tuple(rule for rule in rules if rule is not None))


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """One rule against one enterprise: whether it passed, the requirement in plain
    words (``zh``, ``en``) and the enterprise's own value in words."""

    rule: Rule
    passed: bool
    zh: str
    en: str
    actual_zh: str
    actual_en: str


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
Check = Callable[[Facts], bool]


def compile_rule(rule: Rule) -> Check:
    """The rule as a predicate over an enterprise's facts: the one evaluator of the rule
    language (``passes``, ``evaluate``, ``failures`` and ``eligible`` all call it). A rule
    over a fact the data does not tell fails."""
    if isinstance(rule, AnyOf):
        alternatives = tuple(compile_rule(r) for r in rule.any_of)
        return lambda facts: any(check(facts) for check in alternatives)
    name = rule.fact
    if isinstance(rule, RecordsRule):
        months, compare, limit = rule.within_months, _COMPARE[rule.op], rule.value
        return lambda facts: compare(facts.count_within(name, months), limit)
    if isinstance(rule, ChoiceRule):
        rank = BY_NAME[name].rank
        if rule.op in ("at_least", "at_most"):
            threshold, at_least = rank[rule.value], rule.op == "at_least"

            def graded(facts: Facts) -> bool:
                position = rank.get(str(facts.value(name)))
                if position is None:
                    return False
                return position <= threshold if at_least else position >= threshold

            return graded
        codes = frozenset(rule.value)
        if rule.op == "in":
            return lambda facts: facts.value(name) in codes
        return lambda facts: (value := facts.value(name)) in rank and value not in codes
    if rule.op == "between":
        low, high = rule.value
        return lambda facts: (value := facts.value(name)) is not None and low <= value <= high
    compare, expected = _COMPARE[rule.op], rule.value
    return lambda facts: (value := facts.value(name)) is not None and compare(value, expected)


@functools.lru_cache(maxsize=65_536)
def _compiled(rule: Rule) -> Check:
    return compile_rule(rule)


def passes(rule: Rule, facts: Facts) -> bool:
    """Whether ``rule`` holds for ``facts``."""
    return _compiled(rule)(facts)


def evaluate(eligibility: Eligibility, facts: Facts) -> list[RuleOutcome]:
    """Every rule of ``eligibility`` against ``facts``, in order, with its words."""
    return [
        _outcome(rule, check(facts), words, facts)
        for rule, check, words in zip(
            eligibility.rules, eligibility.checks, eligibility.words, strict=True
        )
    ]


def _outcome(rule: Rule, passed: bool, words: tuple[str, str], facts: Facts) -> RuleOutcome:
    return RuleOutcome(
        rule=rule,
        passed=passed,
        zh=words[0],
        en=words[1],
        actual_zh=describe_actual(rule, facts, "zh"),
        actual_en=describe_actual(rule, facts, "en"),
    )


Memo = dict[Check, RuleOutcome | None]


def failures(eligibility: Eligibility, facts: Facts, memo: Memo | None = None) -> list[RuleOutcome]:
    """The rules that fail, with their words (matching words only what it shows).

    ``memo``, kept for one enterprise's ``facts`` (and only for them), holds each rule's
    outcome by its compiled check (None: it passes): products that share a rule evaluate
    and word it once. Matching runs every product of the catalogue against one
    enterprise, and catalogues repeat their rules (years in operation, no dishonest-debtor
    record, a tax credit rating)."""
    if memo is None:
        memo = {}
    failed = []
    for rule, check, words in zip(
        eligibility.rules, eligibility.checks, eligibility.words, strict=True
    ):
        try:
            outcome = memo[check]
        except KeyError:
            outcome = None if check(facts) else _outcome(rule, False, words, facts)
            memo[check] = outcome
        if outcome is not None:
            failed.append(outcome)
    return failed


def eligible(eligibility: Eligibility, facts: Facts) -> bool:
    """All rules pass (the same ``passes`` as ``evaluate``, without the words)."""
    return all(check(facts) for check in eligibility.checks)


# ---------------------------------------------------------------- plain words


def format_value(fact: Fact, value: Value, lang: Lang) -> str:
    """A fact's value in words: yuan for money, % for changes, labels for codes."""
    if value is None:
        return "暂无数据" if lang == "zh" else "no data"
    if fact.type is FactType.MONEY:
        return format_fen(int(value), lang)
    if fact.type is FactType.PERCENT:
        number = Decimal(str(value)).quantize(Decimal("0.1")).normalize()
        text = format(number, "f")
        return f"{text}%"
    if fact.type in (FactType.CATEGORY, FactType.GRADE):
        return fact.label(str(value), lang)
    unit = {"months": ("个月", " months"), "employees": ("人", ""), "records": ("条", "")}
    zh, en = unit.get(fact.unit, ("", ""))
    return f"{value}{zh}" if lang == "zh" else f"{value}{en}"


def format_fen(fen: int, lang: Lang) -> str:
    """Money in words: 万元 in Chinese where it is whole enough, yuan in English."""
    yuan = Decimal(fen) / 100
    if lang == "zh":
        if fen % 1_000_000 == 0 and fen != 0:
            return f"{format(yuan / 10_000, ',f')}万元"
        return f"{format(yuan.normalize() if fen % 100 == 0 else yuan, ',f')}元"
    return f"CNY {format(yuan.normalize() if fen % 100 == 0 else yuan, ',f')}"


_ZH_OPS = {
    ">=": "不低于",
    ">": "高于",
    "<=": "不高于",
    "<": "低于",
    "==": "等于",
    "!=": "不等于",
}
_EN_OPS = {
    ">=": "at least",
    ">": "more than",
    "<=": "at most",
    "<": "less than",
    "==": "exactly",
    "!=": "other than",
}


def describe(rule: Rule, lang: Lang) -> str:
    """The rule as a requirement in plain words."""
    if isinstance(rule, AnyOf):
        parts = [describe(r, lang) for r in rule.any_of]
        if lang == "zh":
            return "满足以下任一条件：" + "；或".join(parts)
        return "any of: " + "; or ".join(parts)
    fact = BY_NAME[rule.fact]
    label = fact.zh if lang == "zh" else fact.en
    if isinstance(rule, RecordsRule):
        count = int(rule.value)
        if lang == "zh":
            if (rule.op, count) in (("<=", 0), ("==", 0), ("<", 1)):
                return f"近{rule.within_months}个月无{label}"
            return f"近{rule.within_months}个月{label}{_ZH_OPS[rule.op]}{count}条"
        if (rule.op, count) in (("<=", 0), ("==", 0), ("<", 1)):
            return f"no {label} in the last {rule.within_months} months"
        return f"{_EN_OPS[rule.op]} {count} {label} in the last {rule.within_months} months"
    if isinstance(rule, ChoiceRule):
        if rule.op in ("at_least", "at_most"):
            grade = fact.label(rule.value, lang)
            if lang == "zh":
                return f"{label}为{grade}或{'更好' if rule.op == 'at_least' else '更差'}"
            return f"{label} {grade} or {'better' if rule.op == 'at_least' else 'worse'}"
        names = [fact.label(code, lang) for code in rule.value]
        if lang == "zh":
            verb = "为" if rule.op == "in" else "不为"
            listed = "、".join(names)
            return f"{label}{verb}{listed}" + ("之一" if len(names) > 1 else "")
        if len(names) == 1:
            return f"{label} is {'' if rule.op == 'in' else 'not '}{names[0]}"
        return f"{label} is {'one' if rule.op == 'in' else 'none'} of {', '.join(names)}"
    if rule.op == "between":
        low, high = (format_value(fact, v, lang) for v in rule.value)
        if lang == "zh":
            return f"{label}在{low}至{high}之间"
        return f"{label} between {low} and {high}"
    amount = format_value(fact, rule.value, lang)
    if lang == "zh":
        return f"{label}{_ZH_OPS[rule.op]}{amount}"
    return f"{label} {_EN_OPS[rule.op]} {amount}"


def describe_actual(rule: Rule, facts: Facts, lang: Lang) -> str:
    """The enterprise's own value(s) that the rule reads, in words."""
    if isinstance(rule, AnyOf):
        return ("；" if lang == "zh" else "; ").join(
            describe_actual(r, facts, lang) for r in rule.any_of
        )
    months = rule.within_months if isinstance(rule, RecordsRule) else 0
    key = (rule.fact, months, lang)
    words = facts.words.get(key)
    if words is None:
        words = facts.words[key] = _actual_words(rule.fact, months, facts, lang)
    return words


def _actual_words(name: str, months: int, facts: Facts, lang: Lang) -> str:
    fact = BY_NAME[name]
    label = fact.zh if lang == "zh" else fact.en
    if months:
        count = facts.count_within(name, months)
        if lang == "zh":
            return f"近{months}个月{label}{count}条"
        return f"{count} {label} in the last {months} months"
    value = format_value(fact, facts.value(name), lang)
    return f"{label}：{value}" if lang == "zh" else f"{label}: {value}"
