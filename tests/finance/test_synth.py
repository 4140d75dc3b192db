"""The synthetic province: deterministic files in the ingestion formats, honest size mix,
about 1% malformed rows of every documented kind, a loan history whose true PD is the
documented function of the enterprise's observed data, and a load through ingestion."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select
from stdnum.cn import ric
from typer.testing import CliRunner

from finance.cli.main import app
from finance.core.dates import add_months
from finance.core.settings import Settings
from finance.enterprises.models import Enterprise
from finance.enterprises.size import SizeClass, classify
from finance.enterprises.uscc import uscc_problem
from finance.govdata.categories import CATEGORIES
from finance.ingestion.validation import validate_chunk
from finance.lending.models import Loan, LoanApplication, SyntheticLoanTruth
from finance.synth.lending import COEFFICIENTS, INTERCEPT
from finance.synth.malformed import Fault
from finance.synth.province import SynthConfig, sigmoid
from finance.synth.service import MANIFEST, SyntheticProvince, generate, write
from finance.synth.vocabulary import CITY_WEIGHTS

END = dt.date(2026, 9, 1)
SMALL = SynthConfig(enterprises=200, months=18, seed=11, end=END)

# The reason ingestion gives for each kind of malformed row (docs/synthetic.md).
REASONS = {
    Fault.BAD_CHECK_CHARACTER: "USCC check character is wrong",
    Fault.UNKNOWN_ENTERPRISE: "unknown enterprise",
    Fault.BAD_DATE: "not a valid",
    Fault.NEGATIVE_MONEY: "must be at least 0",
    Fault.UNKNOWN_ENUM: "unknown value; expected one of",
    Fault.DUPLICATE_ROW: "duplicate of line",
    Fault.MISSING_REQUIRED: "required value missing",
}


@pytest.fixture(scope="module")
def small() -> SyntheticProvince:
    return generate(SMALL)


@pytest.fixture(scope="module")
def small_files(small: SyntheticProvince, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("province")
    write(small, out)
    return out


@pytest.fixture(scope="module")
def larger() -> SyntheticProvince:
    return generate(SynthConfig(enterprises=4000, months=30, seed=5, end=END))


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


def _malformed_lines(files: Path, name: str) -> set[int]:
    manifest = _read(files / MANIFEST)
    return set(manifest.loc[manifest["file"] == f"{name}.csv", "line"].astype(int))


def _real_rows(files: Path, name: str) -> pd.DataFrame:
    frame = _read(files / f"{name}.csv")
    frame["line"] = np.arange(2, len(frame) + 2)
    return frame[~frame["line"].isin(_malformed_lines(files, name))]


def test_same_seed_same_bytes_other_seed_other_data(
    small: SyntheticProvince, small_files: Path, tmp_path: Path
) -> None:
    write(generate(SMALL), tmp_path / "again")
    names = sorted(p.name for p in small_files.glob("*.csv") if "rejected" not in p.name)
    assert len(names) == len(CATEGORIES) + 6  # + manifest, banks, products, apps, loans, truth
    for name in names:
        assert (small_files / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    other = SynthConfig(enterprises=200, months=18, seed=12, end=END)
    write(generate(other), tmp_path / "other")
    for name in ("registration.csv", "tax.csv", "loans.csv"):
        assert (small_files / name).read_bytes() != (tmp_path / "other" / name).read_bytes()


def test_headers_are_the_registry_file_columns(small_files: Path) -> None:
    for category in CATEGORIES:
        with (small_files / f"{category.name}.csv").open(encoding="utf-8", newline="") as file:
            assert next(csv.reader(file)) == category.file_columns


def test_real_rows_pass_ingestion_validation_and_identity_checks(small_files: Path) -> None:
    registration = _real_rows(small_files, "registration")
    known = set(registration["uscc"])
    assert len(known) == SMALL.enterprises
    assert all(uscc_problem(code) is None for code in known)
    for category in CATEGORIES:
        rows = _real_rows(small_files, category.name)
        assert len(rows), category.name
        checked = validate_chunk(
            rows.reset_index(drop=True),
            category,
            known_usccs=None if category.creates_enterprises else known,
            seen_keys={},
            latest=SMALL.end_date,
        )
        assert checked.rejections.empty, checked.rejections.head().to_dict("records")
        assert len(checked.accepted) == len(rows)
        for column in category.columns:
            values = rows[column.name]
            if column.kind.value == "money":
                assert values[values != ""].str.fullmatch(r"\d+\.\d{2}").all(), column.name
            if column.kind.value == "month":
                assert values.str.fullmatch(r"\d{4}-\d{2}").all()
    # Resident ID numbers pass python-stdnum's full check, birth place included, and
    # belong to a Henan division; USCC divisions are the enterprise's city.
    assert all(ric.is_valid(number) for number in registration["legal_rep_id_number"])
    assert registration["legal_rep_id_number"].str.startswith("41").all()
    assert (registration["uscc"].str.slice(2, 8) == registration["division_code"]).all()
    assert set(registration["division_code"]) <= set(CITY_WEIGHTS)
    assert registration["status"].eq("存续").all()
    names = registration.drop_duplicates("uscc")["name"]
    assert names.is_unique
    assert names.str.endswith("有限公司").all()


def test_every_month_and_annual_reports(small_files: Path) -> None:
    tax = _real_rows(small_files, "tax")
    periods = sorted(tax["period"].unique())
    assert periods[0] == SMALL.start.strftime("%Y-%m")
    assert periods[-1] == "2026-09"
    assert len(periods) == SMALL.months
    assert (tax.groupby("uscc").size() == SMALL.months).all()
    registration = _real_rows(small_files, "registration")
    kinds = registration["event_type"].value_counts()
    assert kinds["设立"] == SMALL.enterprises
    reports = registration[registration["event_type"] == "年报"]
    assert reports["employees"].ne("").all()
    assert reports["revenue"].ne("").all()
    assert reports["uscc"].nunique() == SMALL.enterprises  # all founded before the window
    changes = registration[registration["event_type"] == "变更"]
    assert changes["change_item"].ne("").all()


def test_size_mix_is_mostly_micro_and_small(larger: SyntheticProvince) -> None:
    reports = larger.tables["registration"].to_pandas()
    latest = reports[reports["event_type"] == "年报"].groupby("uscc").last()
    sizes = pd.Series(
        [
            classify(
                r.industry_division,
                int(r.employees),
                int(r.revenue * 100),
                int(r.total_assets * 100),
            ).value
            for r in latest.itertuples()
        ]
    ).value_counts(normalize=True)
    assert sizes[SizeClass.MICRO] > 0.6
    assert sizes[SizeClass.MICRO] + sizes[SizeClass.SMALL] > 0.88
    assert 0.002 < sizes.get(SizeClass.LARGE, 0) < 0.03


def test_about_one_percent_malformed_of_every_kind(larger: SyntheticProvince) -> None:
    rows = sum(larger.rows.values())
    malformed = sum(larger.malformed_rows.values())
    assert 0.008 < malformed / rows < 0.013
    faults = larger.fault_counts()
    assert set(faults) == {f.value for f in Fault}
    assert all(count > 0 for count in faults.values())


def test_loans_only_after_twelve_months_of_data(larger: SyntheticProvince) -> None:
    loans = larger.book.loans
    first_allowed = add_months(larger.config.start, 12)
    assert pd.to_datetime(loans["disbursed_on"]).min().date() >= first_allowed
    assert pd.to_datetime(larger.book.applications["applied_at"]).min().date() >= first_allowed
    assert (pd.to_datetime(loans["disbursed_on"]).dt.date <= larger.config.end_date).all()


def test_loan_book_is_plausible(larger: SyntheticProvince) -> None:
    book = larger.book
    assert len(book.banks) == 27
    assert 130 <= len(book.products) <= 150
    assert (book.products["guarantee"] == "pure_credit").mean() > 0.7
    borrowers = book.loans["uscc"].nunique() / larger.config.enterprises
    assert 0.15 <= borrowers <= 0.30
    assert 4.8 <= book.loans["rate_pct"].mean() <= 5.8
    assert 0.03 <= book.default_rate <= 0.08
    assert book.oracle_auc is not None
    assert book.oracle_auc > 0.65
    statuses = set(book.loans["status"])
    assert {"current", "settled", "defaulted"} <= statuses
    defaulted = book.loans[book.loans["status"] == "defaulted"]
    assert defaulted["defaulted_on"].notna().all()
    assert (defaulted["max_days_past_due"] >= 90).all()
    # A loan is marked defaulted only when its drawn default falls inside the data.
    assert book.truth["defaulted_12m"][(book.loans["status"] == "defaulted").to_numpy()].all()


def test_true_pd_is_the_documented_function_of_observed_data(
    small: SyntheticProvince, small_files: Path
) -> None:
    truth = small.book.truth
    logit = INTERCEPT + sum(c * truth[name] for name, c in COEFFICIENTS.items())
    assert np.allclose(truth["true_pd"], sigmoid(logit.to_numpy()))
    # The tax trend feature is what the tax file shows for the six months before.
    tax = _real_rows(small_files, "tax")
    money = ["vat_paid", "cit_paid", "iit_withheld", "other_paid"]
    tax["paid"] = tax[money].astype(float).sum(axis=1)
    loans = small.book.loans.merge(truth, left_on="ref", right_on="loan_ref")
    assert len(loans) > 10
    for loan in loans.head(10).itertuples():
        month = pd.Timestamp(loan.disbursed_on).to_period("M")
        paid = tax[tax["uscc"] == loan.uscc].set_index("period")["paid"]
        recent = sum(paid[str(month - k)] for k in range(1, 7))
        prior = sum(paid[str(month - k)] for k in range(7, 13))
        assert loan.tax_trend == pytest.approx(np.log((recent + 1000) / (prior + 1000)), abs=1e-6)


def test_load_through_ingestion_refuses_exactly_the_malformed_rows(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ["synth", "--enterprises", "200", "--months", "18", "--seed", "11"]
    args += ["--end", "2026-09", "--out", str(out), "--load", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    loaded = summary["loaded"]
    manifest = _read(out / MANIFEST)
    assert loaded["rows_rejected"] == len(manifest) == sum(summary["malformed_rows"].values())
    for category in CATEGORIES:
        ingested = loaded["ingested"][category.name]
        expected = manifest[manifest["file"] == f"{category.name}.csv"]
        assert ingested["rows_rejected"] == len(expected), category.name
        report = _read(Path(ingested["report"]))
        for row in expected.itertuples():
            reasons = report.loc[report["line"].astype(int) == int(row.line), "reason"]
            assert reasons.str.contains(REASONS[Fault(row.fault)], regex=False).any(), row
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Enterprise)) == 200
        loans = connection.scalar(select(func.count()).select_from(Loan))
        truths = connection.scalar(select(func.count()).select_from(SyntheticLoanTruth))
        assert loans == truths == summary["loans"] > 0
        assert (
            connection.scalar(
                select(func.count()).select_from(LoanApplication).where(LoanApplication.synthetic)
            )
            == summary["applications"]
        )
        assert not connection.scalar(select(func.count()).where(~Loan.synthetic))
    # Loading again changes nothing: ingestion is idempotent and the loan book is there.
    again = json.loads(CliRunner().invoke(app, args).stdout)["loaded"]
    assert all(r["rows_written"] == 0 for r in again["ingested"].values())
    assert again["loans"] == 0
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Loan)) == loans


def test_json_output_is_one_object(settings: Settings, tmp_path: Path) -> None:
    args = ["synth", "--enterprises", "30", "--months", "6", "--seed", "1", "--end", "2026-01"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["synthetic"] is True
    assert payload["rows"]["tax"] == 30 * 6 + payload["malformed_rows"]["tax"]
    assert payload["loans"] == 0  # no enterprise has 12 months of data yet
    assert re.fullmatch(r"\{.*\}\n", result.stdout, flags=re.DOTALL)
