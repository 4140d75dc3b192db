"""Products tests share the authz test world (app, clock, enterprises, users)."""

from tests.authz.conftest import _fast_password_hashing, world

__all__ = ["_fast_password_hashing", "world"]
