from __future__ import annotations

import threading
from collections import deque
from typing import Any

from ._event import Record

#: Why an event was dropped; the counts travel to the collector with the next batch.
DROP_REASONS: tuple[str, ...] = (
    "queue_overflow",
    "network_error",
    "ratelimit_backoff",
    "send_error",
    "too_large",
    "auth_error",
)


def _zero() -> dict[str, int]:
    return dict.fromkeys(DROP_REASONS, 0)


class Stats:
    """Loss accounting: ``produced == delivered + rejected + dropped + buffered``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.produced = 0
        self.delivered = 0
        self.rejected = 0
        self.dropped = _zero()
        self._unreported = _zero()

    def drop(self, reason: str, count: int) -> None:
        if count <= 0:
            return
        with self._lock:
            self.dropped[reason] += count
            self._unreported[reason] += count

    def delivered_events(self, accepted: int, rejected: int) -> None:
        with self._lock:
            self.delivered += accepted
            self.rejected += rejected

    def take_unreported(self) -> dict[str, int]:
        """Move the counts not yet reported into a report for the next batch."""
        with self._lock:
            report, self._unreported = self._unreported, _zero()
        return report

    def restore(self, report: dict[str, int]) -> None:
        """Give back a report whose batch was never delivered, so the next batch carries it."""
        with self._lock:
            for reason, count in report.items():
                self._unreported[reason] += count

    def has_unreported(self) -> bool:
        return any(self._unreported.values())

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "produced": self.produced,
                "delivered": self.delivered,
                "rejected": self.rejected,
                "dropped": dict(self.dropped),
            }


class Buffer:
    """A bounded FIFO of events (by count and by approximate bytes) that drops the oldest.

    ``put`` is called on the request path: it only appends under a lock, and wakes the sender
    once (``arm``/``signal``) when ``threshold`` events are waiting.
    """

    def __init__(self, max_items: int, max_bytes: int, stats: Stats) -> None:
        self._items: deque[tuple[Record, int]] = deque()
        self._bytes = 0
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._stats = stats
        self._lock = threading.Lock()
        self.overflow_reason = "queue_overflow"
        self._threshold = 0
        self._signal: threading.Event | None = None

    def __len__(self) -> int:
        return len(self._items)

    def arm(self, threshold: int, signal: threading.Event) -> None:
        """Set ``signal`` the next time at least ``threshold`` events are waiting."""
        with self._lock:
            self._signal = signal
            self._threshold = threshold
            if len(self._items) >= threshold:
                self._fire()

    def _fire(self) -> None:
        signal, self._signal = self._signal, None
        if signal is not None:
            signal.set()

    def put(self, event: Record, size: int) -> None:
        dropped = 0
        with self._lock:
            items = self._items
            items.append((event, size))
            self._bytes += size
            self._stats.produced += 1
            while len(items) > self._max_items or (
                self._bytes > self._max_bytes and len(items) > 1
            ):
                self._bytes -= items.popleft()[1]
                dropped += 1
            if self._signal is not None and len(items) >= self._threshold:
                self._fire()
        if dropped:
            self._stats.drop(self.overflow_reason, dropped)

    def take(self, count: int) -> list[Record]:
        out: list[Record] = []
        with self._lock:
            items = self._items
            while items and len(out) < count:
                event, size = items.popleft()
                self._bytes -= size
                out.append(event)
        return out

    def clear(self, reason: str) -> int:
        with self._lock:
            count = len(self._items)
            self._items.clear()
            self._bytes = 0
        self._stats.drop(reason, count)
        return count
