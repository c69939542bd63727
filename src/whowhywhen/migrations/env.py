import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import whowhywhen.models  # noqa: F401  (registers every table)
from whowhywhen.config import get_settings
from whowhywhen.db import create_engine
from whowhywhen.models.base import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(context.config.attributes.get("settings") or get_settings())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


connectable = context.config.attributes.get("connection")
if connectable is not None:
    _run(connectable)
else:
    asyncio.run(_run_async())
