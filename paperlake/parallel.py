"""Batches of partitions over worker processes: the two cores of a laptop, without Dagster in the loop.

Dagster runs a partition range as one step, so the parallelism over its files lives here: consecutive
batches go to spawned processes (fork is unsafe once pyarrow's thread pools exist) and results come
back in order. Fewer than two batches per worker run in the calling process: spawning a worker costs
about a second of imports, more than it saves on a small range.
"""

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
WORKERS_ENV = "PAPERLAKE_WORKERS"


def default_workers() -> int:
    """PAPERLAKE_WORKERS, else the cores this process may use."""
    env = os.environ.get(WORKERS_ENV, "").strip()
    return max(1, int(env)) if env else len(os.sched_getaffinity(0))


def map_batches(
    fn: Callable[[list[T]], R], items: list[T], batch: int, workers: int
) -> Iterator[tuple[list[T], R]]:
    """(batch, fn(batch)) for consecutive batches of `items`, in order. `fn` must be picklable."""
    batches = [items[lo : lo + batch] for lo in range(0, len(items), batch)]
    if workers <= 1 or len(batches) < 2 * workers:
        yield from ((b, fn(b)) for b in batches)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(batches)), mp_context=ctx) as pool:
        yield from zip(batches, pool.map(fn, batches), strict=True)
