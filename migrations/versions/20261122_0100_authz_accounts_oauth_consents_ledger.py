"""authz: accounts and roles, OAuth clients and grants, consents, audit ledger, events

Revision ID: 0100_authz
Revises: 0001
Create Date: 2026-11-22 15:34:05.383381
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0100_authz"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "authz_auth_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authz_auth_attempts")),
    )
    with op.batch_alter_table("authz_auth_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_authz_auth_attempts_subject_at", ["subject", "at"], unique=False)

    op.create_table(
        "authz_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("consent_id", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gave_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authz_events")),
    )
    with op.batch_alter_table("authz_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_authz_events_client_id"), ["client_id"], unique=False)
        batch_op.create_index(
            "ix_authz_events_due", ["delivered_at", "next_attempt_at"], unique=False
        )

    op.create_table(
        "authz_ledger",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("uscc", sa.String(length=18), nullable=True),
        sa.Column("consent_id", sa.String(length=40), nullable=True),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("date_from", sa.Date(), nullable=True),
        sa.Column("date_to", sa.Date(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("rows_returned", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_authz_ledger")),
    )
    with op.batch_alter_table("authz_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_authz_ledger_client_at", ["client_id", "at"], unique=False)
        batch_op.create_index(
            "ix_authz_ledger_consent_outcome_at", ["consent_id", "outcome", "at"], unique=False
        )
        batch_op.create_index("ix_authz_ledger_uscc_at", ["uscc", "at"], unique=False)

    op.create_table(
        "authz_ledger_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authz_ledger_head")),
    )
    op.create_table(
        "authz_rate_counters",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window", name=op.f("pk_authz_rate_counters")),
    )
    op.create_table(
        "authz_signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=8), nullable=False),
        sa.Column("private_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_authz_signing_keys")),
    )
    op.create_table(
        "authz_used_jtis",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_authz_used_jtis")),
    )
    with op.batch_alter_table("authz_used_jtis", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_authz_used_jtis_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "authz_webhook_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["authz_events.id"],
            name=op.f("fk_authz_webhook_attempts_event_id_authz_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authz_webhook_attempts")),
    )
    with op.batch_alter_table("authz_webhook_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_authz_webhook_attempts_event_id"), ["event_id"], unique=False
        )

    op.create_table(
        "authz_users",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("roles", sa.String(length=200), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=True),
        sa.Column("bank_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("city_code", sa.String(length=6), nullable=True),
        sa.Column("authenticated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name=op.f("fk_authz_users_bank_id_banks")
        ),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name=op.f("fk_authz_users_uscc_enterprises")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authz_users")),
        sa.UniqueConstraint("username", name=op.f("uq_authz_users_username")),
    )
    with op.batch_alter_table("authz_users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_authz_users_bank_id"), ["bank_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_authz_users_uscc"), ["uscc"], unique=False)

    op.create_table(
        "authz_clients",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("bank_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("jwks", sa.JSON(), nullable=True),
        sa.Column("token_endpoint_auth_method", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=200), nullable=True),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("webhook_url", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "registered_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "approved_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["approved_by"],
            ["authz_users.id"],
            name=op.f("fk_authz_clients_approved_by_authz_users"),
        ),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name=op.f("fk_authz_clients_bank_id_banks")
        ),
        sa.ForeignKeyConstraint(
            ["registered_by"],
            ["authz_users.id"],
            name=op.f("fk_authz_clients_registered_by_authz_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authz_clients")),
        sa.UniqueConstraint("client_id", name=op.f("uq_authz_clients_client_id")),
    )
    with op.batch_alter_table("authz_clients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_authz_clients_bank_id"), ["bank_id"], unique=False)

    op.create_table(
        "authz_par",
        sa.Column("request_uri", sa.String(length=128), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("ticket_digest", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["authz_users.id"], name=op.f("fk_authz_par_user_id_authz_users")
        ),
        sa.PrimaryKeyConstraint("request_uri", name=op.f("pk_authz_par")),
    )
    with op.batch_alter_table("authz_par", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_authz_par_client_id"), ["client_id"], unique=False)

    op.create_table(
        "authz_consents",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("data_from", sa.Date(), nullable=False),
        sa.Column("data_to", sa.Date(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_calls_per_day", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_changed_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["loan_applications.id"],
            name=op.f("fk_authz_consents_application_id_loan_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["authz_clients.client_id"],
            name=op.f("fk_authz_consents_client_id_authz_clients"),
        ),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name=op.f("fk_authz_consents_uscc_enterprises")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authz_consents")),
    )
    with op.batch_alter_table("authz_consents", schema=None) as batch_op:
        batch_op.create_index("ix_authz_consents_client_uscc", ["client_id", "uscc"], unique=False)
        batch_op.create_index(batch_op.f("ix_authz_consents_uscc"), ["uscc"], unique=False)

    op.create_table(
        "authz_codes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("consent_id", sa.String(length=40), nullable=False),
        sa.Column("redirect_uri", sa.String(length=500), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("code_challenge_method", sa.String(length=8), nullable=False),
        sa.Column("dpop_jkt", sa.String(length=64), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["authz_consents.id"],
            name=op.f("fk_authz_codes_consent_id_authz_consents"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["authz_users.id"], name=op.f("fk_authz_codes_user_id_authz_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authz_codes")),
        sa.UniqueConstraint("code_digest", name=op.f("uq_authz_codes_code_digest")),
    )
    op.create_table(
        "authz_consent_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("consent_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["authz_consents.id"],
            name=op.f("fk_authz_consent_changes_consent_id_authz_consents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authz_consent_changes")),
    )
    with op.batch_alter_table("authz_consent_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_authz_consent_changes_consent_id"), ["consent_id"], unique=False
        )

    op.create_table(
        "authz_tokens",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("consent_id", sa.String(length=40), nullable=True),
        sa.Column("code_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("grant_type", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("dpop_jkt", sa.String(length=64), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refresh_digest", sa.String(length=64), nullable=True),
        sa.Column("refresh_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["code_id"], ["authz_codes.id"], name=op.f("fk_authz_tokens_code_id_authz_codes")
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["authz_consents.id"],
            name=op.f("fk_authz_tokens_consent_id_authz_consents"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["authz_users.id"], name=op.f("fk_authz_tokens_user_id_authz_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authz_tokens")),
        sa.UniqueConstraint("jti", name=op.f("uq_authz_tokens_jti")),
        sa.UniqueConstraint("refresh_digest", name=op.f("uq_authz_tokens_refresh_digest")),
    )
    with op.batch_alter_table("authz_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_authz_tokens_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_authz_tokens_code_id"), ["code_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_authz_tokens_consent_id"), ["consent_id"], unique=False
        )

    # The ledger's genesis: every append locks this row and chains to its hash.
    op.execute("INSERT INTO authz_ledger_head (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')")


def downgrade() -> None:
    with op.batch_alter_table("authz_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authz_tokens_consent_id"))
        batch_op.drop_index(batch_op.f("ix_authz_tokens_code_id"))
        batch_op.drop_index(batch_op.f("ix_authz_tokens_client_id"))

    op.drop_table("authz_tokens")
    with op.batch_alter_table("authz_consent_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authz_consent_changes_consent_id"))

    op.drop_table("authz_consent_changes")
    op.drop_table("authz_codes")
    with op.batch_alter_table("authz_consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authz_consents_uscc"))
        batch_op.drop_index("ix_authz_consents_client_uscc")

    op.drop_table("authz_consents")
    with op.batch_alter_table("authz_par", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authz_par_client_id"))

    op.drop_table("authz_par")
    with op.batch_alter_table("authz_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authz_clients_bank_id"))

    op.drop_table("authz_clients")
    with op.batch_alter_table("authz_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authz_users_uscc"))
        batch_op.drop_index(batch_op.f("ix_authz_users_bank_id"))

    op.drop_table("authz_users")
    with op.batch_alter_table("authz_webhook_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authz_webhook_attempts_event_id"))

    op.drop_table("authz_webhook_attempts")
    with op.batch_alter_table("authz_used_jtis", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authz_used_jtis_expires_at"))

    op.drop_table("authz_used_jtis")
    op.drop_table("authz_signing_keys")
    op.drop_table("authz_rate_counters")
    op.drop_table("authz_ledger_head")
    with op.batch_alter_table("authz_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_authz_ledger_uscc_at")
        batch_op.drop_index("ix_authz_ledger_consent_outcome_at")
        batch_op.drop_index("ix_authz_ledger_client_at")

    op.drop_table("authz_ledger")
    with op.batch_alter_table("authz_events", schema=None) as batch_op:
        batch_op.drop_index("ix_authz_events_due")
        batch_op.drop_index(batch_op.f("ix_authz_events_client_id"))

    op.drop_table("authz_events")
    with op.batch_alter_table("authz_auth_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_authz_auth_attempts_subject_at")

    op.drop_table("authz_auth_attempts")
