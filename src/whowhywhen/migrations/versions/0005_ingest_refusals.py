"""ingest outcomes: count refused requests per project and day (COL-12)

Revision ID: 0005
Revises: 0001
Create Date: 2026-12-04 23:30:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "refused_invalid",
    "refused_too_large",
    "refused_media_type",
    "rate_limited",
    "shed",
    "unavailable",
)


def upgrade() -> None:
    with op.batch_alter_table("ingest_outcomes") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    # Inserts always name their columns; the server default only filled the existing rows.
    with op.batch_alter_table("ingest_outcomes") as batch:
        for name in COLUMNS:
            batch.alter_column(name, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("ingest_outcomes") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
