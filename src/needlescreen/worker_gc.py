"""The cyclic garbage collector in a process that screens: the service, batch, impact and Dask workers.

Two settings, both measured on the benchmark's typical cohort:

* the screener's tables live as long as the process, so they are frozen out of the collector's walk (a full
  collection otherwise costs milliseconds every few dozen rows): :func:`freeze_long_lived`, for every
  long-lived screening process, once its screener is built;
* a screening allocates thousands of short-lived containers (models, fact sets, firings) that reference
  counting frees when the row is done. At Python's default first-generation threshold (700) the collector
  starts hundreds of times per thousand rows, in the middle of a row, and walks everything the row still holds;
  at :data:`FIRST_GENERATION` it does not start during ordinary rows at all (none in 6,000 typical rows), and a
  worker screens 8 % more rows on the plain evaluator and 4 % more on durable_rules. The collector still runs
  once that many containers outlive their rows, so reference cycles are still collected and memory stays
  bounded (50,000 small containers are a few megabytes).

The threshold (:func:`settle_worker_gc`) only in processes needlescreen starts and owns: it is process-wide,
so a library caller's process, the service and a Dask worker (someone else's process) keep theirs.
"""

from __future__ import annotations

import gc

__all__ = ["FIRST_GENERATION", "freeze_long_lived", "settle_worker_gc"]

#: The first generation's threshold in a screening worker (Python's default: 700).
FIRST_GENERATION = 50_000


def freeze_long_lived(*, collect: bool = True) -> None:
    """Collect, then move everything alive (the screener, once built) out of the collector's walk for good.

    A forked worker skips the collection (``collect=False``): what it has is its parent's, already built, and a
    collection would write to every object's header, copying the parent's whole heap page by page.
    """
    if collect:
        gc.collect()
    gc.freeze()


def settle_worker_gc(*, collect: bool = True) -> None:
    """:func:`freeze_long_lived`, then raise the first generation's threshold (a process needlescreen owns)."""
    freeze_long_lived(collect=collect)
    _, second, third = gc.get_threshold()
    gc.set_threshold(FIRST_GENERATION, second, third)
