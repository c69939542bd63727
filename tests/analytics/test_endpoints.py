"""The analytics HTTP routes: shapes, access, validation, pagination, export and live tail."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import socket
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx2
import orjson
import pytest
import uvicorn
from fastapi import FastAPI

from tests.analytics.helpers import CURL, ev, send
from tests.factories import Factory, ProjectWithKey
from tests.ingest.helpers import GOOGLEBOT, iso
from whowhywhen.kit.time import utc_now
from whowhywhen.models.enums import Role

STATS = [
    "stats/summary",
    "stats/timeline",
    "stats/endpoints",
    "stats/status-codes",
    "stats/user-agents",
    "stats/countries",
    "bots",
    "events",
    "requests",
    "export.csv",
]


@pytest.fixture
async def owned(
    client: httpx2.AsyncClient, factory: Factory
) -> tuple[ProjectWithKey, dict[str, str]]:
    project = await factory.project()
    now = utc_now()
    await send(
        client,
        project,
        [ev(now - timedelta(minutes=5 + i), path=f"/users/{i}", ms=10 + i) for i in range(30)]
        + [ev(now - timedelta(minutes=3), path="/orders", status=500, ms=700)]
        + [ev(now - timedelta(minutes=2), path="/robots.txt", ua=GOOGLEBOT)]
        + [
            ev(
                now - timedelta(minutes=1),
                path="/search?q=%3D1%2B1",
                ua=CURL,
                consumer='=HYPERLINK("http://evil")',
            )
        ],
    )
    return project, await factory.auth_headers(project.user)


class TestAccess:
    @pytest.mark.parametrize("route", [*STATS, "live", "requests/1"])
    async def test_anonymous_gets_401_and_a_stranger_404(
        self, client: httpx2.AsyncClient, factory: Factory, route: str
    ) -> None:
        project = await factory.project()
        url = f"/dashapi/projects/{project.id}/{route}"
        assert (await client.get(url)).status_code == 401
        stranger = await factory.auth_headers(await factory.user())
        response = await client.get(url, headers=stranger)
        assert response.status_code == 404
        assert response.json()["error"] == "NotFound"

    async def test_a_viewer_reads_stats(self, client: httpx2.AsyncClient, factory: Factory) -> None:
        project = await factory.project()
        viewer = await factory.member(project.id, Role.viewer)
        response = await client.get(
            f"/dashapi/projects/{project.id}/stats/summary",
            headers=await factory.auth_headers(viewer),
        )
        assert response.status_code == 200


class TestValidation:
    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({"start": "2026-01-10T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "after start"),
            ({"start": "2024-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "400 days"),
            ({"interval": "week"}, "interval"),
            (
                {
                    "interval": "minute",
                    "start": "2026-01-01T00:00:00Z",
                    "end": "2026-02-01T00:00:00Z",
                },
                "coarser",
            ),
            ({"status_class": "9xx"}, "status_class"),
            ({"start": "yesterday"}, "start"),
            ({"limit": "101"}, "limit"),
            ({"cursor": "not-a-cursor"}, "cursor"),
        ],
    )
    async def test_bad_parameters_get_422_with_a_message(
        self,
        client: httpx2.AsyncClient,
        owned: tuple[ProjectWithKey, dict[str, str]],
        params: dict[str, str],
        message: str,
    ) -> None:
        project, headers = owned
        response = await client.get(
            f"/dashapi/projects/{project.id}/requests", params=params, headers=headers
        )
        assert response.status_code == 422, response.text
        assert message in response.text

    async def test_unknown_filter_values_give_empty_results(
        self, client: httpx2.AsyncClient, owned: tuple[ProjectWithKey, dict[str, str]]
    ) -> None:
        project, headers = owned
        params = {"route": "/nope", "country": "ZZ", "bot": "NoSuchBot", "method": "BREW"}
        for route in STATS[:-1]:
            response = await client.get(
                f"/dashapi/projects/{project.id}/{route}", params=params, headers=headers
            )
            assert response.status_code == 200, (route, response.text)
        summary = await client.get(
            f"/dashapi/projects/{project.id}/stats/summary",
            params={"route": "/nope"},
            headers=headers,
        )
        assert summary.json()["requests"] == 0


class TestShapes:
    async def test_summary_and_timeline_answer_the_documented_shapes(
        self, client: httpx2.AsyncClient, owned: tuple[ProjectWithKey, dict[str, str]]
    ) -> None:
        project, headers = owned
        base = f"/dashapi/projects/{project.id}"
        summary = (await client.get(f"{base}/stats/summary", headers=headers)).json()
        fields = {
            "requests",
            "errors_4xx",
            "errors_5xx",
            "error_rate",
            "avg_ms",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "apdex",
            "unique_ips",
            "bot_requests",
        }
        assert fields <= set(summary)
        assert fields <= set(summary["previous"])
        assert summary["requests"] == 33
        assert summary["errors_5xx"] == 1
        assert summary["bot_requests"] == 1
        timeline = (
            await client.get(
                f"{base}/stats/timeline",
                params={"start": iso(utc_now() - timedelta(hours=2))},
                headers=headers,
            )
        ).json()
        assert timeline["interval"] == "minute"
        assert len(timeline["items"]) in (120, 121)
        point = timeline["items"][0]
        assert set(point) >= {
            "period",
            "count_2xx",
            "count_3xx",
            "count_4xx",
            "count_5xx",
            "avg_ms",
            "p95_ms",
        }
        assert sum(p["count_2xx"] + p["count_5xx"] for p in timeline["items"]) == 33

    async def test_bots_events_and_the_openapi_schema(
        self, client: httpx2.AsyncClient, owned: tuple[ProjectWithKey, dict[str, str]]
    ) -> None:
        project, headers = owned
        base = f"/dashapi/projects/{project.id}"
        bots = (await client.get(f"{base}/bots", headers=headers)).json()
        [card] = bots["items"]
        assert set(card) == {
            "name",
            "category",
            "url",
            "requests",
            "last_seen",
            "status_codes",
            "top_endpoints",
        }
        assert card["name"] == "Googlebot"
        events = (await client.get(f"{base}/events", headers=headers)).json()
        kinds = [e["kind"] for e in events["items"]]
        assert kinds.count("bot") == 1
        assert kinds.count("endpoint") == 4
        ats = [e["at"] for e in events["items"]]
        assert ats == sorted(ats, reverse=True)
        page = (await client.get(f"{base}/events", params={"limit": 2}, headers=headers)).json()
        rest = (
            await client.get(
                f"{base}/events",
                params={"limit": 50, "cursor": page["next_cursor"]},
                headers=headers,
            )
        ).json()
        assert page["items"] + rest["items"] == events["items"]
        schema = (await client.get("/openapi.json")).json()
        described = schema["components"]["schemas"]["Summary"]["properties"]["p95_ms"]
        assert described["description"]


class TestRequests:
    async def test_pages_cover_every_request_once_in_each_sort(
        self, client: httpx2.AsyncClient, owned: tuple[ProjectWithKey, dict[str, str]]
    ) -> None:
        project, headers = owned
        url = f"/dashapi/projects/{project.id}/requests"
        for sort, order in (("time", "desc"), ("duration", "desc"), ("status", "asc")):
            seen: list[int] = []
            cursor = None
            while True:
                params = {"sort": sort, "order": order, "limit": "7"}
                if cursor:
                    params["cursor"] = cursor
                body = (await client.get(url, params=params, headers=headers)).json()
                seen += [item["id"] for item in body["items"]]
                cursor = body["next_cursor"]
                if cursor is None:
                    break
            assert len(seen) == len(set(seen)) == 33, sort
        newest = (await client.get(url, headers=headers)).json()["items"]
        times = [item["timestamp"] for item in newest]
        assert times == sorted(times, reverse=True)
        slowest = (await client.get(url, params={"sort": "duration"}, headers=headers)).json()[
            "items"
        ][0]
        assert slowest["duration_ms"] == pytest.approx(700)

    async def test_filters_and_free_text_and_the_detail(
        self, client: httpx2.AsyncClient, owned: tuple[ProjectWithKey, dict[str, str]]
    ) -> None:
        project, headers = owned
        url = f"/dashapi/projects/{project.id}/requests"
        body = (await client.get(url, params={"q": "search"}, headers=headers)).json()
        [item] = body["items"]
        detail = (await client.get(f"{url}/{item['id']}", headers=headers)).json()
        assert detail["query_params"] == {"q": ["=1+1"]}
        assert detail["user_agent"]["client_type"] == "library"
        assert detail["user_agent"]["library"] == "curl"
        assert detail["country_info"] == {"code": "US", "numeric": "840", "name": "United States"}
        bot = (await client.get(url, params={"bot": "Googlebot"}, headers=headers)).json()
        [crawl] = bot["items"]
        detail = (await client.get(f"{url}/{crawl['id']}", headers=headers)).json()
        assert detail["bot_info"]["category"] == "search_engine"
        errors = (await client.get(url, params={"status_class": "5xx"}, headers=headers)).json()
        assert [i["route"] for i in errors["items"]] == ["/orders"]
        missing = await client.get(f"{url}/999999999", headers=headers)
        assert missing.status_code == 404

    async def test_another_projects_request_is_not_found(
        self,
        client: httpx2.AsyncClient,
        factory: Factory,
        owned: tuple[ProjectWithKey, dict[str, str]],
    ) -> None:
        project, _headers = owned
        other = await factory.project()
        other_headers = await factory.auth_headers(other.user)
        mine = (
            await client.get(
                f"/dashapi/projects/{project.id}/requests",
                headers=await factory.auth_headers(project.user),
            )
        ).json()["items"][0]
        response = await client.get(
            f"/dashapi/projects/{other.id}/requests/{mine['id']}", headers=other_headers
        )
        assert response.status_code == 404


class TestExport:
    async def test_streams_csv_with_formula_cells_neutralised(
        self, client: httpx2.AsyncClient, owned: tuple[ProjectWithKey, dict[str, str]]
    ) -> None:
        project, headers = owned
        response = await client.get(f"/dashapi/projects/{project.id}/export.csv", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert len(rows) == 33
        [evil] = [r for r in rows if r["consumer"]]
        assert evil["consumer"] == '\'=HYPERLINK("http://evil")'
        filtered = await client.get(
            f"/dashapi/projects/{project.id}/export.csv",
            params={"status_class": "5xx"},
            headers=headers,
        )
        assert len(list(csv.DictReader(io.StringIO(filtered.text)))) == 1


@contextlib.asynccontextmanager
async def _serve(app: FastAPI) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=1)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class TestLive:
    async def test_new_requests_arrive_within_two_seconds_and_the_stream_closes_cleanly(
        self, app: FastAPI, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        headers = await factory.auth_headers(project.user)
        hub = app.state.live
        async with _serve(app) as base, httpx2.AsyncClient(base_url=base, timeout=5) as http:
            url = f"/dashapi/projects/{project.id}/live"
            async with http.stream("GET", url, headers=headers) as stream:
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
                lines = stream.aiter_lines()
                assert await anext(lines) == "event: ready"
                started = asyncio.get_running_loop().time()
                await send(client, project, [ev(utc_now(), path="/live/1")])
                data = None
                async with asyncio.timeout(2):
                    async for line in lines:
                        if line.startswith("data:") and "/live/1" in line:
                            data = orjson.loads(line[len("data:") :])
                            break
                assert asyncio.get_running_loop().time() - started < 2
                assert data is not None
                assert data[0]["path"] == "/live/1"
                assert data[0]["status_code"] == 200
            for _ in range(50):
                if hub.subscribers(project.id) == 0:
                    break
                await asyncio.sleep(0.05)
            assert hub.subscribers(project.id) == 0
