"""Migration 0540 carries the products of the old single table over: each becomes version
1 of itself (online if it was published), with its sizes as targets and one transition
saying where it came from; its loans keep pointing at it. Downgrading puts the terms back."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session

from finance.core import migrate
from tests.authz.support import add_enterprise

BEFORE = "0400_credit_industry_index"


def test_old_products_become_version_one(engine: Engine) -> None:
    migrate.downgrade(engine, BEFORE)
    assert "product_versions" not in inspect(engine).get_table_names()
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO banks (code, name, name_en, kind, synthetic, created_at) "
                "VALUES ('B', '银行', 'Bank', 'rural', false, :now)"
            ),
            {"now": now},
        )
        for code, status in (("LIVE", "published"), ("GONE", "withdrawn")):
            connection.execute(
                text(
                    "INSERT INTO loan_products (bank_id, code, name, guarantee, min_amount_fen,"
                    " max_amount_fen, min_term_months, max_term_months, rate_min_pct,"
                    " rate_max_pct, target_sizes, status, synthetic, created_at) VALUES"
                    " ((SELECT id FROM banks WHERE code = 'B'), :code, '信用贷', 'pure_credit',"
                    " 1000000, 300000000, 6, 36, 3.5, 8.0, 'micro,small', :status, false, :now)"
                ),
                {"code": code, "status": status, "now": now},
            )
    with Session(engine) as session, session.begin():
        uscc = add_enterprise(session, 7, with_series=False)  # no credit_series yet
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO loan_applications (uscc, product_id, bank_id, amount_fen,"
                " term_months, applied_at, status, channel, synthetic) SELECT :uscc, id,"
                " bank_id, 5000000, 12, :now, 'submitted', 'online', false"
                " FROM loan_products WHERE code = 'LIVE'"
            ),
            {"uscc": uscc, "now": now},
        )
    migrate.upgrade(engine)
    with engine.connect() as connection:
        assert (
            connection.scalar(
                text(
                    "SELECT p.code FROM loan_applications a"
                    " JOIN loan_products p ON p.id = a.product_id"
                )
            )
            == "LIVE"
        )
        rows = connection.execute(
            text(
                "SELECT p.code, v.number, v.status, v.name, v.min_amount_fen, v.rate_max_pct,"
                " v.default_amount_fen FROM product_versions v"
                " JOIN loan_products p ON p.id = v.product_id ORDER BY p.code"
            )
        ).all()
        assert [(r[0], r[1], r[2], r[3], r[4], float(r[5]), r[6]) for r in rows] == [
            ("GONE", 1, "offline", "信用贷", 1_000_000, 8.0, 1_000_000),
            ("LIVE", 1, "online", "信用贷", 1_000_000, 8.0, 1_000_000),
        ]
        targets = connection.execute(
            text("SELECT dimension, value FROM product_version_targets ORDER BY dimension, value")
        ).all()
        assert [tuple(t) for t in targets] == [
            ("city", "*"),
            ("city", "*"),
            ("industry", "*"),
            ("industry", "*"),
            ("method", "equal_instalment"),
            ("method", "equal_instalment"),
            ("size", "micro"),
            ("size", "micro"),
            ("size", "small"),
            ("size", "small"),
        ]
        events = connection.execute(
            text("SELECT event, actor, to_status FROM product_transitions ORDER BY to_status")
        ).all()
        assert [tuple(e) for e in events] == [
            ("migrate", "platform", "offline"),
            ("migrate", "platform", "online"),
        ]
    migrate.downgrade(engine, BEFORE)
    with engine.connect() as connection:
        back = connection.execute(
            text("SELECT code, status, name, target_sizes FROM loan_products ORDER BY code")
        ).all()
        assert [tuple(r) for r in back] == [
            ("GONE", "withdrawn", "信用贷", "micro,small"),
            ("LIVE", "published", "信用贷", "micro,small"),
        ]
    migrate.upgrade(engine)
    assert migrate.at_head(engine)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM loan_applications")) == 1
        assert connection.scalar(text("SELECT count(*) FROM product_versions")) == 2
