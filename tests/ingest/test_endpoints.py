"""The collector's HTTP contract, on SQLite and PostgreSQL: answers, limits, hostile input."""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
from datetime import timedelta

import httpx2
import pytest
from fastapi import FastAPI

from tests.factories import Factory
from tests.ingest.helpers import (
    CHROME,
    GOOGLEBOT,
    GPTBOT,
    count_rows,
    event,
    events,
    iso,
    rollup_totals,
    stored,
    stored_agents,
)
from whowhywhen.api_key.service import api_key_service
from whowhywhen.db import Database
from whowhywhen.ingest.schemas import ROW_COLUMNS
from whowhywhen.kit.time import utc_now


def _json(payload: object) -> bytes:
    return json.dumps(payload).encode()


class TestLogRequest:
    async def test_stores_the_seed_fastapi_payload(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        response = await client.post("/api/log", headers=project.headers, json=event())
        assert response.status_code == 202
        assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
        [row] = await stored(db, project.id)
        assert row.method == "GET"
        assert row.status_code == 200
        assert row.duration_ms == pytest.approx(42.1)
        assert row.host == "api.example.com"
        assert row.path == "/users/42"
        assert row.route == "/users/{id}"
        assert json.loads(row.query_params or "{}") == {"expand": ["orders"]}
        assert row.country == "US"
        assert row.user_agent_id is not None
        assert row.bot_id is None

    async def test_accepts_the_aliases_response_code_and_response_time(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        payload = {"url": "/orders", "method": "post", "response_code": 201, "response_time": 0.5}
        response = await client.post("/api/log", headers=project.headers, json=payload)
        assert response.status_code == 202
        [row] = await stored(db, project.id)
        assert (row.method, row.status_code, row.duration_ms) == ("POST", 201, 500.0)

    async def test_names_and_categorises_googlebot_and_gptbot(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        for agent in (GOOGLEBOT, GPTBOT):
            response = await client.post(
                "/api/log", headers=project.headers, json=event(user_agent=agent)
            )
            assert response.status_code == 202
        rows = await stored(db, project.id)
        assert all(row.bot_id is not None for row in rows)
        assert rows[0].bot_id != rows[1].bot_id

    async def test_an_invalid_event_is_a_422_naming_the_field(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        response = await client.post(
            "/api/log", headers=project.headers, json=event(status_code=999)
        )
        assert response.status_code == 422
        body = response.json()
        assert body["error"] == "UnprocessableEntity"
        assert body["detail"][0]["loc"] == ["body", "status_code"]

    async def test_an_array_on_the_single_route_is_a_400(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        response = await client.post("/api/log", headers=project.headers, json=[event()])
        assert response.status_code == 400
        assert "JSON object" in response.json()["detail"]


class TestAuthentication:
    async def test_missing_key_is_401(self, client: httpx2.AsyncClient) -> None:
        response = await client.post("/api/log", json=event())
        assert response.status_code == 401
        assert response.json() == {"error": "Unauthorized", "detail": "missing X-API-KEY header"}

    async def test_unknown_key_is_401(self, client: httpx2.AsyncClient, factory: Factory) -> None:
        project = await factory.project()
        wrong = project.key[:-8] + "AAAAAAAA"
        response = await client.post("/api/log", headers={"X-API-KEY": wrong}, json=event())
        assert response.status_code == 401

    async def test_key_in_the_query_string_is_refused(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        response = await client.post(f"/api/log?api_key={project.key}", json=event())
        assert response.status_code == 401
        assert "X-API-KEY header" in response.json()["detail"]
        assert await count_rows(db, project.id) == 0

    async def test_malformed_keys_are_refused_without_a_database_query(
        self, client: httpx2.AsyncClient, db: Database
    ) -> None:
        statements: list[str] = []

        def count(*args: object) -> None:
            statements.append(str(args[2]))

        import sqlalchemy as sa

        sa.event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            for bad in ("nope", "wwy_" + "A" * 49, "x" * 53):
                response = await client.post("/api/log", headers={"X-API-KEY": bad}, json=event())
                assert response.status_code == 401
        finally:
            sa.event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        assert statements == []

    async def test_repeated_invalid_keys_from_one_address_are_rate_limited(
        self, client: httpx2.AsyncClient
    ) -> None:
        codes = [
            (await client.post("/api/log", headers={"X-API-KEY": "bad"}, json=event())).status_code
            for _ in range(25)
        ]
        assert codes[:20] == [401] * 20
        assert codes[-1] == 429

    async def test_a_revoked_key_stops_working_once_the_cache_expires(
        self, settings: object, factory: Factory, app: FastAPI, client: httpx2.AsyncClient
    ) -> None:
        app.state.ingest.keys.ttl = 0.2
        project = await factory.project()
        assert (
            await client.post("/api/log", headers=project.headers, json=event())
        ).status_code == 202
        async with app.state.db.session() as session:
            from whowhywhen.api_key import repository

            key = await repository.find_active_by_hash(
                session, __import__("hashlib").sha256(project.key.encode()).hexdigest(), utc_now()
            )
            assert key is not None
            await api_key_service.revoke(session, project_id=project.id, key_id=key[0].id or 0)
            await session.commit()
        await asyncio.sleep(0.3)
        response = await client.post("/api/log", headers=project.headers, json=event())
        assert response.status_code == 401


class TestBulk:
    async def test_partial_success_lists_invalid_events_by_index_and_field(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        batch = events(100)
        batch[3]["status_code"] = "200"
        batch[50]["url"] = None
        batch[99]["duration"] = -1
        response = await client.post(
            "/api/log/bulk", headers=project.headers, json={"batch_id": "b-1", "events": batch}
        )
        assert response.status_code == 202
        body = response.json()
        assert body["accepted"] == 97
        assert [(r["index"], r["field"]) for r in body["rejected"]] == [
            (3, "status_code"),
            (50, "url"),
            (99, "duration"),
        ]
        assert await count_rows(db, project.id) == 97
        assert await rollup_totals(db, project.id) == (97, 97)

    async def test_a_bare_array_is_accepted(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        response = await client.post("/api/log/bulk", headers=project.headers, json=events(5))
        assert response.status_code == 202
        assert await count_rows(db, project.id) == 5

    async def test_a_retried_batch_is_stored_once(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        payload = {"batch_id": str(uuid.uuid4()), "events": events(10)}
        first = await client.post("/api/log/bulk", headers=project.headers, json=payload)
        again = await client.post("/api/log/bulk", headers=project.headers, json=payload)
        assert first.json() == {"accepted": 10, "duplicates": 0, "rejected": []}
        assert again.json() == {"accepted": 10, "duplicates": 10, "rejected": []}
        assert await count_rows(db, project.id) == 10
        assert await rollup_totals(db, project.id) == (10, 10)

    async def test_repeated_event_ids_across_batches_are_stored_once(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        batch = events(6)
        await client.post("/api/log/bulk", headers=project.headers, json=batch[:4])
        response = await client.post("/api/log/bulk", headers=project.headers, json=batch[2:])
        assert response.json() == {"accepted": 4, "duplicates": 2, "rejected": []}
        assert await count_rows(db, project.id) == 6

    async def test_gzip_bodies_are_accepted(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        body = gzip.compress(_json({"events": events(20)}))
        response = await client.post(
            "/api/log/bulk",
            headers={
                **project.headers,
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
            content=body,
        )
        assert response.status_code == 202
        assert await count_rows(db, project.id) == 20

    async def test_rollups_hold_count_sum_max_and_one_histogram_entry_per_event(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        batch = [event(duration=d) for d in (0.010, 0.020, 0.030)]
        await client.post("/api/log/bulk", headers=project.headers, json=batch)
        import sqlalchemy as sa
        from sqlmodel import col

        from whowhywhen.models import RollupMinute

        async with db.session() as session:
            [rollup] = (
                await session.execute(
                    sa.select(RollupMinute).where(col(RollupMinute.project_id) == project.id)
                )
            ).scalars()
        assert rollup.count == 3
        assert rollup.duration_sum == pytest.approx(60.0)
        assert rollup.duration_max == pytest.approx(30.0)
        assert await rollup_totals(db, project.id) == (3, 3)


class TestRows:
    """The row form the SDKs send: `columns` + `rows`, durations and timestamps in ns."""

    @staticmethod
    def row(**overrides: object) -> list[object]:
        values = {
            "id": str(uuid.uuid4()),
            "url": "http://api.example.com/users/42?expand=orders",
            "method": "GET",
            "status_code": 200,
            "duration_ns": 42_100_000,
            "timestamp_ns": int((utc_now() - timedelta(seconds=5)).timestamp() * 1e9),
            "user_agent": CHROME,
            "ip_address": "8.8.8.8",
            "route": "/users/{id}",
            "request_size": None,
            "response_size": 120,
        }
        values.update(overrides)
        return [values.get(column) for column in ROW_COLUMNS]

    async def test_rows_are_stored_like_events(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        when = utc_now() - timedelta(minutes=3)
        rows = [self.row(timestamp_ns=int(when.timestamp() * 1e9)) for _ in range(4)]
        rows.append(self.row()[:6])  # trailing nulls left out
        payload = {"batch_id": "r-1", "columns": list(ROW_COLUMNS), "rows": rows}
        response = await client.post("/api/log/bulk", headers=project.headers, json=payload)
        assert response.json() == {"accepted": 5, "duplicates": 0, "rejected": []}
        again = await client.post("/api/log/bulk", headers=project.headers, json=payload)
        assert again.json() == {"accepted": 5, "duplicates": 5, "rejected": []}
        logs = await stored(db, project.id)
        assert len(logs) == 5
        first = logs[0]
        assert first.duration_ms == pytest.approx(42.1)
        assert first.route == "/users/{id}"
        assert first.response_size == 120
        assert abs(first.timestamp.replace(tzinfo=when.tzinfo) - when) < timedelta(milliseconds=1)
        assert {str(log.event_id) for log in logs} == {str(row[0]) for row in rows}

    async def test_a_bad_row_is_rejected_by_index_and_field(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        rows: list[object] = [self.row() for _ in range(6)]
        rows[1] = self.row(duration_ns=-5)
        rows[2] = self.row(status_code="200")
        rows[3] = {"url": "/not-a-row"}
        rows[4] = [*self.row(), "one value too many"]
        payload = {"columns": list(ROW_COLUMNS), "rows": rows}
        response = await client.post("/api/log/bulk", headers=project.headers, json=payload)
        assert response.status_code == 202
        body = response.json()
        assert body["accepted"] == 2
        assert [(r["index"], r["field"]) for r in body["rejected"]] == [
            (1, "duration_ns"),
            (2, "status_code"),
            (3, ""),
            (4, ""),
        ]
        assert "array of at most 14 values" in body["rejected"][2]["reason"]
        assert await count_rows(db, project.id) == 2

    @pytest.mark.parametrize(
        ("payload", "message"),
        [
            ({"columns": ["url", "method"], "rows": []}, "`columns` must be exactly"),
            ({"rows": []}, "`columns` must be exactly"),
            ({"columns": list(ROW_COLUMNS), "rows": {"a": 1}}, "`rows` must be an array"),
            (
                {"columns": list(ROW_COLUMNS), "rows": [], "events": []},
                "either `events` or `columns` + `rows`",
            ),
        ],
    )
    async def test_a_wrong_layout_is_a_400_that_says_why(
        self,
        client: httpx2.AsyncClient,
        factory: Factory,
        payload: dict[str, object],
        message: str,
    ) -> None:
        project = await factory.project()
        response = await client.post("/api/log/bulk", headers=project.headers, json=payload)
        assert response.status_code == 400
        assert message in response.json()["detail"]

    @pytest.mark.parametrize("fallback", [False, True], ids=["typed", "per-event"])
    async def test_user_agents_are_read_by_index_on_both_decoding_paths(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database, fallback: bool
    ) -> None:
        """A row's user_agent may be an index into the batch's `user_agents`; a bad index
        rejects that event only, with a reason, whichever decoding path the batch takes."""
        project = await factory.project()
        curl = "curl/8.5.0"
        rows: list[object] = [
            self.row(user_agent=1),
            self.row(user_agent=0),
            self.row(user_agent=curl),  # a text beside indexes
            self.row(user_agent=None),
            self.row(user_agent=2),  # not in the list
            self.row(user_agent=-1),
        ]
        if fallback:  # a row with a wrongly typed field sends the batch down the per-event path
            rows.append(self.row(status_code="200"))
        payload = {"columns": list(ROW_COLUMNS), "rows": rows, "user_agents": [curl, CHROME]}
        response = await client.post("/api/log/bulk", headers=project.headers, json=payload)
        assert response.status_code == 202
        body = response.json()
        assert body["accepted"] == 4
        rejected = [(r["index"], r["field"]) for r in body["rejected"]]
        assert rejected == [(4, "user_agent"), (5, "user_agent")] + (
            [(6, "status_code")] if fallback else []
        )
        assert (
            "index 2 is not in `user_agents`, which holds 2 texts"
            in (body["rejected"][0]["reason"])
        )
        assert await stored_agents(db, project.id) == sorted([CHROME, curl, curl, ""])

    @pytest.mark.parametrize("fallback", [False, True], ids=["typed", "per-event"])
    async def test_an_index_without_user_agents_is_rejected(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database, fallback: bool
    ) -> None:
        project = await factory.project()
        rows: list[object] = [self.row(user_agent=0), self.row()]
        if fallback:
            rows.append(self.row(status_code="200"))
        payload = {"columns": list(ROW_COLUMNS), "rows": rows}
        response = await client.post("/api/log/bulk", headers=project.headers, json=payload)
        body = response.json()
        assert body["accepted"] == 1
        assert body["rejected"][0]["index"] == 0
        assert body["rejected"][0]["field"] == "user_agent"
        assert "no `user_agents`" in body["rejected"][0]["reason"]
        assert await count_rows(db, project.id) == 1

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            ({"user_agents": "curl/8"}, "`user_agents` must be an array of strings"),
            ({"user_agents": ["curl/8", 7]}, "`user_agents` must be an array of strings"),
            ({"user_agents": ["x"] * 1001}, "`user_agents` holds at most 1000 texts"),
        ],
    )
    async def test_a_wrong_user_agents_list_is_a_400_that_says_why(
        self,
        client: httpx2.AsyncClient,
        factory: Factory,
        db: Database,
        extra: dict[str, object],
        message: str,
    ) -> None:
        project = await factory.project()
        payload = {"columns": list(ROW_COLUMNS), "rows": [self.row(user_agent=0)], **extra}
        response = await client.post("/api/log/bulk", headers=project.headers, json=payload)
        assert response.status_code == 400
        assert message in response.json()["detail"]
        assert await count_rows(db, project.id) == 0

    async def test_user_agents_beside_events_is_a_400(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        payload = {"events": [{"url": "/a", "status_code": 200}], "user_agents": ["curl/8"]}
        response = await client.post("/api/log/bulk", headers=project.headers, json=payload)
        assert response.status_code == 400
        assert "`user_agents` goes with `columns` + `rows`" in response.json()["detail"]

    async def test_more_than_1000_rows_is_413(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        payload = {"columns": list(ROW_COLUMNS), "rows": [self.row() for _ in range(1001)]}
        response = await client.post("/api/log/bulk", headers=project.headers, json=payload)
        assert response.status_code == 413

    async def test_rows_of_another_project_stay_apart(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        mine, theirs = await factory.project(), await factory.project()
        payload = {"columns": list(ROW_COLUMNS), "rows": [self.row() for _ in range(3)]}
        await client.post("/api/log/bulk", headers=mine.headers, json=payload)
        assert await count_rows(db, mine.id) == 3
        assert await count_rows(db, theirs.id) == 0

    async def test_object_events_take_nanosecond_fields_too(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        batch = [
            {"url": "/a", "status_code": 200, "duration_ns": 1_500_000},
            {"url": "/b", "status_code": 200, "duration_ns": 1.5},
            {"url": "/c", "status_code": 200},
        ]
        response = await client.post("/api/log/bulk", headers=project.headers, json=batch)
        body = response.json()
        assert body["accepted"] == 1
        assert [(r["index"], r["field"]) for r in body["rejected"]] == [
            (1, "duration_ns"),
            (2, "duration"),
        ]
        (log,) = await stored(db, project.id)
        assert log.duration_ms == pytest.approx(1.5)

    async def test_seconds_fields_win_over_nanoseconds_on_both_decoding_paths(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        """A typed batch and one that falls back to per-event checks read an event the same."""
        when = utc_now() - timedelta(minutes=2)
        both = {
            "url": "/a",
            "status_code": 200,
            "duration": 0.002,
            "duration_ns": 9_000_000,
            "timestamp": when.isoformat(),
            "timestamp_ns": int((when - timedelta(minutes=30)).timestamp() * 1e9),
        }
        typed, fallback = await factory.project(), await factory.project()
        await client.post("/api/log/bulk", headers=typed.headers, json=[both])
        untyped = {"url": "/b", "status_code": "200", "duration": 1}
        response = await client.post(
            "/api/log/bulk", headers=fallback.headers, json=[both, untyped]
        )
        assert [r["index"] for r in response.json()["rejected"]] == [1]
        for project in (typed, fallback):
            (log,) = await stored(db, project.id)
            assert log.duration_ms == pytest.approx(2.0)
            assert abs(log.timestamp.replace(tzinfo=when.tzinfo) - when) < timedelta(milliseconds=1)


class TestLimits:
    @pytest.mark.parametrize(
        ("content_type", "encoding", "status"),
        [
            ("text/plain", None, 415),
            ("application/x-www-form-urlencoded", None, 415),
            ("application/json", "br", 415),
            ("application/json", "gzip, gzip", 415),
        ],
    )
    async def test_unsupported_media_is_415(
        self,
        client: httpx2.AsyncClient,
        factory: Factory,
        content_type: str,
        encoding: str | None,
        status: int,
    ) -> None:
        project = await factory.project()
        headers = {**project.headers, "Content-Type": content_type}
        if encoding:
            headers["Content-Encoding"] = encoding
        response = await client.post("/api/log/bulk", headers=headers, content=b"[]")
        assert response.status_code == status
        assert response.json()["detail"]

    async def test_corrupt_gzip_is_400(self, client: httpx2.AsyncClient, factory: Factory) -> None:
        project = await factory.project()
        headers = {
            **project.headers,
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        }
        response = await client.post("/api/log/bulk", headers=headers, content=b"\x1f\x8bnot gzip")
        assert response.status_code == 400
        assert "gzip" in response.json()["detail"]

    async def test_a_gzip_bomb_is_refused_while_decompressing(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        bomb = gzip.compress(b"[" + b" " * (200 * 1024 * 1024) + b"]", compresslevel=9)
        assert len(bomb) < 2 * 1024 * 1024
        headers = {
            **project.headers,
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        }
        response = await client.post("/api/log/bulk", headers=headers, content=bomb)
        assert response.status_code == 413
        assert "decompressed" in response.json()["detail"]

    async def test_a_declared_oversized_body_is_413_before_reading(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        response = await client.post(
            "/api/log/bulk",
            headers={**project.headers, "Content-Type": "application/json"},
            content=b" " * (2 * 1024 * 1024 + 1),
        )
        assert response.status_code == 413

    async def test_a_streamed_oversized_body_is_413(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()

        async def stream() -> object:
            for _ in range(40):
                yield b" " * 65536

        response = await client.post(
            "/api/log/bulk",
            headers={**project.headers, "Content-Type": "application/json"},
            content=stream(),  # type: ignore[arg-type]
        )
        assert response.status_code == 413

    async def test_more_than_1000_events_is_413(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        response = await client.post(
            "/api/log/bulk", headers=project.headers, json=[event(url="/x")] * 1001
        )
        assert response.status_code == 413
        assert "1000" in response.json()["detail"]
        assert await count_rows(db, project.id) == 0

    @pytest.mark.parametrize(
        "body",
        [
            b"{not json",
            b"42",
            b'"text"',
            b'{"events": 3}',
            b'{"batch_id": 5, "events": []}',
            b"[" * 100_000,
        ],
    )
    async def test_malformed_bodies_are_400(
        self, client: httpx2.AsyncClient, factory: Factory, body: bytes
    ) -> None:
        project = await factory.project()
        response = await client.post(
            "/api/log/bulk",
            headers={**project.headers, "Content-Type": "application/json"},
            content=body,
        )
        assert response.status_code == 400
        assert response.json()["error"] == "BadRequest"

    async def test_nul_bytes_and_lone_surrogates_never_reach_the_database(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        raw = (
            b'[{"url": "/a\\u0000b", "status_code": 200, "duration": 0.1,'
            b' "user_agent": "x\\ud800y", "consumer": "c\\u0000"}]'
        )
        response = await client.post(
            "/api/log/bulk",
            headers={**project.headers, "Content-Type": "application/json"},
            content=raw,
        )
        assert response.status_code == 202
        [row] = await stored(db, project.id)
        assert row.url == "/ab"
        assert row.consumer == "c"

    async def test_a_long_user_agent_is_truncated_not_refused(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        response = await client.post(
            "/api/log", headers=project.headers, json=event(user_agent=CHROME + "x" * 5000)
        )
        assert response.status_code == 202
        assert len(await stored(db, project.id)) == 1

    async def test_a_url_over_8_kib_is_rejected(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        response = await client.post(
            "/api/log/bulk", headers=project.headers, json=[event(url="/" + "a" * 8192)]
        )
        assert response.json()["rejected"] == [
            {"index": 0, "field": "url", "reason": "longer than 8192 characters"}
        ]

    async def test_timestamps_are_clamped_or_refused_by_the_documented_rule(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        now = utc_now()
        batch = [
            event(timestamp=iso(now + timedelta(seconds=61))),  # clamped to receive time
            event(timestamp=iso(now - timedelta(days=8))),  # refused
            event(timestamp=float("nan")),
            event(timestamp="yesterday"),
            event(timestamp=-5),
            event(timestamp=iso(now - timedelta(hours=1))),
            event(timestamp=(now - timedelta(minutes=5)).timestamp()),
        ]
        body = json.dumps(batch).replace("NaN", "NaN").encode()
        response = await client.post(
            "/api/log/bulk",
            headers={**project.headers, "Content-Type": "application/json"},
            content=body,
        )
        assert response.status_code == 202
        rejected = {r["index"]: r["field"] for r in response.json()["rejected"]}
        assert rejected == {1: "timestamp", 2: "timestamp", 3: "timestamp", 4: "timestamp"}
        rows = await stored(db, project.id)
        assert len(rows) == 3
        assert rows[0].timestamp <= utc_now()
        assert rows[1].timestamp < now - timedelta(minutes=59)

    async def test_valid_timestamps_are_kept(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        now = utc_now()
        batch = [
            event(timestamp=iso(now - timedelta(hours=2))),
            event(timestamp=(now - timedelta(hours=3)).replace(tzinfo=None).isoformat()),
            event(timestamp=(now - timedelta(hours=4)).timestamp()),
        ]
        response = await client.post("/api/log/bulk", headers=project.headers, json=batch)
        assert response.json()["rejected"] == []
        hours = sorted(
            round((now - row.timestamp).total_seconds() / 3600)
            for row in await stored(db, project.id)
        )
        assert hours == [2, 3, 4]


class TestRateLimit:
    async def test_over_the_key_rate_is_429_with_retry_after(
        self, app: FastAPI, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        from whowhywhen.kit.rate_limit import TokenBuckets

        app.state.ingest.buckets = TokenBuckets(rate=10, burst=20)
        project = await factory.project()
        first = await client.post("/api/log/bulk", headers=project.headers, json=events(20))
        second = await client.post("/api/log/bulk", headers=project.headers, json=events(5))
        assert first.status_code == 202
        assert second.status_code == 429
        assert int(second.headers["Retry-After"]) >= 1
        assert await count_rows(db, project.id) == 20


class TestKeyUsage:
    async def test_last_used_at_is_written_at_most_once_a_minute(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        import sqlalchemy as sa

        project = await factory.project()
        updates: list[str] = []

        def count(*args: object) -> None:
            if str(args[2]).startswith("UPDATE api_keys"):
                updates.append(str(args[2]))

        sa.event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            for _ in range(20):
                response = await client.post("/api/log", headers=project.headers, json=event())
                assert response.status_code == 202
        finally:
            sa.event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        assert len(updates) == 1


class TestAnonymisation:
    async def test_anonymised_projects_store_the_network_part_and_keep_the_country(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        from whowhywhen.models import Project

        project = await factory.project()
        async with db.session() as session:
            row = await session.get(Project, project.id)
            assert row is not None
            row.anonymize_ip = True
            await session.commit()
        batch = [event(ip_address="8.8.4.4"), event(ip_address="2001:4860:4860::8888")]
        await client.post("/api/log/bulk", headers=project.headers, json=batch)
        rows = await stored(db, project.id)
        assert [(r.ip, r.country) for r in rows] == [("8.8.4.0", "US"), ("2001:4860:4860::", "US")]


class TestIsolation:
    async def test_a_key_writes_only_to_its_own_project(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        a = await factory.project()
        b = await factory.project()
        await client.post("/api/log/bulk", headers=a.headers, json=events(3, project_id=b.id))
        assert await count_rows(db, a.id) == 3
        assert await count_rows(db, b.id) == 0


class TestConcurrency:
    async def test_eight_concurrent_senders_give_exact_counts(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        routes = [f"/items/{word}" for word in ("alpha", "beta", "gamma", "delta")]

        async def sender(n: int) -> list[int]:
            codes = []
            for batch in range(5):
                payload = {
                    "batch_id": f"s{n}-b{batch}",
                    "events": [
                        event(
                            url=routes[(i + n) % 4],
                            user_agent=f"agent-{(i * n) % 7}",
                            status_code=200 + i % 3,
                        )
                        for i in range(50)
                    ],
                }
                response = await client.post("/api/log/bulk", headers=project.headers, json=payload)
                codes.append(response.status_code)
            return codes

        results = await asyncio.gather(*(sender(n) for n in range(8)))
        assert {code for codes in results for code in codes} == {202}
        assert await count_rows(db, project.id) == 8 * 5 * 50
        assert await rollup_totals(db, project.id) == (2000, 2000)


class TestHealth:
    async def test_health_checks_the_database(self, client: httpx2.AsyncClient) -> None:
        response = await client.get("/api/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok"}


class TestOpenApi:
    async def test_the_collector_payloads_are_documented(self, app: FastAPI) -> None:
        schema = app.openapi()
        components = schema["components"]["schemas"]
        assert {"LogEvent", "LogBatch", "SdkReport"} <= set(components)
        body = schema["paths"]["/api/log"]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"] == {"$ref": "#/components/schemas/LogEvent"}
        assert "status_code" in components["LogEvent"]["properties"]
        assert {"events", "columns", "rows"} <= set(components["LogBatch"]["properties"])
        assert "duration_ns" in components["LogEvent"]["properties"]
