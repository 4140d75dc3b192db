"""demands: financing demands, pushes, events

Revision ID: 0550_demands
Revises: 0540_products_catalogue
Create Date: 2026-12-01 02:13:01

The demand market (银企对接): financing demands, the banks each was pushed to (one row per
bank, with its round, rank and fit), and every step of its history. The bank event log
(``authz_events``) also carries events that are not about a consent (``demand.pushed``),
so its ``consent_id`` becomes optional.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0550_demands"
down_revision: str | None = "0540_products_catalogue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "financing_demands",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("posted_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("guarantee", sa.String(length=16), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("contact_channel", sa.String(length=16), nullable=False),
        sa.Column("contact_name", sa.String(length=64), nullable=True),
        sa.Column("contact_phone", sa.String(length=20), nullable=True),
        sa.Column("contact_note", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("push_round", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_count", sa.Integer(), nullable=False),
        sa.Column("first_overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "claimed_bank_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("contacted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sa.String(length=32), nullable=True),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["loan_applications.id"],
            name=op.f("fk_financing_demands_application_id_loan_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["claimed_bank_id"],
            ["banks.id"],
            name=op.f("fk_financing_demands_claimed_bank_id_banks"),
        ),
        sa.ForeignKeyConstraint(
            ["posted_by"],
            ["authz_users.id"],
            name=op.f("fk_financing_demands_posted_by_authz_users"),
        ),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name=op.f("fk_financing_demands_uscc_enterprises")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_financing_demands")),
    )
    with op.batch_alter_table("financing_demands", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_financing_demands_claimed_bank_id"), ["claimed_bank_id"], unique=False
        )
        batch_op.create_index("ix_financing_demands_status_due", ["status", "due_at"], unique=False)
        batch_op.create_index(
            "ix_financing_demands_uscc_posted", ["uscc", "posted_at"], unique=False
        )

    op.create_table(
        "demand_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "demand_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("bank_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name=op.f("fk_demand_events_bank_id_banks")
        ),
        sa.ForeignKeyConstraint(
            ["demand_id"],
            ["financing_demands.id"],
            name=op.f("fk_demand_events_demand_id_financing_demands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demand_events")),
    )
    with op.batch_alter_table("demand_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_demand_events_demand_id"), ["demand_id"], unique=False)

    op.create_table(
        "demand_pushes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "demand_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("bank_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("fit", sa.Integer(), nullable=False),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name=op.f("fk_demand_pushes_bank_id_banks")
        ),
        sa.ForeignKeyConstraint(
            ["demand_id"],
            ["financing_demands.id"],
            name=op.f("fk_demand_pushes_demand_id_financing_demands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["loan_products.id"],
            name=op.f("fk_demand_pushes_product_id_loan_products"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demand_pushes")),
        sa.UniqueConstraint(
            "demand_id", "bank_id", name=op.f("uq_demand_pushes_demand_id_bank_id")
        ),
    )
    with op.batch_alter_table("demand_pushes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_demand_pushes_bank_pushed", ["bank_id", "pushed_at"], unique=False
        )

    with op.batch_alter_table("authz_events", schema=None) as batch_op:
        batch_op.alter_column("consent_id", existing_type=sa.VARCHAR(length=40), nullable=True)


def downgrade() -> None:
    events = sa.table("authz_events", sa.column("consent_id", sa.String))
    op.execute(events.delete().where(events.c.consent_id.is_(None)))
    with op.batch_alter_table("authz_events", schema=None) as batch_op:
        batch_op.alter_column("consent_id", existing_type=sa.VARCHAR(length=40), nullable=False)

    with op.batch_alter_table("demand_pushes", schema=None) as batch_op:
        batch_op.drop_index("ix_demand_pushes_bank_pushed")

    op.drop_table("demand_pushes")
    with op.batch_alter_table("demand_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_demand_events_demand_id"))

    op.drop_table("demand_events")
    with op.batch_alter_table("financing_demands", schema=None) as batch_op:
        batch_op.drop_index("ix_financing_demands_uscc_posted")
        batch_op.drop_index("ix_financing_demands_status_due")
        batch_op.drop_index(batch_op.f("ix_financing_demands_claimed_bank_id"))

    op.drop_table("financing_demands")
