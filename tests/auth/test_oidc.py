"""Sign-in with OpenID Connect end to end against a local provider (OAUTH-01, MFA-06)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx2
import pyotp
import pytest
import time_machine
from fastapi import FastAPI

from tests.auth.conftest import Outbox
from tests.auth.helpers import REFRESH_COOKIE, bearer, csrf, sign_in
from tests.auth.oidc_provider import CLIENT_ID, CLIENT_SECRET, Person, Provider, ProviderServer
from tests.auth.test_two_factor import PRE_AUTH_COOKIE, enable
from tests.factories import Factory
from whowhywhen.app import Mode, create_app
from whowhywhen.config import Settings

REDIRECT = "https://dash.test/dashauth/oauth/google/callback"


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    with ProviderServer() as provider:
        yield provider


@pytest.fixture
def provider(idp: Provider) -> Provider:
    idp.person = Person(f"sub-{secrets.token_hex(4)}", f"oidc-{secrets.token_hex(4)}@example.com")
    idp.claims = {}
    idp.unknown_key = False
    return idp


@pytest.fixture
def settings(settings: Settings, idp: Provider) -> Settings:
    """The email-sending settings of tests/auth, with the local provider configured."""
    return settings.model_copy(
        update={
            "google_client_id": CLIENT_ID,
            "google_client_secret": CLIENT_SECRET,
            "oidc_issuer": idp.issuer,
            "redirect_uri": REDIRECT,
        }
    )


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="https://dash.test") as http:
        yield http


async def authorize(browser: httpx2.AsyncClient, next_path: str = "/") -> tuple[str, str]:
    """Start the sign-in and pass the provider's authorize step: the callback's code and state."""
    start = await browser.get("/dashauth/oauth/google/login", params={"next": next_path})
    assert start.status_code == 302, start.text
    location = start.headers["location"]
    query = parse_qs(urlparse(location).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["state"][0]) >= 22
    assert len(query["nonce"][0]) >= 22
    async with httpx2.AsyncClient() as http:
        back = await http.get(location)
    assert back.status_code == 302
    params = parse_qs(urlparse(back.headers["location"]).query)
    return params["code"][0], params["state"][0]


async def callback(browser: httpx2.AsyncClient, code: str, state: str) -> httpx2.Response:
    return await browser.get(
        "/dashauth/oauth/google/callback", params={"code": code, "state": state}
    )


class TestOidcSignIn:
    async def test_providers_show_google_only_when_configured(
        self, browser: httpx2.AsyncClient, backend: Settings
    ) -> None:
        assert (await browser.get("/dashauth/oauth/providers")).json() == {"google": True}
        bare = create_app(backend.model_copy(), Mode.all)
        async with bare.router.lifespan_context(bare):
            transport = httpx2.ASGITransport(app=bare)
            async with httpx2.AsyncClient(transport=transport, base_url="https://x") as http:
                assert (await http.get("/dashauth/oauth/providers")).json() == {"google": False}
                off = await http.get("/dashauth/oauth/google/login")
                assert off.status_code == 400

    async def test_a_new_person_gets_an_account_and_a_session(
        self, browser: httpx2.AsyncClient, provider: Provider
    ) -> None:
        code, state = await authorize(browser, "/projects/1")
        done = await callback(browser, code, state)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/projects/1"
        assert browser.cookies.get(REFRESH_COOKIE)
        token = (await browser.post("/dashauth/refresh", headers=csrf(browser))).json()
        me = await browser.get("/dashauth/users/me", headers=bearer(token["access_token"]))
        assert me.json()["email"] == provider.person.email
        assert me.json()["has_password"] is False
        # the same (issuer, subject) signs in to the same account again
        code, state = await authorize(browser)
        assert (await callback(browser, code, state)).status_code == 303

    @pytest.mark.parametrize(
        "claims",
        [
            {"aud": "another-client"},
            {"exp": 1_000_000_000},
            {"nonce": "not-the-nonce"},
            {"iss": "https://evil.example"},
        ],
        ids=["wrong-audience", "expired", "wrong-nonce", "wrong-issuer"],
    )
    async def test_a_bad_id_token_creates_no_session(
        self, browser: httpx2.AsyncClient, provider: Provider, claims: dict[str, object]
    ) -> None:
        provider.claims = claims
        code, state = await authorize(browser)
        response = await callback(browser, code, state)
        assert response.status_code == 401, response.text
        assert browser.cookies.get(REFRESH_COOKIE) is None

    async def test_an_unknown_signing_key_is_refused(
        self, browser: httpx2.AsyncClient, provider: Provider
    ) -> None:
        provider.unknown_key = True
        code, state = await authorize(browser)
        response = await callback(browser, code, state)
        assert response.status_code == 401
        assert "unknown key" in response.json()["detail"]

    async def test_wrong_missing_and_replayed_state_are_400(
        self, browser: httpx2.AsyncClient, provider: Provider
    ) -> None:
        code, state = await authorize(browser)
        assert (await callback(browser, code, "x" * 43)).status_code == 400
        missing = await browser.get("/dashauth/oauth/google/callback", params={"code": code})
        assert missing.status_code == 400
        assert (await callback(browser, code, state)).status_code == 303
        code2, _ = await authorize(browser)
        replay = await callback(browser, code2, state)
        assert replay.status_code == 400

    async def test_state_is_bound_to_the_browser_that_started(
        self, browser: httpx2.AsyncClient, app: FastAPI, provider: Provider
    ) -> None:
        code, state = await authorize(browser)
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="https://dash.test") as other:
            response = await callback(other, code, state)
        assert response.status_code == 400

    async def test_next_must_be_a_relative_path(
        self, browser: httpx2.AsyncClient, provider: Provider
    ) -> None:
        code, state = await authorize(browser, "https://evil.example/steal")
        response = await callback(browser, code, state)
        assert response.headers["location"] == "/"


class TestLinkingAndTwoFactor:
    async def test_an_existing_account_is_linked_only_after_its_password(
        self, browser: httpx2.AsyncClient, provider: Provider, factory: Factory, outbox: Outbox
    ) -> None:
        user = await factory.user(provider.person.email)
        code, state = await authorize(browser)
        pending = await callback(browser, code, state)
        assert pending.status_code == 303
        assert pending.headers["location"] == "/login?link=google"
        assert browser.cookies.get(REFRESH_COOKIE) is None
        assert (await sign_in(browser, user.email)).status_code == 200
        browser.cookies.clear()
        code, state = await authorize(browser)
        linked = await callback(browser, code, state)
        assert linked.headers["location"] == "/"
        assert browser.cookies.get(REFRESH_COOKIE)
        # a new way into the account is an authentication-factor change: the owner hears of it
        [mail] = await outbox.wait_for(user.email)
        assert mail["Subject"] == "A new sign-in method was added to your WhoWhyWhen account"
        assert provider.issuer in mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]

    async def test_an_unverified_email_never_links(
        self, browser: httpx2.AsyncClient, provider: Provider, factory: Factory
    ) -> None:
        await factory.user(provider.person.email)
        provider.person.email_verified = False
        code, state = await authorize(browser)
        response = await callback(browser, code, state)
        assert response.status_code == 400
        assert browser.cookies.get("wwy_link") is None

    async def test_a_two_factor_user_still_passes_the_code_step(
        self, browser: httpx2.AsyncClient, provider: Provider, factory: Factory
    ) -> None:
        user = await factory.user(provider.person.email)
        code, state = await authorize(browser)
        await callback(browser, code, state)
        await sign_in(browser, user.email)
        secret, _ = await enable(browser, factory, user)
        browser.cookies.clear()
        code, state = await authorize(browser)
        response = await callback(browser, code, state)
        assert response.headers["location"] == "/login?step=2fa"
        assert browser.cookies.get(REFRESH_COOKIE) is None
        assert browser.cookies.get("wwy_challenge")
        assert browser.cookies.get(PRE_AUTH_COOKIE)
        with time_machine.travel(datetime.now(UTC) + timedelta(seconds=30)):
            verified = await browser.post(
                "/dashauth/2fa/verify", json={"code": pyotp.TOTP(secret).now()}
            )
        assert verified.status_code == 200, verified.text
        assert browser.cookies.get(REFRESH_COOKIE)
