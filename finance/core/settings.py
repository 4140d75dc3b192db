"""Runtime settings, read once from the environment (prefix ``FINANCE_``).

The embedded defaults run everything on one machine with no servers: a SQLite file for
the database and a SQLite-backed Celery broker, both under ``FINANCE_DATA_DIR``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Refused when FINANCE_ENV=production.
DEFAULT_SECRET_KEY = "insecure-development-key-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FINANCE_", env_file=None, extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Field(default=Path("var"))
    database_url: str | None = None
    broker_url: str | None = None
    result_backend: str | None = None
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    # The read endpoints of the data hub serve enterprise data without authorisation until
    # the authz layer guards them; they stay off unless explicitly enabled.
    internal_api_enabled: bool = False
    log_level: str = "INFO"
    # The platform's external base URL: the OAuth issuer (RFC 8414), the audience of client
    # assertions and the origin DPoP proofs name in ``htu``.
    public_url: str = "http://127.0.0.1:8000"
    # Shared store for per-client rate limits across server processes; without it the
    # database holds the counters.
    redis_url: str | None = None
    # Data calls per client per minute (the per-client rate limit).
    client_rate_per_minute: int = 600
    # The demand market (银企对接): how many banks one push round reaches, and after how
    # many working days (Chinese public holidays and make-up days counted) an unclaimed
    # demand is flagged to ops and pushed to the next banks.
    demand_push_banks: int = Field(default=3, ge=1, le=50)
    demand_claim_working_days: int = Field(default=2, ge=1, le=60)
    # The queue the 310 decision tasks go to (None: Celery's default queue).
    lending_queue: str | None = None

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if self.env == "production":
            secret = self.secret_key.get_secret_value()
            if secret == DEFAULT_SECRET_KEY or len(secret) < 32:
                raise ValueError(
                    "FINANCE_SECRET_KEY must be set to a random value of at least 32 characters "
                    "when FINANCE_ENV=production"
                )
        return self

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, with the embedded SQLite default and psycopg 3 for PostgreSQL."""
        if self.database_url is None:
            return f"sqlite:///{self.resolved_data_dir / 'finance.db'}"
        url = self.database_url
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def celery_broker_url(self) -> str:
        if self.broker_url is None:
            return f"sqla+sqlite:///{self.resolved_data_dir / 'broker.db'}"
        return self.broker_url

    @property
    def celery_result_backend(self) -> str:
        if self.result_backend is None:
            return f"db+sqlite:///{self.resolved_data_dir / 'results.db'}"
        return self.result_backend


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
