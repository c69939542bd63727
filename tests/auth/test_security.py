"""Security headers, CORS for the dashboard API only, the audit log, production refusals."""

from __future__ import annotations

import logging

import httpx2
import pytest

from tests.auth.helpers import sign_in
from tests.factories import Factory
from tests.ingest.helpers import event
from whowhywhen.app import Mode, create_app
from whowhywhen.config import Settings
from whowhywhen.models.enums import Role

ALLOWED = "https://dash.example.com"


@pytest.fixture
def settings(backend: Settings) -> Settings:
    return backend.model_copy(update={"cors_origins": f"{ALLOWED}, https://other.example.com"})


class TestSecurityHeaders:
    @pytest.mark.parametrize(
        "path", ["/dashauth/users/me", "/dashapi/projects", "/dashauth/oauth/providers", "/"]
    )
    async def test_dashboard_responses_carry_the_headers(
        self, client: httpx2.AsyncClient, path: str
    ) -> None:
        response = await client.get(path)
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "object-src 'none'" in csp
        assert "default-src 'self'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        if path.startswith("/dash"):
            assert response.headers["cache-control"] == "no-store"

    async def test_the_collector_gets_no_dashboard_headers(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        response = await client.post("/api/log", headers=project.headers, json=event())
        assert response.status_code == 202
        assert "content-security-policy" not in response.headers


class TestCors:
    async def test_an_allowed_origin_gets_a_preflight_answer(
        self, client: httpx2.AsyncClient
    ) -> None:
        response = await client.options(
            "/dashapi/projects",
            headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"},
        )
        assert response.headers["access-control-allow-origin"] == ALLOWED
        assert response.headers["access-control-allow-credentials"] == "true"

    async def test_other_origins_and_the_collector_get_no_cors_headers(
        self, client: httpx2.AsyncClient
    ) -> None:
        evil = await client.options(
            "/dashapi/projects",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in evil.headers
        collector = await client.options(
            "/api/log", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in collector.headers


class TestAuditLog:
    async def test_sign_in_key_and_membership_events_are_logged_without_secrets(
        self, client: httpx2.AsyncClient, factory: Factory, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="whowhywhen.audit")
        project = await factory.project()
        await sign_in(client, project.user.email, "wrong password here")
        await sign_in(client, project.user.email)
        headers = await factory.auth_headers(project.user)
        url = f"/dashapi/projects/{project.id}/apikeys"
        created = (await client.post(url, headers=headers, json={"name": "x"})).json()
        await client.delete(f"{url}/{created['id']}", headers=headers)
        member = await factory.member(project.id, Role.viewer)
        await client.patch(
            f"/dashapi/projects/{project.id}/members/{member.id}",
            headers=headers,
            json={"role": "member"},
        )
        records = [r.audit for r in caplog.records if hasattr(r, "audit")]
        seen = {(r["event"], r["outcome"]) for r in records}
        assert {
            ("login", "failure"),
            ("login", "success"),
            ("api_key.created", "success"),
            ("api_key.revoked", "success"),
            ("member.added", "success"),
            ("member.role_changed", "success"),
        } <= seen
        text = caplog.text + str(records)
        assert created["key"] not in text
        assert "correct horse" not in text


class TestProductionSettings:
    def test_production_refuses_missing_secrets_naming_them(self, backend: Settings) -> None:
        settings = backend.model_copy(
            update={"environment": "production", "secret_key": "", "totp_encryption_key": ""}
        )
        with pytest.raises(RuntimeError) as error:
            create_app(settings, Mode.all)
        assert "SECRET_KEY" in str(error.value)
        assert "TOTP_ENCRYPTION_KEY" in str(error.value)
