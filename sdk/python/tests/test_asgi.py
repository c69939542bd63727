"""The ASGI middleware with FastAPI and Starlette apps."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi import APIRouter, FastAPI, HTTPException, Request  # noqa: E402
from fastapi.responses import PlainTextResponse, StreamingResponse  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.responses import JSONResponse, Response  # noqa: E402
from starlette.routing import Mount, Route  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

import whowhywhen_sdk  # noqa: E402
from whowhywhen_sdk import WhoWhyWhenMiddleware, set_consumer  # noqa: E402
from whowhywhen_sdk._buffer import Buffer  # noqa: E402

from .asgi_driver import run  # noqa: E402
from .conftest import API_KEY  # noqa: E402
from .fake_collector import FakeCollector  # noqa: E402


def build_app(instrument: dict[str, Any] | None) -> FastAPI:
    app = FastAPI()

    @app.get("/users/{user_id}")
    async def get_user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="application/octet-stream")

    @app.get("/boom")
    async def boom() -> None:
        raise ValueError("boom")

    @app.get("/missing")
    async def missing() -> None:
        raise HTTPException(status_code=404, detail="nope")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for part in (b"a" * 10, b"b" * 20, b"c" * 30):
                await asyncio.sleep(0.02)
                yield part

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/static/app.js")
    async def static() -> PlainTextResponse:
        return PlainTextResponse("js")

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, str]:
        set_consumer(request, "acme", "Acme Inc")
        return {"consumer": "acme"}

    router = APIRouter(prefix="/v1")

    @router.get("/orders/{order_id}")
    async def order(order_id: str) -> dict[str, str]:
        return {"order": order_id}

    app.include_router(router)
    sub = FastAPI()

    @sub.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"thing": thing_id}

    app.mount("/sub", sub)
    if instrument is not None:
        app.add_middleware(WhoWhyWhenMiddleware, **instrument)
    return app


def stored(collector: FakeCollector) -> list[dict[str, Any]]:
    assert whowhywhen_sdk.flush(3)
    return collector.stored


@pytest.fixture
def options(collector: FakeCollector) -> dict[str, Any]:
    return {"api_key": API_KEY, "url": collector.url}


class TestCapture:
    def test_records_a_fastapi_request(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        client = TestClient(build_app(options))
        response = client.get("/users/42?expand=1", headers={"User-Agent": "curl/8.5"})
        assert response.status_code == 200
        (event,) = stored(collector)
        assert event["url"] == "http://testserver/users/42?expand=1"
        assert event["method"] == "GET"
        assert event["status_code"] == 200
        assert event["route"] == "/users/{user_id}"
        assert event["user_agent"] == "curl/8.5"
        assert event["ip_address"] == "testclient"
        assert event["response_size"] == len(response.content)
        assert 0 < event["duration"] < 1
        assert "exception" not in event
        assert "consumer" not in event

    def test_request_size_and_post(self, collector: FakeCollector, options: dict[str, Any]) -> None:
        client = TestClient(build_app(options))
        assert client.post("/echo", content=b"x" * 123).content == b"x" * 123
        (event,) = stored(collector)
        assert (event["method"], event["request_size"], event["response_size"]) == (
            "POST",
            123,
            123,
        )

    def test_route_templates_of_routers_and_mounts(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        client = TestClient(build_app(options))
        client.get("/v1/orders/o-1")
        client.get("/sub/things/t-9")
        client.get("/no/such/path")
        routes = [e.get("route") for e in stored(collector)]
        assert routes == ["/v1/orders/{order_id}", "/sub/things/{thing_id}", None]

    def test_an_exception_is_recorded_as_500_with_its_type(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        client = TestClient(build_app(options), raise_server_exceptions=False)
        assert client.get("/boom").status_code == 500
        assert client.get("/missing").status_code == 404
        boom, missing = stored(collector)
        assert (boom["status_code"], boom["exception"]) == (500, "ValueError")
        assert missing["status_code"] == 404
        assert "exception" not in missing

    def test_duration_runs_to_the_end_of_a_streamed_response(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        client = TestClient(build_app(options))
        assert client.get("/stream").text == "a" * 10 + "b" * 20 + "c" * 30
        (event,) = stored(collector)
        assert event["duration"] >= 0.06
        assert event["response_size"] == 60

    def test_starlette_routes_and_mounts(self, collector: FakeCollector) -> None:
        async def item(request: Any) -> JSONResponse:
            return JSONResponse({"id": request.path_params["item_id"]})

        app = Starlette(
            routes=[
                Route("/items/{item_id:int}", item),
                Mount("/api", routes=[Route("/items/{item_id}", item)]),
            ]
        )
        wrapped = WhoWhyWhenMiddleware(app, api_key=API_KEY, url=collector.url)
        client = TestClient(wrapped)
        client.get("/items/3")
        client.get("/api/items/4")
        assert [e["route"] for e in stored(collector)] == [
            "/items/{item_id:int}",
            "/api/items/{item_id}",
        ]

    def test_url_and_route_under_a_root_path_and_a_mount(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        app = build_app(options)
        run(
            app,
            "GET",
            "/proxy/sub/things/t-1",
            query=b"x=1",
            scope_values={"root_path": "/proxy"},
        )
        run(app, "GET", "/proxy/v1/orders/o-2", scope_values={"root_path": "/proxy"})
        first, second = stored(collector)
        assert (first["url"], first["route"]) == (
            "http://api.test/proxy/sub/things/t-1?x=1",
            "/sub/things/{thing_id}",
        )
        assert (second["url"], second["route"]) == (
            "http://api.test/proxy/v1/orders/o-2",
            "/v1/orders/{order_id}",
        )

    def test_url_without_a_host_header_or_a_raw_path(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        app = build_app(options)
        run(app, "GET", "/users/1", host=None)
        run(app, "GET", "/users/2", host=None, scope_values={"server": None})
        run(app, "GET", "/v1/orders/a b", scope_values={"raw_path": None})
        assert [e["url"] for e in stored(collector)] == [
            "http://api.test:80/users/1",
            "http://localhost/users/2",
            "http://api.test/v1/orders/a%20b",
        ]

    def test_non_ascii_paths_queries_and_user_agents_are_read_as_latin_1(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        run(
            build_app(options),
            "GET",
            "/v1/orders/caf\u00e9",
            query="q=\u00e9".encode(),
            headers=[(b"user-agent", "agent \u00e9".encode())],
        )
        (event,) = stored(collector)
        assert event["url"] == "http://api.test/v1/orders/caf\u00c3\u00a9?q=\u00c3\u00a9"
        assert event["user_agent"] == "agent \u00c3\u00a9"
        assert event["route"] == "/v1/orders/{order_id}"


class TestSelection:
    def test_health_checks_static_files_and_options_are_not_recorded(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        client = TestClient(build_app(options))
        client.get("/health")
        client.get("/static/app.js")
        client.options("/users/1")
        client.get("/users/1")
        assert [e["url"] for e in stored(collector)] == ["http://testserver/users/1"]

    def test_exclusion_answers_are_kept_per_path_and_bounded(self, options: dict[str, Any]) -> None:
        client = WhoWhyWhenMiddleware(build_app(None), **options).client
        assert client is not None
        for i in range(5000):
            assert client.should_capture("GET", f"/users/{i}")
            assert not client.should_capture("GET", "/health")
            assert not client.should_capture("OPTIONS", f"/users/{i}")
        assert len(client.excluded_paths) <= 4096

    def test_custom_exclusions_replace_the_defaults(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        client = TestClient(
            build_app({**options, "exclude_paths": [r"/v1/.*"], "exclude_methods": []})
        )
        client.get("/v1/orders/1")
        client.get("/health")
        client.options("/users/1")
        assert [(e["method"], e["url"]) for e in stored(collector)] == [
            ("GET", "http://testserver/health"),
            ("OPTIONS", "http://testserver/users/1"),
        ]

    @pytest.mark.parametrize(
        "settings",
        [
            {},
            {"exclude_paths": [r"/users/[0-4]"], "exclude_methods": ["DELETE"]},
            {"sample_rate": 0.0},
            {"sample_rate": 0.5},
        ],
    )
    def test_the_middleware_selects_as_should_capture_does(
        self, collector: FakeCollector, options: dict[str, Any], settings: dict[str, Any]
    ) -> None:
        """The middleware records exactly what ``Client.should_capture`` selects, with the same
        random draws when sampling."""
        app = build_app({**options, **settings})
        middleware = WhoWhyWhenMiddleware(build_app(None), **options, **settings)
        assert middleware.client is not None
        calls = [
            (method, path)
            for path in ("/users/1", "/users/7", "/health", "/static/a.css", "/v1/orders/3")
            for method in ("GET", "DELETE", "OPTIONS")
        ] * 4
        random.seed(7)
        expected = [
            f"{method} http://testserver{path}"
            for method, path in calls
            if middleware.client.should_capture(method, path)
        ]
        random.seed(7)
        client = TestClient(app)
        for method, path in calls:
            client.request(method, path)
        assert [f"{e['method']} {e['url']}" for e in stored(collector)] == expected
        if settings.get("sample_rate") == 0.5:
            assert 0 < len(expected) < len([c for c in calls if c[1] in ("/users/1", "/users/7")])

    def test_sampling(self, collector: FakeCollector, options: dict[str, Any]) -> None:
        client = TestClient(build_app({**options, "sample_rate": 0.0}))
        for _ in range(20):
            client.get("/users/1")
        assert stored(collector) == []

    def test_the_sdks_own_requests_are_not_recorded(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        client = TestClient(build_app(options))
        client.get("/users/1", headers={"User-Agent": "whowhywhen-python/0.1.0"})
        client.get("/users/2", headers={"User-Agent": "whowhywhen-js/0.1.0"})
        assert stored(collector) == []


class TestConsumerAndClientIp:
    def test_set_consumer_from_a_route(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        TestClient(build_app(options)).get("/whoami")
        (event,) = stored(collector)
        assert (event["consumer"], event["consumer_name"]) == ("acme", "Acme Inc")

    def test_consumer_callback_receives_the_request(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        def consumer(request: Request) -> Any:
            tenant = request.headers.get("x-tenant")
            return (tenant, tenant.title()) if tenant else None

        client = TestClient(build_app({**options, "consumer_callback": consumer}))
        client.get("/users/1", headers={"X-Tenant": "globex"})
        client.get("/users/2")
        first, second = stored(collector)
        assert (first["consumer"], first["consumer_name"]) == ("globex", "Globex")
        assert "consumer" not in second

    @pytest.mark.parametrize(
        ("peer", "forwarded", "trusted", "expected"),
        [
            ("10.0.0.1", "198.51.100.7, 10.0.0.2", None, "198.51.100.7"),
            ("203.0.113.5", "198.51.100.7", None, "203.0.113.5"),
            ("10.0.0.1", "198.51.100.7", [], "10.0.0.1"),
            ("192.0.2.1", "198.51.100.7, 192.0.2.2", ["192.0.2.0/24"], "198.51.100.7"),
            ("192.0.2.1", "1.1.1.1, 198.51.100.7", "*", "1.1.1.1"),
            ("10.0.0.1", None, None, "10.0.0.1"),
        ],
    )
    def test_client_ip_honours_trusted_proxies(
        self,
        collector: FakeCollector,
        options: dict[str, Any],
        peer: str,
        forwarded: str | None,
        trusted: Any,
        expected: str,
    ) -> None:
        extra = {} if trusted is None else {"trusted_proxies": trusted}
        app = build_app({**options, **extra})
        headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
        run(app, "GET", "/users/1", headers=headers, client=(peer, 1234))
        (event,) = stored(collector)
        assert event["ip_address"] == expected


class TestNeverBreaksTheHost:
    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("GET", "/users/7", b""),
            ("POST", "/echo", b"payload"),
            ("GET", "/boom", b""),
            ("GET", "/missing", b""),
            ("GET", "/stream", b""),
            ("GET", "/nowhere", b""),
            ("GET", "/health", b""),
        ],
    )
    def test_responses_are_identical_with_and_without_the_sdk(
        self,
        collector: FakeCollector,
        options: dict[str, Any],
        method: str,
        path: str,
        body: bytes,
    ) -> None:
        bare = run(build_app(None), method, path, body=body)
        instrumented = run(build_app(options), method, path, body=body)
        assert instrumented == bare
        assert whowhywhen_sdk.flush(3)

    def test_internal_failures_never_reach_the_app(
        self,
        collector: FakeCollector,
        options: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        def broken(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("queue exploded")

        monkeypatch.setattr(Buffer, "put", broken)
        client = TestClient(build_app({**options, "consumer_callback": lambda r: 1 / 0}))
        with caplog.at_level(logging.WARNING, logger="whowhywhen_sdk"):
            for _ in range(100):
                assert client.get("/users/1").json() == {"id": 1}
        messages = [r.getMessage() for r in caplog.records]
        assert len(messages) == 2  # one per fault type: the callback, the queue
        assert stored(collector) == []

    def test_missing_configuration_logs_once_and_passes_through(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="whowhywhen_sdk"):
            client = TestClient(build_app({}))
            assert client.get("/users/5").json() == {"id": 5}
            assert client.get("/users/6").json() == {"id": 6}
        assert [r.getMessage() for r in caplog.records] == [
            "WhoWhyWhen disabled: no API key: pass api_key=... or set WHOWHYWHEN_API_KEY"
        ]

    def test_arguments_win_over_the_environment(
        self, collector: FakeCollector, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        other = FakeCollector()
        try:
            monkeypatch.setenv("WHOWHYWHEN_URL", other.url)
            monkeypatch.setenv("WHOWHYWHEN_API_KEY", "env-key-should-lose-000000")
            TestClient(build_app({"api_key": API_KEY, "url": collector.url})).get("/users/1")
            TestClient(build_app({})).get("/users/2")
            assert whowhywhen_sdk.flush(3)
            assert [e["url"] for e in collector.stored] == ["http://testserver/users/1"]
            assert [e["url"] for e in other.stored] == ["http://testserver/users/2"]
            assert other.received[0].headers["x-api-key"] == "env-key-should-lose-000000"
        finally:
            other.close()


class TestLifespan:
    def test_shutdown_flushes_the_queue(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        app = build_app({**options, "flush_interval": 60})
        with TestClient(app) as client:
            for i in range(30):
                client.get(f"/users/{i}")
            assert collector.stored == []
        assert len(collector.stored) == 30

    def test_lifespan_is_passed_through(self, options: dict[str, Any]) -> None:
        started: list[str] = []

        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            started.append("up")
            yield
            started.append("down")

        from contextlib import asynccontextmanager

        app = Starlette(lifespan=asynccontextmanager(lifespan))
        app.add_middleware(WhoWhyWhenMiddleware, **options)
        with TestClient(app):
            pass
        assert started == ["up", "down"]
