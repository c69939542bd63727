"""Dialect-aware `insert … on conflict` for PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert(table: sa.Table, dialect: str) -> Any:
    """An INSERT that supports `on_conflict_do_nothing` / `on_conflict_do_update`."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def pg_unnest_insert(
    table: str,
    columns: dict[str, str],
    *,
    conflict: list[str],
    update: dict[str, str] | None = None,
    returning: str | None = None,
) -> sa.TextClause:
    """`INSERT … SELECT * FROM unnest(arrays) ON CONFLICT …`: a whole batch in one statement.

    `columns` maps each column to its PostgreSQL type; bind one list per column. `update` maps
    columns to SQL expressions (use `excluded.col` and `table.col`); without it, DO NOTHING.
    """
    arrays = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in columns.items())
    action = (
        "DO UPDATE SET " + ", ".join(f"{col} = {expr}" for col, expr in update.items())
        if update
        else "DO NOTHING"
    )
    # Identifiers come from our own code, never from input; values are bound parameters.
    head = f"INSERT INTO {table} ({', '.join(columns)})"
    sql = f"{head} SELECT * FROM unnest({arrays}) ON CONFLICT ({', '.join(conflict)}) {action}"  # noqa: S608
    if returning:
        sql += f" RETURNING {returning}"
    return sa.text(sql)


def as_columns(rows: list[dict[str, Any]], names: Iterable[str]) -> dict[str, list[Any]]:
    """Rows to one list per column, the shape `pg_unnest_insert` binds."""
    return {name: [row[name] for row in rows] for name in names}
