"""Run Alembic migrations from code: on start, from the CLI and in tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from whowhywhen.config import Settings

MIGRATIONS = Path(__file__).parent


def alembic_config(settings: Settings | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings | None = None, revision: str = "heads") -> None:
    command.upgrade(alembic_config(settings), revision)
