"""The seed README's FastAPI and Express snippets, run as real apps against a running collector.

The snippets are kept verbatim in `seed_apps/`; only their two placeholders (collector URL and
API key) are filled in, and a few routes are added to call.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import sqlalchemy as sa
from sqlmodel import col

from tests.factories import Factory, ProjectWithKey
from tests.ingest.helpers import CHROME, GOOGLEBOT, GPTBOT, stored
from whowhywhen.config import Settings
from whowhywhen.db import Database
from whowhywhen.models import Bot, RequestLog

SEED_APPS = Path(__file__).parent / "seed_apps"
PLACEHOLDER_URL = "http://your-whowhywhen-instance:8001/api/log"
PLACEHOLDER_KEY = "your-api-key"

FASTAPI_ROUTES = """

@app.get("/users/{user_id}")
async def get_user(user_id: int):
    return {"id": user_id}


@app.post("/items", status_code=201)
async def create_item():
    return {"ok": True}
"""

EXPRESS_HEAD = "const express = require('express');\nconst app = express();\n"
EXPRESS_TAIL = """
app.get('/users/:id', (req, res) => res.json({ id: req.params.id }));
app.post('/items', (req, res) => res.status(201).json({ ok: true }));
const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
"""

CALLS = [
    ("GET", "/users/1", GOOGLEBOT, 200),
    ("GET", "/users/2", GPTBOT, 200),
    ("GET", "/users/3", CHROME, 200),
    ("POST", "/items", "curl/8.5.0", 201),
    ("GET", "/missing", CHROME, 404),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            httpx2.get(url, timeout=1)
            return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise TimeoutError(url)


def spawn(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def collector_url(settings: Settings) -> Iterator[str]:
    """A real collector process on a free port, on the test database."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.resolved_database_url,
        "WHOWHYWHEN_DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": settings.resolved_secret_key,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "whowhywhen", "collector", "--port", str(port), "--no-migrate"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/api/health", process)
        yield url
    finally:
        stop(process)


def fill(template: str, collector_url: str, key: str) -> str:
    assert PLACEHOLDER_URL in template
    assert PLACEHOLDER_KEY in template
    return template.replace(PLACEHOLDER_URL, f"{collector_url}/api/log").replace(
        PLACEHOLDER_KEY, key
    )


def call_app(base: str) -> None:
    with httpx2.Client(base_url=base, timeout=10) as http:
        for method, path, agent, status in CALLS:
            response = http.request(method, path, headers={"User-Agent": agent})
            assert response.status_code == status


async def wait_for_rows(db: Database, project_id: int, expected: int) -> list[RequestLog]:
    for _ in range(100):
        rows = await stored(db, project_id)
        if len(rows) >= expected:
            return rows
        await asyncio.sleep(0.1)
    return await stored(db, project_id)


async def check_stored(db: Database, project: ProjectWithKey) -> None:
    rows = await wait_for_rows(db, project.id, len(CALLS))
    assert sorted((r.method, r.path, r.status_code) for r in rows) == sorted(
        (method, path, status) for method, path, _, status in CALLS
    )
    assert all(r.duration_ms >= 0 for r in rows)
    async with db.session() as session:
        bots = (
            await session.execute(
                sa.select(col(RequestLog.path), col(Bot.name), col(Bot.category))
                .join(Bot, col(Bot.id) == col(RequestLog.bot_id))
                .where(col(RequestLog.project_id) == project.id)
            )
        ).all()
    assert sorted((path, name, category) for path, name, category in bots) == [
        ("/users/1", "Googlebot", "search_engine"),
        ("/users/2", "GPTBot", "ai_crawler"),
    ]


class TestSeedFastAPISnippet:
    async def test_every_request_is_stored_and_bots_are_named(
        self, collector_url: str, factory: Factory, db: Database, tmp_path: Path
    ) -> None:
        project = await factory.project()
        source = fill(
            (SEED_APPS / "fastapi_snippet.py.txt").read_text(), collector_url, project.key
        )
        (tmp_path / "seed_fastapi_app.py").write_text(source + FASTAPI_ROUTES)
        port = free_port()
        app = spawn(
            [sys.executable, "-m", "uvicorn", "seed_fastapi_app:app", "--port", str(port)],
            cwd=tmp_path,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/users/0", app)
            await asyncio.to_thread(call_app, f"http://127.0.0.1:{port}")
        finally:
            stop(app)
        # the readiness probe was reported too
        await check_stored_ignoring_probe(db, project)


async def check_stored_ignoring_probe(db: Database, project: ProjectWithKey) -> None:
    async with db.session() as session:
        await session.execute(
            sa.delete(RequestLog).where(
                col(RequestLog.project_id) == project.id, col(RequestLog.path) == "/users/0"
            )
        )
        await session.commit()
    await check_stored(db, project)


class TestSeedExpressSnippet:
    async def test_every_request_is_stored_and_bots_are_named(
        self, collector_url: str, factory: Factory, db: Database, tmp_path: Path
    ) -> None:
        node = shutil.which("node")
        if node is None:
            pytest.fail("Node.js is required for the Express snippet test")
        app_dir = SEED_APPS / "express"
        if not (app_dir / "node_modules" / "express").is_dir():
            await asyncio.to_thread(
                subprocess.run,
                ["npm", "ci", "--no-audit", "--no-fund", "--silent"],
                cwd=app_dir,
                check=True,
            )
        project = await factory.project()
        snippet = fill((app_dir / "snippet.js.txt").read_text(), collector_url, project.key)
        script = app_dir / f"app-{project.id}.js"
        script.write_text(EXPRESS_HEAD + snippet + EXPRESS_TAIL)
        port = free_port()
        app = spawn([node, script.name], cwd=app_dir, env={**os.environ, "PORT": str(port)})
        try:
            wait_until_up(f"http://127.0.0.1:{port}/users/0", app)
            await asyncio.to_thread(call_app, f"http://127.0.0.1:{port}")
            await wait_for_rows(db, project.id, len(CALLS) + 1)
        finally:
            stop(app)
            script.unlink()
        await check_stored_ignoring_probe(db, project)
