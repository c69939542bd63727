from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


@dataclass
class TokenBuckets:
    """In-process token buckets: `rate` tokens a second, up to `burst`, one bucket per key."""

    rate: float
    burst: float
    _buckets: dict[object, _Bucket] = field(default_factory=dict)

    def take(self, key: object, cost: float, now: float | None = None) -> float:
        """Take `cost` tokens; 0.0 when allowed, else the seconds to wait before retrying."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if cost <= bucket.tokens:
            bucket.tokens -= cost
            return 0.0
        missing = min(cost, self.burst) - bucket.tokens
        return max(missing / self.rate, 0.001)


def retry_after_seconds(wait: float) -> int:
    return max(1, math.ceil(wait))
