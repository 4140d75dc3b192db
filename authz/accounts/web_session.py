"""The portal session: a signed, time-limited cookie (Secure, HttpOnly, SameSite=Lax)
naming the user, and a CSRF token derived from it that every state-changing form or
JSON call from the portal must echo (synchronizer-token pattern)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "sme_session"
# Before login: an anonymous session whose CSRF token guards the login form itself.
LOGIN_COOKIE = "sme_login"
MAX_AGE_SECONDS = 8 * 3600


@dataclass(frozen=True)
class WebSession:
    user_id: int
    nonce: str
    epoch: int = 0


class SessionCodec:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="portal-session")
        self._csrf_key = hashlib.sha256(("csrf:" + secret).encode()).digest()

    def issue(self, response: Response, user_id: int, epoch: int) -> WebSession:
        session = WebSession(user_id=user_id, nonce=secrets.token_urlsafe(16), epoch=epoch)
        response.set_cookie(
            COOKIE,
            self._serializer.dumps([session.user_id, session.nonce, session.epoch]),
            max_age=MAX_AGE_SECONDS,
            secure=True,
            httponly=True,
            samesite="lax",
            path="/",
        )
        return session

    @staticmethod
    def new_anonymous() -> WebSession:
        return WebSession(user_id=0, nonce=secrets.token_urlsafe(16))

    def issue_anonymous(self, response: Response, session: WebSession) -> None:
        response.set_cookie(
            LOGIN_COOKIE,
            self._serializer.dumps([0, session.nonce, 0]),
            max_age=3600,
            secure=True,
            httponly=True,
            samesite="lax",
            path="/login",
        )

    def read(self, cookie: str | None) -> WebSession | None:
        if not cookie:
            return None
        try:
            user_id, nonce, epoch = self._serializer.loads(cookie, max_age=MAX_AGE_SECONDS)
        except (BadSignature, ValueError, TypeError):
            return None
        if not all(isinstance(v, t) for v, t in ((user_id, int), (nonce, str), (epoch, int))):
            return None
        return WebSession(user_id=user_id, nonce=nonce, epoch=epoch)

    def csrf_token(self, session: WebSession) -> str:
        message = f"{session.user_id}:{session.nonce}".encode()
        return hmac.new(self._csrf_key, message, hashlib.sha256).hexdigest()

    def check_csrf(self, session: WebSession, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session), token or "")

    @staticmethod
    def clear(response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="lax")
