"""Mergeable log-bucket latency histograms.

Bin `i` holds durations in [GAMMA**i, GAMMA**(i+1)) milliseconds; a bin's relative width is 4 %,
so reporting its geometric midpoint is within 2 % of any value inside it. Histograms merge by adding
counts per bin, so percentiles over any range come from summed rollup rows, never from raw rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

GAMMA = 1.04
LOG_GAMMA = math.log(GAMMA)
MIN_MS = 0.001
MIN_BIN = math.floor(math.log(MIN_MS) / LOG_GAMMA)


def bin_of(duration_ms: float) -> int:
    if duration_ms <= MIN_MS:
        return MIN_BIN
    return math.floor(math.log(duration_ms) / LOG_GAMMA)


def bin_value(index: int) -> float:
    """The representative (geometric midpoint) duration of a bin, in milliseconds."""
    if index <= MIN_BIN:
        return 0.0
    return float(GAMMA ** (index + 0.5))


def merge(histograms: Iterable[Mapping[int, int]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for histogram in histograms:
        for index, count in histogram.items():
            merged[index] = merged.get(index, 0) + count
    return merged


def percentiles(
    histogram: Mapping[int, int], quantiles: Iterable[float], max_ms: float | None = None
) -> list[float | None]:
    """Nearest-rank percentiles (0 < q <= 1) from a histogram; None when it is empty."""
    total = sum(histogram.values())
    wanted = list(quantiles)
    if total == 0:
        return [None for _ in wanted]
    ordered = sorted(histogram.items())
    results: list[float | None] = []
    for q in wanted:
        rank = max(1, math.ceil(q * total))
        seen = 0
        value = bin_value(ordered[-1][0])
        for index, count in ordered:
            seen += count
            if seen >= rank:
                value = bin_value(index)
                break
        if max_ms is not None:
            value = min(value, max_ms)
        results.append(value)
    return results
