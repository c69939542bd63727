"""TOTP 2FA: enrolment, the two-step sign-in, replay, recovery codes, disabling (MFA-*)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx2
import pyotp
import pytest
import sqlalchemy as sa
import time_machine
from fastapi import FastAPI

from tests.auth.helpers import bearer, sign_in
from tests.factories import PASSWORD, Factory
from whowhywhen.db import Database
from whowhywhen.models import User

PRE_AUTH_COOKIE = "__Host-wwy_preauth"


@pytest.fixture
def client(web: httpx2.AsyncClient) -> httpx2.AsyncClient:
    """Over HTTPS, like a browser: the 2FA step needs the `Secure` pre-auth cookie back."""
    return web


def _at(secret: str, moment: datetime) -> str:
    return pyotp.TOTP(secret).at(moment)


async def enable(client: httpx2.AsyncClient, factory: Factory, user: User) -> tuple[str, list[str]]:
    """Turn 2FA on for `user`; answers the TOTP secret and the recovery codes."""
    headers = await factory.auth_headers(user)
    setup = await client.post("/dashauth/2fa/setup", headers=headers)
    assert setup.status_code == 200, setup.text
    uri = setup.json()["otpauth_uri"]
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    enabled = await client.post(
        "/dashauth/2fa/enable", headers=headers, json={"code": pyotp.TOTP(secret).now()}
    )
    assert enabled.status_code == 200, enabled.text
    return secret, enabled.json()["recovery_codes"]


async def challenge(client: httpx2.AsyncClient, user: User) -> str:
    response = await sign_in(client, user.email)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["totp_required"] is True
    assert body["access_token"] is None
    token: str = body["challenge_token"]
    return token


class TestSetup:
    async def test_answers_an_otpauth_uri_and_an_svg_qr_code(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        response = await client.post(
            "/dashauth/2fa/setup", headers=await factory.auth_headers(user)
        )
        body = response.json()
        assert body["otpauth_uri"].startswith("otpauth://totp/WhoWhyWhen:")
        assert body["qr_svg"].startswith("<svg")

    async def test_the_secret_is_encrypted_at_rest(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        user = await factory.user()
        secret, codes = await enable(client, factory, user)
        async with db.session() as session:
            dump = str(
                list((await session.execute(sa.text("SELECT * FROM user_totp"))).all())
                + list((await session.execute(sa.text("SELECT * FROM recovery_codes"))).all())
            )
        assert secret not in dump
        assert all(code.replace("-", "") not in dump for code in codes)
        assert len(codes) == 10

    async def test_enabling_needs_a_valid_code(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        headers = await factory.auth_headers(await factory.user())
        await client.post("/dashauth/2fa/setup", headers=headers)
        wrong = await client.post("/dashauth/2fa/enable", headers=headers, json={"code": "000000"})
        assert wrong.status_code == 400
        bad = await client.post("/dashauth/2fa/enable", headers=headers, json={"code": "1"})
        assert bad.status_code == 422
        assert (await client.post("/dashauth/2fa/setup")).status_code == 401

    async def test_enabling_ends_the_other_sessions(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        old = await factory.auth_headers(user)
        await enable(client, factory, user)
        assert (await client.get("/dashauth/users/me", headers=old)).status_code == 401


class TestSignInWithTwoFactor:
    async def test_password_then_code_and_no_replay(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        start = datetime.now(UTC)
        # The clock stands still until the replay, so it is the very code 2FA was enabled with
        # (a 30 s step ending in between made it a new, valid code).
        with time_machine.travel(start, tick=False):
            secret, _ = await enable(client, factory, user)
            token = await challenge(client, user)
            # the code used to enable 2FA cannot be used again
            replay = await client.post(
                "/dashauth/2fa/verify",
                json={"challenge_token": token, "code": pyotp.TOTP(secret).now()},
            )
            assert replay.status_code == 401
            # the challenge is no access token
            me = await client.get("/dashauth/users/me", headers=bearer(token))
            assert me.status_code == 401
        with time_machine.travel(start + timedelta(seconds=30)):
            ok = await client.post(
                "/dashauth/2fa/verify",
                json={"challenge_token": token, "code": pyotp.TOTP(secret).now()},
            )
            assert ok.status_code == 200, ok.text
            access = ok.json()["access_token"]
            assert (await client.get("/dashauth/users/me", headers=bearer(access))).json()[
                "two_factor_enabled"
            ]
            again = await client.post(
                "/dashauth/2fa/verify",
                json={"challenge_token": token, "code": pyotp.TOTP(secret).now()},
            )
            assert again.status_code == 401

    async def test_only_the_current_and_previous_step_are_accepted(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        secret, _ = await enable(client, factory, user)
        now = datetime.now(UTC) + timedelta(minutes=5)
        with time_machine.travel(now):
            token = await challenge(client, user)
            for moment in (now - timedelta(seconds=60), now + timedelta(seconds=30)):
                response = await client.post(
                    "/dashauth/2fa/verify",
                    json={"challenge_token": token, "code": _at(secret, moment)},
                )
                assert response.status_code == 401
            previous = await client.post(
                "/dashauth/2fa/verify",
                json={"challenge_token": token, "code": _at(secret, now - timedelta(seconds=30))},
            )
            assert previous.status_code == 200

    async def test_concurrent_submissions_of_one_code_succeed_once(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        secret, _ = await enable(client, factory, user)
        with time_machine.travel(datetime.now(UTC) + timedelta(seconds=30)):
            tokens = [await challenge(client, user) for _ in range(5)]
            code = pyotp.TOTP(secret).now()
            answers = await asyncio.gather(
                *(
                    client.post(
                        "/dashauth/2fa/verify", json={"challenge_token": token, "code": code}
                    )
                    for token in tokens
                )
            )
        assert sorted(a.status_code for a in answers) == [200, 401, 401, 401, 401]

    async def test_the_sixth_wrong_code_a_minute_is_429(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        await enable(client, factory, user)
        token = await challenge(client, user)
        for _ in range(5):
            response = await client.post(
                "/dashauth/2fa/verify", json={"challenge_token": token, "code": "000000"}
            )
            assert response.status_code == 401
        response = await client.post(
            "/dashauth/2fa/verify", json={"challenge_token": token, "code": "000000"}
        )
        assert response.status_code == 429
        assert "Retry-After" in response.headers

    async def test_a_recovery_code_works_once(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        _, codes = await enable(client, factory, user)
        token = await challenge(client, user)
        used = await client.post(
            "/dashauth/2fa/verify", json={"challenge_token": token, "recovery_code": codes[0]}
        )
        assert used.status_code == 200, used.text
        token = await challenge(client, user)
        reused = await client.post(
            "/dashauth/2fa/verify", json={"challenge_token": token, "recovery_code": codes[0]}
        )
        assert reused.status_code == 401

    async def test_verify_without_a_challenge_is_401(self, client: httpx2.AsyncClient) -> None:
        response = await client.post("/dashauth/2fa/verify", json={"code": "123456"})
        assert response.status_code == 401
        forged = await client.post(
            "/dashauth/2fa/verify", json={"challenge_token": "x" * 43, "code": "123456"}
        )
        assert forged.status_code == 401


class TestPreAuthCookie:
    """MFA-03: the half-signed-in state is bound to an httpOnly cookie of the browser that gave
    the password, and opens nothing but the 2FA step."""

    async def test_the_password_step_sets_a_host_only_http_only_cookie(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        await enable(client, factory, user)
        response = await sign_in(client, user.email)
        assert response.json()["totp_required"] is True
        [cookie] = [
            c for c in response.headers.get_list("set-cookie") if c.startswith(PRE_AUTH_COOKIE)
        ]
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "secure", "samesite=strict", "path=/", "max-age=300"} <= attributes
        assert not any(a.startswith("domain") for a in attributes)
        value = client.cookies.get(PRE_AUTH_COOKIE) or ""
        assert len(value) >= 32
        assert value not in response.text

    async def test_a_challenge_without_its_cookie_is_401(
        self, client: httpx2.AsyncClient, app: FastAPI, factory: Factory
    ) -> None:
        user = await factory.user()
        secret, _ = await enable(client, factory, user)
        token = await challenge(client, user)
        with time_machine.travel(datetime.now(UTC) + timedelta(seconds=30)):
            code = pyotp.TOTP(secret).now()
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(
                transport=transport, base_url="https://dash.test"
            ) as elsewhere:
                stolen = await elsewhere.post(
                    "/dashauth/2fa/verify", json={"challenge_token": token, "code": code}
                )
                assert stolen.status_code == 401
                elsewhere.cookies.set(PRE_AUTH_COOKIE, "f" * 43, domain="dash.test")
                forged = await elsewhere.post(
                    "/dashauth/2fa/verify", json={"challenge_token": token, "code": code}
                )
                assert forged.status_code == 401
            # refused before the code was looked at: the right browser still signs in with it
            ok = await client.post(
                "/dashauth/2fa/verify", json={"challenge_token": token, "code": code}
            )
            assert ok.status_code == 200, ok.text
            assert ok.json()["access_token"]
        assert PRE_AUTH_COOKIE not in client.cookies

    async def test_the_pending_challenge_opens_no_dashboard_endpoint(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        project = await factory.project()
        await enable(client, factory, project.user)
        token = await challenge(client, project.user)
        for path in ("/dashauth/users/me", "/dashapi/projects", f"/dashapi/projects/{project.id}"):
            response = await client.get(path, headers=bearer(token))
            assert response.status_code == 401, path
        # the pre-auth cookie is no session either
        binding = client.cookies.get(PRE_AUTH_COOKIE) or ""
        client.cookies.clear()  # enabling 2FA left a session cookie behind
        client.cookies.set(PRE_AUTH_COOKIE, binding, domain="dash.test")
        assert (await client.get("/dashapi/projects")).status_code == 401
        assert (await client.post("/dashauth/refresh")).status_code == 401


class TestDisable:
    async def test_needs_the_password_and_a_code(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        secret, _ = await enable(client, factory, user)
        with time_machine.travel(datetime.now(UTC) + timedelta(seconds=30)):
            headers = await factory.auth_headers(user)
            code = pyotp.TOTP(secret).now()
            wrong = await client.post(
                "/dashauth/2fa/disable",
                headers=headers,
                json={"password": "not my password", "code": code},
            )
            assert wrong.status_code == 403
            assert wrong.json()["detail"] == "password: incorrect password"
            off = await client.post(
                "/dashauth/2fa/disable", headers=headers, json={"password": PASSWORD, "code": code}
            )
            assert off.status_code == 200, off.text
            assert (await client.get("/dashauth/users/me", headers=headers)).status_code == 401
            signed = await sign_in(client, user.email)
            assert signed.json()["access_token"]
