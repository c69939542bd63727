"""Configuration: arguments over environment, validation, and helpers."""

from __future__ import annotations

import email.utils
import logging
import subprocess
import sys
import time
from typing import Any

import pytest

from whowhywhen_sdk._client import get_client, normalise_route
from whowhywhen_sdk._config import DEFAULT_EXCLUDE_PATHS, ConfigError, resolve_config
from whowhywhen_sdk._log import key_prefix
from whowhywhen_sdk._transport import parse_retry_after

from .conftest import API_KEY


class TestResolve:
    def test_arguments_win_over_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("WHOWHYWHEN_API_KEY", "from-env-000000000000")
        monkeypatch.setenv("WHOWHYWHEN_URL", "http://env:8001")
        config = resolve_config(API_KEY, "https://arg.example:9000/")
        assert (config.api_key, config.url) == (API_KEY, "https://arg.example:9000")

    def test_the_environment_fills_what_arguments_leave_out(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("WHOWHYWHEN_API_KEY", "from-env-000000000000")
        monkeypatch.setenv("WHOWHYWHEN_URL", "http://env:8001")
        monkeypatch.setenv("WHOWHYWHEN_TRUSTED_PROXIES", "10.1.0.0/16, 10.2.0.1")
        monkeypatch.setenv("WHOWHYWHEN_SAMPLE_RATE", "0.25")
        config = resolve_config()
        assert config.endpoint == "http://env:8001/api/log/bulk"
        assert config.trusted_proxies == ("10.1.0.0/16", "10.2.0.1")
        assert config.sample_rate == 0.25

    @pytest.mark.parametrize(
        "url",
        [
            "http://collector:8001",
            "http://collector:8001/",
            "http://collector:8001/api/log",
            "http://collector:8001/api/log/bulk",
        ],
    )
    def test_url_is_the_collector_base(self, url: str) -> None:
        assert resolve_config(API_KEY, url).endpoint == "http://collector:8001/api/log/bulk"

    def test_defaults_match_the_documented_ones(self) -> None:
        config = resolve_config(API_KEY, "http://c:8001")
        assert (
            config.max_queue_size,
            config.batch_size,
            config.flush_interval,
            config.shutdown_timeout,
            config.timeout,
        ) == (10_000, 500, 2.0, 5.0, 10.0)
        assert config.exclude_paths == DEFAULT_EXCLUDE_PATHS
        assert config.exclude_methods == ("OPTIONS",)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"api_key": None}, "no API key"),
            ({"api_key": "has space in it 0000"}, "whitespace"),
            ({"url": None}, "no collector URL"),
            ({"url": "ftp://x"}, "url must look like"),
            ({"url": "http://x?y=1"}, "query string"),
            ({"sample_rate": 1.5}, "sample_rate"),
            ({"trusted_proxies": ["not-an-ip"]}, "trusted_proxies"),
            ({"exclude_paths": ["(unclosed"]}, "regular expression"),
            ({"batch_size": 5000}, "batch_size"),
            ({"flush_interval": 0}, "flush_interval"),
            ({"consumer_callback": "nope"}, "callable"),
        ],
    )
    def test_invalid_settings_are_refused(self, kwargs: dict[str, Any], message: str) -> None:
        values: dict[str, Any] = {"api_key": API_KEY, "url": "http://c:8001", **kwargs}
        with pytest.raises(ConfigError, match=message):
            resolve_config(**values)


class TestGetClient:
    def test_misconfiguration_disables_with_one_warning(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="whowhywhen_sdk"):
            assert get_client(API_KEY, "http://c:8001", sample_rate=3) is None
            assert get_client(API_KEY, "http://c:8001", no_such_option=1) is None
        assert len(caplog.records) == 2
        assert all("WhoWhyWhen disabled" in r.getMessage() for r in caplog.records)
        assert API_KEY not in caplog.text

    def test_can_be_switched_off_by_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("WHOWHYWHEN_ENABLED", "false")
        assert get_client(API_KEY, "http://c:8001") is None

    def test_one_client_per_configuration(self) -> None:
        first = get_client(API_KEY, "http://c:8001")
        assert first is get_client(API_KEY, "http://c:8001/")
        assert first is not get_client(API_KEY, "http://c:8001", sample_rate=0.5)


class TestHelpers:
    @pytest.mark.parametrize(
        ("route", "expected"),
        [
            ("users/<int:pk>/", "/users/{pk}/"),
            ("/users/<user_id>", "/users/{user_id}"),
            ("/files/<path:name>", "/files/{name}"),
            ("^legacy/(?P<year>[0-9]{4})/$", "/legacy/{year}/"),
            ("/plain", "/plain"),
            ("", None),
        ],
    )
    def test_normalise_route(self, route: str, expected: str | None) -> None:
        assert normalise_route(route) == expected

    def test_key_prefix_never_shows_the_secret(self) -> None:
        assert key_prefix(API_KEY) == API_KEY[:8] + "…"
        assert key_prefix("short") == "s…"
        assert len(key_prefix("abcdefgh")) <= 3

    def test_retry_after_parsing(self) -> None:
        now = time.time()
        assert parse_retry_after("7") == 7.0
        date = email.utils.formatdate(now + 30, usegmt=True)
        delay = parse_retry_after(date, now=now)
        assert delay is not None
        assert 29 <= delay <= 30
        assert parse_retry_after("soon") is None
        assert parse_retry_after(None) is None
        assert parse_retry_after("-3") is None


def test_importing_starts_nothing() -> None:
    code = (
        "import atexit, sys, threading, logging, asyncio, urllib.request; "
        "n = atexit._ncallbacks(); import whowhywhen_sdk; "
        "assert threading.active_count() == 1; assert atexit._ncallbacks() == n; "
        "assert not {'django', 'flask', 'starlette', 'fastapi'} & set(sys.modules), sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
