from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

import whowhywhen_sdk
from whowhywhen_sdk import _client, _log
from whowhywhen_sdk._client import Client, get_client

from .fake_collector import FakeCollector

API_KEY = "wwwtest_0123456789abcdefSECRETSECRET"

ENV_VARS = (
    "WHOWHYWHEN_API_KEY",
    "WHOWHYWHEN_URL",
    "WHOWHYWHEN_ENABLED",
    "WHOWHYWHEN_SAMPLE_RATE",
    "WHOWHYWHEN_TRUSTED_PROXIES",
)


@pytest.fixture(autouse=True)
def _isolate_sdk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    _log._last_logged.clear()
    yield
    whowhywhen_sdk.shutdown(timeout=0.5)
    _client._clients.clear()


@pytest.fixture
def collector() -> Iterator[FakeCollector]:
    fake = FakeCollector()
    yield fake
    fake.close()


def make_client(url: str, **options: Any) -> Client:
    client = get_client(API_KEY, url, **options)
    assert client is not None
    return client


def capture(client: Client, count: int = 1, *, path: str = "/items", **fields: Any) -> None:
    for i in range(count):
        values: dict[str, Any] = {
            "method": "GET",
            "url": f"http://api.test{path}?n={i}",
            "status_code": 200,
            "duration_ns": 1_200_000,
            "timestamp_ns": time.time_ns(),
            "user_agent": "pytest",
            "ip_address": "203.0.113.9",
        }
        values.update(fields)
        client.capture(**values)
