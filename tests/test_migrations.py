"""The migrations produce exactly the schema the models describe (`alembic check`)."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from whowhywhen.config import Settings
from whowhywhen.db import create_engine
from whowhywhen.migrations import alembic_config
from whowhywhen.models.base import metadata


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
