"""SQL statement builders for the analytics read side. They build; they run nothing.

Rollups live at three levels (minute, hour, project-local day); the compaction task moves rows
from one level to the next, so every request is counted in exactly one level and a range reads
the union of the three, filtered by bucket. The hour and day fact levels have copies summed over
endpoints, kept with them, for reads that need no endpoint split. Each builder takes
`project_id` (TEN-02).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from whowhywhen.analytics.schemas import Filters, SortField, SortOrder
from whowhywhen.kit.sql import insert
from whowhywhen.models import (
    Bot,
    BotRollupDay,
    BotRollupHour,
    DimensionRollupDay,
    DimensionRollupHour,
    DimensionTotalDay,
    Endpoint,
    LatencyHistogramDay,
    LatencyHistogramEndpointDay,
    LatencyHistogramHour,
    LatencyHistogramMinute,
    LatencyHistogramProjectDay,
    LatencyHistogramProjectHour,
    Project,
    ProjectBot,
    RequestLog,
    RollupDay,
    RollupHour,
    RollupMinute,
    RollupProjectDay,
    RollupProjectHour,
    UniqueIpDay,
    UniqueIpHour,
    UserAgent,
)
from whowhywhen.models.base import UTCDateTime


class _HourFloor(FunctionElement[datetime]):
    """A UTC timestamp floored to its UTC hour."""

    type = UTCDateTime()
    inherit_cache = True
    name = "hour_floor"


@compiles(_HourFloor)
def _hour_floor_sqlite(element: _HourFloor, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('%Y-%m-%d %H:00:00.000000', {compiler.process(element.clauses, **kw)})"


@compiles(_HourFloor, "postgresql")
def _hour_floor_pg(element: _HourFloor, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date_trunc('hour', {compiler.process(element.clauses, **kw)}, 'UTC')"


def _column(t: sa.Table, name: str, hour_buckets: bool) -> Any:
    """A column of a rollup table; minute buckets floored to the hour with `hour_buckets`."""
    if hour_buckets and name == "bucket" and t.name.endswith("_minute"):
        return _HourFloor(t.c.bucket).label("bucket")
    return t.c[name]


def _t(model: Any) -> sa.Table:
    table: sa.Table = model.__table__
    return table


FACTS = [_t(RollupMinute), _t(RollupHour), _t(RollupDay)]
PROJECT_FACTS = [_t(RollupProjectHour), _t(RollupProjectDay)]
HISTOGRAMS = [_t(LatencyHistogramMinute), _t(LatencyHistogramHour), _t(LatencyHistogramDay)]
PROJECT_HISTOGRAMS = [_t(LatencyHistogramProjectHour), _t(LatencyHistogramProjectDay)]
ENDPOINT_HISTOGRAM_DAY = _t(LatencyHistogramEndpointDay)
DIMENSIONS = [_t(DimensionRollupHour), _t(DimensionRollupDay)]
DIMENSION_TOTALS_DAY = _t(DimensionTotalDay)
BOTS = [_t(BotRollupHour), _t(BotRollupDay)]
UNIQUE_IPS = [_t(UniqueIpHour), _t(UniqueIpDay)]
LOGS = _t(RequestLog)
ENDPOINTS = _t(Endpoint)
AGENTS = _t(UserAgent)
BOT_NAMES = _t(Bot)
PROJECT_BOTS = _t(ProjectBot)


def endpoint_ids(project_id: int, filters: Filters) -> sa.Select[Any]:
    stmt = sa.select(ENDPOINTS.c.id).where(ENDPOINTS.c.project_id == project_id)
    if filters.method is not None:
        stmt = stmt.where(ENDPOINTS.c.method == filters.method)
    if filters.route is not None:
        stmt = stmt.where(ENDPOINTS.c.route == filters.route)
    return stmt


def _status_conditions(column: Any, filters: Filters) -> list[Any]:
    conditions = []
    if filters.status is not None:
        conditions.append(column == filters.status)
    if filters.status_class is not None:
        low = filters.status_class * 100
        conditions.append(sa.and_(column >= low, column < low + 100))
    return conditions


def _rollup_where(
    table: sa.Table, project_id: int, start: datetime, end: datetime, filters: Filters
) -> list[Any]:
    c = table.c
    conditions = [c.project_id == project_id, c.bucket >= start, c.bucket < end]
    if filters.endpoint and "endpoint_id" in c:
        conditions.append(c.endpoint_id.in_(endpoint_ids(project_id, filters)))
    if "status_code" in c:
        conditions += _status_conditions(c.status_code, filters)
    if filters.bot is not None and "is_bot" in c:
        conditions.append(c.is_bot == filters.bot)
    return conditions


def _union(
    tables: Sequence[sa.Table],
    columns: Sequence[str],
    where: Any,
    hour_buckets: bool = False,
) -> sa.Subquery:
    parts = [
        sa.select(*(_column(t, name, hour_buckets) for name in columns)).where(*where(t))
        for t in tables
    ]
    return sa.union_all(*parts).subquery("u")


def _fact_levels(filters: Filters, group: Sequence[str]) -> Sequence[sa.Table]:
    """The minute, hour and day fact tables a read takes: without an endpoint split (no method
    or route filter, not grouped by endpoint) the hours and days summed over endpoints, the same
    requests in the same buckets in a fraction of the rows."""
    if filters.endpoint or not set(group) <= {"bucket", "status_code", "is_bot"}:
        return FACTS
    return [FACTS[0], *PROJECT_FACTS]


def _facts_union(
    project_id: int,
    start: datetime,
    end: datetime,
    filters: Filters,
    group: Sequence[str],
    hour_buckets: bool = False,
) -> sa.Subquery:
    """The fact rows of the range from the three levels, ungrouped."""
    return _union(
        _fact_levels(filters, group),
        [*group, "count", "duration_sum", "duration_max"],
        lambda t: _rollup_where(t, project_id, start, end, filters),
        hour_buckets,
    )


def facts(
    project_id: int,
    start: datetime,
    end: datetime,
    filters: Filters,
    group: Sequence[str],
    *,
    hour_buckets: bool = False,
) -> sa.Select[Any]:
    """(group…, count, duration_sum, duration_max) summed over the three rollup levels.

    With `hour_buckets`, minute buckets are floored to the UTC hour before grouping (rows are
    still selected by their minute)."""
    u = _facts_union(project_id, start, end, filters, group, hour_buckets)
    keys = [u.c[name] for name in group]
    return sa.select(
        *keys, sa.func.sum(u.c.count), sa.func.sum(u.c.duration_sum), sa.func.max(u.c.duration_max)
    ).group_by(*keys)


def histogram(
    project_id: int,
    start: datetime,
    end: datetime,
    filters: Filters,
    group: Sequence[str],
    *,
    coarse: bool = False,
    hour_floor: datetime | None = None,
    hour_buckets: bool = False,
) -> sa.Select[Any]:
    """(group…, bin, count) for the range (`hour_buckets` as in `facts`); the rows as in
    `_histogram_union`."""
    u = _histogram_union(
        project_id,
        start,
        end,
        filters,
        group,
        coarse=coarse,
        hour_floor=hour_floor,
        hour_buckets=hour_buckets,
    )
    keys = [u.c[name] for name in [*group, "bin"]]
    return sa.select(*keys, sa.func.sum(u.c.count)).group_by(*keys)


def _histogram_union(
    project_id: int,
    start: datetime,
    end: datetime,
    filters: Filters,
    group: Sequence[str],
    *,
    coarse: bool,
    hour_floor: datetime | None,
    hour_buckets: bool = False,
) -> sa.Subquery:
    """(group…, bin, count) rows of the range, ungrouped.

    Minute rows not yet compacted always count. Without filters and grouped at most by bucket,
    the rest comes from the per-project histograms: with `coarse`, the day copies only; else
    the hour copies from `hour_floor` (the oldest hour kept, a local midnight) and the day
    copies before it. Grouped by endpoint with `coarse` and at most endpoint filters, from the
    per-endpoint day copies. Otherwise from the full histograms (minute, hour, day levels, each
    request in exactly one).
    """
    columns = [*group, "bin", "count"]
    minute = HISTOGRAMS[0]

    def part(t: sa.Table, lo: datetime, hi: datetime) -> sa.Select[Any]:
        return sa.select(*(_column(t, name, hour_buckets) for name in columns)).where(
            *_rollup_where(t, project_id, lo, hi, filters)
        )

    if not filters.active and set(group) <= {"bucket"}:
        hours, days = PROJECT_HISTOGRAMS
        if coarse or hour_floor is None:
            parts = [part(minute, start, end), part(days, start, end)]
        else:
            floor = min(max(start, hour_floor), end)
            parts = [part(minute, start, end), part(hours, floor, end), part(days, start, floor)]
        u = sa.union_all(*parts).subquery("u")
    elif (
        coarse
        and list(group) == ["endpoint_id"]
        and not filters.raw_only
        and filters.status is None
        and filters.status_class is None
        and filters.bot is None
    ):
        parts = [part(minute, start, end), part(ENDPOINT_HISTOGRAM_DAY, start, end)]
        u = sa.union_all(*parts).subquery("u")
    else:
        u = _union(
            HISTOGRAMS,
            columns,
            lambda t: _rollup_where(t, project_id, start, end, filters),
            hour_buckets,
        )
    return u


def dimensions(
    project_id: int, start: datetime, end: datetime, filters: Filters, names: Sequence[str]
) -> sa.Select[Any]:
    """(dimension, value, count) from the dimension rollups, for the named dimensions.

    Without status or bot filters, days come from the day totals (the same counts, summed over
    status codes and bot-or-not when the compaction task wrote them)."""
    by_status = filters.status is not None or filters.status_class is not None
    unsplit = not by_status and filters.bot is None and not filters.endpoint
    u = _union(
        [DIMENSIONS[0], DIMENSION_TOTALS_DAY] if unsplit else DIMENSIONS,
        ["dimension", "value", "count"],
        lambda t: [
            *_rollup_where(t, project_id, start, end, filters),
            t.c.dimension.in_(list(names)),
        ],
    )
    return sa.select(u.c.dimension, u.c.value, sa.func.sum(u.c.count)).group_by(
        u.c.dimension, u.c.value
    )


def bots(project_id: int, start: datetime, end: datetime, filters: Filters) -> sa.Select[Any]:
    """(bot_id, endpoint_id, status_code, count, last_seen) from the bot rollups."""

    def where(t: sa.Table) -> list[Any]:
        conditions = _rollup_where(t, project_id, start, end, filters)
        if filters.bot_name is not None:
            conditions.append(
                t.c.bot_id.in_(
                    sa.select(BOT_NAMES.c.id).where(BOT_NAMES.c.name == filters.bot_name)
                )
            )
        return conditions

    u = _union(BOTS, ["bot_id", "endpoint_id", "status_code", "count", "last_seen"], where)
    keys = [u.c.bot_id, u.c.endpoint_id, u.c.status_code]
    return sa.select(*keys, sa.func.sum(u.c.count), sa.func.max(u.c.last_seen)).group_by(*keys)


def unique_ip_registers(project_id: int, start: datetime, end: datetime) -> sa.Select[Any]:
    u = _union(
        UNIQUE_IPS,
        ["slot", "value"],
        lambda t: [t.c.project_id == project_id, t.c.bucket >= start, t.c.bucket < end],
    )
    return sa.select(u.c.slot, sa.func.max(u.c.value)).group_by(u.c.slot)


def bot_names(ids: Sequence[int]) -> sa.Select[Any]:
    return sa.select(BOT_NAMES.c.id, BOT_NAMES.c.name, BOT_NAMES.c.category, BOT_NAMES.c.url).where(
        BOT_NAMES.c.id.in_(ids)
    )


def endpoints_by_id(project_id: int, ids: Sequence[int]) -> sa.Select[Any]:
    return sa.select(ENDPOINTS.c.id, ENDPOINTS.c.method, ENDPOINTS.c.route).where(
        ENDPOINTS.c.project_id == project_id, ENDPOINTS.c.id.in_(ids)
    )


# -- raw rows --------------------------------------------------------------------------------


def _like_escape(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def raw_where(project_id: int, start: datetime, end: datetime, filters: Filters) -> list[Any]:
    """Conditions on `request_logs` (joined to `user_agents` as AGENTS when a filter needs it)."""
    c = LOGS.c
    conditions: list[Any] = [c.project_id == project_id, c.timestamp >= start, c.timestamp < end]
    if filters.method is not None:
        conditions.append(c.method == filters.method)
    if filters.route is not None:
        conditions.append(c.route == filters.route)
    if filters.path is not None:
        conditions.append(c.path == filters.path)
    conditions += _status_conditions(c.status_code, filters)
    if filters.ip is not None:
        conditions.append(c.ip == filters.ip)
    if filters.country is not None:
        conditions.append(c.country == filters.country)
    if filters.consumer is not None:
        conditions.append(c.consumer == filters.consumer)
    if filters.bot is True:
        conditions.append(c.bot_id.is_not(None))
    elif filters.bot is False:
        conditions.append(c.bot_id.is_(None))
    if filters.bot_name is not None:
        conditions.append(
            c.bot_id.in_(sa.select(BOT_NAMES.c.id).where(BOT_NAMES.c.name == filters.bot_name))
        )
    if filters.user_agent is not None:
        conditions.append(
            c.user_agent_id.in_(
                sa.select(AGENTS.c.id).where(
                    AGENTS.c.raw.ilike(_like_escape(filters.user_agent), escape="\\")
                )
            )
        )
    if filters.q is not None:
        pattern = _like_escape(filters.q)
        conditions.append(
            sa.or_(
                c.url.ilike(pattern, escape="\\"),
                c.route.ilike(pattern, escape="\\"),
                c.ip.ilike(pattern, escape="\\"),
                c.consumer.ilike(pattern, escape="\\"),
                c.exception.ilike(pattern, escape="\\"),
                c.user_agent_id.in_(
                    sa.select(AGENTS.c.id).where(AGENTS.c.raw.ilike(pattern, escape="\\"))
                ),
            )
        )
    return conditions


def raw_facts(project_id: int, start: datetime, end: datetime, filters: Filters) -> sa.Select[Any]:
    """The few columns raw-row aggregates need, joined to the parsed user agent."""
    c = LOGS.c
    return (
        sa.select(
            c.timestamp,
            c.endpoint_id,
            c.status_code,
            c.duration_ms,
            c.bot_id,
            c.ip,
            c.country,
            c.consumer,
            AGENTS.c.browser,
            AGENTS.c.os,
            AGENTS.c.device_type,
            AGENTS.c.client_type,
            AGENTS.c.library,
        )
        .select_from(LOGS.outerjoin(AGENTS, AGENTS.c.id == c.user_agent_id))
        .where(*raw_where(project_id, start, end, filters))
    )


_SORT_COLUMNS = {
    SortField.time: LOGS.c.timestamp,
    SortField.duration: LOGS.c.duration_ms,
    SortField.status: LOGS.c.status_code,
}


def request_page(
    project_id: int,
    start: datetime,
    end: datetime,
    filters: Filters,
    *,
    sort: SortField,
    order: SortOrder,
    after: tuple[Any, int] | None,
    limit: int,
) -> sa.Select[Any]:
    """A keyset page of the explorer: ordered by (sort column, id), `after` the cursor's key."""
    c = LOGS.c
    column = _SORT_COLUMNS[sort]
    conditions = raw_where(project_id, start, end, filters)
    if after is not None:
        value, row_id = after
        if order is SortOrder.desc:
            conditions.append(sa.or_(column < value, sa.and_(column == value, c.id < row_id)))
        else:
            conditions.append(sa.or_(column > value, sa.and_(column == value, c.id > row_id)))
    ordering = (
        [column.desc(), c.id.desc()] if order is SortOrder.desc else [column.asc(), c.id.asc()]
    )
    return _request_select().where(*conditions).order_by(*ordering).limit(limit)


def _request_select() -> sa.Select[Any]:
    c = LOGS.c
    return sa.select(
        LOGS,
        AGENTS.c.raw.label("ua_raw"),
        AGENTS.c.browser.label("ua_browser"),
        AGENTS.c.browser_version.label("ua_browser_version"),
        AGENTS.c.os.label("ua_os"),
        AGENTS.c.os_version.label("ua_os_version"),
        AGENTS.c.device.label("ua_device"),
        AGENTS.c.device_type.label("ua_device_type"),
        AGENTS.c.client_type.label("ua_client_type"),
        AGENTS.c.library.label("ua_library"),
        BOT_NAMES.c.name.label("bot_name"),
        BOT_NAMES.c.category.label("bot_category"),
        BOT_NAMES.c.url.label("bot_url"),
    ).select_from(
        LOGS.outerjoin(AGENTS, AGENTS.c.id == c.user_agent_id).outerjoin(
            BOT_NAMES, BOT_NAMES.c.id == c.bot_id
        )
    )


def request_by_id(project_id: int, request_id: int) -> sa.Select[Any]:
    return _request_select().where(LOGS.c.project_id == project_id, LOGS.c.id == request_id)


def first_seen_endpoints(
    project_id: int, start: datetime, end: datetime, before: Any, limit: int
) -> sa.Select[Any]:
    c = ENDPOINTS.c
    conditions = [c.project_id == project_id, c.first_seen_at >= start, c.first_seen_at < end]
    if before is not None:
        conditions.append(before(c.first_seen_at, c.id))
    return (
        sa.select(c.id, c.first_seen_at, c.method, c.route)
        .where(*conditions)
        .order_by(c.first_seen_at.desc(), c.id.desc())
        .limit(limit)
    )


def first_seen_bots(
    project_id: int, start: datetime, end: datetime, before: Any, limit: int
) -> sa.Select[Any]:
    pb = PROJECT_BOTS.c
    conditions = [pb.project_id == project_id, pb.first_seen_at >= start, pb.first_seen_at < end]
    if before is not None:
        conditions.append(before(pb.first_seen_at, pb.bot_id))
    return (
        sa.select(pb.bot_id, pb.first_seen_at, BOT_NAMES.c.name, BOT_NAMES.c.category)
        .select_from(PROJECT_BOTS.join(BOT_NAMES, BOT_NAMES.c.id == pb.bot_id))
        .where(*conditions)
        .order_by(pb.first_seen_at.desc(), pb.bot_id.desc())
        .limit(limit)
    )


# -- compaction and retention ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Move:
    """Rows of `source` move into the coarser `target`: summed or maxed per key and bucket."""

    name: str
    source: sa.Table
    target: sa.Table
    key: tuple[str, ...]
    sums: tuple[str, ...] = ()
    maxes: tuple[str, ...] = ()
    also: tuple[tuple[sa.Table, tuple[str, ...], bool], ...] = ()
    """Copies: (table, subset of `key`, per local day?); moved rows are summed into each too."""
    emptied: tuple[sa.Table, ...] = ()
    """Copies of `source` summed over some of its key: their rows of each moved window go in
    the same transaction, so such a copy always holds what its level holds."""
    early: bool = False
    """Compact after a day rather than ROLLUP_HOUR_DAYS (only range edges need the hours)."""

    @property
    def columns(self) -> tuple[str, ...]:
        return ("bucket", *self.key, *self.sums, *self.maxes)


_FACT_KEY = ("endpoint_id", "status_code", "is_bot")
_PROJECT_FACT_KEY = ("status_code", "is_bot")
_DIM_KEY = ("dimension", "value", "status_code", "is_bot")
_BOT_KEY = ("bot_id", "endpoint_id", "status_code")
TO_HOUR = (
    Move(
        "facts",
        FACTS[0],
        FACTS[1],
        _FACT_KEY,
        ("count", "duration_sum"),
        ("duration_max",),
        also=((PROJECT_FACTS[0], _PROJECT_FACT_KEY, False),),
    ),
    Move(
        "histograms",
        HISTOGRAMS[0],
        HISTOGRAMS[1],
        (*_FACT_KEY, "bin"),
        ("count",),
        also=(
            (PROJECT_HISTOGRAMS[0], ("bin",), False),
            (PROJECT_HISTOGRAMS[1], ("bin",), True),
            (ENDPOINT_HISTOGRAM_DAY, ("endpoint_id", "bin"), True),
        ),
    ),
)
TO_DAY = (
    Move(
        "facts",
        FACTS[1],
        FACTS[2],
        _FACT_KEY,
        ("count", "duration_sum"),
        ("duration_max",),
        also=((PROJECT_FACTS[1], _PROJECT_FACT_KEY, True),),
        emptied=(PROJECT_FACTS[0],),
    ),
    Move("histograms", HISTOGRAMS[1], HISTOGRAMS[2], (*_FACT_KEY, "bin"), ("count",)),
    Move(
        "dimensions",
        DIMENSIONS[0],
        DIMENSIONS[1],
        _DIM_KEY,
        ("count", "duration_sum"),
        also=((DIMENSION_TOTALS_DAY, ("dimension", "value"), True),),
        early=True,
    ),
    Move("bots", BOTS[0], BOTS[1], _BOT_KEY, ("count",), ("last_seen",), early=True),
    Move("unique_ips", UNIQUE_IPS[0], UNIQUE_IPS[1], ("slot",), (), ("value",), early=True),
)


def drop_hour_copies(project_id: int, before: datetime) -> Any:
    """The per-project hour histograms older than the hours kept (the day copies cover them)."""
    t = PROJECT_HISTOGRAMS[0]
    return sa.delete(t).where(t.c.project_id == project_id, t.c.bucket < before)


def oldest_per_project(table: sa.Table) -> sa.Select[Any]:
    """(project_id, oldest bucket) of every project with rows in a rollup table."""
    return sa.select(table.c.project_id, sa.func.min(table.c.bucket)).group_by(table.c.project_id)


def oldest_bucket(move: Move, project_id: int, before: datetime) -> sa.Select[Any]:
    t = move.source
    return sa.select(sa.func.min(t.c.bucket)).where(
        t.c.project_id == project_id, t.c.bucket < before
    )


def drop_window(table: sa.Table, project_id: int, start: datetime, end: datetime) -> Any:
    c = table.c
    return sa.delete(table).where(c.project_id == project_id, c.bucket >= start, c.bucket < end)


def take_rows(move: Move, project_id: int, start: datetime, end: datetime) -> Any:
    """DELETE … RETURNING: the rows handed back are exactly the rows removed (no race)."""
    t = move.source
    return drop_window(t, project_id, start, end).returning(*(t.c[name] for name in move.columns))


def merge_rows(
    target: sa.Table,
    key: Sequence[str],
    sums: Sequence[str],
    maxes: Sequence[str],
    dialect: str,
) -> Any:
    """An upsert adding sums and keeping maxes; execute with a list of row dicts."""
    stmt = insert(target, dialect)
    greatest = sa.func.greatest if dialect == "postgresql" else sa.func.max
    update: dict[str, Any] = {name: target.c[name] + stmt.excluded[name] for name in sums}
    update.update({name: greatest(target.c[name], stmt.excluded[name]) for name in maxes})
    return stmt.on_conflict_do_update(index_elements=["project_id", "bucket", *key], set_=update)


def prune_raw(project_id: int, before: datetime, limit: int) -> Any:
    """Delete up to `limit` of the project's oldest raw rows older than `before`."""
    c = LOGS.c
    oldest = (
        sa.select(c.id)
        .where(c.project_id == project_id, c.timestamp < before)
        .order_by(c.timestamp)
        .limit(limit)
    )
    return sa.delete(LOGS).where(c.id.in_(oldest.scalar_subquery()))


def project_settings() -> sa.Select[Any]:
    p = _t(Project)
    return sa.select(p.c.id, p.c.timezone, p.c.retention_days).order_by(p.c.id)


# -- one statement per route -----------------------------------------------------------------


def _int(value: int) -> Any:
    return sa.literal_column(str(value), sa.Integer)


def _zero() -> Any:
    return sa.cast(sa.literal_column("0"), sa.Float)


def summary(
    project_id: int,
    periods: Sequence[tuple[datetime, datetime]],
    filters: Filters,
    *,
    coarse: bool,
    hour_floor: datetime | None,
    unique_ips: bool,
) -> sa.CompoundSelect[Any]:
    """Everything a summary reads, for each period, in one statement.

    Rows are (kind, period, a, b, n, s, m): kind 0 facts (a status code, b is-bot, n count,
    s duration sum, m duration max), kind 1 histogram bins (a bin, n count), kind 2 unique-IP
    registers (a slot, n rank).
    """
    parts: list[sa.Select[Any]] = []
    for i, (start, end) in enumerate(periods):
        f = facts(project_id, start, end, filters, ["status_code", "is_bot"]).subquery(f"f{i}")
        status, is_bot, count, total, top = list(f.c)
        parts.append(
            sa.select(
                _int(0).label("kind"),
                _int(i).label("period"),
                status.label("a"),
                sa.cast(is_bot, sa.Integer).label("b"),
                count.label("n"),
                total.label("s"),
                top.label("m"),
            )
        )
        h = histogram(
            project_id, start, end, filters, [], coarse=coarse, hour_floor=hour_floor
        ).subquery(f"h{i}")
        bin_index, count = list(h.c)
        parts.append(sa.select(_int(1), _int(i), bin_index, _int(0), count, _zero(), _zero()))
        if unique_ips:
            r = unique_ip_registers(project_id, start, end).subquery(f"r{i}")
            slot, value = list(r.c)
            parts.append(sa.select(_int(2), _int(i), slot, _int(0), value, _zero(), _zero()))
    return sa.union_all(*parts)


def _key_status_facts(f: sa.Subquery) -> sa.Select[Any]:
    """The kind-0 part of a kind-tagged union: facts per (key, status code) as
    (kind, key, a = status code, n count, s duration sum, m duration max)."""
    f_key, status, count, total, top = list(f.c)
    return sa.select(
        _int(0).label("kind"),
        f_key.label("key"),
        status.label("a"),
        count.label("n"),
        total.label("s"),
        top.label("m"),
    )


def facts_and_bins(
    project_id: int,
    start: datetime,
    end: datetime,
    filters: Filters,
    key: str,
    *,
    coarse: bool,
    hour_floor: datetime | None,
    hour_buckets: bool = False,
) -> sa.CompoundSelect[Any]:
    """Facts per (key, status code) and histogram bins per key in one statement: rows
    (kind, key, a, n, s, m), kind 0 facts (a status code), kind 1 bins (a bin)."""
    f = facts(
        project_id, start, end, filters, [key, "status_code"], hour_buckets=hour_buckets
    ).subquery("f")
    h = histogram(
        project_id,
        start,
        end,
        filters,
        [key],
        coarse=coarse,
        hour_floor=hour_floor,
        hour_buckets=hour_buckets,
    ).subquery("h")
    h_key, bin_index, h_count = list(h.c)
    return sa.union_all(
        _key_status_facts(f),
        sa.select(_int(1), h_key, bin_index, h_count, _zero(), _zero()),
    )


# -- percentiles in SQL ------------------------------------------------------------------------


def percentile_bins(binned: sa.FromClause, quantiles: Sequence[float]) -> sa.Select[Any]:
    """(key, bin at each quantile…) from `binned` rows (key, bin, count), one row per key.

    The nearest-rank rule of `kit.histogram.percentiles`: the first bin whose cumulative count
    reaches q × total (a float product, as in Python, so the same bin is picked), computed with
    window functions so only one row per key leaves the database.
    """
    key, bin_index, count = list(binned.c)
    running = sa.select(
        key.label("key"),
        bin_index.label("bin"),
        sa.func.sum(count).over(partition_by=key, order_by=bin_index).label("seen"),
        sa.func.sum(count).over(partition_by=key).label("total"),
    ).subquery("running")
    return sa.select(
        running.c.key,
        *(
            sa.func.min(running.c.bin).filter(
                running.c.seen
                >= sa.cast(sa.literal_column(repr(float(q))), sa.Float) * running.c.total
            )
            for q in quantiles
        ),
    ).group_by(running.c.key)


def _binned(u: sa.Subquery, key: Any) -> sa.Subquery:
    """(key, bin, count) summed from histogram rows `u`, `key` an expression over them."""
    keyed = sa.select(key.label("key"), u.c.bin, u.c.count).subquery("keyed")
    return (
        sa.select(keyed.c.key, keyed.c.bin, sa.func.sum(keyed.c.count).label("count"))
        .group_by(keyed.c.key, keyed.c.bin)
        .subquery("binned")
    )


def facts_and_percentiles(
    project_id: int,
    start: datetime,
    end: datetime,
    filters: Filters,
    key: str,
    quantiles: Sequence[float],
    *,
    coarse: bool,
    hour_floor: datetime | None,
) -> sa.CompoundSelect[Any]:
    """Facts per (key, status code) and the bins at up to three quantiles per key, in one
    statement: rows (kind, key, a, n, s, m), kind 0 facts (a status code, n count, s duration
    sum, m duration max), kind 1 percentile bins (a, n, s at the first, second, third quantile).
    """
    f = facts(project_id, start, end, filters, [key, "status_code"]).subquery("f")
    u = _histogram_union(
        project_id, start, end, filters, [key], coarse=coarse, hour_floor=hour_floor
    )
    p = percentile_bins(_binned(u, u.c[key]), quantiles).subquery("p")
    bins = [*list(p.c)[1:], *([sa.null()] * (3 - len(quantiles)))]
    return sa.union_all(
        _key_status_facts(f),
        sa.select(_int(1), p.c.key, bins[0], bins[1], sa.cast(bins[2], sa.Float), _zero()),
    )


def period_index(bucket: Any, starts: Sequence[datetime]) -> Any:
    """The 0-based index of the period (given by its ascending UTC starts) holding `bucket`:
    PostgreSQL's `width_bucket` over the starts (buckets before the first give -1)."""
    bounds = sa.bindparam(
        None, list(starts), type_=postgresql.ARRAY(sa.DateTime(timezone=True)), unique=True
    )
    return sa.func.width_bucket(bucket, bounds, type_=sa.Integer) - 1


def _status_class(status: Any) -> Any:
    """2, 3, 4 or 5, as the timeline counts them (1xx with 2xx, anything over 5xx with 5xx)."""
    return sa.case((status < 300, 2), (status < 400, 3), (status < 500, 4), else_=5)


def timeline(
    project_id: int,
    start: datetime,
    end: datetime,
    filters: Filters,
    starts: Sequence[datetime],
    *,
    coarse: bool,
    hour_floor: datetime | None,
) -> sa.CompoundSelect[Any]:
    """Every period's facts per status class and its p95 bin, in one statement (PostgreSQL):
    rows (kind, period, a, n, s, m), kind 0 facts (a status class, n count, s duration sum,
    m duration max), kind 1 (a the p95 bin)."""
    fu = _facts_union(project_id, start, end, filters, ["bucket", "status_code"])
    keyed = sa.select(
        period_index(fu.c.bucket, starts).label("period"),
        _status_class(fu.c.status_code).label("a"),
        fu.c.count,
        fu.c.duration_sum,
        fu.c.duration_max,
    ).subquery("keyed_facts")
    f = (
        sa.select(
            keyed.c.period,
            keyed.c.a,
            sa.func.sum(keyed.c.count).label("n"),
            sa.func.sum(keyed.c.duration_sum).label("s"),
            sa.func.max(keyed.c.duration_max).label("m"),
        )
        .group_by(keyed.c.period, keyed.c.a)
        .subquery("f")
    )
    hu = _histogram_union(
        project_id, start, end, filters, ["bucket"], coarse=coarse, hour_floor=hour_floor
    )
    p = percentile_bins(_binned(hu, period_index(hu.c.bucket, starts)), [0.95]).subquery("p")
    return sa.union_all(
        sa.select(
            _int(0).label("kind"),
            f.c.period.label("period"),
            f.c.a.label("a"),
            f.c.n.label("n"),
            f.c.s.label("s"),
            f.c.m.label("m"),
        ),
        sa.select(_int(1), *list(p.c), _int(0), _zero(), _zero()),
    )
