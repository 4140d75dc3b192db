"""The embedded broker's transport: kombu's SQLAlchemy transport, polled every tenth of
a second instead of every second.

Kombu's virtual transports sleep ``polling_interval`` whenever they find nothing they
may take, and that includes a worker whose threads are all busy: at kombu's default of
one second, a two-thread worker on the embedded broker took two tasks a second
(``bench/flow_310.py``). The interval is a transport option for the other virtual
transports, but the SQLAlchemy transport hands its options to ``create_engine``, which
refuses this one; so the worker registers this subclass for the ``sqla`` scheme. A tenth
of a second costs ten cheap queries a second on an idle worker.
"""

from __future__ import annotations

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport

POLL_SECONDS = 0.1


class Transport(SQLAlchemyTransport):
    polling_interval = POLL_SECONDS


def install() -> None:
    """Use this transport for ``sqla+...`` broker URLs in this process."""
    TRANSPORT_ALIASES["sqla"] = f"{__name__}:Transport"
