"""`/dashauth/…`: sign-up, sign-in, sessions, passwords and 2FA."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm

from whowhywhen.auth import schemas
from whowhywhen.auth.auth import (
    Auth,
    ClientInfo,
    CurrentSession,
    CurrentUser,
    DbSession,
    MailerDep,
    bearer,
)
from whowhywhen.auth.mail import Mailer
from whowhywhen.auth.oidc import OidcService
from whowhywhen.auth.ratelimit import REGISTER_PER_IP
from whowhywhen.auth.service import (
    CHALLENGE_MINUTES,
    REGISTERED,
    IssuedSession,
    Mail,
    SignIn,
    user_service,
)
from whowhywhen.config import Settings
from whowhywhen.exceptions import AppError, Forbidden, Unauthorized
from whowhywhen.models import User
from whowhywhen.project.service import project_service

router = APIRouter(prefix="/dashauth", tags=["accounts"])
CSRF_HEADER = "x-csrf-token"
CHALLENGE_COOKIE = "wwy_challenge"
PRE_AUTH_COOKIE = "wwy_preauth"
LINK_COOKIE = "wwy_link"
OIDC_COOKIE = "wwy_oidc"


def cookie_name(settings: Settings, base: str) -> str:
    return f"__Host-{base}" if settings.cookie_secure else base


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def set_session_cookies(response: Response, settings: Settings, issued: IssuedSession) -> None:
    """The refresh token in an httpOnly SameSite=Strict cookie, plus a double-submit CSRF cookie."""
    max_age = settings.session_max_hours * 3600
    common = {"secure": settings.cookie_secure, "samesite": "strict", "path": "/"}
    response.set_cookie(
        cookie_name(settings, "wwy_refresh"),
        issued.refresh_token,
        max_age=max_age,
        httponly=True,
        **common,  # type: ignore[arg-type]
    )
    response.set_cookie(
        cookie_name(settings, "wwy_csrf"),
        secrets.token_urlsafe(24),
        max_age=max_age,
        httponly=False,
        **common,  # type: ignore[arg-type]
    )


def clear_session_cookies(response: Response, settings: Settings) -> None:
    for base in ("wwy_refresh", "wwy_csrf"):
        response.delete_cookie(
            cookie_name(settings, base), path="/", secure=settings.cookie_secure, samesite="strict"
        )


def check_csrf(request: Request, settings: Settings) -> None:
    """Cookie-authenticated writes need the CSRF header equal to the CSRF cookie and an
    allowed Origin (AUTH-09)."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin and origin != own and origin not in settings.cors_origin_list:
        raise Forbidden("cross-origin request refused")
    expected = request.cookies.get(cookie_name(settings, "wwy_csrf"))
    sent = request.headers.get(CSRF_HEADER)
    if not expected or not sent or not secrets.compare_digest(expected, sent):
        raise Forbidden("missing or wrong X-CSRF-Token header")


def set_pre_auth_cookie(response: Response, settings: Settings, binding: str) -> None:
    """The httpOnly cookie a 2FA challenge is bound to: the challenge alone is not enough to
    finish the sign-in, only together with this browser's cookie (MFA-03)."""
    response.set_cookie(
        cookie_name(settings, PRE_AUTH_COOKIE),
        binding,
        max_age=CHALLENGE_MINUTES * 60,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="strict",
        path="/",
    )


def pre_auth_binding(request: Request, settings: Settings) -> str | None:
    return request.cookies.get(cookie_name(settings, PRE_AUTH_COOKIE))


def clear_challenge_cookies(response: Response, settings: Settings) -> None:
    response.delete_cookie(CHALLENGE_COOKIE, path="/")
    response.delete_cookie(
        cookie_name(settings, PRE_AUTH_COOKIE),
        path="/",
        secure=settings.cookie_secure,
        samesite="strict",
    )


def send_later(background: BackgroundTasks, mailer: Mailer, *mails: Mail) -> None:
    for mail in mails:
        background.add_task(mailer.send, mail.to, mail.template, mail.values)


def token_answer(result: SignIn, response: Response, settings: Settings) -> schemas.Token:
    if result.session is None:
        assert result.binding is not None
        set_pre_auth_cookie(response, settings, result.binding)
        return schemas.Token(totp_required=True, challenge_token=result.challenge)
    set_session_cookies(response, settings, result.session)
    clear_challenge_cookies(response, settings)
    return schemas.Token(
        access_token=result.session.access_token,
        token_type=schemas.BEARER,
        expires_in=result.session.expires_in,
    )


async def user_view(session: DbSession, user: User) -> schemas.User:
    assert user.id is not None
    return schemas.User(
        id=user.id,
        email=user.email,
        name=user.name,
        created_at=user.created_at,
        two_factor_enabled=await user_service.two_factor_enabled(session, user.id),
        has_password=user.password_hash is not None,
    )


SettingsDep = Annotated[Settings, Depends(_settings)]


@router.post("/register", status_code=status.HTTP_202_ACCEPTED)
async def register(
    body: schemas.Register,
    session: DbSession,
    auth: Auth,
    client: ClientInfo,
    mailer: MailerDep,
    background: BackgroundTasks,
) -> schemas.Message:
    """Create an account (and a first project when `project_name` is given), then sign in.

    The answer is the same whether or not the email already has an account (that address is
    emailed instead and nothing is created), so it does not reveal who is registered.
    """
    ip = client.ip or "unknown"
    await auth.limiter.check(REGISTER_PER_IP, "register", ip, what="sign-ups from this address")
    await auth.limiter.hit(REGISTER_PER_IP, "register", ip)
    project_name = None
    if body.project_name is not None:
        project_name = project_service.clean_name(body.project_name)
    result = await auth.sign_up(
        session, email=body.email, password=body.password, name=body.name, client=client
    )
    if result.user is not None and project_name is not None:
        await project_service.create(session, owner=result.user, name=project_name)
    await session.commit()
    send_later(background, mailer, result.mail)
    return schemas.Message(detail=REGISTERED)


@dataclass
class PasswordSignIn:
    """What a password sign-in needs besides the credentials, shared by /token and /login."""

    session: DbSession
    auth: Auth
    client: ClientInfo
    response: Response
    request: Request
    settings: SettingsDep
    mailer: MailerDep
    background: BackgroundTasks

    async def __call__(self, email: str, password: str) -> schemas.Token:
        link_token = self.request.cookies.get(LINK_COOKIE)
        result = await self.auth.sign_in(
            self.session,
            email=email,
            password=password,
            client=self.client,
            link_token=link_token,
            binding=pre_auth_binding(self.request, self.settings),
        )
        await self.session.commit()
        send_later(self.background, self.mailer, *result.mail)
        if link_token:
            self.response.delete_cookie(LINK_COOKIE, path="/")
        return token_answer(result, self.response, self.settings)


@router.post("/token")
async def create_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    sign_in: Annotated[PasswordSignIn, Depends()],
) -> schemas.Token:
    """Sign in with the OAuth2 password form (`username` = email); 2FA users get a challenge
    (and the pre-auth cookie that must come back with it)."""
    return await sign_in(form.username, form.password)


@router.post("/login")
async def login(
    body: schemas.Login, sign_in: Annotated[PasswordSignIn, Depends()]
) -> schemas.Token:
    """Sign in with JSON `{email, password}`; the same answers as /dashauth/token."""
    return await sign_in(body.email, body.password)


@router.post("/refresh")
async def refresh(
    session: DbSession,
    auth: Auth,
    request: Request,
    response: Response,
    settings: SettingsDep,
    body: schemas.RefreshRequest | None = None,
) -> schemas.Token:
    """Rotate the refresh token (cookie, or body for non-browser clients) for a new access token."""
    token = body.refresh_token if body else None
    if not token:
        token = request.cookies.get(cookie_name(settings, "wwy_refresh"))
        if not token:
            raise Unauthorized("no refresh token")
        check_csrf(request, settings)
    try:
        issued = await auth.refresh(session, token)
    except AppError:
        await session.commit()  # a detected reuse revokes the session: keep that
        raise
    await session.commit()
    set_session_cookies(response, settings, issued)
    return schemas.Token(
        access_token=issued.access_token, token_type=schemas.BEARER, expires_in=issued.expires_in
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    session: DbSession,
    auth: Auth,
    request: Request,
    response: Response,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(bearer)],
) -> None:
    """End this session (by its access token, or by the refresh cookie + CSRF header)."""
    if token:
        user, row = await auth.authenticate(session, token)
        session_id = row.id
    else:
        refresh_token = request.cookies.get(cookie_name(settings, "wwy_refresh"))
        if not refresh_token:
            raise Unauthorized("sign in first", headers={"WWW-Authenticate": "Bearer"})
        check_csrf(request, settings)
        found = await auth.session_of_refresh_token(session, refresh_token)
        if found is None:
            raise Unauthorized("session ended")
        user, session_id = found
    await auth.end_session(session, user, session_id)
    await session.commit()
    clear_session_cookies(response, settings)


@router.get("/users/me")
async def read_me(user: CurrentUser, session: DbSession) -> schemas.User:
    """The signed-in user."""
    return await user_view(session, user)


@router.patch("/users/me")
async def update_me(
    body: schemas.UserUpdate, user: CurrentUser, session: DbSession
) -> schemas.User:
    """Change the display name."""
    await user_service.rename(session, user, body.name)
    view = await user_view(session, user)
    await session.commit()
    return view


@router.get("/sessions")
async def list_sessions(
    signed: CurrentSession, session: DbSession, auth: Auth
) -> schemas.SessionList:
    """The user's active sessions (browsers and clients)."""
    rows = await auth.list_sessions(session, signed.user)
    items = [
        schemas.Session(
            id=row.id,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            method=row.method,
            ip=row.ip,
            user_agent=row.user_agent,
            current=row.id == signed.session.id,
        )
        for row in rows
    ]
    return schemas.SessionList(items=items, total=len(items))


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_session(
    session_id: str, signed: CurrentSession, session: DbSession, auth: Auth
) -> None:
    """End one of the user's sessions."""
    await auth.end_session(session, signed.user, session_id)
    await session.commit()


@router.post("/change-password")
async def change_password(
    body: schemas.ChangePassword,
    user: CurrentUser,
    session: DbSession,
    auth: Auth,
    client: ClientInfo,
    response: Response,
    mailer: MailerDep,
    background: BackgroundTasks,
    settings: SettingsDep,
) -> schemas.Token:
    """Change the password (needs the current one, and a code with 2FA on); every other session
    ends."""
    issued, mail = await auth.change_password(
        session,
        user,
        current=body.current_password,
        new=body.new_password,
        code=body.code,
        client=client,
    )
    await session.commit()
    send_later(background, mailer, mail)
    return token_answer(SignIn(session=issued), response, settings)


@router.post("/forgot-password", status_code=status.HTTP_202_ACCEPTED)
async def forgot_password(
    body: schemas.ForgotPassword,
    session: DbSession,
    auth: Auth,
    client: ClientInfo,
    mailer: MailerDep,
    background: BackgroundTasks,
) -> schemas.Message:
    """Email a reset link when the address has an account; the same answer either way."""
    mail = await auth.request_password_reset(session, body.email, client)
    await session.commit()
    if mail is not None:
        send_later(background, mailer, mail)
    return schemas.Message(detail="if that address has an account, a reset link is on its way")


@router.post("/reset-password")
async def reset_password(
    body: schemas.ResetPassword,
    session: DbSession,
    auth: Auth,
    client: ClientInfo,
    mailer: MailerDep,
    background: BackgroundTasks,
    response: Response,
) -> schemas.Message:
    """Set a new password with the emailed token; sign in again afterwards (2FA still applies)."""
    mail = await auth.reset_password(
        session, token=body.token, new=body.new_password, client=client
    )
    await session.commit()
    send_later(background, mailer, mail)
    response.headers["Referrer-Policy"] = "no-referrer"
    return schemas.Message(detail="password changed; sign in with the new password")


# Two-factor authentication.


@router.post("/2fa/setup")
async def setup_totp(user: CurrentUser, session: DbSession, auth: Auth) -> schemas.TotpSetup:
    """Start enrolment: a new secret as an otpauth URI and a QR code (not active yet)."""
    uri, svg = await auth.totp_setup(session, user)
    await session.commit()
    return schemas.TotpSetup(otpauth_uri=uri, qr_svg=svg)


@router.post("/2fa/enable")
async def enable_totp(
    body: schemas.TotpCode,
    user: CurrentUser,
    session: DbSession,
    auth: Auth,
    client: ClientInfo,
    response: Response,
    mailer: MailerDep,
    background: BackgroundTasks,
    settings: SettingsDep,
) -> schemas.TotpEnabled:
    """Turn 2FA on with a current code; answers 10 recovery codes and a new session."""
    codes, issued, mail = await auth.totp_enable(session, user, code=body.code, client=client)
    await session.commit()
    send_later(background, mailer, mail)
    set_session_cookies(response, settings, issued)
    return schemas.TotpEnabled(
        recovery_codes=codes, access_token=issued.access_token, expires_in=issued.expires_in
    )


@router.post("/2fa/verify")
async def verify_totp(
    body: schemas.TotpVerify,
    session: DbSession,
    auth: Auth,
    client: ClientInfo,
    request: Request,
    response: Response,
    mailer: MailerDep,
    background: BackgroundTasks,
    settings: SettingsDep,
) -> schemas.Token:
    """Sign-in step two: the challenge token with a TOTP code or a recovery code.

    Needs the pre-auth cookie set by the password step as well: a challenge token alone is
    refused with 401."""
    challenge = body.challenge_token or request.cookies.get(CHALLENGE_COOKIE)
    if not challenge:
        raise Unauthorized("sign in with your password first")
    result = await auth.verify_second_factor(
        session,
        challenge=challenge,
        binding=pre_auth_binding(request, settings),
        client=client,
        code=body.code,
        recovery_code=body.recovery_code,
    )
    await session.commit()
    send_later(background, mailer, *result.mail)
    return token_answer(result, response, settings)


@router.post("/2fa/disable")
async def disable_totp(
    body: schemas.TotpDisable,
    user: CurrentUser,
    session: DbSession,
    auth: Auth,
    client: ClientInfo,
    response: Response,
    mailer: MailerDep,
    background: BackgroundTasks,
    settings: SettingsDep,
) -> schemas.Token:
    """Turn 2FA off with the password and a current code; other sessions end."""
    issued, mail = await auth.totp_disable(
        session, user, password=body.password, code=body.code, client=client
    )
    await session.commit()
    send_later(background, mailer, mail)
    return token_answer(SignIn(session=issued), response, settings)


@router.post("/2fa/recovery-codes")
async def regenerate_recovery_codes(
    body: schemas.TotpDisable,
    user: CurrentUser,
    session: DbSession,
    auth: Auth,
    mailer: MailerDep,
    background: BackgroundTasks,
) -> schemas.RecoveryCodes:
    """Replace the recovery codes (password + current code); earlier codes stop working."""
    codes, mail = await auth.regenerate_recovery_codes(
        session, user, password=body.password, code=body.code
    )
    await session.commit()
    send_later(background, mailer, mail)
    return schemas.RecoveryCodes(recovery_codes=codes)


# Sign-in with Google / OpenID Connect.


def _oidc(request: Request) -> OidcService:
    service: OidcService = request.app.state.oidc
    return service


Oidc = Annotated[OidcService, Depends(_oidc)]


@router.get("/oauth/providers")
async def list_oauth_providers(oidc: Oidc) -> schemas.OAuthProviders:
    """Which external sign-in buttons to show."""
    return schemas.OAuthProviders(google=oidc.enabled)


@router.get("/oauth/google/login", status_code=status.HTTP_302_FOUND)
async def google_login(
    oidc: Oidc,
    session: DbSession,
    settings: SettingsDep,
    next_path: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
) -> RedirectResponse:
    """Redirect to the provider (authorization code + PKCE S256, state, nonce)."""
    url, binding = await oidc.start(session, next_path)
    await session.commit()
    response = RedirectResponse(url, status_code=status.HTTP_302_FOUND)
    response.set_cookie(
        OIDC_COOKIE,
        binding,
        max_age=600,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",  # sent on the provider's top-level redirect back to us
        path="/dashauth/oauth",
    )
    return response


@router.get("/oauth/google/callback", status_code=status.HTTP_303_SEE_OTHER)
async def google_callback(
    oidc: Oidc,
    session: DbSession,
    client: ClientInfo,
    request: Request,
    settings: SettingsDep,
    code: Annotated[str | None, Query(max_length=4000)] = None,
    state: Annotated[str | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    """The provider's redirect back: sign in, ask for the 2FA code, or ask for the password."""
    try:
        result = await oidc.finish(
            session,
            code=code,
            state=state,
            binding=request.cookies.get(OIDC_COOKIE),
            client=client,
            mfa_binding=pre_auth_binding(request, settings),
        )
    except AppError:
        await session.commit()  # the spent state stays spent
        raise
    await session.commit()
    if result.link_token is not None:
        response = RedirectResponse("/login?link=google", status_code=status.HTTP_303_SEE_OTHER)
        response.set_cookie(
            LINK_COOKIE,
            result.link_token,
            max_age=600,
            httponly=True,
            secure=settings.cookie_secure,
            samesite="strict",
            path="/",
        )
    elif result.sign_in is not None and result.sign_in.session is None:
        response = RedirectResponse("/login?step=2fa", status_code=status.HTTP_303_SEE_OTHER)
        response.set_cookie(
            CHALLENGE_COOKIE,
            result.sign_in.challenge or "",
            max_age=300,
            httponly=True,
            secure=settings.cookie_secure,
            samesite="strict",
            path="/",
        )
        assert result.sign_in.binding is not None
        set_pre_auth_cookie(response, settings, result.sign_in.binding)
    else:
        assert result.sign_in is not None
        assert result.sign_in.session is not None
        response = RedirectResponse(result.next_path, status_code=status.HTTP_303_SEE_OTHER)
        set_session_cookies(response, settings, result.sign_in.session)
    response.delete_cookie(OIDC_COOKIE, path="/dashauth/oauth")
    return response
