"""Batches that wait for the writer together are stored in one transaction (group commit).

Each test holds the writer's first transaction open, sends more batches meanwhile so they queue,
then lets it go: the queued batches are written as one group, and every request still gets its
own answer, counts and isolation, exactly as if it had been written alone.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from tests.factories import Factory, ProjectWithKey
from tests.ingest.helpers import count_rows, events, rollup_totals
from whowhywhen.db import Database
from whowhywhen.ingest.service import IngestService
from whowhywhen.models import IngestOutcome

Post = Callable[[ProjectWithKey, dict[str, Any]], Awaitable[httpx2.Response]]


class HeldWriter:
    """Wraps the service's transaction: records each group's batch ids, holds the first group
    until released, and fails any group that holds a batch id listed in `poison`."""

    def __init__(self, service: IngestService) -> None:
        self.groups: list[list[str | None]] = []
        self.release = asyncio.Event()
        self.poison: set[str] = set()
        self.service = service
        self._store_once = service._store_once
        service._store_once = self._wrapped  # type: ignore[method-assign]
        service.writers = 1

    async def _wrapped(self, group: list[Any]) -> Any:
        ids = [write.batch_id for write in group]
        self.groups.append(ids)
        if len(self.groups) == 1:
            await self.release.wait()
        if self.poison.intersection(i for i in ids if i is not None):
            raise IntegrityError("INSERT", {}, Exception("rejected by the database"))
        return await self._store_once(group)


@pytest.fixture
async def held(app: FastAPI) -> HeldWriter:
    return HeldWriter(app.state.ingest)


@pytest.fixture
async def lenient_client(app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    """A client that receives the app's 500s as responses instead of exceptions."""
    transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx2.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def _queued(held: HeldWriter, tasks: list[asyncio.Task[httpx2.Response]]) -> None:
    """Wait until the first batch holds the writer and each later one waits in its queue, in
    the order given."""
    for _ in range(1000):
        if held.groups and len(held.service._queue) == len(tasks) - 1:
            assert not any(t.done() for t in tasks)
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the batches never queued")


def _in_turn(held: HeldWriter) -> Callable[..., Awaitable[asyncio.Task[httpx2.Response]]]:
    """Post a batch and return once it waits for the writer (the first one: holds it)."""
    tasks: list[asyncio.Task[httpx2.Response]] = []

    async def post(
        client: httpx2.AsyncClient, project: ProjectWithKey, body: dict[str, Any]
    ) -> asyncio.Task[httpx2.Response]:
        task = asyncio.create_task(client.post("/api/log/bulk", headers=project.headers, json=body))
        tasks.append(task)
        await _queued(held, tasks)
        return task

    return post


async def _outcomes(db: Database, project_id: int) -> tuple[int, int]:
    async with db.session() as session:
        row = (
            await session.execute(
                sa.select(
                    sa.func.sum(IngestOutcome.accepted), sa.func.sum(IngestOutcome.duplicates)
                ).where(col(IngestOutcome.project_id) == project_id)
            )
        ).one()
    return int(row[0] or 0), int(row[1] or 0)


async def test_waiting_batches_share_one_transaction_and_keep_their_own_answers(
    client: httpx2.AsyncClient, factory: Factory, db: Database, held: HeldWriter
) -> None:
    a, b = await factory.project(name="A"), await factory.project(name="B")
    shared_id = str(uuid.uuid4())
    first = {"batch_id": "first", "events": events(3)}
    one = {"batch_id": "one", "events": [*events(2), {**events(1)[0], "id": shared_id}]}
    # Same project, one event id already in the batch before it in the same group.
    two = {"batch_id": "two", "events": [*events(1), {**events(1)[0], "id": shared_id}]}
    other = {"batch_id": "other", "events": events(4)}  # another project
    again = dict(one)  # a retry of "one" that arrives while "one" still waits

    post = _in_turn(held)
    leading = await post(client, a, first)
    queued = [
        await post(client, a, one),
        await post(client, a, two),
        await post(client, b, other),
        await post(client, a, again),
    ]
    held.release.set()
    answers = [r.json() for r in await asyncio.gather(leading, *queued)]

    assert held.groups == [["first"], ["one", "two", "other", "one"]]
    assert [(x["accepted"], x["duplicates"]) for x in answers] == [
        (3, 0),
        (3, 0),
        (2, 1),
        (4, 0),
        (3, 3),
    ]
    assert await count_rows(db, a.id) == 3 + 3 + 1
    assert await count_rows(db, b.id) == 4
    assert await rollup_totals(db, a.id) == (7, 7)
    assert await rollup_totals(db, b.id) == (4, 4)
    assert await _outcomes(db, a.id) == (3 + 3 + 1, 1 + 3)  # stored, duplicates
    assert await _outcomes(db, b.id) == (4, 0)


async def test_a_batch_the_database_refuses_fails_alone(
    lenient_client: httpx2.AsyncClient, factory: Factory, db: Database, held: HeldWriter
) -> None:
    project = await factory.project()
    held.poison.add("bad")

    post = _in_turn(held)
    leading = await post(lenient_client, project, {"batch_id": "first", "events": events(2)})
    good = await post(lenient_client, project, {"batch_id": "good", "events": events(3)})
    bad = await post(lenient_client, project, {"batch_id": "bad", "events": events(5)})
    held.release.set()
    answers = await asyncio.gather(leading, good, bad)

    # The group failed as a whole, then each batch was written alone: only "bad" fails.
    assert held.groups == [["first"], ["good", "bad"], ["good"], ["bad"]]
    assert [r.status_code for r in answers] == [202, 202, 500]
    assert await count_rows(db, project.id) == 2 + 3


async def test_unavailable_storage_answers_every_waiting_batch_503(
    client: httpx2.AsyncClient, factory: Factory, db: Database, held: HeldWriter
) -> None:
    project = await factory.project()

    async def unreachable(group: list[Any]) -> Any:
        raise OSError("connection refused")

    post = _in_turn(held)
    leading = await post(client, project, {"batch_id": "first", "events": events(2)})
    queued = [
        await post(client, project, {"batch_id": f"q{i}", "events": events(2)}) for i in range(3)
    ]
    held._store_once = unreachable
    held.release.set()
    answers = await asyncio.gather(leading, *queued)

    assert [r.status_code for r in answers] == [503] * 4
    assert all(r.headers["retry-after"] for r in answers)
    assert held.groups == [["first"], ["q0", "q1", "q2"]]
    assert await count_rows(db, project.id) == 0
