"""The Django middleware, sync and async, configured from settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

django = pytest.importorskip("django")
from django.conf import settings  # noqa: E402

if not settings.configured:
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        SECRET_KEY="test-only-not-a-secret",
        MIDDLEWARE=["whowhywhen_sdk.WhoWhyWhenDjangoMiddleware"],
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()

from django.http import (  # noqa: E402
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.test import AsyncClient, Client, override_settings  # noqa: E402
from django.urls import include, path, re_path  # noqa: E402

import whowhywhen_sdk  # noqa: E402
from whowhywhen_sdk import set_consumer  # noqa: E402

from .conftest import API_KEY  # noqa: E402
from .fake_collector import FakeCollector  # noqa: E402


def user(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse({"id": pk})


def item(request: HttpRequest, slug: str) -> HttpResponse:
    set_consumer(request, "acme", "Acme Inc")
    return HttpResponse(slug)


def legacy(request: HttpRequest, year: str) -> HttpResponse:
    return HttpResponse(year)


def boom(request: HttpRequest) -> HttpResponse:
    raise ValueError("boom")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def chunks() -> Iterator[bytes]:
        yield b"x" * 5
        yield b"y" * 6

    return StreamingHttpResponse(chunks())


async def async_view(request: HttpRequest, pk: int) -> HttpResponse:
    await asyncio.sleep(0)
    return HttpResponse(f"async {pk}")


async def async_stream(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"1234"
        yield b"56"

    return StreamingHttpResponse(chunks())


urlpatterns = [
    path("users/<int:pk>/", user),
    path("api/", include([path("items/<slug:slug>", item)])),
    re_path(r"^legacy/(?P<year>[0-9]{4})/$", legacy),
    path("boom", boom),
    path("stream", stream),
    path("async/<int:pk>", async_view),
    path("async-stream", async_stream),
    path("healthz", user, {"pk": 0}),
]


def stored(collector: FakeCollector) -> list[dict[str, Any]]:
    assert whowhywhen_sdk.flush(3)
    return collector.stored


@pytest.fixture
def configured(collector: FakeCollector) -> Iterator[None]:
    with override_settings(WHOWHYWHEN={"API_KEY": API_KEY, "url": collector.url}):
        yield


@pytest.mark.usefixtures("configured")
class TestDjango:
    def test_records_route_status_sizes_and_consumer(self, collector: FakeCollector) -> None:
        client = Client(HTTP_USER_AGENT="django-test", REMOTE_ADDR="192.0.2.8")
        assert client.get("/users/5/?q=1").json() == {"id": 5}
        client.post("/api/items/blue-shoe", data=b"abc", content_type="text/plain")
        client.get("/legacy/2024/")
        client.get("/healthz")
        users, items, old = stored(collector)
        assert users["url"] == "http://testserver/users/5/?q=1"
        assert users["route"] == "/users/{pk}/"
        assert (users["status_code"], users["user_agent"], users["ip_address"]) == (
            200,
            "django-test",
            "192.0.2.8",
        )
        assert users["response_size"] == len(b'{"id": 5}')
        assert items["route"] == "/api/items/{slug}"
        assert (items["method"], items["request_size"]) == ("POST", 3)
        assert (items["consumer"], items["consumer_name"]) == ("acme", "Acme Inc")
        assert old["route"] == "/legacy/{year}/"

    def test_a_view_exception_is_a_500_with_its_type(self, collector: FakeCollector) -> None:
        client = Client(raise_request_exception=False)
        assert client.get("/boom").status_code == 500
        assert client.get("/nowhere").status_code == 404
        boom_event, missing = stored(collector)
        assert (boom_event["status_code"], boom_event["exception"]) == (500, "ValueError")
        assert missing["status_code"] == 404
        assert "route" not in missing

    def test_streaming_is_timed_to_its_end(self, collector: FakeCollector) -> None:
        response = Client().get("/stream")
        assert collector.stored == []
        assert b"".join(response.streaming_content) == b"xxxxxyyyyyy"
        response.close()
        (event,) = stored(collector)
        assert event["response_size"] == 11

    def test_async_views(self, collector: FakeCollector) -> None:
        async def scenario() -> None:
            client = AsyncClient()
            response = await client.get("/async/9")
            assert response.content == b"async 9"
            streamed = await client.get("/async-stream")
            assert b"".join([c async for c in streamed.streaming_content]) == b"123456"

        asyncio.run(scenario())
        first, second = stored(collector)
        assert (first["route"], first["status_code"]) == ("/async/{pk}", 200)
        assert second["response_size"] == 6


def test_misconfigured_django_passes_through() -> None:
    with override_settings(WHOWHYWHEN={"api_key": API_KEY, "url": "ftp://nowhere"}):
        assert Client().get("/users/1/").json() == {"id": 1}
