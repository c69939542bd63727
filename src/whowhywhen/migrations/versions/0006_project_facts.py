"""project facts: hour and day fact rollups summed over endpoints; one head again

Revision ID: 0006
Revises: 0002, 0004, 0005
Create Date: 2026-12-05 01:30:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import whowhywhen.models.base

# revision identifiers, used by Alembic.
revision: str = "0006"
# Accounts (0002), analytics (0003-0004) and ingest refusals (0005) each grew from 0001; this
# revision joins them, and needs the fact tables of 0003.
down_revision: str | Sequence[str] | None = ("0002", "0004", "0005")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The table each copy sums over endpoints.
LEVELS = {"rollups_project_hour": "rollups_hour", "rollups_project_day": "rollups_day"}


def upgrade() -> None:
    """Upgrade schema."""
    for name, level in LEVELS.items():
        copy = op.create_table(
            name,
            sa.Column("project_id", sa.Integer(), nullable=False),
            sa.Column("bucket", whowhywhen.models.base.UTCDateTime(timezone=True), nullable=False),
            sa.Column("status_code", sa.Integer(), nullable=False),
            sa.Column("is_bot", sa.Boolean(), nullable=False),
            sa.Column("count", sa.Integer(), nullable=False),
            sa.Column("duration_sum", sa.Float(), nullable=False),
            sa.Column("duration_max", sa.Float(), nullable=False),
            sa.ForeignKeyConstraint(
                ["project_id"],
                ["projects.id"],
                name=op.f(f"fk_{name}_project_id_projects"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint(
                "project_id", "bucket", "status_code", "is_bot", name=op.f(f"pk_{name}")
            ),
        )
        # The hours and days compacted so far: from then on the compaction task keeps the
        # copies in the transactions that write and empty their levels.
        names = [column.name for column in copy.columns]
        rows = sa.table(level, *(sa.column(column) for column in names))
        key = [rows.c.project_id, rows.c.bucket, rows.c.status_code, rows.c.is_bot]
        summed = sa.select(
            *key,
            sa.func.sum(rows.c.count),
            sa.func.sum(rows.c.duration_sum),
            sa.func.max(rows.c.duration_max),
        ).group_by(*key)
        op.execute(copy.insert().from_select(names, summed))


def downgrade() -> None:
    """Downgrade schema."""
    for name in LEVELS:
        op.drop_table(name)
