"""foundation: enterprises, data hub, ingestion, lending

Revision ID: 0001
Revises:
Create Date: 2026-11-22 15:40:35.955026
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "banks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_banks")),
        sa.UniqueConstraint("code", name=op.f("uq_banks_code")),
    )
    op.create_table(
        "data_customs",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("import_value_fen", sa.BigInteger(), nullable=False),
        sa.Column("export_value_fen", sa.BigInteger(), nullable=False),
        sa.Column("customs_credit", sa.String(length=32), nullable=True),
        sa.Column("source_department", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("uscc", "period", name=op.f("pk_data_customs")),
        comment="海关进出口信息 / customs (customs)",
    )
    op.create_table(
        "data_housing_fund",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("contributors", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("source_department", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("uscc", "period", name=op.f("pk_data_housing_fund")),
        comment="住房公积金缴存信息 / housing provident fund (housing_fund_centre)",
    )
    op.create_table(
        "data_ip",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("registration_number", sa.String(length=64), nullable=False),
        sa.Column("ip_type", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("granted_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("source_department", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("uscc", "registration_number", name=op.f("pk_data_ip")),
        comment="知识产权信息 / patents and trademarks (intellectual_property)",
    )
    with op.batch_alter_table("data_ip", schema=None) as batch_op:
        batch_op.create_index("ix_data_ip_uscc_date", ["uscc", "granted_on"], unique=False)

    op.create_table(
        "data_judicial",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("case_type", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("cause", sa.String(length=200), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("dishonest_debtor", sa.Boolean(), nullable=False),
        sa.Column("source_department", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("uscc", "case_number", name=op.f("pk_data_judicial")),
        comment="司法信息 / court and enforcement records (high_court)",
    )
    with op.batch_alter_table("data_judicial", schema=None) as batch_op:
        batch_op.create_index("ix_data_judicial_uscc_date", ["uscc", "filed_on"], unique=False)

    op.create_table(
        "data_penalties",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("decision_number", sa.String(length=100), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("authority", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("penalty_type", sa.String(length=32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("repaired", sa.Boolean(), nullable=True),
        sa.Column("source_department", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("uscc", "decision_number", name=op.f("pk_data_penalties")),
        comment="行政处罚信息 / administrative penalties (credit_henan)",
    )
    with op.batch_alter_table("data_penalties", schema=None) as batch_op:
        batch_op.create_index("ix_data_penalties_uscc_date", ["uscc", "decided_on"], unique=False)

    op.create_table(
        "data_procurement",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("award_id", sa.String(length=64), nullable=False),
        sa.Column("awarded_on", sa.Date(), nullable=False),
        sa.Column("purchaser", sa.String(length=200), nullable=False),
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("contract_months", sa.BigInteger(), nullable=True),
        sa.Column("source_department", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("uscc", "award_id", name=op.f("pk_data_procurement")),
        comment="政府采购信息 / public procurement (public_procurement)",
    )
    with op.batch_alter_table("data_procurement", schema=None) as batch_op:
        batch_op.create_index("ix_data_procurement_uscc_date", ["uscc", "awarded_on"], unique=False)

    op.create_table(
        "data_registration",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("change_item", sa.String(length=64), nullable=False),
        sa.Column("before_value", sa.Text(), nullable=True),
        sa.Column("after_value", sa.Text(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("legal_rep_name", sa.String(length=64), nullable=False),
        sa.Column("legal_rep_id_number", sa.String(length=18), nullable=False),
        sa.Column("founded_on", sa.Date(), nullable=False),
        sa.Column("registered_capital_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("division_code", sa.String(length=6), nullable=False),
        sa.Column("industry_division", sa.String(length=32), nullable=False),
        sa.Column("industry_class", sa.String(length=4), nullable=True),
        sa.Column("employees", sa.BigInteger(), nullable=True),
        sa.Column("revenue_fen", sa.BigInteger(), nullable=True),
        sa.Column("total_assets_fen", sa.BigInteger(), nullable=True),
        sa.Column("source_department", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint(
            "uscc", "event_date", "event_type", "change_item", name=op.f("pk_data_registration")
        ),
        comment="工商登记信息 / market registration record (market_regulation)",
    )
    op.create_table(
        "data_social_insurance",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("insured_employees", sa.BigInteger(), nullable=False),
        sa.Column("contributions_paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("arrears_fen", sa.BigInteger(), nullable=False),
        sa.Column("source_department", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("uscc", "period", name=op.f("pk_data_social_insurance")),
        comment="社保缴纳信息 / social insurance (human_resources_social_security)",
    )
    op.create_table(
        "data_tax",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("vat_paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("cit_paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("iit_withheld_fen", sa.BigInteger(), nullable=False),
        sa.Column("other_paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("arrears_fen", sa.BigInteger(), nullable=False),
        sa.Column("credit_rating", sa.String(length=32), nullable=True),
        sa.Column("source_department", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("uscc", "period", name=op.f("pk_data_tax")),
        comment="纳税信息 / tax (tax_bureau)",
    )
    op.create_table(
        "data_utilities",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("electricity_kwh", sa.BigInteger(), nullable=False),
        sa.Column("water_m3", sa.BigInteger(), nullable=False),
        sa.Column("overdue_bills_fen", sa.BigInteger(), nullable=False),
        sa.Column("source_department", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("uscc", "period", name=op.f("pk_data_utilities")),
        comment="水电费信息 / utilities (utilities)",
    )
    op.create_table(
        "ingest_batches",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("source_department", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=500), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_bytes", sa.BigInteger(), nullable=False),
        sa.Column("file_format", sa.String(length=16), nullable=False),
        sa.Column("encoding", sa.String(length=16), nullable=True),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("ingested_by", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("rows_accepted", sa.BigInteger(), nullable=False),
        sa.Column("rows_rejected", sa.BigInteger(), nullable=False),
        sa.Column("rows_written", sa.BigInteger(), nullable=False),
        sa.Column("report_path", sa.String(length=1000), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_batches")),
    )
    with op.batch_alter_table("ingest_batches", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ingest_batches_category_started", ["category", "started_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ingest_batches_file_sha256"), ["file_sha256"], unique=False
        )

    op.create_table(
        "enterprises",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("legal_rep_name", sa.String(length=64), nullable=False),
        sa.Column("legal_rep_id_number", sa.String(length=18), nullable=False),
        sa.Column("founded_on", sa.Date(), nullable=False),
        sa.Column("registered_capital_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("division_code", sa.String(length=6), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("industry_section", sa.String(length=1), nullable=False),
        sa.Column("industry_division", sa.String(length=2), nullable=False),
        sa.Column("industry_class", sa.String(length=4), nullable=True),
        sa.Column("employees", sa.Integer(), nullable=True),
        sa.Column("revenue_fen", sa.BigInteger(), nullable=True),
        sa.Column("total_assets_fen", sa.BigInteger(), nullable=True),
        sa.Column("size_class", sa.String(length=8), nullable=False),
        sa.Column("record_date", sa.Date(), nullable=False),
        sa.Column(
            "source_batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_batch_id"],
            ["ingest_batches.id"],
            name=op.f("fk_enterprises_source_batch_id_ingest_batches"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("uscc", name=op.f("pk_enterprises")),
    )
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enterprises_city_code"), ["city_code"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_enterprises_industry_section"), ["industry_section"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_enterprises_size_class"), ["size_class"], unique=False)
        batch_op.create_index(batch_op.f("ix_enterprises_status"), ["status"], unique=False)

    op.create_table(
        "loan_products",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("bank_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("guarantee", sa.String(length=16), nullable=False),
        sa.Column("min_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("max_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("min_term_months", sa.Integer(), nullable=False),
        sa.Column("max_term_months", sa.Integer(), nullable=False),
        sa.Column("rate_min_pct", sa.Numeric(precision=6, scale=3), nullable=False),
        sa.Column("rate_max_pct", sa.Numeric(precision=6, scale=3), nullable=False),
        sa.Column("target_sizes", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name=op.f("fk_loan_products_bank_id_banks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_products")),
        sa.UniqueConstraint("code", name=op.f("uq_loan_products_code")),
    )
    with op.batch_alter_table("loan_products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loan_products_bank_id"), ["bank_id"], unique=False)

    op.create_table(
        "loan_applications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("bank_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name=op.f("fk_loan_applications_bank_id_banks")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["loan_products.id"],
            name=op.f("fk_loan_applications_product_id_loan_products"),
        ),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name=op.f("fk_loan_applications_uscc_enterprises")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_applications")),
    )
    with op.batch_alter_table("loan_applications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loan_applications_bank_id"), ["bank_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_loan_applications_product_id"), ["product_id"], unique=False
        )
        batch_op.create_index(
            "ix_loan_applications_uscc_applied", ["uscc", "applied_at"], unique=False
        )

    op.create_table(
        "loans",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("bank_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("rate_pct", sa.Numeric(precision=6, scale=3), nullable=False),
        sa.Column("guarantee", sa.String(length=16), nullable=False),
        sa.Column("disbursed_on", sa.Date(), nullable=False),
        sa.Column("maturity_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("defaulted_on", sa.Date(), nullable=True),
        sa.Column("settled_on", sa.Date(), nullable=True),
        sa.Column("max_days_past_due", sa.Integer(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["loan_applications.id"],
            name=op.f("fk_loans_application_id_loan_applications"),
        ),
        sa.ForeignKeyConstraint(["bank_id"], ["banks.id"], name=op.f("fk_loans_bank_id_banks")),
        sa.ForeignKeyConstraint(
            ["product_id"], ["loan_products.id"], name=op.f("fk_loans_product_id_loan_products")
        ),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name=op.f("fk_loans_uscc_enterprises")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loans")),
        sa.UniqueConstraint("application_id", name=op.f("uq_loans_application_id")),
    )
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loans_bank_id"), ["bank_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_loans_disbursed_on"), ["disbursed_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_loans_product_id"), ["product_id"], unique=False)
        batch_op.create_index("ix_loans_uscc_disbursed", ["uscc", "disbursed_on"], unique=False)

    op.create_table(
        "synthetic_loan_truth",
        sa.Column("loan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("true_pd", sa.Float(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_synthetic_loan_truth_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("loan_id", name=op.f("pk_synthetic_loan_truth")),
    )


def downgrade() -> None:
    op.drop_table("synthetic_loan_truth")
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_index("ix_loans_uscc_disbursed")
        batch_op.drop_index(batch_op.f("ix_loans_product_id"))
        batch_op.drop_index(batch_op.f("ix_loans_disbursed_on"))
        batch_op.drop_index(batch_op.f("ix_loans_bank_id"))

    op.drop_table("loans")
    with op.batch_alter_table("loan_applications", schema=None) as batch_op:
        batch_op.drop_index("ix_loan_applications_uscc_applied")
        batch_op.drop_index(batch_op.f("ix_loan_applications_product_id"))
        batch_op.drop_index(batch_op.f("ix_loan_applications_bank_id"))

    op.drop_table("loan_applications")
    with op.batch_alter_table("loan_products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loan_products_bank_id"))

    op.drop_table("loan_products")
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enterprises_status"))
        batch_op.drop_index(batch_op.f("ix_enterprises_size_class"))
        batch_op.drop_index(batch_op.f("ix_enterprises_industry_section"))
        batch_op.drop_index(batch_op.f("ix_enterprises_city_code"))

    op.drop_table("enterprises")
    with op.batch_alter_table("ingest_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_batches_file_sha256"))
        batch_op.drop_index("ix_ingest_batches_category_started")

    op.drop_table("ingest_batches")
    op.drop_table("data_utilities")
    op.drop_table("data_tax")
    op.drop_table("data_social_insurance")
    op.drop_table("data_registration")
    with op.batch_alter_table("data_procurement", schema=None) as batch_op:
        batch_op.drop_index("ix_data_procurement_uscc_date")

    op.drop_table("data_procurement")
    with op.batch_alter_table("data_penalties", schema=None) as batch_op:
        batch_op.drop_index("ix_data_penalties_uscc_date")

    op.drop_table("data_penalties")
    with op.batch_alter_table("data_judicial", schema=None) as batch_op:
        batch_op.drop_index("ix_data_judicial_uscc_date")

    op.drop_table("data_judicial")
    with op.batch_alter_table("data_ip", schema=None) as batch_op:
        batch_op.drop_index("ix_data_ip_uscc_date")

    op.drop_table("data_ip")
    op.drop_table("data_housing_fund")
    op.drop_table("data_customs")
    op.drop_table("banks")
