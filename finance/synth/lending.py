"""Banks, loan products and a loan history for the synthetic province.

Each application's true probability of default within 12 months is a logistic function of
the enterprise's own observed department data before the application (``FEATURES`` and
``COEFFICIENTS``, documented in ``docs/synthetic.md``); banks approve on a noisy view of it
(``finance.synth.decisions`` writes the decision and the state machine's transitions), and
each loan's default is drawn Bernoulli(true PD) with its date inside the 12 months. The
loans are the loan book's kind: ``finance.synth.repayments`` gives each its schedule, its
borrower's repayments and its status as of the end date by the book's own rules.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from finance.lending.service import OFFER_DAYS
from finance.synth import decisions, repayments
from finance.synth.departments import Observed
from finance.synth.products import SPECS, synthetic_terms, template_of
from finance.synth.province import FloatArray, IntArray, Province, sigmoid
from finance.synth.vocabulary import BANKS, PRODUCT_TEMPLATES
from products.service import product_terms

HISTORY_MONTHS = 12  # an enterprise needs this many months of data before it can borrow
APPLY_SHARE = (0.24, 0.34, 0.38, 0.20)  # share of enterprises applying, by size tier
AMOUNT_MEDIAN_10K = (40.0, 150.0, 600.0, 1500.0)  # typical amount asked, by tier (万元)
INTERCEPT = -2.4
COEFFICIENTS: dict[str, float] = {
    "tax_trend": -2.0,  # log ratio of tax paid, last 6 months over the 6 before
    "tax_arrears_6m": 0.9,  # any tax arrears in the last 6 months
    "insured_trend": -2.0,  # log ratio of insured employees, last month over 12 months ago
    "social_arrears_6m": 0.6,  # any social insurance arrears in the last 6 months
    "electricity_trend": -1.5,  # log ratio of kWh, last 6 months over the 6 before
    "utility_overdue_6m": 0.6,  # any overdue utility bills in the last 6 months
    "defendant_cases": 0.6,  # log(1 + cases as defendant or enforcement respondent so far)
    "dishonest_debtor": 1.5,  # listed as a dishonest debtor so far
    "penalties_12m": 0.4,  # log(1 + administrative penalties in the last 12 months)
    "log_age_years": -0.3,  # log of the enterprise's age
    "log_employees": -0.15,  # log(1 + employees in the latest annual report)
    "industry_cycle": -0.8,  # the industry's business cycle index last month
    "tax_rating_c_or_d": 0.7,  # tax credit rating C or D
    "leverage": 0.25,  # log(amount / latest annual revenue), clipped to [-3, 3]
}
FEATURES = tuple(COEFFICIENTS)
BANK_VIEW_NOISE = 0.7  # spread of the bank's estimate around the true log-odds
APPROVE_BELOW = 0.15  # a bank approves when its estimated PD is below this


@dataclass(frozen=True)
class LoanBook:
    banks: pd.DataFrame
    products: pd.DataFrame
    applications: pd.DataFrame
    loans: pd.DataFrame
    truth: pd.DataFrame  # one row per loan: loan_ref, true_pd, outcome, features
    decisions: pd.DataFrame  # one row per decided application (application_ref)
    transitions: pd.DataFrame  # each application's path through the state machine
    instalments: pd.DataFrame  # each loan's schedule and what is paid of it (loan_ref)
    repayments: pd.DataFrame  # each repayment and its allocation (loan_ref)

    @property
    def default_rate(self) -> float:
        return float(self.truth["defaulted_12m"].mean()) if len(self.truth) else 0.0

    @property
    def oracle_auc(self) -> float | None:
        """AUC of the true PD against the drawn outcome, on loans whose 12-month window
        ends inside the data."""
        complete = self.truth[self.truth["complete_window"]]
        return auc(complete["defaulted_12m"].to_numpy(), complete["true_pd"].to_numpy())


def auc(outcome: npt.NDArray[np.bool_], score: FloatArray) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties counted half); None without both classes."""
    positives = int(outcome.sum())
    negatives = len(outcome) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[outcome].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def banks_and_products() -> tuple[pd.DataFrame, pd.DataFrame]:
    banks = pd.DataFrame(
        {
            "code": [f"SYN-{b.code}" for b in BANKS],
            "name": [f"{b.name}（合成）" for b in BANKS],
            "name_en": [f"{b.name_en} (synthetic)" for b in BANKS],
            "kind": [b.kind for b in BANKS],
            "weight": [b.weight for b in BANKS],
        }
    )
    rows = []
    for bank_index, bank in enumerate(BANKS):
        for number in range(bank.products):
            template = PRODUCT_TEMPLATES[(bank_index + number) % len(PRODUCT_TEMPLATES)]
            suffix, guarantee, low, high, term_low, term_high, rate_low, rate_high = template
            rows.append(
                {
                    "code": f"SYN-{bank.code}-{number + 1:02d}",
                    "bank_code": f"SYN-{bank.code}",
                    "name": f"{bank.name.split('银行')[0]}{suffix}",
                    "guarantee": guarantee,
                    "min_amount_fen": low * 1_000_000,
                    "max_amount_fen": high * 1_000_000,
                    "min_term_months": term_low,
                    "max_term_months": term_high,
                    "rate_min_pct": rate_low,
                    "rate_max_pct": rate_high,
                    "target_sizes": "micro,small" if high <= 500 else "micro,small,medium",
                }
            )
    return banks, pd.DataFrame(rows)


def _window_sum(
    cumulative: IntArray | FloatArray, rows: IntArray, first: IntArray, stop: IntArray
) -> FloatArray:
    """Sum of months [first, stop) per application, from a cumulative sum with a leading 0."""
    total: FloatArray = (cumulative[rows, stop] - cumulative[rows, first]).astype(np.float64)
    return total


def _cumulative(values: npt.NDArray[np.generic]) -> FloatArray:
    matrix = np.asarray(values, dtype=np.float64)
    return np.concatenate([np.zeros((matrix.shape[0], 1)), np.cumsum(matrix, axis=1)], axis=1)


def _event_counts(
    events: pd.DataFrame, shape: tuple[int, int], mask: pd.Series | None = None
) -> FloatArray:
    counts = np.zeros(shape)
    chosen = events if mask is None else events[mask]
    np.add.at(counts, (chosen["enterprise"].to_numpy(), chosen["month"].to_numpy()), 1)
    return counts


def features(
    province: Province,
    observed: Observed,
    enterprise: IntArray,
    month: IntArray,
    applied_on: npt.NDArray[np.datetime64],
    amount_fen: IntArray,
) -> pd.DataFrame:
    """The observed-data features of each application made in window month ``month``
    (the data of months before it are complete)."""
    shape = observed.vat.shape
    last6, last12 = month - 6, month - HISTORY_MONTHS
    tax = _cumulative(observed.tax_paid)
    recent, prior = (
        _window_sum(tax, enterprise, last6, month),
        _window_sum(tax, enterprise, last12, last6),
    )
    kwh = _cumulative(observed.electricity_kwh)
    kwh_recent = _window_sum(kwh, enterprise, last6, month)
    kwh_prior = _window_sum(kwh, enterprise, last12, last6)
    insured_now = observed.insured_employees[enterprise, month - 1]
    insured_then = observed.insured_employees[enterprise, last12]

    def any_in_6m(values: npt.NDArray[np.generic]) -> FloatArray:
        flags = _cumulative(np.asarray(values) > 0)
        return (_window_sum(flags, enterprise, last6, month) > 0).astype(np.float64)

    judicial = observed.judicial
    against = judicial["role"].isin(["defendant", "respondent"])
    cases = _cumulative(_event_counts(judicial, shape, against))
    listed = _cumulative(_event_counts(judicial, shape, judicial["dishonest_debtor"]))
    penalties = _cumulative(_event_counts(observed.penalties, shape))

    reports = observed.annual_reports.sort_values("event_date", kind="stable")
    asked = pd.DataFrame(
        {
            "enterprise": enterprise,
            "event_date": applied_on.astype("datetime64[s]"),
            "order": np.arange(len(enterprise)),
        }
    ).sort_values("event_date", kind="stable")
    latest = pd.merge_asof(
        asked,
        reports.assign(event_date=reports["event_date"].astype("datetime64[s]"))[
            ["enterprise", "event_date", "employees", "revenue"]
        ],
        on="event_date",
        by="enterprise",
    ).sort_values("order")
    employees = latest["employees"].fillna(1).to_numpy()
    revenue_yuan = latest["revenue"].fillna(0).to_numpy() / 100

    founded = province.enterprises.founded_on[enterprise]
    age_years = (applied_on - founded).astype("timedelta64[D]").astype(np.float64) / 365.25
    industry = province.enterprises.industry_index[enterprise]
    rating = observed.credit_rating[enterprise, month - 1]
    return pd.DataFrame(
        {
            "tax_trend": np.log((recent + 100_000) / (prior + 100_000)),
            "tax_arrears_6m": any_in_6m(observed.tax_arrears),
            "insured_trend": np.log((insured_now + 1) / (insured_then + 1)),
            "social_arrears_6m": any_in_6m(observed.social_arrears),
            "electricity_trend": np.log((kwh_recent + 1) / (kwh_prior + 1)),
            "utility_overdue_6m": any_in_6m(observed.overdue_bills),
            "defendant_cases": np.log1p(cases[enterprise, month]),
            "dishonest_debtor": (listed[enterprise, month] > 0).astype(np.float64),
            "penalties_12m": np.log1p(_window_sum(penalties, enterprise, last12, month)),
            "log_age_years": np.log(np.maximum(age_years, 0.25)),
            "log_employees": np.log1p(employees),
            "industry_cycle": province.cycle[industry, province.config.burn_in + month - 1],
            "tax_rating_c_or_d": np.isin(rating, ["C", "D"]).astype(np.float64),
            "leverage": np.clip(np.log(amount_fen / 100 / (revenue_yuan + 10_000)), -3, 3),
        }
    )


def true_pd(feature_frame: pd.DataFrame) -> FloatArray:
    logit = INTERCEPT + sum(
        COEFFICIENTS[name] * feature_frame[name].to_numpy() for name in FEATURES
    )
    return sigmoid(np.asarray(logit, dtype=np.float64))


def _date(day: np.datetime64) -> dt.date:
    value: dt.date = day.astype("datetime64[D]").item()
    return value


def _methods(
    rng: np.random.Generator, product: pd.DataFrame, term: IntArray
) -> npt.NDArray[np.str_]:
    """A repayment method of each application's product, drawn uniformly; a bullet loan
    only where it can still default inside 12 months (``repayments.defaults_in_time``)."""
    draws = rng.random(len(product))
    chosen = []
    for name, months, draw in zip(product["name"], term, draws, strict=True):
        methods = [
            m
            for m in SPECS[template_of(str(name))].methods
            if repayments.defaults_in_time(m, int(months))
        ]
        chosen.append(methods[int(draw * len(methods))])
    return np.array(chosen)


def _fees(product: pd.DataFrame, amount_fen: IntArray) -> list[int]:
    """The one-off fees each loan pays by its product's terms (fen)."""
    terms = {
        row["code"]: product_terms(synthetic_terms(row))
        for row in product.drop_duplicates("code").to_dict("records")
    }
    return [
        terms[code].fees_fen(int(amount))
        for code, amount in zip(product["code"], amount_fen, strict=True)
    ]


def _decided(
    applications: pd.DataFrame,
    *,
    lent: IntArray,
    method: npt.NDArray[np.str_],
    withdrawn_at: npt.NDArray[np.datetime64],
    accepted_after: npt.NDArray[np.timedelta64],
    disbursed: npt.NDArray[np.datetime64],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The applications with the state machine's stamps, and their transitions: submitted
    when applied; withdrawn a few seconds later, or the data collected and the decision
    made; a lent one accepted within two hours and disbursed on its disbursement day
    (from 10:00 Beijing time)."""
    count = len(applications)
    accepted_at = np.full(count, np.datetime64("NaT"), dtype="datetime64[s]")
    disbursed_at = accepted_at.copy()
    decided_at = applications["decided_at"].to_numpy().astype("datetime64[s]")
    accepted_at[lent] = decided_at[lent] + accepted_after
    disbursed_at[lent] = np.maximum(
        accepted_at[lent] + np.timedelta64(600, "s"),
        disbursed.astype("datetime64[s]") + np.timedelta64(2, "h"),
    )
    stamps = pd.DataFrame(
        {
            "applied_at": applications["applied_at"],
            "decided_at": decided_at,
            "withdrawn_at": withdrawn_at.astype("datetime64[s]"),
            "accepted_at": accepted_at,
            "disbursed_at": disbursed_at,
        }
    )
    utc = {
        name: [None if pd.isna(v) else v.to_pydatetime().replace(tzinfo=dt.UTC) for v in column]
        for name, column in stamps.items()
    }
    rows: list[tuple[Any, ...]] = []
    versions, changed = [], []
    for index, (ref, status, bank) in enumerate(
        zip(applications["ref"], applications["status"], applications["bank_code"], strict=True)
    ):
        applied = utc["applied_at"][index]
        assert applied is not None
        steps = decisions.transitions(
            status,
            applied,
            utc["decided_at"][index],
            utc["withdrawn_at"][index],
            utc["accepted_at"][index],
            utc["disbursed_at"][index],
            f"bank:{bank}",
        )
        rows += [(ref, *step) for step in steps]
        versions.append(1 + len(steps))
        changed.append(steps[-1][-1])
    transitions = pd.DataFrame.from_records(
        rows, columns=["application_ref", "event", "from_status", "to_status", "actor", "at"]
    )
    decided = applications["status"] != "withdrawn"
    collected = stamps["applied_at"] + ((stamps["decided_at"] - stamps["applied_at"]) / 2).dt.floor(
        "s"
    )
    offer_expires = stamps["decided_at"] + pd.Timedelta(days=OFFER_DAYS)
    lent_mask = applications["status"] == "disbursed"
    return (
        applications.assign(
            repayment_method=method,
            submitted_at=stamps["applied_at"],
            data_collected_at=collected.where(decided),
            accepted_at=stamps["accepted_at"],
            disbursed_at=stamps["disbursed_at"],
            offer_expires_at=offer_expires.where(lent_mask),
            status_changed_at=pd.to_datetime([c.replace(tzinfo=None) for c in changed]),
            version=versions,
        ),
        transitions,
    )


def loan_book(province: Province, observed: Observed) -> LoanBook:
    config = province.config
    rng = config.rng(6)
    banks, products = banks_and_products()
    ent = province.enterprises
    months = province.months[province.window]
    first_month = HISTORY_MONTHS
    # Nobody can borrow before twelve months of data exist.
    can_apply = config.months > first_month
    applying = np.flatnonzero((rng.random(len(ent)) < np.array(APPLY_SHARE)[ent.tier]) & can_apply)
    repeats = 1 + np.minimum(rng.poisson(0.3, len(applying)), 2)
    enterprise = np.repeat(applying, repeats)
    month = rng.integers(first_month, max(config.months, first_month + 1), len(enterprise))
    pairs = np.unique(np.stack([enterprise, month], axis=1), axis=0)
    enterprise, month = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    count = len(enterprise)

    bank_weights = banks["weight"].to_numpy()
    bank_index = rng.choice(len(banks), count, p=bank_weights / bank_weights.sum())
    bank_codes = banks["code"].to_numpy()[bank_index]
    # Products are listed bank by bank: a bank's products are a contiguous run.
    per_bank = np.array([bank.products for bank in BANKS])
    first_product = np.concatenate([[0], np.cumsum(per_bank)[:-1]])
    product_index = first_product[bank_index] + (rng.random(count) * per_bank[bank_index]).astype(
        np.int64
    )
    product = products.iloc[product_index].reset_index(drop=True)
    wish = rng.lognormal(np.log(np.array(AMOUNT_MEDIAN_10K)[ent.tier[enterprise]]), 0.6) * 1_000_000
    amount = np.clip(
        np.round(wish, -6), product["min_amount_fen"], product["max_amount_fen"]
    ).astype(np.int64)
    term = np.clip(
        rng.choice([6, 12, 12, 12, 24, 36], count),
        product["min_term_months"],
        product["max_term_months"],
    ).to_numpy()

    day_offsets = (rng.random(count) * 28).astype(np.int64)
    applied_on = months[month].astype("datetime64[D]") + day_offsets.astype("timedelta64[D]")
    table = features(province, observed, enterprise, month, applied_on, amount)
    pd_true = true_pd(table)
    bank_view = sigmoid(np.log(pd_true / (1 - pd_true)) + rng.normal(0, BANK_VIEW_NOISE, count))
    withdrawn = rng.random(count) < 0.03
    approved = (bank_view < APPROVE_BELOW) & ~withdrawn
    # Every approval is accepted and lent: the application ends disbursed.
    status = np.where(withdrawn, "withdrawn", np.where(approved, "disbursed", "declined"))

    applied_at = applied_on.astype("datetime64[s]") + rng.integers(3_600, 36_000, count).astype(
        "timedelta64[s]"
    )
    applications = pd.DataFrame(
        {
            "ref": [f"SYN-A{i:07d}" for i in range(1, count + 1)],
            "uscc": ent.uscc[enterprise],
            "product_code": product["code"].to_numpy(),
            "bank_code": bank_codes,
            "amount_fen": amount,
            "term_months": term,
            "applied_at": applied_at,
            "status": status,
            "decided_at": np.where(
                withdrawn,
                np.datetime64("NaT"),
                applied_at + rng.integers(40, 180, count).astype("timedelta64[s]"),
            ),
            "channel": "online",
        }
    )

    lent = np.flatnonzero(approved)
    end = np.datetime64(config.end_date, "D")
    disbursed = np.minimum(
        applied_on[lent] + rng.integers(0, 3, len(lent)).astype("timedelta64[D]"), end
    )
    loan_term = term[lent]
    term_end = (disbursed.astype("datetime64[M]") + loan_term).astype("datetime64[D]") + (
        disbursed - disbursed.astype("datetime64[M]").astype("datetime64[D]")
    )
    pd_loan = pd_true[lent]
    spread = np.clip(0.4 + 3.0 * bank_view[lent] + rng.normal(0, 0.12, len(lent)), 0, 1)
    rate = product["rate_min_pct"].to_numpy()[lent] + spread * (
        product["rate_max_pct"].to_numpy()[lent] - product["rate_min_pct"].to_numpy()[lent]
    )
    defaults = rng.random(len(lent)) < pd_loan
    default_by = disbursed + rng.integers(90, 366, len(lent)).astype("timedelta64[D]")
    early = rng.random(len(lent)) < 0.1
    settle_on = disbursed + (
        (term_end - disbursed).astype(np.int64) * rng.uniform(0.3, 0.9, len(lent))
    ).astype("timedelta64[D]")
    late_days = np.where(rng.random(len(lent)) < 0.15, rng.integers(1, 30, len(lent)), 0)
    # Drawn after the outcomes above, so the drawn defaults stay what they were.
    method = _methods(rng, product, term)
    late_share = rng.random(len(lent))
    withdrawn_after = rng.integers(5, 40, count).astype("timedelta64[s]")
    accepted_after = rng.integers(120, 7_200, len(lent)).astype("timedelta64[s]")

    amounts: list[int] = amount.to_numpy().tolist()  # the offers: the amounts asked
    fees = _fees(product.iloc[lent], amount.to_numpy()[lent])
    rates = [Decimal(f"{r:.2f}") for r in rate]
    serviced = repayments.service(
        [
            repayments.Borrower(
                amount_fen=amounts[index],
                rate_pct=rates[k],
                term_months=int(loan_term[k]),
                method=str(method[index]),
                fees_fen=fees[k],
                disbursed_on=_date(disbursed[k]),
                default_by=_date(default_by[k]) if defaults[k] else None,
                late_share=float(late_share[k]) if late_days[k] else None,
                late_days=int(late_days[k]),
                settle_on=_date(settle_on[k]) if early[k] else None,
            )
            for k, index in enumerate(lent)
        ],
        config.end_date,
    )
    refs = [f"SYN-L{i:07d}" for i in range(1, len(lent) + 1)]
    bank_of_loan = bank_codes[lent]
    figures = serviced.loans
    aprs: list[Decimal] = figures["apr_pct"].tolist()
    loans = pd.DataFrame(
        {
            "ref": refs,
            "application_ref": applications["ref"].to_numpy()[lent],
            "uscc": ent.uscc[enterprise[lent]],
            "bank_code": bank_of_loan,
            "product_code": product["code"].to_numpy()[lent],
            "contract_no": [
                f"{bank}-{config.seed}-{ref.removeprefix('SYN-')}"
                for bank, ref in zip(bank_of_loan, refs, strict=True)
            ],
            "amount_fen": amount.to_numpy()[lent],
            "term_months": loan_term,
            "rate_pct": np.round(rate, 2),
            "method": method[lent],
            "fees_fen": np.array(fees, dtype=np.int64),
            "apr_pct": figures["apr_pct"].to_numpy(),
            "guarantee": product["guarantee"].to_numpy()[lent],
            "disbursed_on": disbursed,
            **{
                name: pd.to_datetime(figures[name]).to_numpy()
                for name in ("maturity_on", "defaulted_on", "settled_on", "dpd_as_of")
            },
            "status": figures["status"].to_numpy(),
            "days_past_due": figures["days_past_due"].to_numpy(),
            "max_days_past_due": figures["max_days_past_due"].to_numpy(),
        }
    )
    applications, transitions = _decided(
        applications,
        lent=lent,
        method=method,
        withdrawn_at=applied_at + withdrawn_after,
        accepted_after=accepted_after,
        disbursed=disbursed,
    )
    offers = dict(zip(lent.tolist(), range(len(lent)), strict=True))
    decided = np.flatnonzero(~withdrawn)
    decided_list: list[int] = decided.tolist()
    declined = np.flatnonzero(~withdrawn & ~approved)
    contributions = pd.DataFrame(
        {name: COEFFICIENTS[name] * table[name].to_numpy()[declined] for name in FEATURES}
    )
    reasons = dict(
        zip(
            declined.tolist(),
            decisions.decline_reasons(bank_view[declined], contributions, APPROVE_BELOW),
            strict=True,
        )
    )
    points, bands = decisions.scores(bank_view[decided])
    decision_frame = pd.DataFrame(
        {
            "application_ref": applications["ref"].to_numpy()[decided],
            "outcome": np.where(approved[decided], "approved", "declined"),
            "decided_at": applications["decided_at"].to_numpy()[decided],
            "model_version": decisions.MODEL_VERSION,
            "pd": bank_view[decided],
            "score": points,
            "band": bands,
            "reasons": [reasons.get(i, []) for i in decided_list],
            "amount_fen": [amounts[i] if i in offers else None for i in decided_list],
            "term_months": [int(term[i]) if i in offers else None for i in decided_list],
            "method": [str(method[i]) if i in offers else None for i in decided_list],
            "annual_rate_pct": [rates[offers[i]] if i in offers else None for i in decided_list],
            "apr_pct": [aprs[offers[i]] if i in offers else None for i in decided_list],
            "fees_fen": [fees[offers[i]] if i in offers else None for i in decided_list],
            "schedule": [
                decisions.schedule_json(serviced.schedules[offers[i]]) if i in offers else []
                for i in decided_list
            ],
        }
    )
    truth = pd.concat(
        [
            pd.DataFrame(
                {
                    "loan_ref": refs,
                    "true_pd": pd_loan,
                    "defaulted_12m": defaults,
                    "complete_window": disbursed + np.timedelta64(365, "D") <= end,
                }
            ),
            table.iloc[lent].reset_index(drop=True),
        ],
        axis=1,
    )
    ref_of_loan = np.array(refs, dtype=object)
    return LoanBook(
        banks,
        products,
        applications,
        loans,
        truth,
        decision_frame,
        transitions,
        serviced.instalments.assign(loan_ref=ref_of_loan[serviced.instalments["loan"]]).drop(
            columns="loan"
        ),
        serviced.repayments.assign(loan_ref=ref_of_loan[serviced.repayments["loan"]]).drop(
            columns="loan"
        ),
    )
