"""The lending tests run in the authz test world (app on an injected clock, an
authenticated enterprise with tax data, a bank and its users)."""

from tests.authz.conftest import _fast_password_hashing, world
from tests.workers.conftest import worker

__all__ = ["_fast_password_hashing", "worker", "world"]
