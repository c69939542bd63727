"""COL-12: after a mixed scenario, the project's ingest outcomes equal the sender's ledger."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import httpx2
import pytest
from fastapi import FastAPI

from tests.factories import Factory
from tests.ingest.helpers import event, events
from whowhywhen.db import Database
from whowhywhen.ingest import repository
from whowhywhen.kit.rate_limit import TokenBuckets
from whowhywhen.models.enums import Role

OUTCOMES = "/dashapi/projects/{}/ingest/outcomes"


class TestIngestOutcomes:
    async def test_counts_equal_what_the_sender_saw(
        self, app: FastAPI, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        other = await factory.project()
        ledger: Counter[str] = Counter()

        async def send(body: object, **headers: str) -> httpx2.Response:
            return await client.post(
                "/api/log/bulk", headers={**project.headers, **headers}, json=body
            )

        # stored, duplicates (a retried batch), invalid events inside a stored batch
        batch = {"batch_id": "b-1", "events": events(30)}
        assert (await send(batch)).status_code == 202
        assert (await send(batch)).json()["duplicates"] == 30
        mixed = [*events(5), event(status_code=42), event(method="FETCH")]
        assert (await send(mixed)).json()["rejected"] != []
        ledger.update(accepted=35, duplicates=30, rejected=2)
        # the SDK's own drop report travels with a batch
        report = {"events": events(1), "sdk": {"dropped": {"queue_overflow": 7}}}
        assert (await send(report)).status_code == 202
        ledger.update(accepted=1)
        # whole requests refused, by reason
        raw = await client.post(
            "/api/log/bulk",
            headers={**project.headers, "Content-Type": "application/json"},
            content=b"{not json",
        )
        assert raw.status_code == 400
        single = await client.post("/api/log", headers=project.headers, json=event(url=""))
        assert single.status_code == 422
        ledger.update(refused_invalid=2)
        big = await send(events(1001))
        assert big.status_code == 413
        ledger.update(refused_too_large=1)
        media = await client.post(
            "/api/log/bulk",
            headers={**project.headers, "Content-Type": "text/plain"},
            content=b"[]",
        )
        assert media.status_code == 415
        ledger.update(refused_media_type=1)
        app.state.ingest.buckets = TokenBuckets(rate=1, burst=10)
        for _ in range(3):
            assert (await send(events(20))).status_code == 429
        ledger.update(rate_limited=3)
        app.state.ingest.buckets = TokenBuckets(rate=1_000_000, burst=1_000_000)
        app.state.ingest._inflight = app.state.ingest.settings.max_inflight_requests
        try:
            shed = await send(events(1))
        finally:
            app.state.ingest._inflight = 0
        assert shed.status_code == 503
        ledger.update(shed=1)
        # another project's traffic never shows here
        await client.post(
            "/api/log/bulk",
            headers={**other.headers, "Content-Type": "application/json"},
            content=gzip.compress(json.dumps(events(3)).encode()),
        )

        owner = await factory.auth_headers(project.user)
        response = await client.get(OUTCOMES.format(project.id), headers=owner)
        assert response.status_code == 200, response.text
        body = response.json()
        [today] = body["days"]
        totals = body["totals"]
        assert today["sdk_dropped"]["queue_overflow"] == 7
        expected = {name: ledger.get(name, 0) for name in totals if name != "sdk_dropped"}
        assert {name: totals[name] for name in expected} == expected
        assert {name: today[name] for name in expected} == expected

    async def test_only_members_read_them_and_bad_input_is_422(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        url = OUTCOMES.format(project.id)
        assert (await client.get(url)).status_code == 401
        stranger = await factory.auth_headers(await factory.user())
        assert (await client.get(url, headers=stranger)).status_code == 404
        viewer = await factory.auth_headers(await factory.member(project.id, Role.viewer))
        assert (await client.get(url, headers=viewer)).status_code == 200
        for days in ("0", "401", "many"):
            bad = await client.get(url, headers=viewer, params={"days": days})
            assert bad.status_code == 422
            assert "days" in bad.text

    async def test_counts_wait_in_memory_while_storage_is_down(
        self, app: FastAPI, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        tally = app.state.ingest.outcomes
        tally.add(project.id, "unavailable")

        class Down:
            def session(self) -> object:
                raise OSError("connection refused")

        with pytest.raises(OSError, match="refused"):
            await tally.flush(Down())
        tally.add(project.id, "unavailable")
        await tally.flush(db)
        await tally.flush(db)  # nothing pending: writes nothing more
        async with db.session() as session:
            rows = await repository.outcomes_of(session, project.id)
        assert [row.unavailable for row in rows] == [2]
