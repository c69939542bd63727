"""A real Celery worker on Redis runs a registered task against the real database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta

import httpx2
import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.factories import Factory
from tests.ingest.helpers import count_rows, event, iso
from whowhywhen.config import Settings
from whowhywhen.kit.time import utc_now
from whowhywhen.models import Project
from whowhywhen.worker.celery_app import create_celery

REDIS_URL = os.environ.get("WHOWHYWHEN_TEST_REDIS_URL", "")


@pytest.fixture
def redis_settings(settings: Settings) -> Settings:
    if not REDIS_URL:
        if REQUIRE_SERVICES:
            pytest.fail("WHOWHYWHEN_TEST_REDIS_URL is required in CI")
        pytest.skip("Redis not configured (set WHOWHYWHEN_TEST_REDIS_URL)")
    return settings.model_copy(update={"redis_url": REDIS_URL})


@pytest.fixture
def worker(redis_settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": redis_settings.resolved_database_url,
        "WHOWHYWHEN_DATA_DIR": str(redis_settings.data_dir),
        "SECRET_KEY": redis_settings.resolved_secret_key,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "whowhywhen", "worker", "--concurrency", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class TestCeleryWorker:
    async def test_prunes_raw_rows_past_retention_through_redis(
        self,
        redis_settings: Settings,
        worker: subprocess.Popen[bytes],
        client: httpx2.AsyncClient,
        factory: Factory,
    ) -> None:
        project = await factory.project()
        async with factory.db.session() as session:
            row = await session.get(Project, project.id)
            assert row is not None
            row.retention_days = 1
            await session.commit()
        old = iso(utc_now() - timedelta(days=3))
        batch = [event(timestamp=old), event(timestamp=old), event()]
        response = await client.post("/api/log/bulk", headers=project.headers, json=batch)
        assert response.json()["accepted"] == 3

        create_celery(redis_settings).send_task("analytics.prune_raw_rows")
        for _ in range(120):
            if await count_rows(factory.db, project.id) == 1:
                break
            assert worker.poll() is None, "the worker exited"
            await asyncio.sleep(0.25)
        assert await count_rows(factory.db, project.id) == 1
