from __future__ import annotations

import threading
from collections import deque
from threading import get_ident
from typing import Any, Callable

from ._event import Queued

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
        #: Events queued so far: the buffer counts them (:meth:`Buffer.produced`).
        self.count_produced: Callable[[], int] = int
        self.delivered = 0
        self.rejected = 0
        self.dropped = _zero()
        self._unreported = _zero()

    @property
    def produced(self) -> int:
        return self.count_produced()

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

    ``put`` is called on the request path. The first thread that puts (an ASGI server's event
    loop) owns an unlocked path: ``deque.append`` and ``popleft`` are atomic, and every counter
    has a single writer (the owner, or whoever holds the lock). The owner reads two limits that
    are kept under the lock, ``_attention`` (a count) and ``_room`` (its own bytes), and takes
    the lock only when it reaches one: to drop when the queue is full, or to wake the sender.
    Other threads (a WSGI server's workers) put under the lock. The sender is woken once
    (``arm``/``signal``) when ``threshold`` events are waiting.
    """

    def __init__(self, max_items: int, max_bytes: int, stats: Stats) -> None:
        self._items: deque[tuple[Queued, int]] = deque()
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._stats = stats
        stats.count_produced = self.produced
        self._lock = threading.Lock()
        self._owner: int | None = None
        # Bytes put by the owner, written only by the owner; the rest under the lock: bytes put
        # under the lock, and bytes taken or dropped.
        self._bytes_owner = 0
        self._bytes_locked = 0
        self._bytes_out = 0
        #: The owner's bytes above which the queue is over its byte bound.
        self._room = max_bytes
        #: The queue length at which the owner must take the lock: one over the bound, or the
        #: threshold of an armed signal.
        self._attention = max_items + 1
        self._left = 0  # events taken or dropped
        self.overflow_reason = "queue_overflow"
        self._threshold = 0
        self._signal: threading.Event | None = None

    def __len__(self) -> int:
        return len(self._items)

    def produced(self) -> int:
        """Events put so far: those still queued and those taken or dropped."""
        with self._lock:
            return self._left + len(self._items)

    def queued_bytes(self) -> int:
        return self._bytes_owner + self._bytes_locked - self._bytes_out

    def arm(self, threshold: int, signal: threading.Event) -> None:
        """Set ``signal`` the next time at least ``threshold`` events are waiting."""
        with self._lock:
            self._threshold = threshold
            self._signal = signal
            # After the signal, which the owner reads once it sees the lower limit.
            self._attention = min(self._max_items + 1, threshold)
            if len(self._items) >= threshold:
                self._fire()

    def _fire(self) -> None:
        """Under the lock."""
        signal, self._signal = self._signal, None
        self._attention = self._max_items + 1
        if signal is not None:
            signal.set()

    def _moved(self) -> None:
        """Under the lock, after the locked bytes or the bytes out changed."""
        self._room = self._max_bytes - self._bytes_locked + self._bytes_out

    def put(self, event: Queued, size: int) -> None:
        if get_ident() != self._owner:
            self._put_locked(event, size)
            return
        items = self._items
        items.append((event, size))
        self._bytes_owner += size
        if len(items) >= self._attention or self._bytes_owner > self._room:
            self._attend()

    def _attend(self) -> None:
        """The owner, at a limit: drop the oldest while over a bound, and wake the sender."""
        with self._lock:
            dropped = self._drop_oldest()
            if self._signal is not None and len(self._items) >= self._threshold:
                self._fire()
        if dropped:
            self._stats.drop(self.overflow_reason, dropped)

    def _put_locked(self, event: Queued, size: int) -> None:
        with self._lock:
            if self._owner is None:
                self._owner = get_ident()
            self._items.append((event, size))
            self._bytes_locked += size
            self._moved()
            dropped = self._drop_oldest()
            if self._signal is not None and len(self._items) >= self._threshold:
                self._fire()
        if dropped:
            self._stats.drop(self.overflow_reason, dropped)

    def _drop_oldest(self) -> int:
        """Under the lock: drop the oldest while over either bound, always keeping the newest."""
        items = self._items
        dropped = 0
        while len(items) > self._max_items or (
            self.queued_bytes() > self._max_bytes and len(items) > 1
        ):
            self._bytes_out += items.popleft()[1]
            dropped += 1
        if dropped:
            self._left += dropped
            self._moved()
        return dropped

    def take(self, count: int) -> list[Queued]:
        out: list[Queued] = []
        with self._lock:
            items = self._items
            while items and len(out) < count:
                event, size = items.popleft()
                self._bytes_out += size
                out.append(event)
            self._left += len(out)
            self._moved()
        return out

    def clear(self, reason: str) -> int:
        # One by one: the owner may append meanwhile, and what it appends is not counted here.
        count = 0
        with self._lock:
            items = self._items
            for _ in range(len(items)):
                self._bytes_out += items.popleft()[1]
                count += 1
            self._left += count
            self._moved()
        self._stats.drop(reason, count)
        return count
