"""Rollups equal the aggregation of exactly the stored raw rows, on both backends.

PostgreSQL aggregates in SQL inside the statement that stores the rows; SQLite aggregates in
Python (`rollups.aggregate`). Here both are held to `rollups.aggregate` applied to what
`request_logs` holds, after batches with every kind of value and with duplicates.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import UTC, timedelta
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from tests.factories import Factory
from tests.ingest.helpers import CHROME, GOOGLEBOT, GPTBOT, iso
from whowhywhen.analytics import hll
from whowhywhen.db import Database
from whowhywhen.ingest import rollups
from whowhywhen.ingest.pipeline.events import EMPTY_USER_AGENT, UserAgentInfo
from whowhywhen.kit.time import utc_now
from whowhywhen.models.enums import ClientType, DeviceType

AGENTS = [
    CHROME,
    GOOGLEBOT,
    GPTBOT,
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "",
    "SomethingNobodyKnows/0.1 " + "x" * 300,
]

_ROLLUP_TABLES = {
    "minute": ("rollups_minute", ["bucket", "endpoint_id", "status_code", "is_bot"]),
    "histograms": (
        "latency_histograms_minute",
        ["bucket", "endpoint_id", "status_code", "is_bot", "bin"],
    ),
    "dimensions": (
        "dimension_rollups_hour",
        ["bucket", "dimension", "value", "status_code", "is_bot"],
    ),
    "bots": ("bot_rollups_hour", ["bucket", "bot_id", "endpoint_id", "status_code"]),
    "unique_ips": ("unique_ip_registers_hour", ["bucket", "slot"]),
}


def _varied_events(rng: random.Random, n: int) -> list[dict[str, Any]]:
    now = utc_now()
    out = []
    for _ in range(n):
        item: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "url": f"https://api.example.com/v1/{rng.choice(['users', 'orders', 'items'])}/"
            f"{rng.randint(1, 50)}",
            "method": rng.choice(["GET", "POST", "DELETE"]),
            "status_code": rng.choice([200, 200, 201, 301, 404, 500]),
            # zero, sub-microsecond, exact bin edges and long tails
            "duration": rng.choice([0.0, 1e-7, 0.001, 1.04**50 / 1000, rng.expovariate(20)]),
            "user_agent": rng.choice(AGENTS),
            "timestamp": iso(now - timedelta(minutes=rng.randint(0, 150))),
        }
        ip = rng.choice([None, "", "8.8.8.8", f"81.2.69.{rng.randint(1, 254)}", "2001:db8::1"])
        if ip is not None:
            item["ip_address"] = ip
        if rng.random() < 0.4:
            item["consumer"] = rng.choice(["acme", "globex", "x" * 256, ""])
        out.append(item)
    return out


async def _table(db: Database, project_id: int, name: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    table, key = _ROLLUP_TABLES[name]
    async with db.session() as session:
        t = SQLModel.metadata.tables[table]
        result = await session.execute(sa.select(t).where(t.c.project_id == project_id))
        rows = [dict(r._mapping) for r in result]
    return {tuple(_plain(row[k]) for k in key): _values(row, key) for row in rows}


def _plain(value: Any) -> Any:
    if hasattr(value, "tzinfo") and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # SQLite hands datetimes back naive (UTC)
    if isinstance(value, bool | int):
        return int(value)
    return value


def _values(row: dict[str, Any], key: list[str]) -> dict[str, Any]:
    return {
        k: pytest.approx(v) if isinstance(v, float) else _plain(v)
        for k, v in row.items()
        if k not in key and k not in ("project_id", "id")
    }


async def _expected(db: Database, project_id: int) -> dict[str, dict[tuple[Any, ...], Any]]:
    logs_table = SQLModel.metadata.tables["request_logs"]
    async with db.session() as session:
        logs = [
            dict(r._mapping)
            for r in await session.execute(
                sa.select(logs_table).where(logs_table.c.project_id == project_id)
            )
        ]
        agents = {
            r.id: UserAgentInfo(
                raw=r.raw,
                browser=r.browser,
                browser_version=r.browser_version,
                os=r.os,
                os_version=r.os_version,
                device=r.device,
                device_type=DeviceType(r.device_type),
                client_type=ClientType(r.client_type),
                library=r.library,
            )
            for r in await session.execute(sa.select(SQLModel.metadata.tables["user_agents"]))
        }
    for log in logs:
        if log["timestamp"].tzinfo is None:
            log["timestamp"] = log["timestamp"].replace(tzinfo=UTC)
    infos = [agents.get(log["user_agent_id"], EMPTY_USER_AGENT) for log in logs]
    batch = rollups.aggregate(project_id, logs, infos)
    expected: dict[str, dict[tuple[Any, ...], Any]] = {}
    for name, (_table_name, key) in _ROLLUP_TABLES.items():
        expected[name] = {
            tuple(_plain(row[k]) for k in key): _values(row, key) for row in getattr(batch, name)
        }
    return expected


class TestRollupsMatchStoredRows:
    async def test_every_rollup_table_equals_the_aggregate_of_the_stored_rows(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        rng = random.Random(11)
        first = _varied_events(rng, 400)
        second = first[:150] + _varied_events(rng, 250)  # 150 duplicates, 250 new
        for batch in (first, second, first[200:]):
            response = await client.post("/api/log/bulk", headers=project.headers, json=batch)
            assert response.status_code == 202, response.text
        last = response.json()
        assert last == {"accepted": 200, "duplicates": 200, "rejected": []}

        expected = await _expected(db, project.id)
        assert sum(v["count"] for v in expected["minute"].values()) == 650
        per_table: dict[str, int] = defaultdict(int)
        for name in _ROLLUP_TABLES:
            actual = await _table(db, project.id, name)
            assert actual == expected[name], name
            per_table[name] = len(actual)
        # the data really exercises every table
        assert all(per_table[name] > 0 for name in _ROLLUP_TABLES), per_table
        dimensions = {key[1] for key in expected["dimensions"]}
        assert dimensions == {
            "browser",
            "os",
            "device_type",
            "client_type",
            "library",
            "country",
            "consumer",
        }

    def test_registers_follow_the_documented_hash(self) -> None:
        # The SQL form of the HyperLogLog hash reads the first 64 bits of MD5; keep Python equal.
        assert hll.register_of("8.8.8.8") == (259, 1)
