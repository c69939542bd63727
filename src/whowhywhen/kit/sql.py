"""Dialect-aware `insert … on conflict` for PostgreSQL and SQLite."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert(table: sa.Table, dialect: str) -> Any:
    """An INSERT that supports `on_conflict_do_nothing` / `on_conflict_do_update`."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def dialect_of(session: AsyncSession) -> str:
    """`postgresql` or `sqlite`: the dialect of the engine the session is bound to."""
    return session.get_bind().dialect.name
