"""analytics reads: dimension day totals without status code and bot-or-not

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 09:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import whowhywhen.models.base

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "dimension_totals_day",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("bucket", whowhywhen.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("duration_sum", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_dimension_totals_day_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "project_id", "bucket", "dimension", "value", name=op.f("pk_dimension_totals_day")
        ),
    )
    # The days compacted so far: from then on the compaction task keeps the totals.
    op.execute(
        "INSERT INTO dimension_totals_day"
        " (project_id, bucket, dimension, value, count, duration_sum)"
        " SELECT project_id, bucket, dimension, value, sum(count), sum(duration_sum)"
        " FROM dimension_rollups_day GROUP BY project_id, bucket, dimension, value"
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("dimension_totals_day")
