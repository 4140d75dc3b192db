"""lending: 310 applications, decisions, loan book

Revision ID: 0570_lending_310
Revises: 0560_core_outbox
Create Date: 2026-12-01 02:17:29

The 310 flow on the existing tables (new columns nullable or defaulted, so the synthetic
book and the credit model's labels are unchanged): the application's state, row version,
consent, idempotency key and 310 timestamps; its transitions and its decision; the loan's
contract, method, fees, APR and days past due; its instalments and repayments.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0570_lending_310"
down_revision: str | None = "0560_core_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "loan_application_transitions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("event", sa.String(length=24), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["loan_applications.id"],
            name=op.f("fk_loan_application_transitions_application_id_loan_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_application_transitions")),
    )
    with op.batch_alter_table("loan_application_transitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loan_application_transitions_application_id"),
            ["application_id"],
            unique=False,
        )

    op.create_table(
        "loan_decisions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("pd", sa.Float(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("band", sa.String(length=8), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("data_reads", sa.JSON(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("term_months", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(length=24), nullable=True),
        sa.Column("annual_rate_pct", sa.Numeric(precision=7, scale=4), nullable=True),
        sa.Column("apr_pct", sa.Numeric(precision=7, scale=4), nullable=True),
        sa.Column("fees_fen", sa.BigInteger(), nullable=True),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["loan_applications.id"],
            name=op.f("fk_loan_decisions_application_id_loan_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_decisions")),
        sa.UniqueConstraint("application_id", name=op.f("uq_loan_decisions_application_id")),
    )
    op.create_table(
        "loan_instalments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("loan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_penalty_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_to", sa.Date(), nullable=True),
        sa.Column("settled_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_loan_instalments_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_instalments")),
        sa.UniqueConstraint("loan_id", "number", name=op.f("uq_loan_instalments_loan_id_number")),
    )
    with op.batch_alter_table("loan_instalments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loan_instalments_loan_id"), ["loan_id"], unique=False)

    op.create_table(
        "loan_repayments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("loan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), nullable=False),
        sa.Column("interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_loan_repayments_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_repayments")),
    )
    with op.batch_alter_table("loan_repayments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loan_repayments_loan_id"), ["loan_id"], unique=False)

    with op.batch_alter_table("loan_applications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("product_version_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(sa.Column("client_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("consent_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("repayment_method", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("purpose", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("request_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("data_collected_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("disbursed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("offer_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("data_reads", sa.JSON(), nullable=True))
        batch_op.create_index(
            "ix_loan_applications_bank_status", ["bank_id", "status", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_loan_applications_product_version_id"),
            ["product_version_id"],
            unique=False,
        )
        batch_op.create_unique_constraint(
            "uq_loan_applications_idempotency", ["uscc", "idempotency_key"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_loan_applications_user_id_authz_users"),
            "authz_users",
            ["user_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_loan_applications_product_version_id_product_versions"),
            "product_versions",
            ["product_version_id"],
            ["id"],
        )

    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contract_no", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("method", sa.String(length=24), nullable=True))
        batch_op.add_column(
            sa.Column("fees_fen", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("apr_pct", sa.Numeric(precision=7, scale=4), nullable=True))
        batch_op.add_column(
            sa.Column("days_past_due", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("dpd_as_of", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_column("dpd_as_of")
        batch_op.drop_column("days_past_due")
        batch_op.drop_column("apr_pct")
        batch_op.drop_column("fees_fen")
        batch_op.drop_column("method")
        batch_op.drop_column("contract_no")

    with op.batch_alter_table("loan_applications", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_loan_applications_product_version_id_product_versions"),
            type_="foreignkey",
        )
        batch_op.drop_constraint(
            batch_op.f("fk_loan_applications_user_id_authz_users"), type_="foreignkey"
        )
        batch_op.drop_constraint("uq_loan_applications_idempotency", type_="unique")
        batch_op.drop_index(batch_op.f("ix_loan_applications_product_version_id"))
        batch_op.drop_index("ix_loan_applications_bank_status")
        batch_op.drop_column("data_reads")
        batch_op.drop_column("status_changed_at")
        batch_op.drop_column("offer_expires_at")
        batch_op.drop_column("disbursed_at")
        batch_op.drop_column("accepted_at")
        batch_op.drop_column("data_collected_at")
        batch_op.drop_column("submitted_at")
        batch_op.drop_column("version")
        batch_op.drop_column("request_hash")
        batch_op.drop_column("idempotency_key")
        batch_op.drop_column("purpose")
        batch_op.drop_column("repayment_method")
        batch_op.drop_column("consent_id")
        batch_op.drop_column("client_id")
        batch_op.drop_column("user_id")
        batch_op.drop_column("product_version_id")

    with op.batch_alter_table("loan_repayments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loan_repayments_loan_id"))

    op.drop_table("loan_repayments")
    with op.batch_alter_table("loan_instalments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loan_instalments_loan_id"))

    op.drop_table("loan_instalments")
    op.drop_table("loan_decisions")
    with op.batch_alter_table("loan_application_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loan_application_transitions_application_id"))

    op.drop_table("loan_application_transitions")
