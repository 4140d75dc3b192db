"""What the authorization layer keeps per application: the issuer, the key ring, the
portal session codec, the rate limiter (which also remembers data calls' DPoP proofs),
the ledger writer, the data calls' reading engine and the templates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from authz.accounts.web_session import SessionCodec
from authz.ledger.writer import LedgerWriter
from authz.oauth.keys import KeyRing
from authz.ratelimit import DatabaseRateLimiter, RateLimiter, RedisRateLimiter
from finance.core.offload import Reads
from finance.core.settings import Settings

TEMPLATES = Path(__file__).parent / "web" / "templates"


@dataclass
class AuthzRuntime:
    settings: Settings
    engine: Engine
    issuer: str
    keyring: KeyRing
    codec: SessionCodec
    limiter: RateLimiter
    ledger: LedgerWriter
    templates: Jinja2Templates
    # Data calls' guard and reads, off the event loop, from a small pool of their own.
    reads: Reads

    @classmethod
    def build(cls, settings: Settings, engine: Engine) -> AuthzRuntime:
        if settings.env == "production" and not settings.public_url.startswith("https://"):
            raise ValueError(
                "FINANCE_PUBLIC_URL must be the platform's https URL when FINANCE_ENV=production "
                "(it is the OAuth issuer and the origin DPoP proofs name)"
            )
        limiter: RateLimiter = (
            RedisRateLimiter(settings.redis_url)
            if settings.redis_url
            else DatabaseRateLimiter(engine)
        )
        writer = LedgerWriter(engine, limiter)
        url = engine.url.render_as_string(hide_password=False)
        return cls(
            settings=settings,
            engine=engine,
            issuer=settings.public_url.rstrip("/"),
            keyring=KeyRing(engine, settings.secret_key.get_secret_value()),
            codec=SessionCodec(settings.secret_key.get_secret_value()),
            limiter=limiter,
            ledger=writer,
            templates=Jinja2Templates(directory=str(TEMPLATES)),
            reads=Reads(url),
        )

    def url(self, request: Request) -> str:
        """The external URL of this request without its query: the ``htu`` a DPoP
        proof must name (the platform may sit behind a proxy)."""
        return self.issuer + request.url.path


async def get_runtime(request: Request) -> AuthzRuntime:
    runtime: AuthzRuntime = request.app.state.authz
    return runtime
