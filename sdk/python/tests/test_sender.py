"""Delivery: batching, wire format, retries, Retry-After, 401, 413, drops and their counters."""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
import tracemalloc
import uuid

import pytest

from whowhywhen_sdk import _sender
from whowhywhen_sdk._version import __version__

from .conftest import API_KEY, capture, make_client
from .fake_collector import Answer, BlackHole, FakeCollector, free_port
from .test_event import asgi

FAST = {"retry_backoff": 0.05, "retry_backoff_max": 0.2, "flush_interval": 0.1}


class TestBatching:
    def test_sends_full_batches_of_500_without_waiting_for_the_timer(
        self, collector: FakeCollector
    ) -> None:
        client = make_client(collector.url, flush_interval=30)
        capture(client, 1200)
        assert collector.wait_for(lambda: len(collector.stored) >= 1000, timeout=3)
        assert [len(r.events) for r in collector.received] == [500, 500]
        assert client.flush(2)
        assert [len(r.events) for r in collector.received] == [500, 500, 200]

    def test_timer_sends_what_was_queued_every_2_seconds(self, collector: FakeCollector) -> None:
        client = make_client(collector.url)
        started = time.monotonic()
        capture(client, 250)
        assert collector.wait_for(lambda: len(collector.received) == 1, timeout=4)
        elapsed = collector.received[0].at - started
        assert 1.5 <= elapsed <= 2.8
        assert len(collector.received[0].events) == 250

    def test_a_steady_stream_is_sent_in_few_large_batches(self, collector: FakeCollector) -> None:
        client = make_client(collector.url, flush_interval=0.5)
        deadline = time.monotonic() + 2.0
        produced = 0
        while time.monotonic() < deadline:
            capture(client, 20)
            produced += 20
            time.sleep(0.005)
        assert client.flush(3)
        assert len(collector.stored) == produced
        # Timer ticks (≈4) plus one per 500 events; never a POST per handful of events.
        assert len(collector.received) <= produced // 500 + 7


class TestWireFormat:
    def test_batch_envelope_and_event_fields(self, collector: FakeCollector) -> None:
        client = make_client(collector.url)
        capture(
            client,
            10,
            route="/items/{id}",
            request_size=12,
            response_size=34,
            consumer=("acme", "Acme Inc"),
            exception="ValueError",
            status_code=500,
        )
        assert client.flush(2)
        (request,) = collector.received
        assert request.headers["x-api-key"] == API_KEY
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == f"whowhywhen-python/{__version__}"
        assert request.gzipped
        assert request.headers["content-encoding"] == "gzip"
        payload = request.payload
        uuid.UUID(payload["batch_id"])
        assert payload["sdk"] == {
            "name": "whowhywhen-python",
            "version": __version__,
            "attempt": 1,
            "dropped": dict.fromkeys(
                [
                    "queue_overflow",
                    "network_error",
                    "ratelimit_backoff",
                    "send_error",
                    "too_large",
                    "auth_error",
                ],
                0,
            ),
        }
        event = payload["events"][0]
        uuid.UUID(event["id"])
        assert event["url"] == "http://api.test/items?n=0"
        assert event["method"] == "GET"
        assert event["status_code"] == 500
        assert isinstance(event["duration"], float)
        assert event["duration"] == 0.0012
        assert isinstance(event["timestamp"], float)  # Unix seconds, microseconds kept
        assert abs(event["timestamp"] - time.time()) < 60
        assert event["user_agent"] == "pytest"
        assert event["ip_address"] == "203.0.113.9"
        assert event["route"] == "/items/{id}"
        assert event["consumer"] == "acme"
        assert event["consumer_name"] == "Acme Inc"
        assert event["request_size"] == 12
        assert event["response_size"] == 34
        assert event["exception"] == "ValueError"
        assert len({e["id"] for e in payload["events"]}) == 10

    def test_small_bodies_are_sent_uncompressed(self, collector: FakeCollector) -> None:
        client = make_client(collector.url)
        capture(client, 1)
        assert client.flush(2)
        assert not collector.received[0].gzipped
        assert "content-encoding" not in collector.received[0].headers

    def test_event_over_the_size_limit_is_dropped_and_counted(
        self, collector: FakeCollector
    ) -> None:
        client = make_client(collector.url, max_event_bytes=2000)
        capture(client, 1, path="/big" + "x" * 3000)
        capture(client, 1)
        assert client.flush(2)
        assert len(collector.stored) == 1
        assert client.stats.dropped["too_large"] == 1
        assert collector.dropped_totals["too_large"] == 1

    def test_overlong_fields_are_truncated(self, collector: FakeCollector) -> None:
        client = make_client(collector.url)
        capture(client, 1, path="/" + "p" * 10_000, user_agent="u" * 5000)
        assert client.flush(2)
        event = collector.stored[0]
        assert len(event["url"]) == 8192
        assert len(event["user_agent"]) == 1024


class TestRetries:
    @pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
    def test_retryable_status_is_retried_with_the_same_batch_and_event_ids(
        self, collector: FakeCollector, status: int
    ) -> None:
        collector.script.extend([Answer(status, {"Retry-After": "1"} if status == 429 else {})] * 2)
        client = make_client(collector.url, **FAST)
        capture(client, 5)
        assert collector.wait_for(lambda: len(collector.received) == 3, timeout=6)
        batches = {r.payload["batch_id"] for r in collector.received}
        assert len(batches) == 1
        assert [r.payload["sdk"]["attempt"] for r in collector.received] == [1, 2, 3]
        ids = [[e["id"] for e in r.events] for r in collector.received]
        assert ids[0] == ids[1] == ids[2]
        assert len(collector.stored) == 5
        assert client.flush(1)
        assert client.stats.delivered == 5

    def test_network_errors_are_retried_until_the_collector_is_back(self) -> None:
        port = free_port()
        client = make_client(f"http://127.0.0.1:{port}", **FAST)
        capture(client, 3)
        time.sleep(0.8)
        assert client.stats.delivered == 0
        collector = FakeCollector(port)
        try:
            assert collector.wait_for(lambda: len(collector.stored) == 3, timeout=3)
            assert client.stats.dropped["network_error"] == 0
        finally:
            collector.close()

    @pytest.mark.parametrize("status", [400, 404, 415, 422])
    def test_permanent_status_is_not_retried(self, collector: FakeCollector, status: int) -> None:
        collector.script.append(Answer(status, {}, b'{"error":"BadRequest"}'))
        client = make_client(collector.url, **FAST)
        capture(client, 4)
        assert client.flush(2)
        time.sleep(0.3)
        assert len([r for r in collector.received if r.events]) == 1
        assert client.stats.dropped["send_error"] == 4
        capture(client, 1)
        assert client.flush(2)
        assert collector.dropped_totals["send_error"] == 4

    def test_backoff_doubles_with_jitter(self, collector: FakeCollector) -> None:
        collector.script.extend([Answer(500)] * 4)
        client = make_client(collector.url, retry_backoff=0.2, retry_backoff_max=10)
        capture(client, 1)
        assert client.flush(0.1) is False
        assert collector.wait_for(lambda: len(collector.received) == 5, timeout=6)
        times = [r.at for r in collector.received]
        gaps = [b - a for a, b in zip(times, times[1:])]
        for n, gap in enumerate(gaps):
            expected = 0.2 * 2**n
            assert expected * 0.8 - 0.02 <= gap <= expected * 1.2 + 0.15, (n, gaps)

    def test_backoff_is_capped(self, collector: FakeCollector) -> None:
        collector.script.extend([Answer(503)] * 4)
        client = make_client(collector.url, retry_backoff=0.1, retry_backoff_max=0.15)
        capture(client, 1)
        client.flush(0.05)
        assert collector.wait_for(lambda: len(collector.received) == 5, timeout=3)
        times = [r.at for r in collector.received]
        assert max(b - a for a, b in zip(times, times[1:])) <= 0.15 * 1.2 + 0.1

    def test_retry_after_seconds_is_honoured(self, collector: FakeCollector) -> None:
        collector.script.append(Answer(503, {"Retry-After": "2"}))
        client = make_client(collector.url, **FAST)
        capture(client, 1)
        client.flush(0.1)
        assert collector.wait_for(lambda: len(collector.received) == 2, timeout=4)
        assert collector.received[1].at - collector.received[0].at >= 2.0

    def test_retry_after_http_date_is_honoured(self, collector: FakeCollector) -> None:
        when = email.utils.formatdate(time.time() + 3, usegmt=True)
        collector.script.append(Answer(429, {"Retry-After": when}))
        client = make_client(collector.url, **FAST)
        capture(client, 1)
        client.flush(0.1)
        assert collector.wait_for(lambda: len(collector.received) == 2, timeout=5)
        assert collector.received[1].at - collector.received[0].at >= 2.0

    def test_garbage_retry_after_falls_back_to_backoff(self, collector: FakeCollector) -> None:
        collector.script.append(Answer(503, {"Retry-After": "soon-ish"}))
        client = make_client(collector.url, retry_backoff=0.1)
        capture(client, 1)
        client.flush(0.05)
        assert collector.wait_for(lambda: len(collector.received) == 2, timeout=2)
        assert collector.received[1].at - collector.received[0].at < 0.5

    def test_429_without_retry_after_pauses_60_seconds(self, collector: FakeCollector) -> None:
        collector.script.append(Answer(429))
        client = make_client(collector.url, **FAST)
        capture(client, 1)
        client.flush(0.2)
        sender = client._sender
        assert sender is not None
        assert sender._pending
        assert 59 <= sender._pending[0].not_before - time.monotonic() <= 60
        assert client.buffer.overflow_reason == "ratelimit_backoff"

    def test_a_network_fault_logs_one_warning_per_minute(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        client = make_client(
            f"http://127.0.0.1:{free_port()}", retry_backoff=0.02, retry_backoff_max=0.05
        )
        with caplog.at_level(logging.WARNING, logger="whowhywhen_sdk"):
            capture(client, 1)
            client.flush(0.1)
            time.sleep(0.6)
        unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(unreachable) == 1


class TestAuthFailure:
    def test_401_stops_sending_drops_and_logs_the_key_prefix_once(
        self,
        collector: FakeCollector,
        caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        collector.responder = lambda _: Answer(401, {}, b'{"error":"Unauthorized"}')
        client = make_client(collector.url, **FAST)
        with caplog.at_level(logging.DEBUG, logger="whowhywhen_sdk"):
            capture(client, 10)
            client.flush(1)
            for _ in range(5):
                capture(client, 10)
                time.sleep(0.15)
        assert len(collector.received) == 1
        assert client.stats.dropped["auth_error"] == 60
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert API_KEY[:8] in errors[0].getMessage()
        assert API_KEY not in caplog.text

    def test_reprobes_after_the_pause_and_resumes(
        self, collector: FakeCollector, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(_sender, "AUTH_REPROBE_SECONDS", 0.5)
        collector.script.append(Answer(401))
        client = make_client(collector.url, **FAST)
        capture(client, 3)
        assert collector.wait_for(lambda: len(collector.received) == 1, timeout=2)
        time.sleep(0.7)
        capture(client, 2)
        assert collector.wait_for(lambda: len(collector.stored) == 2, timeout=2)
        assert collector.dropped_totals["auth_error"] == 3


class TestTooLarge:
    def test_413_splits_the_batch_until_it_fits(self, collector: FakeCollector) -> None:
        collector.responder = lambda r: Answer(413) if len(r.events) > 100 else Answer()
        client = make_client(collector.url)
        capture(client, 450)
        assert client.flush(3)
        assert len(collector.stored) == 450
        assert len(set(collector.stored_ids())) == 450
        assert all(
            len(r.events) <= 100
            for r in collector.received
            if r.payload["batch_id"] in collector.stored_batches
        )
        assert client.stats.dropped["too_large"] == 0

    def test_a_split_batch_keeps_its_user_agents(self, collector: FakeCollector) -> None:
        """ASGI records go as rows whose user agents are indexes into the batch's
        ``user_agents``; both halves of a split carry the list their indexes point into."""
        collector.responder = lambda r: Answer(413) if len(r.events) > 100 else Answer()
        client = make_client(collector.url)
        agents = [b"agent-%d" % (i % 7) for i in range(450)]
        for agent in agents:
            client.put(asgi(agent=agent), 300)
        assert client.flush(3)
        assert sorted(e["user_agent"] for e in collector.stored) == sorted(
            a.decode() for a in agents
        )
        sent = [r.payload for r in collector.received if r.events]
        assert len(sent) > 4
        assert all(len(p["user_agents"]) == 7 for p in sent)
        assert all(type(row[6]) is int for p in sent for row in p["rows"])

    def test_a_single_event_refused_with_413_is_dropped_not_looped(
        self, collector: FakeCollector
    ) -> None:
        collector.responder = lambda r: Answer(413) if r.events else Answer()
        client = make_client(collector.url, **FAST)
        capture(client, 1)
        assert client.flush(2)
        time.sleep(0.3)
        assert len([r for r in collector.received if r.events]) == 1
        assert client.stats.dropped["too_large"] == 1


class TestBoundedBuffer:
    def test_drops_the_oldest_and_reports_exact_counts(self, collector: FakeCollector) -> None:
        down = True
        collector.responder = lambda _: Answer(503) if down else Answer()
        client = make_client(
            collector.url, max_queue_size=100, retry_backoff=0.2, retry_backoff_max=0.2
        )
        capture(client, 1, path="/first")
        client.flush(0.2)
        capture(client, 250, path="/later")
        assert len(client.buffer) == 100
        assert client.stats.dropped["queue_overflow"] == 150
        down = False
        assert client.flush(3)
        urls = [e["url"] for e in collector.stored]
        assert urls[0] == "http://api.test/first?n=0"
        assert urls[1:] == [f"http://api.test/later?n={i}" for i in range(150, 250)]
        assert collector.dropped_totals["queue_overflow"] == 150
        stats = client.stats.snapshot()
        assert stats["produced"] == stats["delivered"] + sum(stats["dropped"].values())

    def test_counters_are_resent_unchanged_when_a_batch_is_retried(
        self, collector: FakeCollector
    ) -> None:
        client = make_client(collector.url, max_event_bytes=1000, **FAST)
        capture(client, 2, path="/" + "x" * 2000)
        collector.script.append(Answer(500))
        capture(client, 1)
        assert client.flush(2)
        first, second = collector.received
        assert first.payload["batch_id"] == second.payload["batch_id"]
        assert first.payload["sdk"]["dropped"] == second.payload["sdk"]["dropped"]
        assert second.payload["sdk"]["attempt"] == 2
        assert collector.dropped_totals["too_large"] == 2

    def test_counters_reach_the_collector_even_without_new_events(
        self, collector: FakeCollector
    ) -> None:
        client = make_client(collector.url, max_event_bytes=1000, flush_interval=0.2)
        capture(client, 3, path="/" + "x" * 2000)
        assert collector.wait_for(lambda: collector.dropped_totals.get("too_large") == 3, 2)
        assert collector.received[0].events == []

    def test_rejected_events_are_never_retried(self, collector: FakeCollector) -> None:
        body = json.dumps(
            {
                "accepted": 1,
                "duplicates": 0,
                "rejected": [{"index": 0, "field": "method", "reason": "bad"}],
            }
        )
        collector.script.append(Answer(202, {}, body.encode()))
        client = make_client(collector.url, **FAST)
        capture(client, 2)
        assert client.flush(2)
        time.sleep(0.2)
        assert len(collector.received) == 1
        assert client.stats.rejected == 1
        assert client.stats.delivered == 1

    def test_memory_stays_bounded_with_the_collector_black_holed(self) -> None:
        hole = BlackHole()
        try:
            client = make_client(hole.url, timeout=30, flush_interval=0.05)
            capture(client, 600)
            time.sleep(0.2)  # the first batch is now stuck in flight
            tracemalloc.start()
            capture(client, 11_000)
            full = tracemalloc.get_traced_memory()[0]
            capture(client, 15_000)
            later = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            assert len(client.buffer) == 10_000
            assert later - full < 512 * 1024
            stats = client.stats.snapshot()
            in_flight = 500
            dropped = sum(stats["dropped"].values())
            assert stats["produced"] == len(client.buffer) + dropped + in_flight
        finally:
            hole.close()

    def test_byte_limit_bounds_the_buffer(self) -> None:
        client = make_client(
            f"http://127.0.0.1:{free_port()}", max_queue_bytes=100_000, flush_interval=60
        )
        capture(client, 1000, path="/" + "y" * 900)
        assert len(client.buffer) <= 100
        assert client.stats.dropped["queue_overflow"] >= 900


class TestShutdown:
    def test_shutdown_delivers_what_is_queued(self, collector: FakeCollector) -> None:
        client = make_client(collector.url, flush_interval=60)
        capture(client, 50)
        client.shutdown()
        assert len(collector.stored) == 50

    def test_shutdown_is_bounded_when_the_collector_hangs(self) -> None:
        hole = BlackHole()
        try:
            client = make_client(hole.url, flush_interval=60)
            capture(client, 50)
            started = time.monotonic()
            client.shutdown(timeout=1.0)
            assert time.monotonic() - started <= 1.5
        finally:
            hole.close()

    def test_a_client_restarts_after_shutdown(self, collector: FakeCollector) -> None:
        client = make_client(collector.url)
        capture(client, 1)
        client.shutdown(2)
        capture(client, 1)
        assert client.flush(2)
        assert len(collector.stored) == 2


def test_version_is_semver() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
