"""The migrations produce exactly the schema the models describe (`alembic check`)."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from tests.conftest import empty_database
from whowhywhen.config import Settings
from whowhywhen.db import Database, create_engine
from whowhywhen.migrations import alembic_config, upgrade
from whowhywhen.models import (
    Endpoint,
    Project,
    RollupDay,
    RollupHour,
    RollupProjectDay,
    RollupProjectHour,
)
from whowhywhen.models.base import metadata

SCRIPTS = ScriptDirectory.from_config(alembic_config())


def differences(settings: Settings) -> list[object]:
    def compare(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async def run() -> list[object]:
        engine = create_engine(settings)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


class TestMigrations:
    def test_the_migrated_schema_matches_the_models(self, backend: Settings) -> None:
        assert differences(backend) == []

    def test_alembic_check_passes(self, backend: Settings) -> None:
        command.check(alembic_config(backend))

    def test_the_revisions_have_one_head(self) -> None:
        assert len(SCRIPTS.get_heads()) == 1


@pytest.fixture
def before_0006(backend: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A new database migrated up to the revisions 0006 starts from."""
    with empty_database("sqlite" if backend.is_sqlite else "postgresql", tmp_path) as settings:
        for revision in SCRIPTS.get_revision("0006").down_revision or ():
            upgrade(settings, revision)
        yield settings


def _table(model: Any) -> sa.Table:
    table: sa.Table = model.__table__
    return table


class TestProjectFacts:
    async def test_0006_sums_the_hours_and_days_compacted_so_far_over_endpoints(
        self, before_0006: Settings
    ) -> None:
        rng = random.Random(5)
        hour = datetime(2026, 11, 20, 10, tzinfo=UTC)
        levels: dict[sa.Table, list[dict[str, Any]]] = {
            _table(RollupHour): [],
            _table(RollupDay): [],
        }
        db = Database(before_0006)
        try:
            async with db.session() as session:
                project = Project(name="p", timezone="Asia/Kolkata", created_at=hour)
                session.add(project)
                await session.flush()
                assert project.id is not None
                endpoints = [
                    Endpoint(project_id=project.id, method="GET", route=f"/{i}", first_seen_at=hour)
                    for i in range(4)
                ]
                session.add_all(endpoints)
                await session.flush()
                for table, buckets in zip(
                    levels,
                    [
                        [hour + timedelta(hours=i) for i in range(30)],
                        [hour - timedelta(days=i, hours=4, minutes=30) for i in range(1, 6)],
                    ],
                    strict=True,
                ):
                    for bucket, endpoint, status, is_bot in itertools.product(
                        buckets, endpoints, [200, 404, 500], [False, True]
                    ):
                        if rng.random() < 0.4:
                            continue
                        count = rng.randint(1, 50)
                        levels[table].append(
                            {
                                "project_id": project.id,
                                "bucket": bucket,
                                "endpoint_id": endpoint.id,
                                "status_code": status,
                                "is_bot": is_bot,
                                "count": count,
                                # Quarters add up exactly in any order.
                                "duration_sum": count * rng.randint(4, 4000) / 4,
                                "duration_max": rng.randint(4, 8000) / 4,
                            }
                        )
                    await session.execute(sa.insert(table), levels[table])
                await session.commit()
            await asyncio.to_thread(upgrade, before_0006)

            async with db.session() as session:
                for (level, rows), copy in zip(
                    levels.items(), [RollupProjectHour, RollupProjectDay], strict=True
                ):
                    want: dict[tuple[Any, ...], tuple[int, float, float]] = {}
                    for r in rows:
                        key = (r["bucket"], r["status_code"], r["is_bot"])
                        n, total, top = want.get(key, (0, 0.0, 0.0))
                        want[key] = (
                            n + r["count"],
                            total + r["duration_sum"],
                            max(top, r["duration_max"]),
                        )
                    c = _table(copy).c
                    got = await session.execute(
                        sa.select(
                            c.bucket,
                            c.status_code,
                            c.is_bot,
                            c.count,
                            c.duration_sum,
                            c.duration_max,
                        ).where(c.project_id == project.id)
                    )
                    assert {(b, s, bot): (n, t, m) for b, s, bot, n, t, m in got} == want, level
        finally:
            await db.dispose()
