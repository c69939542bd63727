"""Analytics HTTP routes: stats, bots, events, the request explorer, export and the live tail."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from sse_starlette.sse import EventSourceResponse

from whowhywhen.analytics.live import LiveHub
from whowhywhen.analytics.schemas import (
    BotList,
    CountryList,
    EndpointList,
    EventList,
    Interval,
    RequestDetail,
    RequestList,
    SortField,
    SortOrder,
    StatsQuery,
    StatusCodeList,
    Summary,
    Timeline,
    UserAgentStats,
)
from whowhywhen.analytics.service import (
    PAGE_DEFAULT,
    PAGE_MAX,
    analytics_service,
    make_filters,
    resolve_query,
)
from whowhywhen.auth.auth import DbSession
from whowhywhen.config import Settings
from whowhywhen.db import Database
from whowhywhen.project.auth import ProjectRead

router = APIRouter(prefix="/dashapi/projects/{project_id}", tags=["analytics"])


def stats_query(
    start: Annotated[
        datetime | None, Query(description="Range start, ISO 8601 (default: end - 24 h)")
    ] = None,
    end: Annotated[datetime | None, Query(description="Range end, ISO 8601 (default: now)")] = None,
    interval: Annotated[
        Interval | None,
        Query(description="minute, hour or day; chosen from the range when absent"),
    ] = None,
    method: Annotated[str | None, Query(description="HTTP method")] = None,
    path: Annotated[str | None, Query(max_length=2048, description="Exact request path")] = None,
    route: Annotated[
        str | None, Query(max_length=2048, description="Route template, e.g. /users/{id}")
    ] = None,
    status: Annotated[int | None, Query(description="Exact status code")] = None,
    status_class: Annotated[
        str | None, Query(description="1xx, 2xx, 3xx, 4xx or 5xx", max_length=3)
    ] = None,
    ip: Annotated[str | None, Query(max_length=64, description="Client IP")] = None,
    user_agent: Annotated[
        str | None, Query(max_length=256, description="Substring of the user agent")
    ] = None,
    country: Annotated[str | None, Query(max_length=2, description="ISO alpha-2")] = None,
    bot: Annotated[
        str | None, Query(max_length=200, description="true, false or a bot name")
    ] = None,
    consumer: Annotated[str | None, Query(max_length=256, description="Consumer id")] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Free text in URL, route, IP, UA, …")
    ] = None,
) -> StatsQuery:
    filters = make_filters(
        method=method,
        path=path,
        route=route,
        status=status,
        status_class=status_class,
        ip=ip,
        user_agent=user_agent,
        country=country,
        bot=bot,
        consumer=consumer,
        q=q,
    )
    return resolve_query(start, end, interval, filters)


Stats = Annotated[StatsQuery, Depends(stats_query)]
Cursor = Annotated[str | None, Query(max_length=500, description="From the previous page")]
Limit = Annotated[int, Query(ge=1, le=PAGE_MAX, description="Page size (at most 100)")]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get("/stats/summary", response_model=Summary)
async def get_summary(access: ProjectRead, session: DbSession, query: Stats) -> Summary:
    """Totals, errors, latency percentiles, Apdex, unique IPs and bots, with the previous period."""
    return await analytics_service.summary(session, access.project, query)


@router.get("/stats/timeline", response_model=Timeline)
async def get_timeline(access: ProjectRead, session: DbSession, query: Stats) -> Timeline:
    """Requests per period by status class with avg and p95 response time, every period present."""
    return await analytics_service.timeline(session, access.project, query)


@router.get("/stats/endpoints", response_model=EndpointList)
async def list_endpoint_stats(
    access: ProjectRead,
    session: DbSession,
    query: Stats,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many endpoints")] = 100,
) -> EndpointList:
    """Per endpoint (method + route): requests, share, error rate and latency percentiles."""
    return await analytics_service.endpoints(session, access.project, query, limit)


@router.get("/stats/status-codes", response_model=StatusCodeList)
async def list_status_codes(
    access: ProjectRead, session: DbSession, query: Stats
) -> StatusCodeList:
    """Requests per status code."""
    return await analytics_service.status_codes(session, access.project, query)


@router.get("/stats/user-agents", response_model=UserAgentStats)
async def get_user_agents(access: ProjectRead, session: DbSession, query: Stats) -> UserAgentStats:
    """Browsers, operating systems, device types and clients (including HTTP libraries)."""
    return await analytics_service.user_agents(session, access.project, query)


@router.get("/stats/countries", response_model=CountryList)
async def list_countries(access: ProjectRead, session: DbSession, query: Stats) -> CountryList:
    """Requests per country with ISO alpha-2 and numeric codes and names."""
    return await analytics_service.countries(session, access.project, query)


@router.get("/bots", response_model=BotList)
async def list_bots(access: ProjectRead, session: DbSession, query: Stats) -> BotList:
    """Bot cards (requests, last seen, status codes, top endpoints) and totals per category."""
    return await analytics_service.bots(session, access.project, query)


@router.get("/events", response_model=EventList)
async def list_events(
    access: ProjectRead,
    session: DbSession,
    query: Stats,
    cursor: Cursor = None,
    limit: Limit = PAGE_DEFAULT,
) -> EventList:
    """First-seen endpoints and bots, newest first."""
    return await analytics_service.events(
        session, access.project, query, cursor=cursor, limit=limit
    )


@router.get("/requests", response_model=RequestList)
async def list_requests(
    access: ProjectRead,
    session: DbSession,
    query: Stats,
    sort: Annotated[SortField, Query(description="time, duration or status")] = SortField.time,
    order: Annotated[SortOrder, Query(description="desc (default) or asc")] = SortOrder.desc,
    cursor: Cursor = None,
    limit: Limit = PAGE_DEFAULT,
) -> RequestList:
    """The request explorer: newest first by default, every filter, cursor pagination."""
    return await analytics_service.requests(
        session, access.project, query, sort=sort, order=order, cursor=cursor, limit=limit
    )


@router.get("/requests/{request_id}", response_model=RequestDetail)
async def get_request(
    access: ProjectRead,
    session: DbSession,
    request_id: Annotated[int, Path(description="The request's id")],
) -> RequestDetail:
    """One request with its parsed user agent, query parameters, bot and country."""
    return await analytics_service.request(session, access.project, request_id)


EXPORT_COLUMNS = (
    "timestamp",
    "method",
    "url",
    "path",
    "route",
    "status_code",
    "duration_ms",
    "ip",
    "country",
    "user_agent",
    "browser",
    "os",
    "device_type",
    "client_type",
    "bot",
    "consumer",
    "request_size",
    "response_size",
    "exception",
    "event_id",
)
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")


def neutralise(value: Any) -> Any:
    """Spreadsheet-formula cells become text (VAL-08): `=1+1` → `'=1+1`."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def _csv_row(d: RequestDetail) -> list[Any]:
    ua = d.user_agent
    values = [
        d.timestamp.isoformat(),
        d.method,
        d.url,
        d.path,
        d.route,
        d.status_code,
        d.duration_ms,
        d.ip,
        d.country,
        ua.raw if ua else None,
        ua.browser if ua else None,
        ua.os if ua else None,
        ua.device_type if ua else None,
        ua.client_type if ua else None,
        d.bot,
        d.consumer,
        d.request_size,
        d.response_size,
        d.exception,
        d.event_id,
    ]
    return [neutralise(v) for v in values]


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "RFC 4180 CSV"}},
)
async def export_csv(
    request: Request, access: ProjectRead, session: DbSession, query: Stats
) -> StreamingResponse:
    """The matching requests as CSV, streamed, newest first (formula cells neutralised)."""
    await session.close()  # the stream uses its own session; free this one's connection
    db: Database = request.app.state.db
    project = access.project

    async def body() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS)
        yield buffer.getvalue()
        async with db.session() as stream_session:
            async for page in analytics_service.export_pages(stream_session, project, query):
                buffer.seek(0)
                buffer.truncate()
                writer.writerows(_csv_row(d) for d in page)
                yield buffer.getvalue()

    filename = f"whowhywhen-{access.project_id}-requests.csv"
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/live",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
)
async def live(request: Request, access: ProjectRead, session: DbSession) -> EventSourceResponse:
    """Server-Sent Events: each newly stored batch of requests (`requests`), with heartbeats."""
    await session.close()  # a long stream must not hold a pooled connection
    hub: LiveHub = request.app.state.live
    settings = _settings(request)
    project_id = access.project_id

    async def events() -> AsyncIterator[dict[str, str]]:
        async with hub.subscribe(project_id) as subscription:
            yield {"event": "ready", "data": orjson.dumps({"project_id": project_id}).decode()}
            while not await request.is_disconnected():
                items = await subscription.get(1.0)
                if items:
                    yield {"event": "requests", "data": orjson.dumps(items).decode()}

    return EventSourceResponse(events(), ping=settings.live_heartbeat_seconds)
