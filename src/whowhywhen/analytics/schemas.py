"""The analytics API's models: the query every route shares, and each route's response."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class Interval(StrEnum):
    minute = "minute"
    hour = "hour"
    day = "day"


class SortField(StrEnum):
    time = "time"
    duration = "duration"
    status = "status"


class SortOrder(StrEnum):
    desc = "desc"
    asc = "asc"


@dataclass(frozen=True, slots=True)
class Filters:
    """The common filters; every one composes with the others. None means "any"."""

    method: str | None = None
    path: str | None = None
    route: str | None = None
    status: int | None = None
    status_class: int | None = None
    """1 to 5 (from `2xx` or `2`)."""
    ip: str | None = None
    user_agent: str | None = None
    """A case-insensitive substring of the raw user agent."""
    country: str | None = None
    bot: bool | None = None
    bot_name: str | None = None
    consumer: str | None = None
    q: str | None = None

    @property
    def endpoint(self) -> bool:
        return self.method is not None or self.route is not None

    @property
    def raw_only(self) -> bool:
        """Filters no rollup answers: they switch a stats route to raw rows."""
        return any(
            value is not None
            for value in (
                self.path,
                self.ip,
                self.user_agent,
                self.country,
                self.bot_name,
                self.consumer,
                self.q,
            )
        )

    @property
    def active(self) -> bool:
        return any(getattr(self, name) is not None for name in self.__slots__)


@dataclass(frozen=True, slots=True)
class StatsQuery:
    """A resolved range (UTC, end exclusive), interval and filters."""

    start: datetime
    end: datetime
    interval: Interval
    filters: Filters = field(default_factory=Filters)


class Period(BaseModel):
    requests: int = Field(description="Requests in the period")
    errors_4xx: int = Field(description="Requests answered 4xx")
    errors_5xx: int = Field(description="Requests answered 5xx")
    error_rate: float = Field(description="(4xx + 5xx) / requests, 0 to 1")
    avg_ms: float | None = Field(description="Mean response time in ms; null without requests")
    p50_ms: float | None = Field(description="Median response time in ms (from histograms)")
    p95_ms: float | None = Field(description="95th percentile response time in ms")
    p99_ms: float | None = Field(description="99th percentile response time in ms")
    apdex: float | None = Field(
        description="Apdex with the project's T: (satisfied + tolerating / 2) / requests"
    )
    unique_ips: int = Field(description="Distinct client IPs (HyperLogLog estimate, ≈3 %)")
    bot_requests: int = Field(description="Requests from known bots")


class Summary(Period):
    start: datetime = Field(description="Start of the range (inclusive, UTC)")
    end: datetime = Field(description="End of the range (exclusive, UTC)")
    apdex_t_ms: int = Field(description="The project's Apdex threshold T in ms")
    previous: Period = Field(description="The same figures for the previous range of equal length")


class TimelinePoint(BaseModel):
    period: datetime = Field(description="Start of the period, in the project's time zone")
    requests: int = Field(description="All requests in the period")
    count_2xx: int = Field(description="Requests answered 1xx or 2xx")
    count_3xx: int = Field(description="Requests answered 3xx")
    count_4xx: int = Field(description="Requests answered 4xx")
    count_5xx: int = Field(description="Requests answered 5xx")
    avg_ms: float | None = Field(description="Mean response time in ms")
    p95_ms: float | None = Field(description="95th percentile response time in ms")


class Timeline(BaseModel):
    interval: Interval = Field(description="Period length: minute, hour or day")
    timezone: str = Field(description="IANA time zone the periods are aligned to")
    items: list[TimelinePoint] = Field(description="Every period of the range, oldest first")


class EndpointStats(BaseModel):
    endpoint_id: int = Field(description="Id of the endpoint (method + route)")
    method: str = Field(description="HTTP method")
    route: str = Field(description="Route template, e.g. /users/{id}")
    requests: int = Field(description="Requests in the range")
    share: float = Field(description="Share of all matching requests, 0 to 1")
    errors_4xx: int = Field(description="Requests answered 4xx")
    errors_5xx: int = Field(description="Requests answered 5xx")
    error_rate: float = Field(description="(4xx + 5xx) / requests")
    avg_ms: float | None = Field(description="Mean response time in ms")
    p50_ms: float | None = Field(description="Median response time in ms")
    p95_ms: float | None = Field(description="95th percentile response time in ms")
    p99_ms: float | None = Field(description="99th percentile response time in ms")


class EndpointList(BaseModel):
    items: list[EndpointStats] = Field(description="Endpoints, most requested first")
    next_cursor: str | None = Field(default=None, description="Always null: one page")


class StatusCodeStats(BaseModel):
    status_code: int = Field(description="HTTP status code")
    requests: int = Field(description="Requests answered with it")
    share: float = Field(description="Share of all matching requests, 0 to 1")


class StatusCodeList(BaseModel):
    items: list[StatusCodeStats] = Field(description="Status codes, most frequent first")
    next_cursor: str | None = Field(default=None, description="Always null: one page")


class NamedCount(BaseModel):
    name: str = Field(description="The value; `Unknown` when it could not be told")
    requests: int = Field(description="Requests with this value")
    share: float = Field(description="Share of all matching requests, 0 to 1")


class UserAgentStats(BaseModel):
    browsers: list[NamedCount] = Field(description="Browser or client family")
    operating_systems: list[NamedCount] = Field(description="Operating system family")
    device_types: list[NamedCount] = Field(description="pc, mobile, tablet, bot, other")
    client_types: list[NamedCount] = Field(
        description="browser, library (HTTP clients such as curl or python-requests), bot, other"
    )
    libraries: list[NamedCount] = Field(description="HTTP libraries among library clients")


class CountryStats(BaseModel):
    code: str | None = Field(description="ISO 3166-1 alpha-2; null when unknown")
    numeric: str | None = Field(description="ISO 3166-1 numeric (world-atlas feature id)")
    name: str = Field(description="Country name in English")
    requests: int = Field(description="Requests from the country")
    share: float = Field(description="Share of all matching requests, 0 to 1")


class CountryList(BaseModel):
    items: list[CountryStats] = Field(description="Countries, most requests first")
    next_cursor: str | None = Field(default=None, description="Always null: one page")


class StatusCount(BaseModel):
    status_code: int = Field(description="HTTP status code")
    requests: int = Field(description="Requests answered with it")


class EndpointCount(BaseModel):
    method: str = Field(description="HTTP method")
    route: str = Field(description="Route template")
    requests: int = Field(description="Requests to it")


class BotCard(BaseModel):
    name: str = Field(description="Bot name, e.g. Googlebot")
    category: str = Field(
        description="search_engine, ai_crawler, seo, social_media, monitoring, scraper or other"
    )
    url: str | None = Field(description="The bot's documentation page")
    requests: int = Field(description="Requests in the range")
    last_seen: datetime | None = Field(description="Latest request in the range")
    status_codes: list[StatusCount] = Field(description="Requests per status code")
    top_endpoints: list[EndpointCount] = Field(description="Most requested endpoints (up to 5)")


class BotCategoryTotal(BaseModel):
    category: str = Field(description="Bot category")
    requests: int = Field(description="Requests from bots of the category")
    bots: int = Field(description="Distinct bots of the category seen")


class BotList(BaseModel):
    items: list[BotCard] = Field(description="Bots, most requests first")
    categories: list[BotCategoryTotal] = Field(description="Totals per category")
    next_cursor: str | None = Field(default=None, description="Always null: one page")


class EventKind(StrEnum):
    endpoint = "endpoint"
    bot = "bot"


class Event(BaseModel):
    kind: EventKind = Field(description="endpoint: a new method + route; bot: a new bot")
    at: datetime = Field(description="When it was first seen")
    method: str | None = Field(default=None, description="For endpoints: the method")
    route: str | None = Field(default=None, description="For endpoints: the route template")
    bot: str | None = Field(default=None, description="For bots: the bot's name")
    category: str | None = Field(default=None, description="For bots: the bot's category")


class EventList(BaseModel):
    items: list[Event] = Field(description="First-seen events, newest first")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class RequestItem(BaseModel):
    id: int = Field(description="Row id; use with requests/{request_id}")
    event_id: str = Field(description="The event's id (idempotency key)")
    timestamp: datetime = Field(description="When the request happened (UTC)")
    method: str = Field(description="HTTP method")
    path: str = Field(description="Request path")
    route: str = Field(description="Route template")
    status_code: int = Field(description="HTTP status code")
    duration_ms: float = Field(description="Response time in ms")
    ip: str | None = Field(description="Client IP (anonymised when the project asks)")
    country: str | None = Field(description="ISO alpha-2 of the client IP")
    bot: str | None = Field(description="Bot name when a known bot")
    browser: str | None = Field(description="Browser or client family")
    client_type: str | None = Field(description="browser, library, bot or other")
    consumer: str | None = Field(description="Consumer id sent by the SDK")
    user_agent_string: str | None = Field(description="The user-agent string as sent")
    query_params: dict[str, list[str]] = Field(description="Query parameters, each a list")


class RequestList(BaseModel):
    items: list[RequestItem] = Field(description="Requests in the chosen order")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class ParsedUserAgent(BaseModel):
    raw: str = Field(description="The user-agent string as sent")
    browser: str | None = Field(description="Browser or client family")
    browser_version: str | None = Field(description="Browser version")
    os: str | None = Field(description="Operating system")
    os_version: str | None = Field(description="Operating system version")
    device: str | None = Field(description="Device family")
    device_type: str = Field(description="pc, mobile, tablet, bot, other")
    client_type: str = Field(description="browser, library, bot, other")
    library: str | None = Field(description="HTTP library for library clients")


class BotInfo(BaseModel):
    name: str = Field(description="Bot name")
    category: str = Field(description="Bot category")
    url: str | None = Field(description="The bot's documentation page")


class Country(BaseModel):
    code: str = Field(description="ISO 3166-1 alpha-2")
    numeric: str | None = Field(description="ISO 3166-1 numeric")
    name: str = Field(description="Country name in English")


class RequestDetail(RequestItem):
    url: str = Field(description="The full URL as reported")
    host: str | None = Field(description="Host of the URL")
    received_at: datetime = Field(description="When the collector stored it")
    request_size: int | None = Field(description="Request body size in bytes")
    response_size: int | None = Field(description="Response body size in bytes")
    consumer_name: str | None = Field(description="Consumer display name")
    exception: str | None = Field(description="Exception type when the app raised")
    user_agent: ParsedUserAgent | None = Field(description="The parsed user agent")
    bot_info: BotInfo | None = Field(description="The bot, when a known bot")
    country_info: Country | None = Field(description="The country of the client IP")


def as_dict(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
