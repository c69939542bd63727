"""Background entry points: rollup compaction and raw-row retention.

`analytics.compact_rollups` moves minute rollups older than ROLLUP_MINUTE_HOURS into hours (and
adds them to the per-project hour and day histogram copies, the per-endpoint day copies and the
per-project hour facts) and hour rollups older than ROLLUP_HOUR_DAYS into days of each project's
time zone (dimension, bot and unique-IP hours after one day; dimension days also into the day
totals without status code and bot-or-not; fact days also into the per-project day facts, out of
the per-project hour facts), so long ranges read few rows.
`analytics.prune_raw_rows` deletes raw rows past each project's `retention_days` (rollups are
kept). Both are idempotent and safe to run while the collector writes.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from whowhywhen.analytics import queries
from whowhywhen.analytics.service import (
    analytics_service,
    as_utc,
    floor_hour,
    local_midnight,
    project_zone,
)
from whowhywhen.db import Database
from whowhywhen.kit.time import utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _ProjectSettings:
    id: int
    timezone: str
    retention_days: int


async def _projects(db: Database) -> list[_ProjectSettings]:
    async with db.session() as session:
        rows = await session.execute(queries.project_settings())
        return [_ProjectSettings(int(r[0]), str(r[1]), int(r[2])) for r in rows]


async def _oldest(db: Database, table: Any) -> dict[int, datetime]:
    async with db.session() as session:
        rows = await session.execute(queries.oldest_per_project(table))
        return {int(r[0]): as_utc(r[1]) for r in rows if r[1] is not None}


async def compact_rollups(db: Database, *, now: datetime | None = None) -> dict[str, int]:
    """Minute → hour → project-local day; returns the rows moved per table family.

    One query per table finds the projects with something old enough to move, so an idle run
    costs a handful of queries however many projects there are.
    """
    now = now or utc_now()
    settings = db.settings
    moved: Counter[str] = Counter()
    projects = {p.id: p for p in await _projects(db)}
    hour_cutoff = floor_hour(now - timedelta(hours=settings.rollup_minute_hours))

    def day_cutoff(project: _ProjectSettings, early: bool) -> datetime:
        days = 1 if early else settings.rollup_hour_days
        return local_midnight(now - timedelta(days=days), project_zone(project.timezone))

    steps = [(m, True) for m in queries.TO_HOUR] + [(m, False) for m in queries.TO_DAY]
    for move, to_hour in steps:
        for project_id, oldest in (await _oldest(db, move.source)).items():
            project = projects.get(project_id)
            if project is None:
                continue
            cutoff = hour_cutoff if to_hour else day_cutoff(project, move.early)
            if oldest >= cutoff:
                continue
            to_day = partial(local_midnight, zone=project_zone(project.timezone))
            coarsen = floor_hour if to_hour else to_day
            while True:
                async with db.session() as session:
                    count = await analytics_service.compact_window(
                        session, move, project_id, cutoff, coarsen, to_day
                    )
                    await session.commit()
                if not count:
                    break
                moved[f"{move.name}->{move.target.name}"] += count
    for project_id, oldest in (await _oldest(db, queries.PROJECT_HISTOGRAMS[0])).items():
        project = projects.get(project_id)
        if project is None or oldest >= (cutoff := day_cutoff(project, False)):
            continue
        async with db.session() as session:
            dropped = await analytics_service.drop_hour_copies(session, project_id, cutoff)
            await session.commit()
        moved["project_histograms_hour dropped"] += dropped
    if moved:
        log.info("rollups compacted", extra={"moved": dict(moved)})
    return dict(moved)


async def prune_raw_rows(db: Database, *, now: datetime | None = None) -> dict[str, int]:
    """Delete raw rows older than each project's retention; returns rows deleted per project."""
    now = now or utc_now()
    deleted: dict[str, int] = {}
    for project in await _projects(db):
        if project.retention_days <= 0:
            continue
        before = now - timedelta(days=project.retention_days)
        total = 0
        while True:
            async with db.session() as session:
                count = await analytics_service.prune_raw(session, project.id, before)
                await session.commit()
            total += count
            if count < 10_000:
                break
        if total:
            deleted[str(project.id)] = total
    return deleted
