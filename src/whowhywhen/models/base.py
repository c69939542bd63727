from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata = SQLModel.metadata


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite drops the offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def project_fk() -> sa.Column[int]:
    """`project_id` of a table keyed by project: its rows go when the project is deleted."""
    return sa.Column(
        sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True, nullable=False
    )


def batch_project_id(*, primary_key: bool = True) -> sa.Column[int]:
    """`project_id` of a table the collector writes in every batch: no foreign key.

    A foreign key is checked per inserted row (a lookup and a share lock on the project's row):
    a fifth of the collector's statement on PostgreSQL. The collector locks each project of a
    transaction once instead (`ingest.repository.lock_projects`), and deleting a project deletes
    these tables' rows itself (`project.repository.delete`); `BATCH_TABLES` lists them.
    """
    return sa.Column(sa.Integer, primary_key=primary_key, nullable=False)


def covering_primary_key(*key: str, include: Sequence[str]) -> sa.PrimaryKeyConstraint:
    """A rollup table's primary key that also carries `include` in its leaf pages (PostgreSQL).

    Range reads by (project_id, bucket) are then index-only scans, whatever dead rows the
    compaction's DELETEs left in the heap, without a second covering index that every row the
    collector inserts or updates would have to enter too.
    """
    return sa.PrimaryKeyConstraint(*key, postgresql_include=list(include))
