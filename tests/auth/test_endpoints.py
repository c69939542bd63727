"""Accounts and sessions over HTTP: sign-up, sign-in, refresh rotation, revocation, passwords."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

import httpx2
import jwt
import pyotp
import pytest
import time_machine

from tests.auth.conftest import Outbox
from tests.auth.helpers import CSRF_COOKIE, REFRESH_COOKIE, bearer, csrf, sign_in
from tests.auth.test_two_factor import enable
from tests.factories import PASSWORD, Factory
from whowhywhen.auth import passwords
from whowhywhen.auth.passwords import check_password_policy
from whowhywhen.exceptions import UnprocessableEntity

NEW_PASSWORD = "a different long passphrase"
REGISTERED = {"detail": "check your email to continue"}


class TestPasswordPolicy:
    @pytest.mark.parametrize(
        ("password", "ok"),
        [
            ("x" * 11, False),
            ("kettle-sprout", True),
            ("x7" * 32, True),
            ("y" * 129, False),
            ("🦊🦊🦊🦊🦊🦊🦊🦊🦊🦊🦊🦊", True),
            ("  spaced out passphrase  ", True),
            ("password1234", False),
            ("whowhywhen2025!", False),
            ("alice-in-wonderland!", False),
        ],
    )
    def test_policy_table(self, password: str, ok: bool) -> None:
        if ok:
            check_password_policy(password, email="alice@example.com")
        else:
            with pytest.raises(UnprocessableEntity):
                check_password_policy(password, email="alice@example.com")

    def test_the_dummy_hash_has_the_policy_parameters(self) -> None:
        assert not passwords.needs_rehash(passwords._DUMMY_HASH)

    def test_hashes_are_argon2id_at_the_asvs_floor(self) -> None:
        stored = passwords.hash_password("kettle-sprout-1")
        match = re.match(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", stored)
        assert match is not None
        memory, time_cost, parallelism = map(int, match.groups())
        assert memory >= 19456
        assert time_cost >= 2
        assert parallelism == 1


class TestRegister:
    async def test_creates_a_user_and_a_first_project(self, client: httpx2.AsyncClient) -> None:
        response = await client.post(
            "/dashauth/register",
            json={
                "name": "Ada",
                "email": "Ada@Example.COM",
                "password": "kettle-sprout-orbit",
                "project_name": "Payments API",
            },
        )
        assert response.status_code == 202, response.text
        assert response.json() == REGISTERED
        token = (await sign_in(client, "ADA@example.com", "kettle-sprout-orbit")).json()
        headers = bearer(token["access_token"])
        me = (await client.get("/dashauth/users/me", headers=headers)).json()
        assert (me["email"], me["name"], me["two_factor_enabled"]) == (
            "ada@example.com",
            "Ada",
            False,
        )
        projects = await client.get("/dashapi/projects", headers=headers)
        assert [(p["name"], p["role"]) for p in projects.json()["items"]] == [
            ("Payments API", "owner")
        ]

    async def test_a_known_and_an_unknown_email_get_the_same_answer(
        self, client: httpx2.AsyncClient, factory: Factory, outbox: Outbox
    ) -> None:
        """AUTH-05: same status, same bytes, one password hash each; the owner is told by email."""
        user = await factory.user()
        unknown = f"new-{user.email}"
        answers = []
        for email in (user.email.upper(), unknown):
            before = passwords.hash_calls
            answers.append(
                await client.post(
                    "/dashauth/register",
                    json={
                        "name": "Mallory",
                        "email": email,
                        "password": "kettle-sprout-orbit",
                        "project_name": "Takeover",
                    },
                )
            )
            assert passwords.hash_calls - before == 1
        known, new = answers
        assert known.status_code == new.status_code == 202
        assert known.content == new.content
        assert known.headers.get("set-cookie") is None
        [note] = await outbox.wait_for(user.email)
        assert note["Subject"] == "Someone tried to sign up with your WhoWhyWhen email address"
        text = note.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        assert "https://dash.test/forgot-password" in text
        [welcome] = await outbox.wait_for(unknown)
        assert welcome["Subject"] == "Welcome to WhoWhyWhen"
        # nothing changed on the existing account: its password and projects are its own
        assert (await sign_in(client, user.email, "kettle-sprout-orbit")).status_code == 401
        token = (await sign_in(client, user.email)).json()["access_token"]
        me = (await client.get("/dashauth/users/me", headers=bearer(token))).json()
        assert me["name"] == "Test"
        projects = await client.get("/dashapi/projects", headers=bearer(token))
        assert projects.json()["items"] == []

    async def test_invalid_input_is_422_for_known_and_unknown_emails_alike(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        for payload in (
            {"password": "password1234"},
            {"password": "kettle-sprout-orbit", "project_name": "   "},
        ):
            known, unknown = [
                await client.post("/dashauth/register", json={"email": email, **payload})
                for email in (user.email, f"new-{user.email}")
            ]
            assert known.status_code == unknown.status_code == 422
            assert known.content == unknown.content

    @pytest.mark.parametrize(
        ("payload", "message"),
        [
            ({"email": "not-an-email", "password": "kettle-sprout-orbit"}, "email"),
            ({"email": "a@example.com", "password": "short"}, "12 to 128"),
            ({"email": "a@example.com", "password": "password1234"}, "common"),
            ({"email": "bob@example.com"}, "password"),
            ({"email": "a@example.com", "password": "kettle-sprout-orbit", "admin": True}, "admin"),
        ],
    )
    async def test_invalid_payloads_are_422_with_a_message(
        self, client: httpx2.AsyncClient, payload: dict[str, object], message: str
    ) -> None:
        response = await client.post("/dashauth/register", json=payload)
        assert response.status_code == 422
        assert message in str(response.json()["detail"])


class TestSignIn:
    async def test_the_oauth2_form_answers_a_bearer_token(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        response = await client.post(
            "/dashauth/token", data={"username": user.email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 15 * 60
        me = await client.get("/dashauth/users/me", headers=bearer(body["access_token"]))
        assert me.json()["email"] == user.email

    async def test_wrong_password_and_unknown_email_answer_alike(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        before = passwords.hash_calls
        wrong = await sign_in(client, user.email, "not the password at all")
        unknown = await sign_in(client, "nobody-here@example.com", "not the password at all")
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.content == unknown.content
        assert passwords.hash_calls - before == 2  # the unknown email ran a dummy hash

    async def test_the_sixth_failure_a_minute_is_429_without_hashing(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        for _ in range(5):
            assert (await sign_in(client, user.email, "wrong password here")).status_code == 401
        before = passwords.hash_calls
        for _ in range(20):
            limited = await sign_in(client, user.email, "wrong password here")
            assert limited.status_code == 429
        assert passwords.hash_calls == before
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        with time_machine.travel(datetime.now(UTC) + timedelta(seconds=61)):
            assert (await sign_in(client, user.email)).status_code == 200

    async def test_the_form_needs_username_and_password(self, client: httpx2.AsyncClient) -> None:
        response = await client.post("/dashauth/token", data={"username": "a@example.com"})
        assert response.status_code == 422
        assert "password" in str(response.json()["detail"])


class TestAccessTokens:
    async def test_anonymous_and_garbage_tokens_are_401(self, client: httpx2.AsyncClient) -> None:
        assert (await client.get("/dashauth/users/me")).status_code == 401
        response = await client.get("/dashauth/users/me", headers=bearer("x.y.z"))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"

    async def test_crafted_tokens_are_refused(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        issued = await factory.session(user)
        good = jwt.decode(issued.access_token, options={"verify_signature": False})
        secret = "t" * 48
        now = datetime.now(UTC)
        crafted = [
            _sign_with_empty_key(issued.access_token),
            jwt.encode({**good, "aud": "someone-else"}, secret, algorithm="HS256"),
            jwt.encode({**good, "typ": "refresh"}, secret, algorithm="HS256"),
            jwt.encode({**good, "exp": now - timedelta(seconds=31)}, secret, algorithm="HS256"),
            jwt.encode({**good}, secret, algorithm="HS256", headers={"jku": "https://evil"}),
            jwt.encode({**good}, secret * 2, algorithm="HS512"),
            issued.refresh_token,
        ]
        unsigned = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
        body = issued.access_token.split(".")[1]
        crafted.append(f"{unsigned}.{body}.")
        for token in crafted[:4] + crafted[5:]:
            response = await client.get("/dashauth/users/me", headers=bearer(token))
            assert response.status_code == 401, token
        # a kid/jku header changes nothing: the key is ours, so this one is fine
        assert (
            await client.get("/dashauth/users/me", headers=bearer(crafted[4]))
        ).status_code == 200


def _sign_with_empty_key(token: str) -> str:
    head, body, _ = token.split(".")
    mac = hmac.new(b"", f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


class TestRefreshAndLogout:
    async def test_refresh_rotates_and_a_replay_revokes_the_family(
        self, web: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        assert (await sign_in(web, user.email)).status_code == 200
        first = web.cookies.get(REFRESH_COOKIE)
        assert first
        rotated = await web.post("/dashauth/refresh", headers=csrf(web))
        assert rotated.status_code == 200, rotated.text
        second = web.cookies.get(REFRESH_COOKIE)
        assert second
        assert second != first
        access = rotated.json()["access_token"]
        assert (await web.get("/dashauth/users/me", headers=bearer(access))).status_code == 200
        replay = await web.post("/dashauth/refresh", json={"refresh_token": first})
        assert replay.status_code == 401
        assert (
            await web.post("/dashauth/refresh", json={"refresh_token": second})
        ).status_code == 401
        assert (await web.get("/dashauth/users/me", headers=bearer(access))).status_code == 401

    async def test_cookies_are_host_prefixed_httponly_strict(
        self, web: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        response = await sign_in(web, user.email)
        cookies = response.headers.get_list("set-cookie")
        refresh = next(c for c in cookies if c.startswith(REFRESH_COOKIE))
        assert "HttpOnly" in refresh
        assert "Secure" in refresh
        assert "SameSite=strict" in refresh
        assert "Path=/" in refresh
        assert "Domain" not in refresh
        assert "refresh_token" not in response.text
        csrf_cookie = next(c for c in cookies if c.startswith(CSRF_COOKIE))
        assert "HttpOnly" not in csrf_cookie

    async def test_cookie_refresh_needs_the_csrf_header_and_an_allowed_origin(
        self, web: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        await sign_in(web, user.email)
        assert (await web.post("/dashauth/refresh")).status_code == 403
        evil = {**csrf(web), "Origin": "https://evil.example"}
        assert (await web.post("/dashauth/refresh", headers=evil)).status_code == 403
        assert (await web.post("/dashauth/refresh", headers=csrf(web))).status_code == 200

    async def test_logout_ends_the_session_on_the_next_request(
        self, web: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        access = (await sign_in(web, user.email)).json()["access_token"]
        refresh = web.cookies.get(REFRESH_COOKIE)
        assert (await web.post("/dashauth/logout", headers=bearer(access))).status_code == 204
        assert (await web.get("/dashauth/users/me", headers=bearer(access))).status_code == 401
        again = await web.post("/dashauth/refresh", json={"refresh_token": refresh})
        assert again.status_code == 401

    async def test_logout_by_cookie_needs_the_csrf_header(
        self, web: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        access = (await sign_in(web, user.email)).json()["access_token"]
        assert (await web.post("/dashauth/logout")).status_code == 403
        assert (await web.post("/dashauth/logout", headers=csrf(web))).status_code == 204
        assert (await web.get("/dashauth/users/me", headers=bearer(access))).status_code == 401
        assert (await web.post("/dashauth/logout")).status_code == 401  # cookies are gone

    async def test_idle_and_absolute_timeouts(
        self, web: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        issued = await factory.session(user)
        later = datetime.now(UTC) + timedelta(minutes=31)
        with time_machine.travel(later):
            response = await web.post(
                "/dashauth/refresh", json={"refresh_token": issued.refresh_token}
            )
            assert response.status_code == 401
        issued = await factory.session(user)
        token = issued.refresh_token
        start = datetime.now(UTC)
        for minutes in range(25, 12 * 60, 25):
            with time_machine.travel(start + timedelta(minutes=minutes)):
                response = await web.post("/dashauth/refresh", json={"refresh_token": token})
                assert response.status_code == 200, minutes
                token = web.cookies.get(REFRESH_COOKIE) or ""
        with time_machine.travel(start + timedelta(hours=12, minutes=1)):
            response = await web.post("/dashauth/refresh", json={"refresh_token": token})
            assert response.status_code == 401


class TestSessions:
    async def test_lists_and_ends_sessions(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        phone = await factory.session(user)
        laptop = await factory.session(user)
        listed = await client.get("/dashauth/sessions", headers=bearer(laptop.access_token))
        assert listed.status_code == 200
        items = listed.json()["items"]
        assert {item["id"] for item in items} == {phone.session_id, laptop.session_id}
        assert [i["current"] for i in items if i["id"] == laptop.session_id] == [True]
        ended = await client.delete(
            f"/dashauth/sessions/{phone.session_id}", headers=bearer(laptop.access_token)
        )
        assert ended.status_code == 204
        assert (
            await client.get("/dashauth/users/me", headers=bearer(phone.access_token))
        ).status_code == 401

    async def test_another_users_session_is_404(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        mine = await factory.session(await factory.user())
        theirs = await factory.session(await factory.user())
        response = await client.delete(
            f"/dashauth/sessions/{theirs.session_id}", headers=bearer(mine.access_token)
        )
        assert response.status_code == 404
        assert (
            await client.get("/dashauth/users/me", headers=bearer(theirs.access_token))
        ).status_code == 200

    async def test_rename_me(self, client: httpx2.AsyncClient, factory: Factory) -> None:
        headers = await factory.auth_headers(await factory.user())
        response = await client.patch("/dashauth/users/me", headers=headers, json={"name": "Bo"})
        assert response.json()["name"] == "Bo"
        bad = await client.patch("/dashauth/users/me", headers=headers, json={"name": 3})
        assert bad.status_code == 422


class TestChangePassword:
    async def test_needs_the_current_password_and_revokes_every_session(
        self, web: httpx2.AsyncClient, factory: Factory
    ) -> None:
        user = await factory.user()
        other = await factory.session(user)
        current = await factory.session(user)
        wrong = await web.post(
            "/dashauth/change-password",
            headers=bearer(current.access_token),
            json={"current_password": "not my password", "new_password": NEW_PASSWORD},
        )
        assert wrong.status_code == 403
        assert wrong.json()["detail"] == "current_password: incorrect password"
        changed = await web.post(
            "/dashauth/change-password",
            headers=bearer(current.access_token),
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert changed.status_code == 200, changed.text
        for old in (other, current):
            me = await web.get("/dashauth/users/me", headers=bearer(old.access_token))
            assert me.status_code == 401
        fresh = changed.json()["access_token"]
        assert (await web.get("/dashauth/users/me", headers=bearer(fresh))).status_code == 200
        assert (await sign_in(web, user.email)).status_code == 401
        assert (await sign_in(web, user.email, NEW_PASSWORD)).status_code == 200

    async def test_anonymous_is_401_and_a_weak_new_password_422(
        self, client: httpx2.AsyncClient, factory: Factory
    ) -> None:
        body = {"current_password": PASSWORD, "new_password": "short"}
        assert (await client.post("/dashauth/change-password", json=body)).status_code == 401
        headers = await factory.auth_headers(await factory.user())
        weak = await client.post("/dashauth/change-password", headers=headers, json=body)
        assert weak.status_code == 422

    async def test_with_two_factor_on_it_also_needs_a_current_code(
        self, web: httpx2.AsyncClient, factory: Factory, outbox: Outbox
    ) -> None:
        user = await factory.user()
        secret, _ = await enable(web, factory, user)
        with time_machine.travel(datetime.now(UTC) + timedelta(seconds=30)):
            headers = await factory.auth_headers(user)
            body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
            missing = await web.post("/dashauth/change-password", headers=headers, json=body)
            assert missing.status_code == 403
            assert missing.json()["detail"].startswith("code:")
            wrong = await web.post(
                "/dashauth/change-password", headers=headers, json={**body, "code": "000000"}
            )
            assert wrong.status_code == 403
            changed = await web.post(
                "/dashauth/change-password",
                headers=headers,
                json={**body, "code": pyotp.TOTP(secret).now()},
            )
            assert changed.status_code == 200, changed.text
        subjects = [str(m["Subject"]) for m in await outbox.wait_for(user.email, 2)]
        assert "Your WhoWhyWhen password was changed" in subjects
