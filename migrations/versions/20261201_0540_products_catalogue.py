"""products: versions, review transitions and search targets

Revision ID: 0540_products_catalogue
Revises: 0400_credit_industry_index
Create Date: 2026-12-01 02:30:00

A product's terms move from ``loan_products`` into ``product_versions`` (reviewed by ops,
one online and one open at a time), with ``product_transitions`` recording each review
step and ``product_version_targets`` the list-valued terms the catalogue filters on.
Existing products become version 1 of themselves: online if they were published, with
one platform transition recording the migration.
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0540_products_catalogue"
down_revision: str | None = "0400_credit_industry_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD_COLUMNS = (
    "name",
    "guarantee",
    "min_amount_fen",
    "max_amount_fen",
    "min_term_months",
    "max_term_months",
    "rate_min_pct",
    "rate_max_pct",
    "target_sizes",
    "status",
)


def upgrade() -> None:
    carried = _old_products()
    with op.batch_alter_table("loan_products") as batch:
        batch.drop_constraint("uq_loan_products_code", type_="unique")
        for column in OLD_COLUMNS:
            batch.drop_column(column)
        batch.create_unique_constraint("uq_loan_products_bank_id_code", ["bank_id", "code"])
    versions = op.create_table(
        "product_versions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("product_id", ID, nullable=False),
        sa.Column("bank_id", ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("guarantee", sa.String(length=16), nullable=False),
        sa.Column("min_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("max_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("default_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("min_term_months", sa.Integer(), nullable=False),
        sa.Column("max_term_months", sa.Integer(), nullable=False),
        sa.Column("rate_min_pct", sa.Numeric(precision=6, scale=3), nullable=False),
        sa.Column("rate_max_pct", sa.Numeric(precision=6, scale=3), nullable=False),
        sa.Column("repayment_methods", sa.JSON(), nullable=False),
        sa.Column("fees", sa.JSON(), nullable=False),
        sa.Column("cities", sa.JSON(), nullable=False),
        sa.Column("industries", sa.JSON(), nullable=False),
        sa.Column("sizes", sa.JSON(), nullable=False),
        sa.Column("data_categories", sa.JSON(), nullable=False),
        sa.Column("consent_months", sa.Integer(), nullable=False),
        sa.Column("eligibility", sa.JSON(), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=True),
        sa.Column("auto_decision", sa.Boolean(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("online_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name=op.f("fk_product_versions_bank_id_banks")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["loan_products.id"],
            name=op.f("fk_product_versions_product_id_loan_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_versions")),
        sa.UniqueConstraint(
            "product_id", "number", name=op.f("uq_product_versions_product_id_number")
        ),
    )
    op.create_index(op.f("ix_product_versions_bank_id"), "product_versions", ["bank_id"])
    op.create_index(op.f("ix_product_versions_product_id"), "product_versions", ["product_id"])
    op.create_index(
        "ix_product_versions_status_rate", "product_versions", ["status", "rate_min_pct", "id"]
    )
    op.create_index(
        "uq_product_versions_one_online",
        "product_versions",
        ["product_id"],
        unique=True,
        sqlite_where=sa.text("status = 'online'"),
        postgresql_where=sa.text("status = 'online'"),
    )
    op.create_index(
        "uq_product_versions_one_open",
        "product_versions",
        ["product_id"],
        unique=True,
        sqlite_where=sa.text("status IN ('draft', 'submitted')"),
        postgresql_where=sa.text("status IN ('draft', 'submitted')"),
    )
    targets = op.create_table(
        "product_version_targets",
        sa.Column("version_id", ID, nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["product_versions.id"],
            name=op.f("fk_product_version_targets_version_id_product_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "version_id", "dimension", "value", name=op.f("pk_product_version_targets")
        ),
    )
    op.create_index(
        "ix_product_version_targets_lookup", "product_version_targets", ["dimension", "value"]
    )
    transitions = op.create_table(
        "product_transitions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["product_versions.id"],
            name=op.f("fk_product_transitions_version_id_product_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_transitions")),
    )
    op.create_index(
        op.f("ix_product_transitions_version_id"), "product_transitions", ["version_id"]
    )
    _carry_over(carried, versions, targets, transitions)


def _old_products() -> list[dict[str, object]]:
    """The products of the old table, read before it changes."""
    old = sa.table(
        "loan_products",
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("rate_min_pct", sa.Numeric(6, 3)),
        sa.column("rate_max_pct", sa.Numeric(6, 3)),
        sa.column("synthetic", sa.Boolean()),
        *(
            sa.column(name)
            for name in ("id", "bank_id", *OLD_COLUMNS)
            if name not in ("rate_min_pct", "rate_max_pct")
        ),
    )
    return [dict(row) for row in op.get_bind().execute(sa.select(old)).mappings()]


def _carry_over(
    carried: list[dict[str, object]],
    versions: sa.Table,
    targets: sa.Table,
    transitions: sa.Table,
) -> None:
    """Each old product becomes version 1 of itself (online if it was published)."""
    connection = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    for row in carried:
        status = "online" if row["status"] == "published" else "offline"
        sizes = [s for s in str(row["target_sizes"]).split(",") if s]
        methods = ["equal_instalment"]
        version_id = connection.execute(
            sa.insert(versions)
            .values(
                product_id=row["id"],
                bank_id=row["bank_id"],
                number=1,
                status=status,
                name=row["name"],
                name_en=None,
                description="",
                guarantee=row["guarantee"],
                min_amount_fen=row["min_amount_fen"],
                max_amount_fen=row["max_amount_fen"],
                default_amount_fen=row["min_amount_fen"],
                min_term_months=row["min_term_months"],
                max_term_months=row["max_term_months"],
                rate_min_pct=row["rate_min_pct"],
                rate_max_pct=row["rate_max_pct"],
                repayment_methods=methods,
                fees=[],
                cities=[],
                industries=[],
                sizes=sizes,
                data_categories=[],
                consent_months=12,
                eligibility=[],
                policy=None,
                auto_decision=False,
                synthetic=row["synthetic"],
                created_by="platform",
                created_at=row["created_at"],
                updated_at=now,
                online_at=now if status == "online" else None,
            )
            .returning(versions.c.id)
        ).scalar_one()
        rows = [
            {"version_id": version_id, "dimension": dimension, "value": value}
            for dimension, values in (
                ("city", ["*"]),  # no city named: the whole province
                ("industry", ["*"]),
                ("size", sizes or ["*"]),
                ("method", methods),
            )
            for value in values
        ]
        connection.execute(sa.insert(targets), rows)
        connection.execute(
            sa.insert(transitions).values(
                version_id=version_id,
                event="migrate",
                from_status=None,
                to_status=status,
                actor="platform",
                actor_name="migration 0540",
                at=now,
                reason="terms carried over from the product table",
            )
        )


def downgrade() -> None:
    connection = op.get_bind()
    versions = sa.table(
        "product_versions",
        sa.column("rate_min_pct", sa.Numeric(6, 3)),
        sa.column("rate_max_pct", sa.Numeric(6, 3)),
        sa.column("sizes", sa.JSON()),
        *(
            sa.column(c)
            for c in (
                "product_id",
                "number",
                "status",
                "name",
                "guarantee",
                "min_amount_fen",
                "max_amount_fen",
                "min_term_months",
                "max_term_months",
            )
        ),
    )
    # Per product: its online version, else its newest.
    latest: dict[object, dict[str, object]] = {}
    for row in connection.execute(sa.select(versions).order_by(versions.c.number)).mappings():
        current = latest.get(row["product_id"])
        if current is None or current["status"] != "online":
            latest[row["product_id"]] = dict(row)
    op.drop_table("product_transitions")
    op.drop_table("product_version_targets")
    op.drop_table("product_versions")
    with op.batch_alter_table("loan_products") as batch:
        batch.drop_constraint("uq_loan_products_bank_id_code", type_="unique")
        batch.add_column(sa.Column("name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("guarantee", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("min_amount_fen", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("max_amount_fen", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("min_term_months", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_term_months", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rate_min_pct", sa.Numeric(6, 3), nullable=True))
        batch.add_column(sa.Column("rate_max_pct", sa.Numeric(6, 3), nullable=True))
        batch.add_column(sa.Column("target_sizes", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("status", sa.String(length=16), nullable=True))
        batch.create_unique_constraint("uq_loan_products_code", ["code"])
    products = sa.table(
        "loan_products",
        sa.column("id"),
        sa.column("rate_min_pct", sa.Numeric(6, 3)),
        sa.column("rate_max_pct", sa.Numeric(6, 3)),
        *(sa.column(c) for c in OLD_COLUMNS if c not in ("rate_min_pct", "rate_max_pct")),
    )
    for product_id, row in latest.items():
        sizes = row["sizes"] if isinstance(row["sizes"], list) else []
        connection.execute(
            sa.update(products)
            .where(products.c.id == product_id)
            .values(
                **{c: row[c] for c in OLD_COLUMNS if c in row and c != "status"},
                target_sizes=",".join(str(s) for s in sizes),
                status="published" if row["status"] == "online" else "withdrawn",
            )
        )
