"""Every SQL statement of the collector: one statement per table per batch, never one per event."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from whowhywhen.kit.sql import as_columns, insert, pg_unnest_insert
from whowhywhen.models import (
    Bot,
    BotRollupHour,
    DimensionRollupHour,
    Endpoint,
    IngestBatch,
    IngestOutcome,
    LatencyHistogramMinute,
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
_PG_ADD_ROLLUPS = pg_unnest_insert(
    "rollups_minute",
    {
        "project_id": "int",
        "bucket": "timestamptz",
        "endpoint_id": "int",
        "status_code": "int",
        "is_bot": "bool",
        "count": "int",
        "duration_sum": "float8",
        "duration_max": "float8",
    },
    conflict=_ROLLUP_KEY,
    update={
        "count": "rollups_minute.count + excluded.count",
        "duration_sum": "rollups_minute.duration_sum + excluded.duration_sum",
        "duration_max": "greatest(rollups_minute.duration_max, excluded.duration_max)",
    },
)
_PG_ADD_HISTOGRAMS = pg_unnest_insert(
    "latency_histograms_minute",
    {
        "project_id": "int",
        "bucket": "timestamptz",
        "endpoint_id": "int",
        "status_code": "int",
        "is_bot": "bool",
        "bin": "int",
        "count": "int",
    },
    conflict=[*_ROLLUP_KEY, "bin"],
    update={"count": "latency_histograms_minute.count + excluded.count"},
)
_PG_ADD_DIMENSIONS = pg_unnest_insert(
    "dimension_rollups_hour",
    {
        "project_id": "int",
        "bucket": "timestamptz",
        "dimension": "text",
        "value": "text",
        "status_code": "int",
        "is_bot": "bool",
        "count": "int",
        "duration_sum": "float8",
    },
    conflict=["project_id", "bucket", "dimension", "value", "status_code", "is_bot"],
    update={
        "count": "dimension_rollups_hour.count + excluded.count",
        "duration_sum": "dimension_rollups_hour.duration_sum + excluded.duration_sum",
    },
)
_PG_ADD_BOTS = pg_unnest_insert(
    "bot_rollups_hour",
    {
        "project_id": "int",
        "bucket": "timestamptz",
        "bot_id": "int",
        "endpoint_id": "int",
        "status_code": "int",
        "count": "int",
        "last_seen": "timestamptz",
    },
    conflict=["project_id", "bucket", "bot_id", "endpoint_id", "status_code"],
    update={
        "count": "bot_rollups_hour.count + excluded.count",
        "last_seen": "greatest(bot_rollups_hour.last_seen, excluded.last_seen)",
    },
)
_PG_ADD_UNIQUE_IPS = pg_unnest_insert(
    "unique_ip_registers_hour",
    {"project_id": "int", "bucket": "timestamptz", "slot": "int", "value": "int"},
    conflict=["project_id", "bucket", "slot"],
    update={"value": "greatest(unique_ip_registers_hour.value, excluded.value)"},
)


@dataclass(slots=True)
class RollupRows:
    """Everything a batch adds to the rollups, aggregated in Python and sorted by key."""

    minute: list[dict[str, Any]]
    histograms: list[dict[str, Any]]
    dimensions: list[dict[str, Any]]
    bots: list[dict[str, Any]]
    unique_ips: list[dict[str, Any]]


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


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


async def claim_batch(
    session: AsyncSession, project_id: int, batch_id: str, events: int, now: datetime
) -> bool:
    """Record a batch id; False when this project already stored a batch with that id."""
    table = IngestBatch.__table__  # type: ignore[attr-defined]
    stmt = (
        insert(table, _dialect(session))
        .values(project_id=project_id, batch_id=batch_id, received_at=now, events=events)
        .on_conflict_do_nothing(index_elements=["project_id", "batch_id"])
        .returning(table.c.batch_id)
    )
    result = await session.execute(stmt)
    return result.first() is not None


async def _insert_missing(
    session: AsyncSession, table: sa.Table, rows: list[dict[str, Any]], unique: list[str]
) -> None:
    if rows:
        stmt = insert(table, _dialect(session)).on_conflict_do_nothing(index_elements=unique)
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
_CREATE_STAGE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} "
    "(LIKE request_logs INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_FROM_STAGE = sa.text(
    f"INSERT INTO request_logs ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {_STAGE} "  # noqa: S608
    "ON CONFLICT (project_id, event_id) DO NOTHING RETURNING event_id"
)


async def _copy_request_logs(session: AsyncSession, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """PostgreSQL: COPY the batch into a per-connection staging table (binary, no per-value
    array encoding), then one INSERT … SELECT that skips event ids already stored."""
    await session.execute(sa.text(_CREATE_STAGE))  # also opens the transaction COPY joins
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    records = [tuple(row[name] for name in REQUEST_LOG_COLUMNS) for row in rows]
    await driver.copy_records_to_table(_STAGE, records=records, columns=REQUEST_LOG_COLUMNS)
    result = await session.execute(_FROM_STAGE)
    return set(result.scalars())


async def insert_request_logs(
    session: AsyncSession, project_id: int, rows: list[dict[str, Any]]
) -> set[uuid.UUID]:
    """Insert raw rows, skipping event ids the project already has; returns the ids stored."""
    if not rows:
        return set()
    if _dialect(session) == "postgresql":
        return await _copy_request_logs(session, rows)
    # SQLite: writers are serialised by the service, so "look up, then insert the rest" is exact.
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
    """Merge a batch's rollups (minute, histogram bins, dimensions, bots, IP registers) into the
    stored ones: one statement per table.

    Callers pass rows sorted by key, so concurrent batches lock rows in one order (no deadlocks).
    """
    if _dialect(session) == "postgresql":
        for statement, rows in (
            (_PG_ADD_ROLLUPS, batch.minute),
            (_PG_ADD_HISTOGRAMS, batch.histograms),
            (_PG_ADD_DIMENSIONS, batch.dimensions),
            (_PG_ADD_BOTS, batch.bots),
            (_PG_ADD_UNIQUE_IPS, batch.unique_ips),
        ):
            if rows:
                await session.execute(statement, as_columns(rows, rows[0]))
        return
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


async def add_outcomes(
    session: AsyncSession, project_id: int, day: datetime, counts: dict[str, int]
) -> None:
    table = IngestOutcome.__table__  # type: ignore[attr-defined]
    stmt = insert(table, _dialect(session)).values(project_id=project_id, day=day, **counts)
    stmt = stmt.on_conflict_do_update(
        index_elements=["project_id", "day"],
        set_={name: table.c[name] + stmt.excluded[name] for name in counts},
    )
    await session.execute(stmt)
