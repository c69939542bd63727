"""Every SQL statement of the collector: one statement per table per batch, never one per event."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from whowhywhen.analytics.hll import PRECISION, REST_BITS
from whowhywhen.ingest.rollups import DIMENSION_VALUE_MAX, RollupRows
from whowhywhen.kit.histogram import LOG_GAMMA, MIN_BIN, MIN_MS
from whowhywhen.kit.sql import dialect_of, insert
from whowhywhen.models import (
    Bot,
    BotRollupHour,
    DimensionRollupHour,
    Endpoint,
    IngestBatch,
    IngestOutcome,
    LatencyHistogramMinute,
    Project,
    ProjectBot,
    RequestLog,
    RollupMinute,
    UniqueIpHour,
    UserAgent,
)

REQUEST_LOG_COLUMNS = (
    "project_id",
    "event_id",
    "timestamp",
    "received_at",
    "method",
    "url",
    "host",
    "path",
    "query_params",
    "route",
    "endpoint_id",
    "status_code",
    "duration_ms",
    "request_size",
    "response_size",
    "ip",
    "country",
    "user_agent_id",
    "bot_id",
    "consumer",
    "consumer_name",
    "exception",
)
_ROLLUP_KEY = ["project_id", "bucket", "endpoint_id", "status_code", "is_bot"]


@dataclass(frozen=True, slots=True)
class UserAgentRow:
    key: str
    raw: str
    browser: str | None
    browser_version: str | None
    os: str | None
    os_version: str | None
    device: str | None
    device_type: str
    client_type: str
    library: str | None
    bot_name: str | None


async def lock_projects(session: AsyncSession, project_ids: set[int]) -> set[int]:
    """Which of these projects exist, each held until the transaction ends.

    The foreign-key check of the tables the collector writes per batch (`batch_project_id`),
    done once per project and transaction instead of once per row: on PostgreSQL the same
    share lock (`FOR KEY SHARE`), which a deletion of the project waits for; SQLite has one
    writer at a time.
    """
    table = Project.__table__  # type: ignore[attr-defined]
    result = await session.execute(
        sa.select(table.c.id)
        .where(table.c.id.in_(sorted(project_ids)))
        .order_by(table.c.id)
        .with_for_update(read=True, key_share=True)
    )
    return set(result.scalars())


async def claim_batches(
    session: AsyncSession, batches: Sequence[tuple[int, str, int, datetime]]
) -> set[tuple[int, str]]:
    """Record batch ids, given as (project id, batch id, events, received at), in one statement;
    returns the (project id, batch id) pairs no earlier batch of that project had."""
    if not batches:
        return set()
    table = IngestBatch.__table__  # type: ignore[attr-defined]
    stmt = (
        insert(table, dialect_of(session))
        .values(
            [
                {"project_id": p, "batch_id": b, "events": n, "received_at": at}
                for p, b, n, at in batches
            ]
        )
        .on_conflict_do_nothing(index_elements=["project_id", "batch_id"])
        .returning(table.c.project_id, table.c.batch_id)
    )
    result = await session.execute(stmt)
    return {(project_id, batch_id) for project_id, batch_id in result}


async def _insert_missing(
    session: AsyncSession, table: sa.Table, rows: list[dict[str, Any]], unique: list[str]
) -> None:
    if rows:
        stmt = insert(table, dialect_of(session)).on_conflict_do_nothing(index_elements=unique)
        await session.execute(stmt, rows)


async def resolve_bots(session: AsyncSession, bots: Sequence[Bot]) -> dict[str, int]:
    """Ids of the named bots, inserting the ones never seen before."""
    table = Bot.__table__  # type: ignore[attr-defined]
    ordered = sorted(bots, key=lambda b: b.name)
    rows = [{"name": b.name, "category": b.category, "url": b.url} for b in ordered]
    await _insert_missing(session, table, rows, ["name"])
    result = await session.execute(
        sa.select(table.c.name, table.c.id).where(table.c.name.in_([b.name for b in ordered]))
    )
    return {row[0]: row[1] for row in result}


async def resolve_user_agents(
    session: AsyncSession, agents: Sequence[UserAgentRow], bot_ids: dict[str, int]
) -> dict[str, int]:
    table = UserAgent.__table__  # type: ignore[attr-defined]
    ordered = sorted(agents, key=lambda a: a.key)
    rows = [
        {
            "key": a.key,
            "raw": a.raw,
            "browser": a.browser,
            "browser_version": a.browser_version,
            "os": a.os,
            "os_version": a.os_version,
            "device": a.device,
            "device_type": a.device_type,
            "client_type": a.client_type,
            "library": a.library,
            "bot_id": bot_ids.get(a.bot_name) if a.bot_name else None,
        }
        for a in ordered
    ]
    await _insert_missing(session, table, rows, ["key"])
    result = await session.execute(
        sa.select(table.c.key, table.c.id).where(table.c.key.in_([a.key for a in ordered]))
    )
    return {row[0]: row[1] for row in result}


async def resolve_endpoints(
    session: AsyncSession, project_id: int, first_seen: dict[tuple[str, str], datetime]
) -> dict[tuple[str, str], int]:
    table = Endpoint.__table__  # type: ignore[attr-defined]
    keys = sorted(first_seen)
    rows = [
        {"project_id": project_id, "method": m, "route": r, "first_seen_at": first_seen[(m, r)]}
        for m, r in keys
    ]
    await _insert_missing(session, table, rows, ["project_id", "method", "route"])
    result = await session.execute(
        sa.select(table.c.method, table.c.route, table.c.id).where(
            table.c.project_id == project_id,
            sa.tuple_(table.c.method, table.c.route).in_(keys),
        )
    )
    return {(method, route): endpoint_id for method, route, endpoint_id in result}


async def mark_project_bots(
    session: AsyncSession, project_id: int, first_seen: dict[int, datetime]
) -> None:
    rows = [
        {"project_id": project_id, "bot_id": bot_id, "first_seen_at": when}
        for bot_id, when in sorted(first_seen.items())
    ]
    await _insert_missing(
        session,
        ProjectBot.__table__,  # type: ignore[attr-defined]
        rows,
        ["project_id", "bot_id"],
    )


_STAGE = "ingest_stage"
_COLUMN_LIST = ", ".join(REQUEST_LOG_COLUMNS)
_CREATE_STAGE = sa.text(
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} "
    "(LIKE request_logs INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)

_STAGE_EXISTS = sa.text(f"SELECT to_regclass('pg_temp.{_STAGE}') IS NOT NULL")

_HOUR = "date_trunc('hour', s.timestamp, 'UTC')"
_IS_BOT = "(s.bot_id IS NOT NULL)"
_BIN = (
    f"CASE WHEN s.duration_ms <= CAST('{MIN_MS!r}' AS float8) THEN {MIN_BIN} "
    f"ELSE CAST(floor(ln(s.duration_ms) / CAST('{LOG_GAMMA!r}' AS float8)) AS int) END"
)
# register_of in SQL: the first 64 bits of md5(ip); the slot is the top PRECISION bits, the rank
# the position of the first 1 in the other REST_BITS (REST_BITS + 1 when they are all zero).
_HASH = "CAST('x' || left(md5(s.ip), 16) AS bit(64))"
_SLOT = f"CAST(CAST(substring({_HASH} FROM 1 FOR {PRECISION}) AS bit({PRECISION})) AS int)"
_RANK = (
    f"coalesce(nullif(position(B'1' IN substring({_HASH} FROM {PRECISION + 1})), 0), "
    f"{REST_BITS + 1})"
)

_PG_STORE_EVENTS = sa.text(
    f"""
WITH stored AS (
    INSERT INTO request_logs ({_COLUMN_LIST})
    SELECT {_COLUMN_LIST} FROM {_STAGE}
    ON CONFLICT (project_id, event_id) DO NOTHING
    RETURNING event_id, project_id, timestamp, endpoint_id, status_code, bot_id, duration_ms,
              ip, country, consumer, user_agent_id
), minute AS (
    INSERT INTO rollups_minute AS r
        (project_id, bucket, endpoint_id, status_code, is_bot, count, duration_sum, duration_max)
    SELECT s.project_id, date_trunc('minute', s.timestamp, 'UTC'), s.endpoint_id,
           s.status_code, {_IS_BOT}, count(*), sum(s.duration_ms), max(s.duration_ms)
    FROM stored s GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (project_id, bucket, endpoint_id, status_code, is_bot) DO UPDATE SET
        count = r.count + excluded.count,
        duration_sum = r.duration_sum + excluded.duration_sum,
        duration_max = greatest(r.duration_max, excluded.duration_max)
), histograms AS (
    INSERT INTO latency_histograms_minute AS r
        (project_id, bucket, endpoint_id, status_code, is_bot, bin, count)
    SELECT s.project_id, date_trunc('minute', s.timestamp, 'UTC'), s.endpoint_id,
           s.status_code, {_IS_BOT}, {_BIN}, count(*)
    FROM stored s GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (project_id, bucket, endpoint_id, status_code, is_bot, bin) DO UPDATE SET
        count = r.count + excluded.count
), agents AS (
    -- The user agent's five dimensions depend on the agent alone: aggregate per agent first
    -- (a Zipf mix repeats agents), then expand each agent's sums into its five values.
    SELECT s.project_id, {_HOUR} AS bucket, coalesce(s.user_agent_id, 0) AS ua_id,
           s.status_code, {_IS_BOT} AS is_bot, count(*) AS count,
           sum(s.duration_ms) AS duration_sum
    FROM stored s GROUP BY 1, 2, 3, 4, 5
), dimension_rows AS (
    SELECT a.project_id, a.bucket, d.dimension, d.value, a.status_code, a.is_bot, a.count,
           a.duration_sum
    FROM agents a
    JOIN unnest(
        CAST(:ua_id AS int[]), CAST(:ua_browser AS text[]), CAST(:ua_os AS text[]),
        CAST(:ua_device_type AS text[]), CAST(:ua_client_type AS text[]),
        CAST(:ua_library AS text[])
    ) AS ua (id, browser, os, device_type, client_type, library) ON ua.id = a.ua_id
    CROSS JOIN LATERAL (VALUES
        ('browser', coalesce(ua.browser, '')), ('os', coalesce(ua.os, '')),
        ('device_type', ua.device_type), ('client_type', ua.client_type),
        ('library', ua.library)
    ) AS d (dimension, value)
    UNION ALL
    SELECT s.project_id, {_HOUR}, 'country', coalesce(s.country, ''), s.status_code, {_IS_BOT},
           1, s.duration_ms
    FROM stored s
    UNION ALL
    SELECT s.project_id, {_HOUR}, 'consumer', s.consumer, s.status_code, {_IS_BOT}, 1,
           s.duration_ms
    FROM stored s WHERE s.consumer IS NOT NULL
), dimensions AS (
    INSERT INTO dimension_rollups_hour AS r
        (project_id, bucket, dimension, value, status_code, is_bot, count, duration_sum)
    SELECT project_id, bucket, dimension, left(value, {DIMENSION_VALUE_MAX}), status_code,
           is_bot, sum(count), sum(duration_sum)
    FROM dimension_rows WHERE value IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (project_id, bucket, dimension, value, status_code, is_bot) DO UPDATE SET
        count = r.count + excluded.count,
        duration_sum = r.duration_sum + excluded.duration_sum
), bots AS (
    INSERT INTO bot_rollups_hour AS r
        (project_id, bucket, bot_id, endpoint_id, status_code, count, last_seen)
    SELECT s.project_id, {_HOUR}, s.bot_id, s.endpoint_id, s.status_code, count(*),
           max(s.timestamp)
    FROM stored s WHERE s.bot_id IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (project_id, bucket, bot_id, endpoint_id, status_code) DO UPDATE SET
        count = r.count + excluded.count,
        last_seen = greatest(r.last_seen, excluded.last_seen)
), unique_ips AS (
    -- A register only grows, and an hour's registers fill within its first few batches. A slot
    -- the batch would not raise is skipped by a plain read before the upsert: ON CONFLICT locks
    -- every row it meets, even one its WHERE then leaves alone, so concurrent batches would
    -- otherwise queue on all of an hour's registers until each commits.
    INSERT INTO unique_ip_registers_hour AS r (project_id, bucket, slot, value)
    SELECT b.project_id, b.bucket, b.slot, b.value FROM (
        SELECT s.project_id, {_HOUR} AS bucket, {_SLOT} AS slot, max({_RANK}) AS value
        FROM stored s WHERE s.ip IS NOT NULL AND s.ip <> ''
        GROUP BY 1, 2, 3
    ) AS b
    WHERE NOT EXISTS (
        SELECT 1 FROM unique_ip_registers_hour AS k
        WHERE k.project_id = b.project_id AND k.bucket = b.bucket AND k.slot = b.slot
          AND k.value >= b.value
    )
    ORDER BY 1, 2, 3
    ON CONFLICT (project_id, bucket, slot) DO UPDATE SET value = excluded.value
        WHERE r.value < excluded.value
)
SELECT project_id, array_agg(event_id) FROM stored GROUP BY project_id
"""  # noqa: S608 - identifiers and constants are ours; values are bound parameters
)


async def copy_events(
    session: AsyncSession, records: list[tuple[Any, ...]], agents: dict[str, list[Any]]
) -> dict[int, list[uuid.UUID]]:
    """PostgreSQL: store raw rows (of one batch or several) and every rollup they add; returns
    the event ids stored, per project (one array per project: no per-row result to read).

    The rows go by binary COPY into a per-connection staging table (no per-value array
    encoding); then one statement inserts those whose event id the project does not have yet and
    aggregates exactly those into the rollup tables (`whowhywhen.ingest.rollups` describes the
    aggregation; `agents` are its `agent_columns`). Rollup rows are inserted in key order, so
    concurrent batches lock them in one order (no deadlocks).
    """
    # The table lives as long as the connection, unless the transaction that made it rolled
    # back: look first (which also opens the transaction COPY must join; its rows go at commit).
    if not (await session.execute(_STAGE_EXISTS)).scalar():
        await session.execute(_CREATE_STAGE)
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(_STAGE, records=records, columns=REQUEST_LOG_COLUMNS)
    result = await session.execute(_PG_STORE_EVENTS, agents)
    return {project_id: list(event_ids) for project_id, event_ids in result}


async def insert_request_logs(
    session: AsyncSession, project_id: int, rows: list[dict[str, Any]]
) -> set[uuid.UUID]:
    """SQLite: insert raw rows, skipping event ids the project already has; returns the ids
    stored. Writers are serialised by the service, so "look up, then insert the rest" is exact.
    """
    if not rows:
        return set()
    table = RequestLog.__table__  # type: ignore[attr-defined]
    existing = set(
        (
            await session.execute(
                sa.select(table.c.event_id).where(
                    table.c.project_id == project_id,
                    table.c.event_id.in_([row["event_id"] for row in rows]),
                )
            )
        ).scalars()
    )
    fresh: dict[uuid.UUID, dict[str, Any]] = {}
    for row in rows:
        if row["event_id"] not in existing and row["event_id"] not in fresh:
            fresh[row["event_id"]] = row
    if fresh:
        await session.execute(sa.insert(table), list(fresh.values()))
    return set(fresh)


async def add_rollups(session: AsyncSession, batch: RollupRows) -> None:
    """SQLite: merge a batch's rollups (minute, histogram bins, dimensions, bots, IP registers)
    into the stored ones, one statement per table."""
    await _sqlite_merge(
        session,
        RollupMinute.__table__,  # type: ignore[attr-defined]
        batch.minute,
        _ROLLUP_KEY,
        sums=["count", "duration_sum"],
        maxes=["duration_max"],
    )
    await _sqlite_merge(
        session,
        LatencyHistogramMinute.__table__,  # type: ignore[attr-defined]
        batch.histograms,
        [*_ROLLUP_KEY, "bin"],
        sums=["count"],
    )
    await _sqlite_merge(
        session,
        DimensionRollupHour.__table__,  # type: ignore[attr-defined]
        batch.dimensions,
        ["project_id", "bucket", "dimension", "value", "status_code", "is_bot"],
        sums=["count", "duration_sum"],
    )
    await _sqlite_merge(
        session,
        BotRollupHour.__table__,  # type: ignore[attr-defined]
        batch.bots,
        ["project_id", "bucket", "bot_id", "endpoint_id", "status_code"],
        sums=["count"],
        maxes=["last_seen"],
    )
    await _sqlite_merge(
        session,
        UniqueIpHour.__table__,  # type: ignore[attr-defined]
        batch.unique_ips,
        ["project_id", "bucket", "slot"],
        maxes=["value"],
    )


async def _sqlite_merge(
    session: AsyncSession,
    table: sa.Table,
    rows: list[dict[str, Any]],
    key: list[str],
    *,
    sums: Sequence[str] = (),
    maxes: Sequence[str] = (),
) -> None:
    if not rows:
        return
    stmt = insert(table, "sqlite")
    update: dict[str, Any] = {name: table.c[name] + stmt.excluded[name] for name in sums}
    update.update({name: sa.func.max(table.c[name], stmt.excluded[name]) for name in maxes})
    await session.execute(stmt.on_conflict_do_update(index_elements=key, set_=update), rows)


async def add_outcome_rows(
    session: AsyncSession, rows: Sequence[tuple[int, datetime, dict[str, int]]]
) -> None:
    """Add counts to several (project, day) outcome rows in one statement."""
    if not rows:
        return
    table = IngestOutcome.__table__  # type: ignore[attr-defined]
    names = sorted({name for _, _, counts in rows for name in counts})
    stmt = insert(table, dialect_of(session)).values(
        [
            {"project_id": p, "day": day, **{name: counts.get(name, 0) for name in names}}
            for p, day, counts in sorted(rows, key=lambda row: (row[0], row[1]))
        ]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["project_id", "day"],
        set_={name: table.c[name] + stmt.excluded[name] for name in names},
    )
    await session.execute(stmt)


async def outcomes_of(
    session: AsyncSession, project_id: int, *, since: datetime | None = None
) -> list[IngestOutcome]:
    """A project's ingest outcome rows, newest day first."""
    stmt = sa.select(IngestOutcome).where(col(IngestOutcome.project_id) == project_id)
    if since is not None:
        stmt = stmt.where(col(IngestOutcome.day) >= since)
    result = await session.execute(stmt.order_by(col(IngestOutcome.day).desc()))
    return list(result.scalars())
