"""A project deleted while the collector holds its batches: nothing is stored as an orphan.

The tables the collector writes per batch have no foreign key to `projects` (one check per
project and transaction instead of one per row); these tests hold the collector at the moments
where a deletion can meet it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI

from tests.factories import Factory
from tests.ingest.helpers import count_rows, events, rows_per_table
from tests.ingest.test_group_commit import HeldWriter, _in_turn
from whowhywhen.db import Database
from whowhywhen.ingest import repository as ingest_repository
from whowhywhen.models import BATCH_TABLES
from whowhywhen.project import repository as project_repository


async def _delete(db: Database, project_id: int) -> None:
    async with db.session() as session:
        await project_repository.delete(session, project_id)
        await session.commit()


async def test_a_batch_whose_project_was_deleted_while_it_waited_is_refused_alone(
    client: httpx2.AsyncClient, factory: Factory, db: Database, app: FastAPI
) -> None:
    held = HeldWriter(app.state.ingest)
    kept, deleted = await factory.project(name="Kept"), await factory.project(name="Deleted")

    post = _in_turn(held)
    leading = await post(client, kept, {"batch_id": "first", "events": events(2)})
    doomed = await post(client, deleted, {"batch_id": "doomed", "events": events(3)})
    mate = await post(client, kept, {"batch_id": "mate", "events": events(4)})
    await _delete(db, deleted.id)  # its key is still in the collector's cache
    held.release.set()
    first, refused, stored = await asyncio.gather(leading, doomed, mate)

    assert held.groups == [["first"], ["doomed", "mate"]]
    assert (first.status_code, stored.status_code) == (202, 202)
    assert stored.json()["accepted"] == 4
    assert refused.status_code == 401
    assert "project was deleted" in refused.json()["detail"]
    assert await count_rows(db, kept.id) == 6
    assert set((await rows_per_table(db, deleted.id, BATCH_TABLES)).values()) == {0}
    again = await client.post("/api/log/bulk", headers=deleted.headers, json={"events": events(1)})
    assert again.status_code == 401  # the cached key was dropped with the refusal


async def test_a_deletion_waits_for_the_transaction_storing_the_project(
    client: httpx2.AsyncClient,
    factory: Factory,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time: the two cannot overlap")
    project = await factory.project()
    locked, release = asyncio.Event(), asyncio.Event()
    lock_projects: Callable[..., Awaitable[set[int]]] = ingest_repository.lock_projects

    async def held_after_lock(*args: Any) -> set[int]:
        alive = await lock_projects(*args)
        locked.set()
        await release.wait()
        return alive

    monkeypatch.setattr(ingest_repository, "lock_projects", held_after_lock)
    posted = asyncio.create_task(
        client.post("/api/log/bulk", headers=project.headers, json={"events": events(5)})
    )
    await asyncio.wait_for(locked.wait(), 10)
    deletion = asyncio.create_task(_delete(db, project.id))
    await asyncio.sleep(0.5)
    assert not deletion.done()  # waiting for the collector's lock on the project
    release.set()
    assert (await posted).json()["accepted"] == 5
    await asyncio.wait_for(deletion, 10)
    # The deletion went on after the batch committed, and removed what the batch stored.
    assert set((await rows_per_table(db, project.id, BATCH_TABLES)).values()) == {0}
