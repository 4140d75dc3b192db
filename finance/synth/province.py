"""The enterprises of the synthetic province and their latent health, month by month.

Each enterprise gets a city (weighted by GDP), an industry, a size tier, founding date,
identity and base figures. Its latent health ``h`` is a persistent random walk around a
starting level, with rare negative shocks and its industry's cycle; every observed
department figure is then drawn from ``h`` (``finance.synth.departments``). The formulas
and parameters are documented in ``docs/synthetic.md``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from functools import cached_property

import numpy as np
import numpy.typing as npt

from finance.core.dates import add_months
from finance.core.reference import SizeRule, henan_divisions, size_rule_for
from finance.synth import identity
from finance.synth.vocabulary import CITY_WEIGHTS, INDUSTRIES

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]

TIER_NAMES = ("micro", "small", "medium", "large")
TIER_SHARES = (0.70, 0.22, 0.07, 0.01)
# Ladders of each size indicator at tier coordinates 0..4 (micro floor, small, medium and
# large lower bounds, top): employees in persons, revenue and assets in 10,000 yuan. Where the
# industry's rule names an indicator, its own thresholds replace the generic ladder.
GENERIC_LADDER = {
    "employees": (1.0, 10.0, 100.0, 300.0, 2500.0),
    "revenue_10k_cny": (8.0, 150.0, 2500.0, 40000.0, 150000.0),
    "assets_10k_cny": (10.0, 200.0, 4000.0, 80000.0, 300000.0),
}
INDICATOR_NOISE = 0.18  # per-indicator spread around the enterprise's tier coordinate

# Latent health process (monthly).
HEALTH_BASE = 0.15
HEALTH_TIER = 0.25
HEALTH_AGE = 0.35
HEALTH_SPREAD = 0.75
HEALTH_PERSISTENCE = 0.97
HEALTH_STEP = 0.11
SHOCK_RATE = 0.006
SHOCK_MEAN = -0.9
CYCLE_AMPLITUDE = 0.35


@dataclass(frozen=True, slots=True)
class SynthConfig:
    enterprises: int
    months: int
    seed: int
    end: dt.date  # first day of the last month of the window
    malformed_rate: float = 0.01

    def __post_init__(self) -> None:
        if self.enterprises < 1 or self.months < 1:
            raise ValueError("a province needs at least one enterprise and one month")
        if self.end.day != 1:
            object.__setattr__(self, "end", self.end.replace(day=1))

    @property
    def start(self) -> dt.date:
        return add_months(self.end, -(self.months - 1))

    @property
    def end_date(self) -> dt.date:
        """The last day of the window: the as-of date of every department extract."""
        return add_months(self.end, 1) - dt.timedelta(days=1)

    @property
    def burn_in(self) -> int:
        """Simulated months before the window: from January of the year before it starts,
        so every annual report inside or just before the window has a full year behind it."""
        return self.start.month - 1 + 12

    def rng(self, stream: int) -> np.random.Generator:
        """An independent generator per component, so each is reproducible on its own."""
        return np.random.default_rng([self.seed, stream])


def sigmoid(x: FloatArray) -> FloatArray:
    result: FloatArray = 1.0 / (1.0 + np.exp(-x))
    return result


def month_starts(first: dt.date, count: int) -> npt.NDArray[np.datetime64]:
    return np.datetime64(first.replace(day=1), "M") + np.arange(count)


@dataclass(frozen=True, slots=True)
class Enterprises:
    uscc: StrArray
    name: StrArray
    legal_rep_name: StrArray
    legal_rep_id_number: StrArray
    city_code: StrArray
    section: StrArray
    division: StrArray
    industry_index: IntArray
    tier: IntArray  # the drawn size tier (0 micro .. 3 large); the rules decide the class
    founded_on: npt.NDArray[np.datetime64]
    registered_capital_yuan: IntArray
    employees: FloatArray  # base figures at the start of the simulation
    revenue_yuan: FloatArray  # annual
    assets_yuan: FloatArray
    h0: FloatArray

    def __len__(self) -> int:
        return len(self.uscc)


@dataclass(frozen=True)
class Province:
    config: SynthConfig
    enterprises: Enterprises
    health: FloatArray  # (enterprises, burn_in + months)
    cycle: FloatArray  # (industries, burn_in + months)

    @cached_property
    def months(self) -> npt.NDArray[np.datetime64]:
        """First day of every simulated month, burn-in included."""
        return month_starts(
            add_months(self.config.start, -self.config.burn_in),
            self.config.burn_in + self.config.months,
        )

    @property
    def window(self) -> slice:
        return slice(self.config.burn_in, None)

    @cached_property
    def alive(self) -> BoolArray:
        founded_month = self.enterprises.founded_on.astype("datetime64[M]")
        return self.months[None, :] >= founded_month[:, None]


def _ladder(rule: SizeRule, indicator: str) -> tuple[float, ...]:
    generic = GENERIC_LADDER[indicator]
    if indicator not in rule.indicators:
        return generic
    position = rule.indicators.index(indicator)
    small = [rule.small_min_1, rule.small_min_2][position]
    medium = [rule.medium_min_1, rule.medium_min_2][position]
    upper = [rule.sme_upper_1, rule.sme_upper_2][position]
    if small is None or medium is None or upper is None:
        raise ValueError(f"size rule {rule.industry} lacks a threshold of {indicator}")
    return (
        min(generic[0], float(small) / 10),
        float(small),
        float(medium),
        float(upper),
        float(upper) * 4,
    )


def _indicators(
    rng: np.random.Generator, divisions: StrArray, tiers: IntArray
) -> dict[str, FloatArray]:
    """Employees, annual revenue and assets (yuan) placed on each industry's size ladder."""
    count = len(divisions)
    coordinate = tiers + rng.uniform(0.05, 0.95, count)
    values: dict[str, FloatArray] = {}
    for indicator in GENERIC_LADDER:
        noisy = np.clip(coordinate + rng.normal(0, INDICATOR_NOISE, count), 0.0, 4.0)
        out = np.empty(count)
        for division in np.unique(divisions):
            ladder = np.log(_ladder(size_rule_for(str(division)), indicator))
            rows = divisions == division
            out[rows] = np.exp(np.interp(noisy[rows], np.arange(5.0), ladder))
        values[indicator] = out
    employees = np.maximum(1.0, np.round(values["employees"]))
    return {
        "employees": employees,
        "revenue": values["revenue_10k_cny"] * 10_000,
        "assets": values["assets_10k_cny"] * 10_000,
    }


def _enterprises(config: SynthConfig) -> Enterprises:
    rng = config.rng(1)
    count = config.enterprises
    divisions_ref = henan_divisions()
    codes = np.array(list(CITY_WEIGHTS))
    weights = np.array(list(CITY_WEIGHTS.values()))
    city = codes[rng.choice(len(codes), count, p=weights / weights.sum())]
    city_names = np.array([divisions_ref[str(c)].name.removesuffix("市") for c in codes])
    city_short = city_names[np.searchsorted(codes, city)]

    industry_weights = np.array([i.weight for i in INDUSTRIES])
    industry_index = rng.choice(len(INDUSTRIES), count, p=industry_weights / industry_weights.sum())
    section = np.array([i.section for i in INDUSTRIES])[industry_index]
    division = np.empty(count, dtype="U2")
    words = np.empty(count, dtype=object)
    for index, industry in enumerate(INDUSTRIES):
        rows = np.flatnonzero(industry_index == index)
        division[rows] = np.array(industry.divisions)[
            rng.integers(0, len(industry.divisions), len(rows))
        ]
        words[rows] = np.array(industry.words)[rng.integers(0, len(industry.words), len(rows))]

    tier = rng.choice(4, count, p=np.array(TIER_SHARES)).astype(np.int64)
    figures = _indicators(rng, division, tier)

    age_years = np.minimum(30.0, 0.4 + rng.gamma(1.6, 2.0 + 1.8 * tier))
    start = np.datetime64(config.start, "D")
    founded_on = start - np.round(age_years * 365.25).astype("timedelta64[D]")
    capital = figures["assets"] * rng.lognormal(-0.6, 0.5, count)
    capital_yuan = np.maximum(10_000, np.round(capital / 10_000) * 10_000).astype(np.int64)

    h0 = (
        HEALTH_BASE
        + HEALTH_TIER * tier
        + HEALTH_AGE * np.minimum(age_years, 10.0) / 10.0
        + rng.normal(0, HEALTH_SPREAD, count)
    )
    usccs = identity.usccs(rng, city)
    names = identity.enterprise_names(rng, city_short, words.astype(str))
    births = identity.birth_dates(rng, founded_on)
    enterprises = Enterprises(
        uscc=usccs,
        name=names,
        legal_rep_name=identity.person_names(rng, count),
        legal_rep_id_number=identity.id_numbers(rng, city, births),
        city_code=city,
        section=section,
        division=division,
        industry_index=industry_index.astype(np.int64),
        tier=tier,
        founded_on=founded_on,
        registered_capital_yuan=capital_yuan,
        employees=figures["employees"],
        revenue_yuan=figures["revenue"],
        assets_yuan=figures["assets"],
        h0=h0,
    )
    # Files list enterprises in USCC order, as a registry extract would; it also lets the
    # database append to its (uscc, ...) keys instead of inserting all over them.
    order = np.argsort(usccs, kind="stable")
    return Enterprises(**{f.name: getattr(enterprises, f.name)[order] for f in fields(Enterprises)})


def _cycle(config: SynthConfig, months: int) -> FloatArray:
    """Each industry's business cycle: a sine wave with its own period and phase."""
    rng = config.rng(2)
    period = rng.uniform(30, 60, len(INDUSTRIES))
    phase = rng.uniform(0, 2 * np.pi, len(INDUSTRIES))
    t = np.arange(months)
    return CYCLE_AMPLITUDE * np.sin(2 * np.pi * t[None, :] / period[:, None] + phase[:, None])


def _health(config: SynthConfig, enterprises: Enterprises, cycle: FloatArray) -> FloatArray:
    """h[i, t] = h0_i + x[i, t] + cycle[industry_i, t], with x a mean-reverting walk:
    x_t = 0.97 x_{t-1} + N(0, 0.11) + shock, shock ~ N(-0.9, 0.3) with probability 0.006."""
    rng = config.rng(3)
    count = len(enterprises)
    months = cycle.shape[1]
    steps = rng.normal(0, HEALTH_STEP, (count, months))
    shocks = np.where(
        rng.random((count, months)) < SHOCK_RATE, rng.normal(SHOCK_MEAN, 0.3, (count, months)), 0
    )
    walk = np.empty((count, months))
    level = np.zeros(count)
    for t in range(months):  # one vector step per month over all enterprises
        level = HEALTH_PERSISTENCE * level + steps[:, t] + shocks[:, t]
        walk[:, t] = level
    return enterprises.h0[:, None] + walk + cycle[enterprises.industry_index]


def generate_province(config: SynthConfig) -> Province:
    enterprises = _enterprises(config)
    cycle = _cycle(config, config.burn_in + config.months)
    return Province(
        config=config,
        enterprises=enterprises,
        health=_health(config, enterprises, cycle),
        cycle=cycle,
    )
