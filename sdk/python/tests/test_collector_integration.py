"""End to end against the real collector (a subprocess with its own SQLite database).

Every request a host app serves must be stored exactly once: with the collector healthy, down
for 10 s, slow, answering 429/500/503, or black-holed (memory stays bounded meanwhile, and the
drop counters the SDK reports match what the collector keeps for the project).
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from .collector_harness import FaultProxy, RealCollector, collector_binary

BINARY = collector_binary()
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        BINARY is None,
        reason="the WhoWhyWhen collector is not installed (no whowhywhen in the repo's .venv, "
        "on PATH or in $WHOWHYWHEN_BIN)",
    ),
]

fastapi = pytest.importorskip("fastapi")
from fastapi import FastAPI  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

import whowhywhen_sdk  # noqa: E402
from whowhywhen_sdk import WhoWhyWhenMiddleware  # noqa: E402
from whowhywhen_sdk._client import _clients  # noqa: E402


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCollector]:
    assert BINARY is not None
    collector = RealCollector(tmp_path_factory.mktemp("collector"), BINARY)
    try:
        collector.start()
        collector.create_key()
        yield collector
    finally:
        collector.close()


def fastapi_app(**options: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/users/{user_id}")
    async def user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    if options:
        app.add_middleware(WhoWhyWhenMiddleware, **options)
    return app


def options(real: RealCollector, url: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "api_key": real.key,
        "url": url or real.url,
        "flush_interval": 0.5,
        "retry_backoff": 0.5,
        "retry_backoff_max": 2.0,
        **extra,
    }


def flush_all(timeout: float = 30.0) -> None:
    assert whowhywhen_sdk.flush(timeout), "the SDK could not deliver everything in time"


def assert_exactly_once(real: RealCollector, marker: str, expected: set[str]) -> None:
    stored = real.stored_urls(marker)
    assert len(stored) == len(expected), (len(stored), len(expected))
    assert set(stored) == expected


class TestExactlyOnce:
    def test_fastapi_flask_and_django_requests_are_each_stored_once(
        self, real: RealCollector
    ) -> None:
        marker = uuid.uuid4().hex
        expected: set[str] = set()
        client = TestClient(fastapi_app(**options(real)))
        agents = ["agent-a/1.0", "agent-b/2.0 (\u00e9)", "testclient"]
        for i in range(150):
            headers = {b"User-Agent": agents[i % 3].encode()}
            assert client.get(f"/users/{i}?run={marker}", headers=headers).status_code == 200
            expected.add(f"http://testserver/users/{i}?run={marker}")

        flask = pytest.importorskip("flask")
        from whowhywhen_sdk import WhoWhyWhenWSGIMiddleware

        flask_app = flask.Flask("integration")
        flask_app.add_url_rule("/items/<int:item_id>", "item", lambda item_id: str(item_id))
        flask_app.wsgi_app = WhoWhyWhenWSGIMiddleware(flask_app.wsgi_app, **options(real))
        flask_client = flask_app.test_client()
        for i in range(100):
            flask_client.get(f"/items/{i}?run={marker}", buffered=True)
            expected.add(f"http://localhost/items/{i}?run={marker}")

        from django.test import Client, override_settings

        from . import test_django  # noqa: F401 - configures Django settings and URLs

        with override_settings(WHOWHYWHEN=options(real)):
            django_client = Client()
            for i in range(50):
                django_client.get(f"/users/{i}/?run={marker}")
                expected.add(f"http://testserver/users/{i}/?run={marker}")

        flush_all()
        assert_exactly_once(real, marker, expected)
        rows = real.query(
            "SELECT method, status_code, route, COUNT(DISTINCT event_id) FROM request_logs "
            "WHERE url LIKE ? GROUP BY method, status_code, route ORDER BY route",
            f"%{marker}%",
        )
        assert rows == [
            ("GET", 200, "/items/{item_id}", 100),
            ("GET", 200, "/users/{pk}/", 50),
            ("GET", 200, "/users/{user_id}", 150),
        ]
        # The SDK lists a batch's user agents once and gives each row an index into that list.
        by_agent = real.query(
            "SELECT a.raw, COUNT(*) FROM request_logs r JOIN user_agents a"
            " ON a.id = r.user_agent_id WHERE r.url LIKE ? AND r.route = '/users/{user_id}'"
            " GROUP BY a.raw ORDER BY a.raw",
            f"%{marker}%",
        )
        assert by_agent == [
            ("agent-a/1.0", 50),
            ("agent-b/2.0 (\u00c3\u00a9)", 50),  # the header's bytes, read as latin-1
            ("testclient", 50),
        ]


class TestCollectorFaults:
    def test_down_for_10_seconds_then_everything_is_delivered(self, real: RealCollector) -> None:
        marker = uuid.uuid4().hex
        client = TestClient(fastapi_app(**options(real)))
        expected: set[str] = set()

        def hit(i: int) -> float:
            started = time.perf_counter()
            assert client.get(f"/users/{i}?run={marker}").status_code == 200
            expected.add(f"http://testserver/users/{i}?run={marker}")
            return time.perf_counter() - started

        for i in range(50):
            hit(i)
        flush_all()
        real.stop()
        down_at = time.monotonic()
        latencies = []
        i = 50
        while time.monotonic() - down_at < 10:
            latencies.append(hit(i))
            i += 1
            time.sleep(0.02)
        assert real.stored_urls(marker).__len__() == 50
        real.start()
        for j in range(i, i + 20):
            hit(j)
        flush_all(30)
        assert_exactly_once(real, marker, expected)
        assert statistics.median(latencies) < 0.02

    def test_a_slow_collector_does_not_slow_the_host(self, real: RealCollector) -> None:
        marker = uuid.uuid4().hex
        proxy = FaultProxy(real.url)
        try:
            proxy.delay = 1.5
            bare = TestClient(fastapi_app())
            instrumented = TestClient(fastapi_app(**options(real, proxy.url, flush_interval=0.2)))
            for warm in (bare, instrumented):
                warm.get("/users/0")
            bare_times: list[float] = []
            sdk_times: list[float] = []
            for i in range(300):
                for client, times in ((bare, bare_times), (instrumented, sdk_times)):
                    started = time.perf_counter()
                    client.get(f"/users/{i}?run={marker}")
                    times.append(time.perf_counter() - started)
            # Each request against the bare one just before it, so that the machine's drift
            # cancels: a host that waited for the collector would take 1.5 s, over 500 times its
            # ≈ 2 ms; the SDK's own work adds ≈ 1 %.
            ratios = [sdk / bare for sdk, bare in zip(sdk_times, bare_times)]
            assert statistics.median(ratios) < 1.25
            flush_all(30)
            assert len(set(real.stored_urls(marker))) == 300
            assert len(real.stored_urls(marker)) == 300
        finally:
            proxy.close()

    def test_429_500_and_503_answers_are_retried_until_stored(self, real: RealCollector) -> None:
        marker = uuid.uuid4().hex
        proxy = FaultProxy(real.url)
        try:
            proxy.script.extend(
                [
                    (429, {"Retry-After": "1"}),
                    (500, {}),
                    (503, {"Retry-After": "1"}),
                    (502, {}),
                    (504, {}),
                ]
            )
            client = TestClient(fastapi_app(**options(real, proxy.url, retry_backoff=0.2)))
            expected = set()
            for i in range(120):
                client.get(f"/users/{i}?run={marker}")
                expected.add(f"http://testserver/users/{i}?run={marker}")
            flush_all(30)
            assert proxy.answered[:5] == [429, 500, 503, 502, 504]
            assert_exactly_once(real, marker, expected)
        finally:
            proxy.close()

    def test_a_batch_stored_while_the_sdk_timed_out_is_not_stored_twice(
        self, real: RealCollector
    ) -> None:
        marker = uuid.uuid4().hex
        proxy = FaultProxy(real.url)
        try:
            proxy.blackhole = True
            client = TestClient(fastapi_app(**options(real, proxy.url, timeout=0.5)))
            expected = set()
            for i in range(40):
                client.get(f"/users/{i}?run={marker}")
                expected.add(f"http://testserver/users/{i}?run={marker}")
            time.sleep(1.5)  # the SDK gave up on its first attempt; the proxy still holds it
            proxy.blackhole = False  # the held attempt is now forwarded and stored
            flush_all(30)
            time.sleep(0.5)
            assert proxy.forwarded >= 2
            assert_exactly_once(real, marker, expected)
        finally:
            proxy.close()


class TestBoundedAndAccounted:
    def test_memory_is_bounded_while_black_holed_and_drops_are_reported(
        self, real: RealCollector
    ) -> None:
        marker = uuid.uuid4().hex
        proxy = FaultProxy(real.url)
        before = real.sdk_dropped()
        try:
            proxy.blackhole = True
            app = fastapi_app(
                **options(real, proxy.url, max_queue_size=300, batch_size=100, timeout=60)
            )
            client = TestClient(app)
            for i in range(200):
                client.get(f"/users/{i}?run={marker}")
            time.sleep(0.8)  # one batch of 100 is now stuck in the black hole
            tracemalloc.start()
            for i in range(200, 800):
                client.get(f"/users/{i}?run={marker}")
            filled = tracemalloc.get_traced_memory()[0]
            for i in range(800, 1400):
                client.get(f"/users/{i}?run={marker}")
            later = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            sdk = next(c for c in _clients.values() if c.config.url == proxy.url)
            assert len(sdk.buffer) <= 300
            assert later - filled < 512 * 1024
            proxy.blackhole = False
            flush_all(30)
            dropped = sdk.stats.snapshot()["dropped"]
            assert dropped["queue_overflow"] > 900
            stored = real.stored_urls(marker)
            assert len(stored) == len(set(stored)) == 1400 - dropped["queue_overflow"]
            # The counters ride along with the next batches; the collector keeps them.
            after = real.sdk_dropped()
            assert after["queue_overflow"] - before["queue_overflow"] == dropped["queue_overflow"]
        finally:
            proxy.close()
