from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from whowhywhen.db import Database
from whowhywhen.models import LatencyHistogramMinute, RequestLog, RollupMinute, UserAgent

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GPTBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot"
)


def event(**overrides: Any) -> dict[str, Any]:
    """A valid event as the seed README's FastAPI snippet sends it."""
    data: dict[str, Any] = {
        "url": "http://api.example.com/users/42?expand=orders",
        "method": "GET",
        "status_code": 200,
        "duration": 0.0421,
        "user_agent": CHROME,
        "ip_address": "8.8.8.8",
    }
    data.update(overrides)
    return data


def events(n: int, **overrides: Any) -> list[dict[str, Any]]:
    return [event(id=str(uuid.uuid4()), **overrides) for _ in range(n)]


async def stored(db: Database, project_id: int) -> list[RequestLog]:
    async with db.session() as session:
        result = await session.execute(
            sa.select(RequestLog)
            .where(col(RequestLog.project_id) == project_id)
            .order_by(col(RequestLog.id))
        )
        return list(result.scalars())


async def stored_agents(db: Database, project_id: int) -> list[str]:
    """The User-Agent text of each stored request of a project ('' for none), sorted."""
    async with db.session() as session:
        result = await session.execute(
            sa.select(col(UserAgent.raw))
            .select_from(RequestLog)
            .outerjoin(UserAgent, col(UserAgent.id) == col(RequestLog.user_agent_id))
            .where(col(RequestLog.project_id) == project_id)
        )
        return sorted(raw or "" for raw in result.scalars())


async def rows_per_table(db: Database, project_id: int, models: Iterable[Any]) -> dict[str, int]:
    """How many rows of a project each model's table holds, by table name."""
    counts: dict[str, int] = {}
    async with db.session() as session:
        for model in models:
            table = model.__table__
            result = await session.execute(
                sa.select(sa.func.count())
                .select_from(table)
                .where(table.c.project_id == project_id)
            )
            counts[table.name] = int(result.scalar_one())
    return counts


async def count_rows(db: Database, project_id: int) -> int:
    async with db.session() as session:
        result = await session.execute(
            sa.select(sa.func.count())
            .select_from(RequestLog)
            .where(col(RequestLog.project_id) == project_id)
        )
        return int(result.scalar_one())


async def rollup_totals(db: Database, project_id: int) -> tuple[int, int]:
    """(sum of rollup counts, sum of histogram counts) for a project."""
    async with db.session() as session:
        rollups = await session.execute(
            sa.select(sa.func.coalesce(sa.func.sum(RollupMinute.count), 0)).where(
                col(RollupMinute.project_id) == project_id
            )
        )
        bins = await session.execute(
            sa.select(sa.func.coalesce(sa.func.sum(LatencyHistogramMinute.count), 0)).where(
                col(LatencyHistogramMinute.project_id) == project_id
            )
        )
        return int(rollups.scalar_one()), int(bins.scalar_one())


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
