"""The task table: name → async function of the database, and each periodic task's interval."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from whowhywhen.config import Settings
from whowhywhen.db import Database

TaskFunction = Callable[[Database], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Periodic:
    name: str
    every_seconds: float


def tasks() -> dict[str, TaskFunction]:
    from whowhywhen.analytics import tasks as analytics

    return {
        "analytics.compact_rollups": lambda db: analytics.compact_rollups(db),
        "analytics.prune_raw_rows": lambda db: analytics.prune_raw_rows(db),
    }


def schedule(settings: Settings) -> list[Periodic]:
    return [
        Periodic("analytics.compact_rollups", settings.compaction_interval_seconds),
        Periodic("analytics.prune_raw_rows", settings.retention_interval_seconds),
    ]


async def run(name: str, db: Database) -> Any:
    try:
        function = tasks()[name]
    except KeyError:
        raise LookupError(f"no task named {name!r}") from None
    return await function(db)
