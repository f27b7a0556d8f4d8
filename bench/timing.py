"""The one timing rule every benchmark here uses: the median wall time of N runs, in ms."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(n: int, once: Callable[[int], None]) -> float:
    """Run ``once(i)`` for i in 0..n-1 and return the median wall time in milliseconds."""
    times = []
    for i in range(n):
        start = time.perf_counter()
        once(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000
