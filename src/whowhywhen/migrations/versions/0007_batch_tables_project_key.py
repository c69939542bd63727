"""batch tables: no foreign key on project_id where the collector writes every batch

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 10:00:00.000000

A foreign key is checked per inserted row; the collector now locks each project once per
transaction instead, and deleting a project deletes these tables' rows itself.
"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "request_logs",
    "rollups_minute",
    "latency_histograms_minute",
    "dimension_rollups_hour",
    "bot_rollups_hour",
    "unique_ip_registers_hour",
)


def upgrade() -> None:
    """Upgrade schema."""
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"fk_{table}_project_id_projects"), type_="foreignkey")


def downgrade() -> None:
    """Downgrade schema."""
    for table in TABLES:
        # Rows of projects deleted since the upgrade would violate the key.
        op.execute(f"DELETE FROM {table} WHERE project_id NOT IN (SELECT id FROM projects)")  # noqa: S608
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(
                op.f(f"fk_{table}_project_id_projects"),
                "projects",
                ["project_id"],
                ["id"],
                ondelete="CASCADE",
            )
