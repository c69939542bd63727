"""HyperLogLog for unique client IPs: 1024 registers (≈3 % standard error), mergeable by max.

The collector keeps one register row per (project, hour, slot); merging any range is a
`GROUP BY slot` with `max(value)`, so unique IPs never need raw rows.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping

PRECISION = 10
SLOTS = 1 << PRECISION
REST_BITS = 64 - PRECISION
_REST_MASK = (1 << REST_BITS) - 1


def register_of(value: str) -> tuple[int, int]:
    """(slot, rank) of a value: the slot from the hash's top bits, the rank of the rest.

    The hash is the first 64 bits of MD5, which PostgreSQL computes too: the collector derives
    the same registers in SQL there (`whowhywhen.ingest.repository.copy_events`).
    """
    digest = hashlib.md5(value.encode(), usedforsecurity=False).digest()
    hashed = int.from_bytes(digest[:8], "big")
    rest = hashed & _REST_MASK
    return hashed >> REST_BITS, REST_BITS - rest.bit_length() + 1


def registers(values: Iterable[str]) -> dict[int, int]:
    result: dict[int, int] = {}
    for value in values:
        slot, rank = register_of(value)
        if rank > result.get(slot, 0):
            result[slot] = rank
    return result


def estimate(regs: Mapping[int, int]) -> int:
    """The cardinality estimate of merged registers (with linear counting for small sets)."""
    if not regs:
        return 0
    alpha = 0.7213 / (1 + 1.079 / SLOTS)
    harmonic = sum(2.0 ** -regs.get(slot, 0) for slot in range(SLOTS))
    raw = alpha * SLOTS * SLOTS / harmonic
    zeros = SLOTS - sum(1 for v in regs.values() if v > 0)
    if raw <= 2.5 * SLOTS and zeros:
        return round(SLOTS * math.log(SLOTS / zeros))
    return round(raw)
