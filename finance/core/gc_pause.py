"""Pausing Python's cyclic garbage collector around bulk work that allocates many
container objects and makes no reference cycles.

Reading, scoring and writing a chunk of thousands of enterprises allocates hundreds of
thousands of tuples, lists and dicts; every 700 allocations the collector walks the
youngest of them, and now and then every object the process holds, although none of them
is in a cycle (reference counting frees them). Measured on 5,000-enterprise chunks of
batch rescoring: decoding the rows took 0.96 s of CPU with the collector and 0.28 s
without; the whole chunk 103-108 µs an enterprise with it and 90 without. The collector
is enabled again afterwards and collects whatever cycles were made meanwhile.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """The block runs with the cyclic collector off (reference counting still frees
    memory); it is enabled again after, if it was before. Nesting is harmless."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
