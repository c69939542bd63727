"""API keys over HTTP: the secret once, masked listing, revocation at the collector (KEY-*)."""

from __future__ import annotations

import httpx2
import sqlalchemy as sa
from fastapi import FastAPI

from tests.factories import Factory
from tests.ingest.helpers import event
from whowhywhen.api_key.service import MAX_KEYS_PER_PROJECT
from whowhywhen.db import Database
from whowhywhen.kit.keys import is_well_formed_api_key


class TestApiKeys:
    async def test_create_shows_the_secret_once_and_lists_it_masked(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        headers = await factory.auth_headers(project.user)
        url = f"/dashapi/projects/{project.id}/apikeys"
        created = await client.post(url, headers=headers, json={"name": "production"})
        assert created.status_code == 201
        body = created.json()
        secret = body["key"]
        assert is_well_formed_api_key(secret)
        assert body["display"] == f"{secret[:12]}…{secret[-4:]}"
        assert body["created_by_email"] == project.user.email
        listed = await client.get(url, headers=headers)
        assert listed.status_code == 200
        assert secret not in listed.text
        names = [item["name"] for item in listed.json()["items"]]
        assert names == ["production", "test"]
        async with db.session() as session:
            dump = str((await session.execute(sa.text("SELECT * FROM api_keys"))).all())
        assert secret not in dump
        logged = await client.post("/api/log", headers={"X-API-KEY": secret}, json=event())
        assert logged.status_code == 202

    async def test_revoked_keys_are_refused_by_the_collector(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        headers = await factory.auth_headers(project.user)
        url = f"/dashapi/projects/{project.id}/apikeys"
        created = (await client.post(url, headers=headers, json={"name": "ci"})).json()
        key = {"X-API-KEY": created["key"]}
        assert (await client.post("/api/log", headers=key, json=event())).status_code == 202
        revoked = await client.delete(f"{url}/{created['id']}", headers=headers)
        assert revoked.status_code == 204
        assert (await client.post("/api/log", headers=key, json=event())).status_code == 401
        again = await client.delete(f"{url}/{created['id']}", headers=headers)
        assert again.status_code == 404

    async def test_a_key_of_another_project_is_404(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        mine = await factory.project()
        theirs = await factory.project()
        headers = await factory.auth_headers(theirs.user)
        key_id = (
            await client.get(
                f"/dashapi/projects/{mine.id}/apikeys",
                headers=await factory.auth_headers(mine.user),
            )
        ).json()["items"][0]["id"]
        response = await client.delete(
            f"/dashapi/projects/{theirs.id}/apikeys/{key_id}", headers=headers
        )
        assert response.status_code == 404

    async def test_at_most_fifty_keys(
        self, client: httpx2.AsyncClient, factory: Factory, app: FastAPI
    ) -> None:
        project = await factory.project()
        for _ in range(MAX_KEYS_PER_PROJECT - 1):
            await factory.key(project.id)
        response = await client.post(
            f"/dashapi/projects/{project.id}/apikeys",
            headers=await factory.auth_headers(project.user),
            json={"name": "one too many"},
        )
        assert response.status_code == 409

    async def test_invalid_payloads_are_422(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        headers = await factory.auth_headers(project.user)
        url = f"/dashapi/projects/{project.id}/apikeys"
        for payload in ({"name": ""}, {"name": "x" * 101}, {"expires_at": "yesterday"}):
            response = await client.post(url, headers=headers, json=payload)
            assert response.status_code == 422, payload
        past = await client.post(url, headers=headers, json={"expires_at": "2000-01-01T00:00:00Z"})
        assert past.status_code == 422
