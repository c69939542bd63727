"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from WHOWHYWHEN_TEST_POSTGRES_URL (an admin URL; a fresh database is created
for the run and dropped after). Without it the PostgreSQL half is skipped with a loud notice,
unless WHOWHYWHEN_TEST_REQUIRE_SERVICES=1 (CI), where a missing service fails the run.
Tests are isolated by data, not by rollback: each creates its own users and projects, because
the collector commits (an acknowledgement means stored).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx2
import pytest
from fastapi import FastAPI

from tests.factories import Factory
from whowhywhen.app import Mode, create_app
from whowhywhen.config import Settings
from whowhywhen.db import Database
from whowhywhen.migrations import upgrade

POSTGRES_URL = os.environ.get("WHOWHYWHEN_TEST_POSTGRES_URL", "")
REQUIRE_SERVICES = os.environ.get("WHOWHYWHEN_TEST_REQUIRE_SERVICES") == "1"
BACKENDS = ["sqlite", "postgresql"]


def pytest_report_header() -> list[str]:
    lines = []
    if POSTGRES_URL:
        lines.append(f"databases: SQLite and PostgreSQL ({POSTGRES_URL})")
    else:
        lines += [
            "!" * 78,
            "databases: SQLite ONLY. The PostgreSQL half of the suite is SKIPPED because",
            "WHOWHYWHEN_TEST_POSTGRES_URL is not set (CI sets it through .ci/run).",
            "!" * 78,
        ]
    if not os.environ.get("WHOWHYWHEN_TEST_REDIS_URL"):
        lines.append("Redis: the Celery worker test is SKIPPED (set WHOWHYWHEN_TEST_REDIS_URL).")
    return lines


def _pg_url(database: str) -> str:
    base, _, _ = POSTGRES_URL.rpartition("/")
    return f"{base}/{database}"


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """Settings for a freshly migrated database of one backend, for the whole run."""
    with empty_database(request.param, tmp_path_factory.mktemp(f"data-{request.param}")) as s:
        upgrade(s)
        yield s


@contextmanager
def empty_database(kind: str, data_dir: Path) -> Iterator[Settings]:
    """Settings for a new database of `kind` without any table (dropped after, on PostgreSQL)."""
    if kind == "sqlite":
        yield Settings(WHOWHYWHEN_DATA_DIR=data_dir, SECRET_KEY="t" * 48)
        return
    if not POSTGRES_URL:
        if REQUIRE_SERVICES:
            pytest.fail("WHOWHYWHEN_TEST_POSTGRES_URL is required in CI")
        pytest.skip("PostgreSQL not configured (set WHOWHYWHEN_TEST_POSTGRES_URL)")
    name = f"whowhywhen_test_{secrets.token_hex(4)}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if REQUIRE_SERVICES:
            pytest.fail(f"PostgreSQL is required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    try:
        yield Settings(
            WHOWHYWHEN_DATA_DIR=data_dir, SECRET_KEY="t" * 48, DATABASE_URL=_pg_url(name)
        )
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(backend: Settings) -> Settings:
    return backend.model_copy()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, Mode.all)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def db(app: FastAPI) -> Database:
    database: Database = app.state.db
    return database


@pytest.fixture
def factory(db: Database) -> Factory:
    return Factory(db)


@pytest.fixture
def data_dir(settings: Settings) -> Path:
    return settings.data_dir


def pytest_collection_modifyitems(items: list[Any]) -> None:
    for item in items:
        if item.get_closest_marker("postgres_only") and "[sqlite]" in item.nodeid:
            item.add_marker(pytest.mark.skip(reason="PostgreSQL-only behaviour"))
