"""credit: industry employment index

Revision ID: 0400_credit_industry_index
Revises: 0300_authz_daily_calls
Create Date: 2026-11-22 22:00:00

Per industry section and month, the section's insured employment against its usual level:
derived from the social insurance data by ``credit.industry.refresh`` and read by the
credit features (one row per online score).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0400_credit_industry_index"
down_revision: str | None = "0300_authz_daily_calls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_industry_index",
        sa.Column("section", sa.String(length=1), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("enterprises", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("section", "period", name=op.f("pk_credit_industry_index")),
    )


def downgrade() -> None:
    op.drop_table("credit_industry_index")
