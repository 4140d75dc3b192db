"""credit: the monthly series packed per enterprise and category

Revision ID: 0590_credit_series
Revises: 0580_loans_row_version
Create Date: 2026-12-07 14:30:00

The credit features read an enterprise's monthly measures (tax, social insurance,
housing fund, utilities, customs) from one packed row per enterprise and category instead
of some 70 rows (``credit.features.series``). Ingestion keeps the rows current; this
migration fills them from the data already loaded, with the same function
(``credit.features.series.rebuild``), so upgrading a loaded database changes no feature.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0590_credit_series"
down_revision: str | None = "0580_loans_row_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_series",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("first_month", sa.Date(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("packed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("uscc", "category", name=op.f("pk_credit_series")),
    )
    from credit.features import series  # the one packing, as ingestion uses it

    series.rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_table("credit_series")
