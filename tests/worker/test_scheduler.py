"""Task dispatch: the registry names every task; the in-process scheduler runs them safely."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from whowhywhen.config import Settings
from whowhywhen.db import Database
from whowhywhen.worker import registry
from whowhywhen.worker.celery_app import create_celery, run_task
from whowhywhen.worker.scheduler import InProcessScheduler


class TestRegistry:
    def test_every_scheduled_task_is_registered_under_a_stable_name(
        self, settings: Settings
    ) -> None:
        names = set(registry.tasks())
        assert {"analytics.compact_rollups", "analytics.prune_raw_rows"} <= names
        assert {item.name for item in registry.schedule(settings)} <= names

    async def test_an_unknown_task_is_refused(self, db: Database) -> None:
        with pytest.raises(LookupError, match="no task named"):
            await registry.run("nope.nothing", db)


class TestInProcessScheduler:
    async def test_runs_each_task_on_its_interval_and_stops_cleanly(self, db: Database) -> None:
        scheduler = InProcessScheduler(
            db,
            [
                registry.Periodic("analytics.compact_rollups", 0.05),
                registry.Periodic("analytics.prune_raw_rows", 0.05),
            ],
        )
        scheduler.start()
        for _ in range(600):
            if min(scheduler.runs.values(), default=0) >= 2 and len(scheduler.runs) == 2:
                break
            await asyncio.sleep(0.05)
        await scheduler.stop()
        assert scheduler.runs["analytics.compact_rollups"] >= 2
        assert scheduler.runs["analytics.prune_raw_rows"] >= 2

    async def test_a_failing_task_is_logged_not_raised(
        self, db: Database, caplog: pytest.LogCaptureFixture
    ) -> None:
        scheduler = InProcessScheduler(db, [])
        await scheduler.run_once("nope.nothing")
        assert "scheduled task failed" in caplog.text
        assert scheduler.runs == {}


class TestCelery:
    def test_celery_is_optional_and_gets_the_same_schedule(self, settings: Settings) -> None:
        if importlib.util.find_spec("celery") is None:
            with pytest.raises(RuntimeError, match=r"whowhywhen\[celery\]"):
                create_celery(settings)
            return
        settings = settings.model_copy(update={"redis_url": "redis://127.0.0.1:6379/0"})
        app = create_celery(settings)
        assert set(app.conf.beat_schedule) == {item.name for item in registry.schedule(settings)}
        assert set(registry.tasks()) <= set(app.tasks)

    def test_a_task_runs_to_completion_in_its_own_loop(self, backend: Settings) -> None:
        assert isinstance(run_task("analytics.compact_rollups", backend), dict)
