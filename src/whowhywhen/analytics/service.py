"""The analytics query service: resolves a query, runs the builders of `queries`, shapes results.

Aggregates come from rollups (minute, hour and project-local day levels, unioned) and latency
histograms merged into percentiles (picked in the statement for the endpoints table, and for the
timeline on PostgreSQL, so one row per endpoint or period leaves the database). Filters no rollup
can answer (path, ip, user-agent substring, country, bot name, consumer, q) switch a stats route
to raw rows bounded by the range (at most `raw_max_days`); the request explorer and the export
always read raw rows.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import pycountry
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from whowhywhen.analytics import hll, queries
from whowhywhen.analytics.schemas import (
    BotCard,
    BotCategoryTotal,
    BotInfo,
    BotList,
    Country,
    CountryList,
    CountryStats,
    EndpointCount,
    EndpointList,
    EndpointStats,
    Event,
    EventKind,
    EventList,
    Filters,
    Interval,
    NamedCount,
    ParsedUserAgent,
    Period,
    RequestDetail,
    RequestItem,
    RequestList,
    SortField,
    SortOrder,
    StatsQuery,
    StatusCodeList,
    StatusCodeStats,
    StatusCount,
    Summary,
    Timeline,
    TimelinePoint,
    UserAgentStats,
)
from whowhywhen.exceptions import NotFound, UnprocessableEntity
from whowhywhen.kit.histogram import bin_of, bin_value, percentiles
from whowhywhen.kit.sql import dialect_of
from whowhywhen.kit.time import floor_minute, utc_now
from whowhywhen.models import Project

MAX_RANGE = timedelta(days=400)
DEFAULT_RANGE = timedelta(days=1)
MAX_PERIODS = 1500
COARSE_AFTER = timedelta(days=2)
MINUTE_UP_TO = timedelta(hours=3)
HOUR_UP_TO = timedelta(days=7)
STEP = {Interval.minute: timedelta(minutes=1), Interval.hour: timedelta(hours=1)}
UNKNOWN = "Unknown"
PAGE_DEFAULT = 25
PAGE_MAX = 100


def project_zone(timezone: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def choose_interval(span: timedelta) -> Interval:
    if span <= MINUTE_UP_TO:
        return Interval.minute
    if span <= HOUR_UP_TO:
        return Interval.hour
    return Interval.day


def resolve_query(
    start: datetime | None,
    end: datetime | None,
    interval: Interval | None = None,
    filters: Filters | None = None,
    *,
    now: datetime | None = None,
) -> StatsQuery:
    """Defaults (the last 24 hours, an interval that fits the range) and limits (422s)."""
    end = as_utc(end) if end is not None else None
    start = as_utc(start) if start is not None else None
    if end is None:
        end = now or utc_now()
        if start is not None and start >= end:
            end = start + DEFAULT_RANGE
    if start is None:
        start = end - DEFAULT_RANGE
    if end <= start:
        raise UnprocessableEntity("end: must be after start")
    span = end - start
    if span > MAX_RANGE:
        raise UnprocessableEntity(f"range: at most {MAX_RANGE.days} days (got {span.days})")
    interval = interval or choose_interval(span)
    periods = span / STEP.get(interval, timedelta(days=1))
    if periods > MAX_PERIODS:
        raise UnprocessableEntity(
            f"interval: {interval} gives {math.ceil(periods)} periods over this range "
            f"(at most {MAX_PERIODS}); choose a coarser interval"
        )
    return StatsQuery(start=start, end=end, interval=interval, filters=filters or Filters())


def parse_status_class(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    text = value.strip().lower()
    if len(text) in (1, 3) and text[0] in "12345" and text[1:] in ("", "xx"):
        return int(text[0])
    raise UnprocessableEntity("status_class: must be 1xx, 2xx, 3xx, 4xx or 5xx")


def make_filters(
    *,
    method: str | None = None,
    path: str | None = None,
    route: str | None = None,
    status: int | None = None,
    status_class: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    country: str | None = None,
    bot: str | None = None,
    consumer: str | None = None,
    q: str | None = None,
) -> Filters:
    """The common filters from query strings; empty strings mean "not set"."""

    def clean(value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        return value or None

    bot_flag: bool | None = None
    bot_name = clean(bot)
    if bot_name is not None and bot_name.lower() in ("true", "false"):
        bot_flag, bot_name = bot_name.lower() == "true", None
    method = clean(method)
    country = clean(country)
    return Filters(
        method=method.upper() if method else None,
        path=clean(path),
        route=clean(route),
        status=status,
        status_class=parse_status_class(status_class),
        ip=clean(ip),
        user_agent=clean(user_agent),
        country=country.upper() if country else None,
        bot=bot_flag,
        bot_name=bot_name,
        consumer=clean(consumer),
        q=clean(q),
    )


# -- cursors -----------------------------------------------------------------------------------


def encode_cursor(values: Sequence[Any]) -> str:
    data = orjson.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError) as exc:
        raise UnprocessableEntity("cursor: not a cursor this API returned") from exc
    if not isinstance(values, list) or len(values) != size:
        raise UnprocessableEntity("cursor: not a cursor this API returned")
    return values


def _cursor_time(value: Any) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(value))
    except (TypeError, ValueError) as exc:
        raise UnprocessableEntity("cursor: not a cursor this API returned") from exc


def _cursor_int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise UnprocessableEntity("cursor: not a cursor this API returned")
    return value


# -- aggregate sources -------------------------------------------------------------------------


@dataclass
class _Totals:
    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    bots: int = 0
    duration_sum: float = 0.0
    duration_max: float | None = None
    bins: Counter[int] = field(default_factory=Counter)
    picked: dict[float, int | None] | None = None
    """The bin at each quantile, when the database picked them (then `bins` stays empty)."""

    def add(self, status: int, is_bot: bool, count: int, total: float, top: float) -> None:
        self.requests += count
        if 400 <= status < 500:
            self.errors_4xx += count
        elif status >= 500:
            self.errors_5xx += count
        if is_bot:
            self.bots += count
        self.duration_sum += total
        if self.duration_max is None or top > self.duration_max:
            self.duration_max = top

    @property
    def error_rate(self) -> float:
        return (self.errors_4xx + self.errors_5xx) / self.requests if self.requests else 0.0

    @property
    def avg_ms(self) -> float | None:
        return round(self.duration_sum / self.requests, 3) if self.requests else None

    def percentiles(self, *qs: float) -> list[float | None]:
        if self.picked is not None:
            values = [self._value(self.picked.get(q)) for q in qs]
        else:
            values = percentiles(self.bins, qs, self.duration_max)
        return [round(v, 3) if v is not None else None for v in values]

    def _value(self, index: int | None) -> float | None:
        if index is None:
            return None
        value = bin_value(index)
        return value if self.duration_max is None else min(value, self.duration_max)


class _Source:
    """Where aggregates come from: rollups, or raw rows when a filter needs them."""

    async def facts(self, group: Sequence[str]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def bins(self, group: Sequence[str]) -> list[tuple[Any, ...]]:
        raise NotImplementedError


class _Rollups(_Source):
    def __init__(
        self,
        session: AsyncSession,
        project_id: int,
        q: StatsQuery,
        *,
        coarse: bool,
        hour_floor: datetime,
    ) -> None:
        self.session, self.project_id, self.q = session, project_id, q
        self.coarse, self.hour_floor = coarse, hour_floor

    async def facts(self, group: Sequence[str]) -> list[tuple[Any, ...]]:
        q = self.q
        stmt = queries.facts(self.project_id, q.start, q.end, q.filters, group)
        return [tuple(row) for row in await self.session.execute(stmt)]

    async def facts_and_bins(
        self, key: str, *, hour_buckets: bool = False
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """facts([key, "status_code"]) and bins([key]) in one statement."""
        q = self.q
        stmt = queries.facts_and_bins(
            self.project_id,
            q.start,
            q.end,
            q.filters,
            key,
            coarse=self.coarse,
            hour_floor=self.hour_floor,
            hour_buckets=hour_buckets,
        )
        fact_rows, other = await self._by_kind(stmt)
        return fact_rows, [(key_value, a, n) for key_value, a, n, _s, _m in other]

    async def facts_and_percentiles(
        self, key: str, quantiles: Sequence[float]
    ) -> tuple[list[tuple[Any, ...]], dict[Any, dict[float, int | None]]]:
        """facts([key, "status_code"]) and the bin at each quantile per key, one statement."""
        q = self.q
        stmt = queries.facts_and_percentiles(
            self.project_id,
            q.start,
            q.end,
            q.filters,
            key,
            quantiles,
            coarse=self.coarse,
            hour_floor=self.hour_floor,
        )
        fact_rows, other = await self._by_kind(stmt)
        picked = {
            key_value: {
                qv: int(b) if b is not None else None
                for qv, b in zip(quantiles, [a, n, total][: len(quantiles)], strict=True)
            }
            for key_value, a, n, total, _m in other
        }
        return fact_rows, picked

    async def timeline(
        self, starts: Sequence[datetime]
    ) -> tuple[list[tuple[Any, ...]], dict[int, int]]:
        """Facts per (period, status class) and each period's p95 bin (PostgreSQL)."""
        q = self.q
        stmt = queries.timeline(
            self.project_id,
            q.start,
            q.end,
            q.filters,
            starts,
            coarse=self.coarse,
            hour_floor=self.hour_floor,
        )
        fact_rows, other = await self._by_kind(stmt)
        return fact_rows, {period: int(a) for period, a, *_ in other if a is not None}

    async def _by_kind(self, stmt: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The rows of a kind-tagged union (`queries.facts_and_bins` and its kin), untagged:
        (kind 0 rows, kind 1 rows)."""
        facts: list[tuple[Any, ...]] = []
        other: list[tuple[Any, ...]] = []
        for kind, *row in await self.session.execute(stmt):
            (facts if kind == 0 else other).append(tuple(row))
        return facts, other

    async def bins(self, group: Sequence[str]) -> list[tuple[Any, ...]]:
        q = self.q
        stmt = queries.histogram(
            self.project_id,
            q.start,
            q.end,
            q.filters,
            group,
            coarse=self.coarse,
            hour_floor=self.hour_floor,
        )
        return [tuple(row) for row in await self.session.execute(stmt)]


_RAW_KEYS: dict[str, Callable[[Any], Any]] = {
    "bucket": lambda r: floor_minute(r.timestamp),
    "endpoint_id": lambda r: r.endpoint_id,
    "status_code": lambda r: r.status_code,
    "is_bot": lambda r: r.bot_id is not None,
}


class _Raw(_Source):
    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def _key(self, group: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
        getters = [_RAW_KEYS[name] for name in group]
        return lambda r: tuple(g(r) for g in getters)

    async def facts(self, group: Sequence[str]) -> list[tuple[Any, ...]]:
        key = self._key(group)
        acc: dict[tuple[Any, ...], list[float]] = {}
        for r in self.rows:
            k = key(r)
            a = acc.get(k)
            if a is None:
                acc[k] = [1, r.duration_ms, r.duration_ms]
            else:
                a[0] += 1
                a[1] += r.duration_ms
                a[2] = max(a[2], r.duration_ms)
        return [(*k, int(a[0]), a[1], a[2]) for k, a in acc.items()]

    async def bins(self, group: Sequence[str]) -> list[tuple[Any, ...]]:
        key = self._key(group)
        counts: Counter[tuple[Any, ...]] = Counter(
            (*key(r), bin_of(r.duration_ms)) for r in self.rows
        )
        return [(*k, n) for k, n in counts.items()]


def _named(counts: Counter[str], total: int, limit: int = 50) -> list[NamedCount]:
    return [
        NamedCount(name=name or UNKNOWN, requests=n, share=round(n / total, 6) if total else 0.0)
        for name, n in counts.most_common(limit)
    ]


def country_info(code: str | None) -> tuple[str | None, str]:
    """(ISO numeric, English name) of an alpha-2 code."""
    if not code:
        return None, UNKNOWN
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return None, code
    return str(country.numeric), str(getattr(country, "common_name", None) or country.name)


class AnalyticsService:
    def __init__(self, raw_max_days: int = 31, rollup_hour_days: int = 8) -> None:
        self.raw_max_days = raw_max_days
        self.rollup_hour_days = rollup_hour_days

    # -- sources ---------------------------------------------------------------------------

    def _check_raw_window(self, q: StatsQuery) -> None:
        if q.end - q.start > timedelta(days=self.raw_max_days):
            raise UnprocessableEntity(
                f"range: with the path, ip, user_agent, country, bot name, consumer or q "
                f"filters a range covers at most {self.raw_max_days} days"
            )

    async def _raw_rows(self, session: AsyncSession, project_id: int, q: StatsQuery) -> list[Any]:
        self._check_raw_window(q)
        result = await session.execute(queries.raw_facts(project_id, q.start, q.end, q.filters))
        return list(result)

    async def _source(
        self, session: AsyncSession, project: Project, q: StatsQuery, *, coarse: bool | None = None
    ) -> _Source:
        """Raw rows when a filter needs them; else rollups, read from day copies (`coarse`)
        on ranges over COARSE_AFTER and from hours on shorter ones."""
        project_id = self._pid(project)
        if q.filters.raw_only:
            return _Raw(await self._raw_rows(session, project_id, q))
        zone = project_zone(project.timezone)
        hour_floor = local_midnight(utc_now() - timedelta(days=self.rollup_hour_days), zone)
        if coarse is None:
            coarse = q.end - q.start > COARSE_AFTER
        await _without_parallel_workers(session)
        return _Rollups(session, project_id, q, coarse=coarse, hour_floor=hour_floor)

    @staticmethod
    def _pid(project: Project) -> int:
        assert project.id is not None
        return project.id

    # -- summary ---------------------------------------------------------------------------

    async def summary(self, session: AsyncSession, project: Project, q: StatsQuery) -> Summary:
        """Totals for the range and for the previous range of equal length."""
        span = q.end - q.start
        previous_q = StatsQuery(q.start - span, q.start, q.interval, q.filters)
        if q.filters.raw_only:
            current = await self._period(session, project, q)
            previous = await self._period(session, project, previous_q)
        else:
            current, previous = await self._periods_from_rollups(session, project, q, previous_q)
        return Summary(
            **current.model_dump(),
            start=q.start,
            end=q.end,
            apdex_t_ms=project.apdex_t_ms,
            previous=previous,
        )

    async def _periods_from_rollups(
        self, session: AsyncSession, project: Project, *periods: StatsQuery
    ) -> list[Period]:
        """Several periods of equal length from rollups in one statement."""
        pid = self._pid(project)
        source = await self._source(session, project, periods[0])
        assert isinstance(source, _Rollups)
        filters = periods[0].filters
        stmt = queries.summary(
            pid,
            [(q.start, q.end) for q in periods],
            filters,
            coarse=source.coarse,
            hour_floor=source.hour_floor,
            unique_ips=not filters.active,
        )
        totals = [_Totals() for _ in periods]
        registers: list[dict[int, int]] = [{} for _ in periods]
        for kind, i, a, b, n, s, m in await session.execute(stmt):
            if kind == 0:
                totals[i].add(a, bool(b), int(n), float(s or 0), float(m or 0))
            elif kind == 1:
                totals[i].bins[a] += int(n)
            else:
                registers[i][int(a)] = int(n)
        result = []
        for q, t, r in zip(periods, totals, registers, strict=True):
            if filters.active:
                unique_ips = await self._unique_ips(session, pid, q, source)
            else:
                unique_ips = hll.estimate(r)
            result.append(self._make_period(project, t, unique_ips))
        return result

    def _make_period(self, project: Project, totals: _Totals, unique_ips: int) -> Period:
        p50, p95, p99 = totals.percentiles(0.5, 0.95, 0.99)
        return Period(
            requests=totals.requests,
            errors_4xx=totals.errors_4xx,
            errors_5xx=totals.errors_5xx,
            error_rate=round(totals.error_rate, 6),
            avg_ms=totals.avg_ms,
            p50_ms=p50,
            p95_ms=p95,
            p99_ms=p99,
            apdex=_apdex(totals.bins, project.apdex_t_ms),
            unique_ips=unique_ips,
            bot_requests=totals.bots,
        )

    async def _period(self, session: AsyncSession, project: Project, q: StatsQuery) -> Period:
        pid = self._pid(project)
        source = await self._source(session, project, q)
        totals = _Totals()
        for status, is_bot, count, total, top in await source.facts(["status_code", "is_bot"]):
            totals.add(status, bool(is_bot), int(count), float(total or 0), float(top or 0))
        for bin_index, count in await source.bins([]):
            totals.bins[bin_index] += int(count)
        return self._make_period(project, totals, await self._unique_ips(session, pid, q, source))

    async def _unique_ips(
        self, session: AsyncSession, project_id: int, q: StatsQuery, source: _Source
    ) -> int:
        if isinstance(source, _Raw):
            return len({r.ip for r in source.rows if r.ip})
        if q.filters.active:
            conditions = queries.raw_where(project_id, q.start, q.end, q.filters)
            stmt = sa.select(sa.func.count(sa.distinct(queries.LOGS.c.ip))).where(*conditions)
            return int((await session.execute(stmt)).scalar_one())
        stmt = queries.unique_ip_registers(project_id, q.start, q.end)
        rows: list[Any] = list(await session.execute(stmt))
        registers = {int(row[0]): int(row[1]) for row in rows}
        return hll.estimate(registers)

    # -- timeline --------------------------------------------------------------------------

    async def timeline(self, session: AsyncSession, project: Project, q: StatsQuery) -> Timeline:
        """Every period of the range, in the project's time zone, zeros included."""
        zone = project_zone(project.timezone)
        periods = _periods(q.start, q.end, q.interval, zone)
        index = {p.astimezone(UTC): i for i, p in enumerate(periods)}
        totals = [_Totals() for _ in periods]
        source = await self._source(session, project, q, coarse=q.interval is Interval.day)

        slots: dict[datetime, int | None] = {}

        def slot(bucket: datetime) -> int | None:
            if bucket not in slots:
                floor = _floor_local(as_utc(bucket), q.interval, zone).astimezone(UTC)
                slots[bucket] = index.get(floor)
            return slots[bucket]

        classes = [Counter[int]() for _ in periods]
        if isinstance(source, _Rollups) and dialect_of(session) == "postgresql":
            # Periods, status classes and each period's p95 are worked out in the statement:
            # a few rows per period leave the database instead of every bin of every bucket.
            fact_rows, p95_bins = await source.timeline([p.astimezone(UTC) for p in periods])
            for i, status_class, count, total, top in fact_rows:
                if 0 <= i < len(periods):
                    totals[i].add(
                        status_class * 100, False, int(count), float(total or 0), float(top or 0)
                    )
                    classes[i][status_class] += int(count)
            for i, t in enumerate(totals):
                t.picked = {0.95: p95_bins.get(i)}
            return self._timeline(q, zone, periods, totals, classes)
        if isinstance(source, _Rollups):
            # Minute rows summed per UTC hour in SQL when every period starts on a UTC hour
            # (a floored bucket then stays in its period): 60x fewer rows for recent hours.
            hour_buckets = q.interval is not Interval.minute and all(
                _whole_hours(p.utcoffset()) for p in periods
            )
            fact_rows, bin_rows = await source.facts_and_bins("bucket", hour_buckets=hour_buckets)
        else:
            fact_rows = await source.facts(["bucket", "status_code"])
            bin_rows = await source.bins(["bucket"])
        for bucket, status, count, total, top in fact_rows:
            i = slot(bucket)
            if i is not None:
                totals[i].add(status, False, int(count), float(total or 0), float(top or 0))
                classes[i][min(max(status // 100, 2), 5)] += int(count)
        for bucket, bin_index, count in bin_rows:
            i = slot(bucket)
            if i is not None:
                totals[i].bins[bin_index] += int(count)
        return self._timeline(q, zone, periods, totals, classes)

    @staticmethod
    def _timeline(
        q: StatsQuery,
        zone: ZoneInfo,
        periods: Sequence[datetime],
        totals: Sequence[_Totals],
        classes: Sequence[Counter[int]],
    ) -> Timeline:
        items = []
        for period, t, c in zip(periods, totals, classes, strict=True):
            (p95,) = t.percentiles(0.95)
            items.append(
                TimelinePoint(
                    period=period,
                    requests=t.requests,
                    count_2xx=c[2],
                    count_3xx=c[3],
                    count_4xx=c[4],
                    count_5xx=c[5],
                    avg_ms=t.avg_ms,
                    p95_ms=p95,
                )
            )
        return Timeline(interval=q.interval, timezone=zone.key, items=items)

    # -- endpoints and status codes --------------------------------------------------------

    async def endpoints(
        self, session: AsyncSession, project: Project, q: StatsQuery, limit: int = 100
    ) -> EndpointList:
        """Per method + route: requests, share, errors and latency percentiles."""
        pid = self._pid(project)
        source = await self._source(session, project, q)
        per: dict[int, _Totals] = defaultdict(_Totals)
        quantiles = (0.5, 0.95, 0.99)
        picked: dict[Any, dict[float, int | None]] | None = None
        bin_rows: list[tuple[Any, ...]] = []
        if isinstance(source, _Rollups):
            fact_rows, picked = await source.facts_and_percentiles("endpoint_id", quantiles)
        else:
            fact_rows = await source.facts(["endpoint_id", "status_code"])
            bin_rows = await source.bins(["endpoint_id"])
        for endpoint_id, status, count, total, top in fact_rows:
            per[endpoint_id].add(status, False, int(count), float(total or 0), float(top or 0))
        ranked = sorted(per.items(), key=lambda kv: (-kv[1].requests, kv[0]))[:limit]
        wanted = {endpoint_id for endpoint_id, _ in ranked}
        if picked is not None:
            for endpoint_id in wanted:
                per[endpoint_id].picked = picked.get(endpoint_id, {})
        for endpoint_id, bin_index, count in bin_rows:
            if endpoint_id in wanted:
                per[endpoint_id].bins[bin_index] += int(count)
        names = {
            row.id: (row.method, row.route)
            for row in await session.execute(queries.endpoints_by_id(pid, list(wanted)))
        }
        grand = sum(t.requests for t in per.values())
        items = []
        for endpoint_id, t in ranked:
            method, route = names.get(endpoint_id, ("?", "?"))
            p50, p95, p99 = t.percentiles(0.5, 0.95, 0.99)
            items.append(
                EndpointStats(
                    endpoint_id=endpoint_id,
                    method=method,
                    route=route,
                    requests=t.requests,
                    share=round(t.requests / grand, 6) if grand else 0.0,
                    errors_4xx=t.errors_4xx,
                    errors_5xx=t.errors_5xx,
                    error_rate=round(t.error_rate, 6),
                    avg_ms=t.avg_ms,
                    p50_ms=p50,
                    p95_ms=p95,
                    p99_ms=p99,
                )
            )
        return EndpointList(items=items)

    async def status_codes(
        self, session: AsyncSession, project: Project, q: StatsQuery
    ) -> StatusCodeList:
        """Requests per status code."""
        source = await self._source(session, project, q)
        counts: Counter[int] = Counter()
        for status, count, _total, _top in await source.facts(["status_code"]):
            counts[status] += int(count)
        grand = sum(counts.values())
        return StatusCodeList(
            items=[
                StatusCodeStats(status_code=code, requests=n, share=round(n / grand, 6))
                for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            ]
        )

    # -- dimensions ------------------------------------------------------------------------

    async def _dimensions(
        self, session: AsyncSession, project: Project, q: StatsQuery, names: Sequence[str]
    ) -> dict[str, Counter[str]]:
        pid = self._pid(project)
        result: dict[str, Counter[str]] = defaultdict(Counter)
        if q.filters.raw_only or q.filters.endpoint:
            for r in await self._raw_rows(session, pid, q):
                for dimension, value in (
                    ("browser", r.browser),
                    ("os", r.os),
                    ("device_type", r.device_type or "other"),
                    ("client_type", r.client_type or "other"),
                    ("library", r.library),
                    ("country", r.country),
                ):
                    if dimension == "library" and value is None:
                        continue
                    result[dimension][value or ""] += 1
            return result
        await _without_parallel_workers(session)
        stmt = queries.dimensions(pid, q.start, q.end, q.filters, names)
        for dimension, value, count in await session.execute(stmt):
            result[dimension][value] += int(count)
        return result

    async def user_agents(
        self, session: AsyncSession, project: Project, q: StatsQuery
    ) -> UserAgentStats:
        """Browsers, operating systems, device types, client types and HTTP libraries."""
        dims = await self._dimensions(
            session, project, q, ["browser", "os", "device_type", "client_type", "library"]
        )
        total = sum(dims["client_type"].values())
        return UserAgentStats(
            browsers=_named(dims["browser"], total),
            operating_systems=_named(dims["os"], total),
            device_types=_named(dims["device_type"], total),
            client_types=_named(dims["client_type"], total),
            libraries=_named(dims["library"], total),
        )

    async def countries(
        self, session: AsyncSession, project: Project, q: StatsQuery
    ) -> CountryList:
        """Requests per country with ISO alpha-2, numeric code and name."""
        counts = (await self._dimensions(session, project, q, ["country"]))["country"]
        total = sum(counts.values())
        items = []
        for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            numeric, name = country_info(code)
            items.append(
                CountryStats(
                    code=code or None,
                    numeric=numeric,
                    name=name,
                    requests=n,
                    share=round(n / total, 6) if total else 0.0,
                )
            )
        return CountryList(items=items)

    # -- bots ------------------------------------------------------------------------------

    async def bots(self, session: AsyncSession, project: Project, q: StatsQuery) -> BotList:
        """Bot cards (requests, last seen, status codes, top endpoints) and category totals."""
        pid = self._pid(project)
        f = q.filters
        rows: list[tuple[int, int, int, int, datetime]] = []
        if f.bot is False:
            rows = []
        elif f.raw_only and not (f.bot_name is not None and not _other_raw(f)):
            acc: dict[tuple[int, int, int], list[Any]] = {}
            for r in await self._raw_rows(session, pid, q):
                if r.bot_id is None:
                    continue
                key = (r.bot_id, r.endpoint_id, r.status_code)
                a = acc.setdefault(key, [0, r.timestamp])
                a[0] += 1
                a[1] = max(a[1], r.timestamp)
            rows = [(*k, a[0], a[1]) for k, a in acc.items()]
        else:
            await _without_parallel_workers(session)
            stmt = queries.bots(pid, q.start, q.end, f)
            rows = [
                (bot_id, endpoint_id, status, int(count), as_utc(last) if last else last)
                for bot_id, endpoint_id, status, count, last in await session.execute(stmt)
            ]
        cards: dict[int, dict[str, Any]] = {}
        endpoint_ids: set[int] = set()
        for bot_id, endpoint_id, status, count, last in rows:
            card = cards.setdefault(
                bot_id,
                {"requests": 0, "last_seen": None, "status": Counter(), "endpoints": Counter()},
            )
            card["requests"] += count
            if last is not None and (card["last_seen"] is None or last > card["last_seen"]):
                card["last_seen"] = last
            card["status"][status] += count
            card["endpoints"][endpoint_id] += count
            endpoint_ids.add(endpoint_id)
        bots_by_id = {row.id: row for row in await session.execute(queries.bot_names(list(cards)))}
        names = {
            row.id: (row.method, row.route)
            for row in await session.execute(queries.endpoints_by_id(pid, list(endpoint_ids)))
        }
        items: list[BotCard] = []
        categories: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for bot_id, card in sorted(cards.items(), key=lambda kv: -kv[1]["requests"]):
            bot = bots_by_id.get(bot_id)
            if bot is None:
                continue
            items.append(
                BotCard(
                    name=bot.name,
                    category=bot.category,
                    url=bot.url,
                    requests=card["requests"],
                    last_seen=card["last_seen"],
                    status_codes=[
                        StatusCount(status_code=s, requests=n)
                        for s, n in card["status"].most_common()
                    ],
                    top_endpoints=[
                        EndpointCount(
                            method=names.get(e, ("?", "?"))[0],
                            route=names.get(e, ("?", "?"))[1],
                            requests=n,
                        )
                        for e, n in card["endpoints"].most_common(5)
                    ],
                )
            )
            categories[bot.category][0] += card["requests"]
            categories[bot.category][1] += 1
        return BotList(
            items=items,
            categories=[
                BotCategoryTotal(category=c, requests=v[0], bots=v[1])
                for c, v in sorted(categories.items(), key=lambda kv: -kv[1][0])
            ],
        )

    # -- events ----------------------------------------------------------------------------

    async def events(
        self,
        session: AsyncSession,
        project: Project,
        q: StatsQuery,
        *,
        cursor: str | None = None,
        limit: int = PAGE_DEFAULT,
    ) -> EventList:
        """First-seen endpoints and bots in the range, newest first."""
        pid = self._pid(project)
        limit = max(1, min(limit, PAGE_MAX))
        after: tuple[datetime, str, int] | None = None
        if cursor:
            at, kind, ident = decode_cursor(cursor, 3)
            if kind not in ("endpoint", "bot"):
                raise UnprocessableEntity("cursor: not a cursor this API returned")
            after = (_cursor_time(at), kind, _cursor_int(ident))

        def before(kind: str) -> Callable[[Any, Any], Any] | None:
            if after is None:
                return None
            at, c_kind, ident = after
            if kind < c_kind:
                return lambda col, _id: col <= at
            if kind > c_kind:
                return lambda col, _id: col < at
            return lambda col, id_col: sa.or_(col < at, sa.and_(col == at, id_col < ident))

        # Order: time desc, then kind desc ("endpoint" > "bot"), then id desc.
        found: list[tuple[datetime, str, int, Event]] = []
        stmt = queries.first_seen_endpoints(pid, q.start, q.end, before("endpoint"), limit + 1)
        for row in await session.execute(stmt):
            at = as_utc(row.first_seen_at)
            found.append(
                (
                    at,
                    "endpoint",
                    row.id,
                    Event(kind=EventKind.endpoint, at=at, method=row.method, route=row.route),
                )
            )
        stmt = queries.first_seen_bots(pid, q.start, q.end, before("bot"), limit + 1)
        for row in await session.execute(stmt):
            at = as_utc(row.first_seen_at)
            found.append(
                (
                    at,
                    "bot",
                    row.bot_id,
                    Event(kind=EventKind.bot, at=at, bot=row.name, category=row.category),
                )
            )
        found.sort(key=lambda e: (e[0], e[1], e[2]), reverse=True)
        page = found[:limit]
        next_cursor = None
        if len(found) > limit:
            last = page[-1]
            next_cursor = encode_cursor([last[0], last[1], last[2]])
        return EventList(items=[e[3] for e in page], next_cursor=next_cursor)

    # -- request explorer ------------------------------------------------------------------

    async def requests(
        self,
        session: AsyncSession,
        project: Project,
        q: StatsQuery,
        *,
        sort: SortField = SortField.time,
        order: SortOrder = SortOrder.desc,
        cursor: str | None = None,
        limit: int = PAGE_DEFAULT,
    ) -> RequestList:
        """One page of raw requests in the chosen order, with a cursor for the next."""
        pid = self._pid(project)
        limit = max(1, min(limit, PAGE_MAX))
        after: tuple[Any, int] | None = None
        if cursor:
            value, ident = decode_cursor(cursor, 2)
            if sort is SortField.time:
                value = _cursor_time(value)
            elif sort is SortField.status:
                value = _cursor_int(value)
            elif not isinstance(value, int | float) or isinstance(value, bool):
                raise UnprocessableEntity("cursor: not a cursor this API returned")
            after = (value, _cursor_int(ident))
        stmt = queries.request_page(
            pid, q.start, q.end, q.filters, sort=sort, order=order, after=after, limit=limit + 1
        )
        rows = list(await session.execute(stmt))
        items = [_request_item(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            key = {
                SortField.time: as_utc(last.timestamp),
                SortField.duration: last.duration_ms,
                SortField.status: last.status_code,
            }[sort]
            next_cursor = encode_cursor([key, last.id])
        return RequestList(items=items, next_cursor=next_cursor)

    async def request(
        self, session: AsyncSession, project: Project, request_id: int
    ) -> RequestDetail:
        """One request with its parsed user agent, query parameters, bot and country."""
        row = (await session.execute(queries.request_by_id(self._pid(project), request_id))).first()
        if row is None:
            raise NotFound("request not found")
        return _request_detail(row)

    async def export_pages(
        self, session: AsyncSession, project: Project, q: StatsQuery, *, page: int = 1000
    ) -> AsyncIterator[list[RequestDetail]]:
        """Every matching request, newest first, a page at a time (keyset, bounded memory)."""
        pid = self._pid(project)
        after: tuple[Any, int] | None = None
        while True:
            stmt = queries.request_page(
                pid,
                q.start,
                q.end,
                q.filters,
                sort=SortField.time,
                order=SortOrder.desc,
                after=after,
                limit=page,
            )
            rows = list(await session.execute(stmt))
            if not rows:
                return
            yield [_request_detail(row) for row in rows]
            if len(rows) < page:
                return
            after = (rows[-1].timestamp, rows[-1].id)

    # -- compaction and retention (run by tasks) -------------------------------------------

    async def compact_window(
        self,
        session: AsyncSession,
        move: queries.Move,
        project_id: int,
        before: datetime,
        coarsen: Callable[[datetime], datetime],
        day_coarsen: Callable[[datetime], datetime],
    ) -> int:
        """Move the oldest day (at most) of `move.source` rows older than `before` into
        `move.target`, re-bucketed by `coarsen`; returns how many rows moved."""
        oldest = (await session.execute(queries.oldest_bucket(move, project_id, before))).scalar()
        if oldest is None:
            return 0
        start = as_utc(oldest)
        end = min(before, start + timedelta(days=1))
        taken = list(await session.execute(queries.take_rows(move, project_id, start, end)))
        for copy in move.emptied:
            await session.execute(queries.drop_window(copy, project_id, start, end))
        merged: dict[tuple[Any, ...], list[Any]] = {}
        width = len(move.key)
        for row in taken:
            key = (coarsen(as_utc(row[0])), *row[1 : 1 + width])
            values = list(row[1 + width :])
            current = merged.get(key)
            if current is None:
                merged[key] = values
                continue
            for i in range(len(move.sums)):
                current[i] += values[i]
            for i in range(len(move.sums), len(values)):
                current[i] = max(current[i], values[i])
        dialect = dialect_of(session)
        await _merge(session, dialect, project_id, move.target, move, move.key, merged)
        for target, subkey, per_day in move.also:
            positions = [move.key.index(name) for name in subkey]
            to_bucket = day_coarsen if per_day else coarsen
            reduced: dict[tuple[Any, ...], list[Any]] = {}
            for row in taken:
                small = (to_bucket(as_utc(row[0])), *(row[1 + i] for i in positions))
                values = list(row[1 + width :])
                current = reduced.get(small)
                if current is None:
                    reduced[small] = values
                    continue
                for i in range(len(move.sums)):
                    current[i] += values[i]
                for i in range(len(move.sums), len(values)):
                    current[i] = max(current[i], values[i])
            await _merge(session, dialect, project_id, target, move, subkey, reduced)
        return len(taken)

    async def drop_hour_copies(
        self, session: AsyncSession, project_id: int, before: datetime
    ) -> int:
        result = await session.execute(queries.drop_hour_copies(project_id, before))
        return int(getattr(result, "rowcount", 0) or 0)

    async def prune_raw(
        self, session: AsyncSession, project_id: int, before: datetime, limit: int = 10_000
    ) -> int:
        """Delete up to `limit` raw rows older than `before`; rollups are kept."""
        result = await session.execute(queries.prune_raw(project_id, before, limit))
        return int(getattr(result, "rowcount", 0) or 0)


async def _merge(
    session: AsyncSession,
    dialect: str,
    project_id: int,
    target: sa.Table,
    move: queries.Move,
    key: Sequence[str],
    rows: dict[tuple[Any, ...], list[Any]],
) -> None:
    if not rows:
        return
    names = (*key, *move.sums, *move.maxes)
    payload = [
        {
            "project_id": project_id,
            "bucket": k[0],
            **dict(zip(names, [*k[1:], *values], strict=True)),
        }
        for k, values in sorted(rows.items())
    ]
    statement = queries.merge_rows(target, key, move.sums, move.maxes, dialect)
    await session.execute(statement, payload)


_SERIAL = "analytics_serial"
# Both for this transaction only (the third argument of set_config), in one round trip.
_ROLLUP_READ_SETTINGS = sa.text(
    "SELECT set_config('max_parallel_workers_per_gather', '0', true),"
    " set_config('plan_cache_mode', 'force_custom_plan', true)"
)


async def _without_parallel_workers(session: AsyncSession) -> None:
    """PostgreSQL: plan this transaction's rollup reads for their actual range, in one process.

    Rollup reads touch thousands of rows, not millions; starting parallel workers for them cost
    more than the scan (a 30-day status-code breakdown took 19 ms with two workers, most of it
    worker start-up, and ≈ 5 ms without). And the driver prepares every statement: after five
    runs PostgreSQL may switch to a generic plan that ignores the time range, which took the
    30-day endpoints table from 26-30 ms to 48-50 ms per call; custom plans keep the range in
    view. Raw-row reads, which do scan millions, run in sessions that never call this.
    """
    if dialect_of(session) != "postgresql":
        return
    done = session.info.get(_SERIAL)
    if done is not None and done is session.get_transaction():
        return  # SET LOCAL lasts until this transaction ends
    await session.execute(_ROLLUP_READ_SETTINGS)
    session.info[_SERIAL] = session.get_transaction()


def _other_raw(f: Filters) -> bool:
    return any(v is not None for v in (f.path, f.ip, f.user_agent, f.country, f.consumer, f.q))


def _apdex(bins: Counter[int], t_ms: int) -> float | None:
    total = sum(bins.values())
    if not total:
        return None
    satisfied = tolerating = 0
    for index, count in bins.items():
        value = bin_value(index)
        if value <= t_ms:
            satisfied += count
        elif value <= 4 * t_ms:
            tolerating += count
    return round((satisfied + tolerating / 2) / total, 4)


def _whole_hours(offset: timedelta | None) -> bool:
    return offset is not None and offset % timedelta(hours=1) == timedelta(0)


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def local_midnight(moment: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of the project-local midnight starting `moment`'s local day."""
    return _floor_local(moment, Interval.day, zone).astimezone(UTC)


def _floor_local(moment: datetime, interval: Interval, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    if interval is Interval.minute:
        return local.replace(second=0, microsecond=0)
    if interval is Interval.hour:
        return local.replace(minute=0, second=0, microsecond=0)
    return datetime(local.year, local.month, local.day, tzinfo=zone)


def _periods(start: datetime, end: datetime, interval: Interval, zone: ZoneInfo) -> list[datetime]:
    """Period starts (local, aware) from the one holding `start` up to `end` (exclusive)."""
    current = _floor_local(start, interval, zone)
    out: list[datetime] = []
    while current < end:
        out.append(current)
        if interval is Interval.day:
            naive = current.replace(tzinfo=None) + timedelta(days=1)
            current = naive.replace(tzinfo=zone)
        else:
            current = (current.astimezone(UTC) + STEP[interval]).astimezone(zone)
    return out


def _request_item(row: Any) -> RequestItem:
    return RequestItem(
        id=row.id,
        event_id=str(row.event_id),
        timestamp=as_utc(row.timestamp),
        method=row.method,
        path=row.path,
        route=row.route,
        status_code=row.status_code,
        duration_ms=row.duration_ms,
        ip=row.ip,
        country=row.country,
        bot=row.bot_name,
        browser=row.ua_browser,
        client_type=row.ua_client_type,
        consumer=row.consumer,
        user_agent_string=row.ua_raw,
        query_params=_query_params(row.query_params),
    )


def _query_params(stored: str | None) -> dict[str, list[str]]:
    if not stored:
        return {}
    try:
        decoded = orjson.loads(stored)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(decoded, dict):
        return {}
    return {str(k): [str(x) for x in v] for k, v in decoded.items()}


def _request_detail(row: Any) -> RequestDetail:
    item = _request_item(row)
    agent = None
    if row.ua_raw is not None:
        agent = ParsedUserAgent(
            raw=row.ua_raw,
            browser=row.ua_browser,
            browser_version=row.ua_browser_version,
            os=row.ua_os,
            os_version=row.ua_os_version,
            device=row.ua_device,
            device_type=row.ua_device_type or "other",
            client_type=row.ua_client_type or "other",
            library=row.ua_library,
        )
    bot = (
        BotInfo(name=row.bot_name, category=row.bot_category, url=row.bot_url)
        if row.bot_name
        else None
    )
    country = None
    if row.country:
        numeric, name = country_info(row.country)
        country = Country(code=row.country, numeric=numeric, name=name)
    return RequestDetail(
        **item.model_dump(),
        url=row.url,
        host=row.host,
        received_at=as_utc(row.received_at),
        request_size=row.request_size,
        response_size=row.response_size,
        consumer_name=row.consumer_name,
        exception=row.exception,
        user_agent=agent,
        bot_info=bot,
        country_info=country,
    )


analytics_service = AnalyticsService()
