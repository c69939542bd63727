"""The bounded queue: drop accounting on the owner's unlocked path and under the lock."""

from __future__ import annotations

import sys
import threading

from whowhywhen_sdk._buffer import Buffer, Stats
from whowhywhen_sdk._event import Record

EVENT: Record = ("http://x/", "GET", 200, 0, 0, *(None,) * 8)


def in_thread(function: object) -> None:
    thread = threading.Thread(target=function)  # type: ignore[arg-type]
    thread.start()
    thread.join()


def test_the_first_thread_to_put_owns_the_unlocked_path() -> None:
    stats = Stats()
    buffer = Buffer(100, 10**9, stats)
    buffer.put(EVENT, 10)
    buffer.put(EVENT, 10)
    in_thread(lambda: buffer.put(EVENT, 20))
    # The first put takes the lock to claim the buffer; the owner's second does not.
    assert (buffer._bytes_owner, buffer._bytes_locked, buffer.queued_bytes()) == (10, 30, 40)
    assert stats.produced == 3


def test_the_owner_drops_the_oldest_and_counts_each_drop() -> None:
    stats = Stats()
    buffer = Buffer(10, 10**9, stats)
    for i in range(25):
        buffer.put((*EVENT[:2], 200 + i, *EVENT[3:]), 10)
    assert len(buffer) == 10
    assert stats.dropped["queue_overflow"] == 15
    assert stats.produced == 25 == len(buffer) + sum(stats.dropped.values())
    assert [event[2] for event in buffer.take(100)] == list(range(215, 225))
    assert buffer.queued_bytes() == 0


def test_the_owner_keeps_the_byte_bound() -> None:
    stats = Stats()
    buffer = Buffer(1000, 1000, stats)
    for _ in range(50):
        buffer.put(EVENT, 300)
    assert len(buffer) == 3
    assert buffer.queued_bytes() == 900
    assert stats.dropped["queue_overflow"] == 47
    buffer.put(EVENT, 5000)  # larger than the bound alone: kept, as the newest always is
    assert (len(buffer), buffer.queued_bytes()) == (1, 5000)


def test_the_overflow_reason_is_counted_on_both_paths() -> None:
    stats = Stats()
    buffer = Buffer(2, 10**9, stats)
    buffer.put(EVENT, 1)
    buffer.overflow_reason = "ratelimit_backoff"
    for _ in range(3):
        buffer.put(EVENT, 1)
    in_thread(lambda: buffer.put(EVENT, 1))
    assert stats.dropped["ratelimit_backoff"] == 3
    assert stats.take_unreported()["ratelimit_backoff"] == 3


def test_counts_stay_exact_with_puts_takes_and_clears_racing() -> None:
    """The owner appends without the lock while other threads put, take and clear."""
    stats = Stats()
    buffer = Buffer(500, 200_000, stats)
    taken = 0
    owner_done = threading.Event()

    def owner() -> None:
        for _ in range(60_000):
            buffer.put(EVENT, 7)
        owner_done.set()

    def other() -> None:
        for _ in range(20_000):
            buffer.put(EVENT, 11)

    def consumer() -> None:
        nonlocal taken
        rounds = 0
        while not owner_done.is_set():
            taken += len(buffer.take(97))
            rounds += 1
            if rounds % 50 == 0:
                buffer.clear("network_error")

    buffer.put(EVENT, 7)  # this thread owns the unlocked path from here on
    threads = [threading.Thread(target=f) for f in (other, consumer)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL over as often as the interpreter allows
    try:
        for thread in threads:
            thread.start()
        owner()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    dropped = sum(stats.dropped.values())
    assert stats.produced == 80_001
    assert stats.produced == taken + dropped + len(buffer)
    assert buffer.queued_bytes() == sum(size for _, size in list(buffer._items))
    assert len(buffer) <= 500
