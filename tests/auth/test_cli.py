"""`create-user`, `create-project` and `create-key` go through the same services as the API."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from whowhywhen.cli import app
from whowhywhen.config import Settings, get_settings


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("WHOWHYWHEN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    return CliRunner()


def test_bootstrap_commands(cli_env: CliRunner) -> None:
    try:
        weak = cli_env.invoke(
            app, ["create-user", "--email", "cli@example.com", "--password", "password1234"]
        )
        assert weak.exit_code == 1
        assert "common" in weak.output
        made = cli_env.invoke(
            app,
            ["create-user", "--email", "cli-owner@example.com", "--password", "kettle-sprout-cli"],
        )
        assert made.exit_code == 0, made.output
        project = cli_env.invoke(
            app, ["create-project", "--owner", "cli-owner@example.com", "--name", "CLI"]
        )
        assert project.exit_code == 0, project.output
        project_id = project.output.strip().splitlines()[-1]
        key = cli_env.invoke(app, ["create-key", "--project", project_id])
        assert key.exit_code == 0, key.output
        assert key.output.strip().splitlines()[-1].startswith("wwy_")
    finally:
        get_settings.cache_clear()
