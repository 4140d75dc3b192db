"""loans: a row version, so two changes of one loan's figures cannot both win

Revision ID: 0580_loans_row_version
Revises: 0570_lending_310
Create Date: 2026-12-07 03:20:00

A repayment and the daily days-past-due run each read a loan and its instalments, then
write them back; two at once lost one of the updates. Each now first bumps the loan's row
version with a conditional UPDATE of the version it read (``finance.lending.book.claim``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0580_loans_row_version"
down_revision: str | None = "0570_lending_310"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("loans") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("loans") as batch:
        batch.drop_column("version")
