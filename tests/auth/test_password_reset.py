"""Forgot/reset password by email, over a real SMTP server (RESET-01), and the welcome email."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx2
import sqlalchemy as sa
import time_machine

from tests.auth.conftest import Outbox
from tests.auth.helpers import sign_in
from tests.auth.test_two_factor import enable
from tests.factories import Factory
from whowhywhen.db import Database

NEW_PASSWORD = "a brand new long passphrase"
SAME_ANSWER = {"detail": "if that address has an account, a reset link is on its way"}


def _token(message: object) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[attr-defined]
    match = re.search(r"/reset-password#token=([\w-]+)", text)
    assert match is not None, text
    return match.group(1)


class TestForgotPassword:
    async def test_mails_a_link_with_text_and_html_bodies(
        self, client: httpx2.AsyncClient, factory: Factory, outbox: Outbox, db: Database
    ) -> None:
        user = await factory.user()
        response = await client.post("/dashauth/forgot-password", json={"email": user.email})
        assert response.status_code == 202
        assert response.json() == SAME_ANSWER
        [message] = await outbox.wait_for(user.email)
        assert message["Subject"] == "Reset your WhoWhyWhen password"
        html = message.get_body(preferencelist=("html",))
        assert html is not None
        assert "https://dash.test/reset-password#token=" in html.get_content()
        token = _token(message)
        assert len(token) >= 22  # ≥ 128 bits
        async with db.session() as session:
            stored = str((await session.execute(sa.text("SELECT * FROM one_time_tokens"))).all())
        assert token not in stored

    async def test_an_unknown_email_gets_the_same_answer_and_no_mail(
        self, client: httpx2.AsyncClient, outbox: Outbox
    ) -> None:
        response = await client.post(
            "/dashauth/forgot-password", json={"email": "ghost-reset@example.com"}
        )
        assert response.status_code == 202
        assert response.json() == SAME_ANSWER
        assert outbox.to("ghost-reset@example.com") == []

    async def test_a_fourth_request_in_an_hour_sends_nothing(
        self, client: httpx2.AsyncClient, factory: Factory, outbox: Outbox
    ) -> None:
        user = await factory.user()
        for _ in range(4):
            response = await client.post("/dashauth/forgot-password", json={"email": user.email})
            assert response.json() == SAME_ANSWER
        await outbox.wait_for(user.email, 3)
        assert len(outbox.to(user.email)) == 3

    async def test_an_invalid_payload_is_422(self, client: httpx2.AsyncClient) -> None:
        response = await client.post("/dashauth/forgot-password", json={})
        assert response.status_code == 422


class TestResetPassword:
    async def test_resets_once_ends_sessions_and_keeps_two_factor(
        self, client: httpx2.AsyncClient, factory: Factory, outbox: Outbox
    ) -> None:
        user = await factory.user()
        await enable(client, factory, user)
        session_headers = await factory.auth_headers(user)
        await client.post("/dashauth/forgot-password", json={"email": user.email})
        [message] = [
            m for m in await outbox.wait_for(user.email, 2) if "Reset" in str(m["Subject"])
        ]
        token = _token(message)
        weak = await client.post(
            "/dashauth/reset-password", json={"token": token, "new_password": "short"}
        )
        assert weak.status_code == 422
        done = await client.post(
            "/dashauth/reset-password", json={"token": token, "new_password": NEW_PASSWORD}
        )
        assert done.status_code == 200, done.text
        assert done.headers["Referrer-Policy"] == "no-referrer"
        assert "access_token" not in done.text  # no auto-login
        assert (await client.get("/dashauth/users/me", headers=session_headers)).status_code == 401
        again = await client.post(
            "/dashauth/reset-password", json={"token": token, "new_password": NEW_PASSWORD + "!"}
        )
        assert again.status_code == 400
        signed = await sign_in(client, user.email, NEW_PASSWORD)
        assert signed.json()["totp_required"] is True
        subjects = {str(m["Subject"]) for m in await outbox.wait_for(user.email, 3)}
        assert "Your WhoWhyWhen password was changed" in subjects

    async def test_an_expired_link_is_400(
        self, client: httpx2.AsyncClient, factory: Factory, outbox: Outbox
    ) -> None:
        user = await factory.user()
        await client.post("/dashauth/forgot-password", json={"email": user.email})
        [message] = await outbox.wait_for(user.email)
        with time_machine.travel(datetime.now(UTC) + timedelta(minutes=61)):
            response = await client.post(
                "/dashauth/reset-password",
                json={"token": _token(message), "new_password": NEW_PASSWORD},
            )
        assert response.status_code == 400


class TestWelcome:
    async def test_sign_up_sends_a_welcome_email(
        self, client: httpx2.AsyncClient, outbox: Outbox
    ) -> None:
        email = f"welcome-{datetime.now(UTC).timestamp()}@example.com"
        response = await client.post(
            "/dashauth/register",
            json={"name": "Wen", "email": email, "password": "kettle-sprout-orbit"},
        )
        assert response.status_code == 202
        [message] = await outbox.wait_for(email)
        assert message["Subject"] == "Welcome to WhoWhyWhen"
        assert "Hello Wen" in message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
