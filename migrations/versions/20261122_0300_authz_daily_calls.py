"""authz: per-consent daily call counters

Revision ID: 0300_authz_daily_calls
Revises: 0200_credit
Create Date: 2026-11-22 18:40:00

The daily limit was a count of the ledger's allowed entries, taken before the entry was
appended and outside the ledger's lock, so concurrent calls could pass it together. The
counter is incremented conditionally in the transaction that appends the entry. Today's
and yesterday's counts are carried over from the ledger.
"""

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = "0300_authz_daily_calls"
down_revision: str | None = "0200_credit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHANGHAI = ZoneInfo("Asia/Shanghai")


def upgrade() -> None:
    table = op.create_table(
        "authz_daily_calls",
        sa.Column("consent_id", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("consent_id", "day", name=op.f("pk_authz_daily_calls")),
    )
    ledger = sa.table(
        "authz_ledger",
        sa.column("consent_id", sa.String),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("action", sa.String),
        sa.column("outcome", sa.String),
    )
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    rows = op.get_bind().execute(
        sa.select(ledger.c.consent_id, ledger.c.at).where(
            ledger.c.action == "data_call",
            ledger.c.outcome == "allowed",
            ledger.c.consent_id.is_not(None),
            ledger.c.at >= since,
        )
    )
    counts: Counter[tuple[str, dt.date]] = Counter()
    for consent_id, at in rows:
        moment = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)  # SQLite: naive UTC
        counts[(consent_id, moment.astimezone(SHANGHAI).date())] += 1
    if counts:
        op.bulk_insert(
            table,
            [{"consent_id": c, "day": d, "calls": n} for (c, d), n in counts.items()],
        )


def downgrade() -> None:
    op.drop_table("authz_daily_calls")
