"""Every table that holds a project's rows is emptied when the project is deleted."""

from __future__ import annotations

from whowhywhen.models import BATCH_TABLES, metadata


def test_every_project_table_cascades_or_is_deleted_explicitly() -> None:
    explicit = {model.__table__.name for model in BATCH_TABLES}  # type: ignore[attr-defined]
    for table in metadata.sorted_tables:
        if "project_id" not in table.c or table.name == "projects":
            continue
        keys = [
            fk
            for fk in table.c.project_id.foreign_keys
            if fk.column.table.name == "projects" and fk.ondelete == "CASCADE"
        ]
        assert bool(keys) != (table.name in explicit), (
            f"{table.name}: project_id needs ON DELETE CASCADE, or no foreign key and a place "
            "in BATCH_TABLES (deleted explicitly), not both"
        )
