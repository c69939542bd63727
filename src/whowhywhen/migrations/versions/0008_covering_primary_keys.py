"""rollup tables: the primary key covers the counts; no second covering index

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 10:40:00.000000

Each of these tables had a primary key and a covering (project_id, bucket) index over the same
columns; every row the collector inserted or updated went into both. The primary key now
carries the counts itself (INCLUDE, PostgreSQL), so reads stay index-only with one index.
"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table: (primary key columns, included columns, the old index's included columns)
TABLES = {
    "rollups_minute": (
        ["project_id", "bucket", "endpoint_id", "status_code", "is_bot"],
        ["count", "duration_sum", "duration_max"],
        ["endpoint_id", "status_code", "is_bot", "count", "duration_sum", "duration_max"],
    ),
    "latency_histograms_minute": (
        ["project_id", "bucket", "endpoint_id", "status_code", "is_bot", "bin"],
        ["count"],
        ["endpoint_id", "status_code", "is_bot", "bin", "count"],
    ),
    "dimension_rollups_hour": (
        ["project_id", "bucket", "dimension", "value", "status_code", "is_bot"],
        ["count"],
        ["dimension", "value", "status_code", "is_bot", "count"],
    ),
    "unique_ip_registers_hour": (
        ["project_id", "bucket", "slot"],
        ["value"],
        ["slot", "value"],
    ),
}


def _primary_key(table: str, key: list[str], include: list[str] | None) -> None:
    columns = ", ".join(key)
    covering = f" INCLUDE ({', '.join(include)})" if include else ""
    op.execute(
        f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, "
        f"ADD CONSTRAINT pk_{table} PRIMARY KEY ({columns}){covering}"
    )


def upgrade() -> None:
    """Upgrade schema."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, (key, include, _) in TABLES.items():
        op.drop_index(f"ix_{table}_project_id_bucket", table_name=table)
        if postgres:  # SQLite has no INCLUDE: its primary key already leads with the range
            _primary_key(table, key, include)


def downgrade() -> None:
    """Downgrade schema."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, (key, _, old_include) in TABLES.items():
        if postgres:
            _primary_key(table, key, None)
        op.create_index(
            f"ix_{table}_project_id_bucket",
            table,
            ["project_id", "bucket"],
            postgresql_include=old_include,
        )
