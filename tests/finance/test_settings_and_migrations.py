"""Settings fail fast; migrations build the schema from empty and match the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import Engine, inspect

from finance.core import migrate
from finance.core.settings import Settings
from finance.govdata.categories import CATEGORIES
from finance.schema import Base


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="FINANCE_SECRET_KEY"):
        Settings(env="production")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(env="production", secret_key="short")
    assert Settings(env="production", secret_key="x" * 40).env == "production"
    assert Settings(env="development").env == "development"


def test_database_urls() -> None:
    assert Settings(database_url="postgresql://u@h/db").sqlalchemy_url.startswith(
        "postgresql+psycopg://"
    )
    embedded = Settings(data_dir="/srv/finance", database_url=None, broker_url=None)
    assert embedded.sqlalchemy_url == "sqlite:////srv/finance/finance.db"
    assert embedded.celery_broker_url == "sqla+sqlite:////srv/finance/broker.db"


def test_migrations_reach_head_and_match_the_models(engine: Engine) -> None:
    assert migrate.at_head(engine)
    tables = set(inspect(engine).get_table_names())
    assert {c.table_name for c in CATEGORIES} <= tables
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_downgrade_to_empty_and_up_again(engine: Engine) -> None:
    migrate.upgrade(engine, "head")
    from alembic import command

    config = migrate.alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert migrate.at_head(engine)
