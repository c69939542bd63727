"""X-Forwarded-For is believed only from configured proxies (CFG-07): a spoofed header from
any other peer cannot move a client into a fresh invalid-key bucket."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx2
import pytest

from tests.ingest.helpers import event
from tests.ingest.test_seed_snippets import free_port, stop, wait_until_up
from whowhywhen.config import Settings


def start_collector(settings: Settings, trusted: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.resolved_database_url,
        "WHOWHYWHEN_DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": settings.resolved_secret_key,
        "TRUSTED_PROXIES": trusted,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "whowhywhen", "collector", "--port", str(port), "--no-migrate"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(f"{url}/api/health", process)
    return process, url


def invalid_key_codes(url: str, spoof: bool) -> list[int]:
    codes = []
    with httpx2.Client(base_url=url, timeout=10) as http:
        for n in range(25):
            headers = {"X-API-KEY": "not-a-key"}
            if spoof:
                headers["X-Forwarded-For"] = f"203.0.113.{n}"
            codes.append(http.post("/api/log", headers=headers, json=event()).status_code)
    return codes


@pytest.fixture
def sqlite_only(settings: Settings) -> Settings:
    if not settings.is_sqlite:
        pytest.skip("transport behaviour, independent of the database")
    return settings


class TestTrustedProxies:
    @pytest.mark.parametrize(("trusted", "limited"), [("10.9.9.9", True), ("127.0.0.1", False)])
    def test_forwarded_addresses_count_only_from_trusted_proxies(
        self, sqlite_only: Settings, trusted: str, limited: bool
    ) -> None:
        process, url = start_collector(sqlite_only, trusted)
        try:
            codes = invalid_key_codes(url, spoof=True)
        finally:
            stop(process)
        assert codes[:20] == [401] * 20
        assert (429 in codes) is limited
