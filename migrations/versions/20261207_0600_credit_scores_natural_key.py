"""credit: scores keyed by (model version, as-of date, USCC)

Revision ID: 0600_credit_scores_natural_key
Revises: 0590_credit_series
Create Date: 2026-12-07 17:40:00

``credit_scores`` had a surrogate id, a unique constraint on (USCC, as-of date, model
version) and an index on (model version, as-of date): three indexes on PostgreSQL, two on
SQLite, for rows that are written a night at a time and read by model and date. The key
is now the natural one, led by the model and the date, and the other two are gone: a
night's rescoring appends to one index instead of scattering over a USCC-led one. The id
was read by nothing. Rows are kept as they are.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0600_credit_scores_natural_key"
down_revision: str | None = "0590_credit_series"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


COLUMNS = ("model_version", "as_of", "uscc", "pd", "score", "band", "reasons", "scored_at")


def _score_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("pd", sa.Float(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(length=4), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["uscc"],
            ["enterprises.uscc"],
            name="fk_credit_scores_uscc_enterprises",
            ondelete="CASCADE",
        ),
    ]


def _copy_into(table: str, *constraints: Any, order: str = "") -> None:
    """SQLite cannot change a table's key in place: a new table, the rows copied, the old
    one dropped and the new one renamed."""
    op.create_table(table, *_score_columns(), *constraints)
    names = ", ".join(COLUMNS)
    op.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM credit_scores {order}")
    op.drop_table("credit_scores")
    op.rename_table(table, "credit_scores")


def upgrade() -> None:
    op.drop_index("ix_credit_scores_model_as_of", table_name="credit_scores")
    if op.get_bind().dialect.name == "sqlite":
        _copy_into(
            "credit_scores_0600",
            sa.PrimaryKeyConstraint("model_version", "as_of", "uscc", name="pk_credit_scores"),
        )
        return
    op.drop_constraint("uq_credit_scores_uscc_as_of_model_version", "credit_scores")
    op.drop_constraint("pk_credit_scores", "credit_scores", type_="primary")
    op.drop_column("credit_scores", "id")
    op.create_primary_key("pk_credit_scores", "credit_scores", ["model_version", "as_of", "uscc"])


def downgrade() -> None:
    # The id comes back numbered by the database as the rows are copied (SQLite: an
    # INTEGER PRIMARY KEY left empty takes the next rowid) or added (PostgreSQL: a
    # BIGSERIAL column fills the existing rows from its new sequence).
    if op.get_bind().dialect.name == "sqlite":
        _copy_into(
            "credit_scores_0590",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_credit_scores"),
            sa.UniqueConstraint(
                "uscc", "as_of", "model_version", name="uq_credit_scores_uscc_as_of_model_version"
            ),
            order="ORDER BY as_of, uscc, model_version",
        )
    else:
        op.drop_constraint("pk_credit_scores", "credit_scores", type_="primary")
        op.execute("ALTER TABLE credit_scores ADD COLUMN id BIGSERIAL NOT NULL")
        op.create_primary_key("pk_credit_scores", "credit_scores", ["id"])
        op.create_unique_constraint(
            "uq_credit_scores_uscc_as_of_model_version",
            "credit_scores",
            ["uscc", "as_of", "model_version"],
        )
    op.create_index("ix_credit_scores_model_as_of", "credit_scores", ["model_version", "as_of"])
