"""The embedded broker's transport: kombu's SQLAlchemy transport, polled every tenth of
a second instead of every second, and every hundredth while the worker is busy.

Kombu's virtual transports sleep ``polling_interval`` whenever they find nothing they
may take, and that includes a worker whose threads are all busy: at kombu's default of
one second, a two-thread worker on the embedded broker took two tasks a second
(``bench/flow_310.py``). The interval is a transport option for the other virtual
transports, but the SQLAlchemy transport hands its options to ``create_engine``, which
refuses this one; so the worker registers this subclass for the ``sqla`` scheme. A tenth
of a second costs ten cheap queries a second on an idle worker.

While every task slot is taken (the channels' prefetch is used up) a poll queries nothing:
kombu only checks the slots. Sleeping a tenth of a second there left a worker idle for
50 ms on average after each task before it took the next: batch rescoring's chunks (half
a second each) waited a tenth of their time, and one worker ran slower than scoring
inline. So while busy the transport polls every hundredth of a second (a check in memory;
kombu reads the interval once per wait of at most two seconds, so after the work runs out
it queries the empty queue at that pace for two seconds at most, then every tenth
again). Measured with a worker at rest: the same CPU as before (an idle worker polling
the database every 0.02 s instead cost 8.6 % of a core against 2 %).
"""

from __future__ import annotations

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport

POLL_SECONDS = 0.1
BUSY_POLL_SECONDS = 0.01


class Transport(SQLAlchemyTransport):
    @property
    def polling_interval(self) -> float:  # type: ignore[override]
        """How long to sleep when nothing was taken: short while no channel may take a
        message (every slot busy), else the idle interval."""
        channels = self.channels
        if channels and not any(channel.qos.can_consume() for channel in channels):
            return BUSY_POLL_SECONDS
        return POLL_SECONDS


def install() -> None:
    """Use this transport for ``sqla+...`` broker URLs in this process."""
    TRANSPORT_ALIASES["sqla"] = f"{__name__}:Transport"
