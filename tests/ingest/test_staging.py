"""PostgreSQL's staging table: made once per connection, and again after a rollback undid it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from whowhywhen.db import Database
from whowhywhen.ingest import repository, rollups


async def _stage_exists(session: AsyncSession) -> bool:
    found = await session.execute(sa.text("SELECT to_regclass('pg_temp.ingest_stage')"))
    return found.scalar() is not None


async def test_the_stage_is_made_once_and_again_after_a_rollback(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("the staging table is PostgreSQL's")
    no_agents = rollups.agent_columns({})
    async with db.engine.connect() as connection:
        session = AsyncSession(bind=connection)
        # Made inside a transaction that rolls back: the table goes with it.
        assert await repository.copy_events(session, [], no_agents) == {}
        assert await _stage_exists(session)
        await session.rollback()
        assert not await _stage_exists(session)
        await session.rollback()
        # The next batch on the connection makes it again, and a committed one keeps it.
        assert await repository.copy_events(session, [], no_agents) == {}
        await session.commit()
        assert await _stage_exists(session)
        await session.commit()
        assert await repository.copy_events(session, [], no_agents) == {}
        await session.commit()
        await session.close()
