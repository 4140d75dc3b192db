"""credit model registry and scores

Revision ID: 0200_credit
Revises: 0001
Create Date: 2026-11-22 15:38:36.501428
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0200_credit"
down_revision: str | None = "0100_authz"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_models",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("artifact_dir", sa.String(length=500), nullable=False),
        sa.Column("data_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("promoted_by", sa.String(length=100), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("previous_version", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_models")),
        sa.UniqueConstraint("version", name=op.f("uq_credit_models_version")),
    )
    with op.batch_alter_table("credit_models", schema=None) as batch_op:
        batch_op.create_index("ix_credit_models_status", ["status"], unique=False)

    op.create_table(
        "credit_scores",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("pd", sa.Float(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(length=4), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["uscc"],
            ["enterprises.uscc"],
            name=op.f("fk_credit_scores_uscc_enterprises"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_scores")),
        sa.UniqueConstraint(
            "uscc", "as_of", "model_version", name=op.f("uq_credit_scores_uscc_as_of_model_version")
        ),
    )
    with op.batch_alter_table("credit_scores", schema=None) as batch_op:
        batch_op.create_index(
            "ix_credit_scores_model_as_of", ["model_version", "as_of"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("credit_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_scores_model_as_of")

    op.drop_table("credit_scores")
    with op.batch_alter_table("credit_models", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_models_status")

    op.drop_table("credit_models")
