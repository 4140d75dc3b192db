"""ASGI entry point for uvicorn: ``finance.asgi:app``.

Once the application is built, everything allocated so far (modules, models, compiled
statements, the app itself) lives as long as the process, so it is moved out of the
garbage collector's sight (``gc.freeze``): a full collection would otherwise walk all of
it, pausing every request in flight for about 100 ms now and then (measured while
profiling the data-call benchmark), which is what the slowest percentiles see.
"""

import gc

from finance.app import create_app

app = create_app()
gc.collect()
gc.freeze()
