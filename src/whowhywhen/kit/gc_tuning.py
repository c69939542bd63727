"""Garbage-collector settings for a long-running server process.

The collector allocates many short-lived objects per batch (decoded events, enriched events,
rows) beside a large, long-lived heap built at start-up (user-agent parser tables, bot patterns,
route and country data) and grown by its caches. With CPython's defaults, frequent full
collections rescan that long-lived heap: measured on the ingest path, 25-30 % of the
collector's CPU. Freezing what start-up built and letting the young generation grow larger
before a collection removes most of it (docs/performance.md, "Collector ingest").
"""

import gc

YOUNG_THRESHOLD = 20_000
"""Allocations between young collections (CPython's default is 700 or 2000)."""


def tune_for_server() -> None:
    """Call once the process has built its long-lived state, before serving."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
