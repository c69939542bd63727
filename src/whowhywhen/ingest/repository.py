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
    Endpoint,
    IngestBatch,
    IngestOutcome,
    LatencyHistogramMinute,
    ProjectBot,
    RequestLog,
    RollupMinute,
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
_PG_TYPES = {
    "project_id": "int",
    "event_id": "uuid",
    "timestamp": "timestamptz",
    "received_at": "timestamptz",
    "endpoint_id": "int",
    "status_code": "int",
    "duration_ms": "float8",
    "request_size": "int8",
    "response_size": "int8",
    "user_agent_id": "int",
    "bot_id": "int",
}
_PG_INSERT_LOGS = pg_unnest_insert(
    "request_logs",
    {name: _PG_TYPES.get(name, "text") for name in REQUEST_LOG_COLUMNS},
    conflict=["project_id", "event_id"],
    returning="event_id",
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


async def insert_request_logs(
    session: AsyncSession, project_id: int, rows: list[dict[str, Any]]
) -> set[uuid.UUID]:
    """Insert raw rows, skipping event ids the project already has; returns the ids stored."""
    if not rows:
        return set()
    if _dialect(session) == "postgresql":
        result = await session.execute(_PG_INSERT_LOGS, as_columns(rows, REQUEST_LOG_COLUMNS))
        return set(result.scalars())
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


async def add_rollups(
    session: AsyncSession, rollups: list[dict[str, Any]], histograms: list[dict[str, Any]]
) -> None:
    """Merge minute rollups and histogram bins into the stored ones.

    Callers pass rows sorted by key, so concurrent batches lock rows in one order (no deadlocks).
    """
    if _dialect(session) == "postgresql":
        if rollups:
            await session.execute(_PG_ADD_ROLLUPS, as_columns(rollups, rollups[0]))
        if histograms:
            await session.execute(_PG_ADD_HISTOGRAMS, as_columns(histograms, histograms[0]))
        return
    if rollups:
        table = RollupMinute.__table__  # type: ignore[attr-defined]
        stmt = insert(table, "sqlite")
        stmt = stmt.on_conflict_do_update(
            index_elements=_ROLLUP_KEY,
            set_={
                "count": table.c.count + stmt.excluded.count,
                "duration_sum": table.c.duration_sum + stmt.excluded.duration_sum,
                "duration_max": sa.func.max(table.c.duration_max, stmt.excluded.duration_max),
            },
        )
        await session.execute(stmt, rollups)
    if histograms:
        table = LatencyHistogramMinute.__table__  # type: ignore[attr-defined]
        stmt = insert(table, "sqlite")
        stmt = stmt.on_conflict_do_update(
            index_elements=[*_ROLLUP_KEY, "bin"],
            set_={"count": table.c.count + stmt.excluded.count},
        )
        await session.execute(stmt, histograms)


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
