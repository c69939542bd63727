"""Accounts and sessions: sign-up, sign-in (with the 2FA step), rotating refresh tokens,
revocation, password change and reset, TOTP 2FA and recovery codes.

Services never commit: the endpoint (or CLI command) commits once. Emails are returned as `Mail`
values for the caller to send after the commit.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from whowhywhen.auth import repository, totp
from whowhywhen.auth.audit import audit
from whowhywhen.auth.passwords import (
    check_password_policy,
    hash_password_async,
    needs_rehash,
    verify_password_async,
)
from whowhywhen.auth.ratelimit import (
    LOGIN_PER_ACCOUNT,
    LOGIN_PER_IP,
    RESET_MAILS_PER_ACCOUNT,
    RESET_PER_IP,
    TOTP_PER_USER,
    Limiter,
)
from whowhywhen.auth.tokens import decode_access, encode_access, new_secret, sha256
from whowhywhen.config import Settings
from whowhywhen.exceptions import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    UnprocessableEntity,
)
from whowhywhen.kit.time import utc_now
from whowhywhen.models import AuthSession, OneTimeToken, RecoveryCode, RefreshToken, User, UserTotp

CHALLENGE_MINUTES = 5
MFA = "mfa"
RESET = "reset"
LINK = "link"
INVALID_LOGIN = "incorrect email or password"
CHALLENGE_EXPIRED = "sign-in challenge expired; sign in again"
REGISTERED = "check your email to continue"


def _clean_user_name(name: str) -> str:
    name = name.strip()
    if len(name) > 200:
        raise UnprocessableEntity("name: at most 200 characters")
    return name


def normalise_email(email: str) -> str:
    email = email.strip()
    local, sep, domain = email.rpartition("@")
    if not sep or not local or "." not in domain or len(email) > 320 or " " in email:
        raise UnprocessableEntity("email: not a valid address")
    # One account per address whatever its case: sign-in, invitations and OIDC linking compare
    # addresses, so they are stored lowercased.
    return f"{local}@{domain}".lower()


@dataclass(frozen=True, slots=True)
class Client:
    """Who is calling, for rate limits and the audit log."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    template: str
    values: dict[str, str]


@dataclass(slots=True)
class IssuedSession:
    user: User
    session_id: str
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(slots=True)
class SignIn:
    """A finished sign-in, or the challenge for its 2FA step."""

    session: IssuedSession | None = None
    challenge: str | None = None
    binding: str | None = field(default=None, repr=False)
    mail: list[Mail] = field(default_factory=list)


@dataclass(slots=True)
class SignUp:
    """A sign-up answered alike whether or not the email had an account (AUTH-05)."""

    user: User | None
    mail: Mail


class UserService:
    async def create(
        self, session: AsyncSession, *, email: str, password: str, name: str = ""
    ) -> User:
        email = normalise_email(email)
        check_password_policy(password, email=email)
        name = _clean_user_name(name)
        if await repository.get_by_email(session, email) is not None:
            raise Conflict("a user with this email already exists")
        user = User(
            email=email,
            name=name,
            password_hash=await hash_password_async(password),
            created_at=utc_now(),
        )
        await repository.add(session, user)
        return user

    async def create_without_password(
        self, session: AsyncSession, *, email: str, name: str
    ) -> User:
        user = User(email=normalise_email(email), name=name.strip()[:200], created_at=utc_now())
        await repository.add(session, user)
        return user

    async def get_by_email(self, session: AsyncSession, email: str) -> User | None:
        return await repository.get_by_email(session, normalise_email(email))

    async def get(self, session: AsyncSession, user_id: int) -> User | None:
        return await repository.get(session, user_id)

    async def rename(self, session: AsyncSession, user: User, name: str) -> User:
        user.name = _clean_user_name(name)
        await session.flush()
        return user

    async def two_factor_enabled(self, session: AsyncSession, user_id: int) -> bool:
        row = await repository.totp(session, user_id)
        return row is not None and row.enabled_at is not None


user_service = UserService()


class AuthService:
    """Sessions, sign-in, passwords and 2FA for one deployment's settings."""

    def __init__(self, settings: Settings, limiter: Limiter | None = None) -> None:
        self.settings = settings
        self.limiter = limiter or Limiter()
        self._secret = settings.resolved_secret_key

    @property
    def access_ttl(self) -> timedelta:
        return timedelta(minutes=self.settings.access_token_minutes)

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.settings.session_idle_minutes)

    def _link(self, path: str) -> str:
        return self.settings.public_url.rstrip("/") + path

    # Sessions.

    async def start_session(
        self, session: AsyncSession, user: User, client: Client, method: str = "password"
    ) -> IssuedSession:
        """A new session and refresh token (AUTH-07: new on every sign-in)."""
        assert user.id is not None
        now = utc_now()
        await repository.prune(session, now, keep=timedelta(days=1))
        row = AuthSession(
            id=secrets.token_hex(16),
            user_id=user.id,
            created_at=now,
            last_used_at=now,
            expires_at=now + timedelta(hours=self.settings.session_max_hours),
            method=method,
            ip=client.ip,
            user_agent=(client.user_agent or "")[:512] or None,
        )
        await repository.add(session, row)
        return await self._issue(session, user, row.id, now)

    async def _issue(
        self, session: AsyncSession, user: User, session_id: str, now: datetime
    ) -> IssuedSession:
        assert user.id is not None
        refresh = new_secret()
        await repository.add(
            session, RefreshToken(token_hash=sha256(refresh), session_id=session_id, created_at=now)
        )
        access = encode_access(
            self._secret, user_id=user.id, session_id=session_id, now=now, ttl=self.access_ttl
        )
        return IssuedSession(
            user, session_id, access, refresh, int(self.access_ttl.total_seconds())
        )

    def _session_alive(self, row: AuthSession, now: datetime) -> bool:
        return (
            row.revoked_at is None
            and row.expires_at > now
            and row.last_used_at + self.idle + self.access_ttl > now
        )

    async def authenticate(self, session: AsyncSession, token: str) -> tuple[User, AuthSession]:
        """The user and session of a valid access token whose session is still alive."""
        claims = decode_access(self._secret, token)
        if claims is None:
            raise Unauthorized("invalid or expired access token")
        found = await repository.session_with_user(session, claims.session_id)
        if found is None:
            raise Unauthorized("session ended; sign in again")
        row, user = found
        if (
            user.id != claims.user_id
            or not user.is_active
            or not self._session_alive(row, utc_now())
        ):
            raise Unauthorized("session ended; sign in again")
        return user, row

    async def refresh(self, session: AsyncSession, refresh_token: str) -> IssuedSession:
        """Rotate a refresh token; reusing a spent one revokes its whole session (AUTH-08).

        Raises Unauthorized; the caller commits even then, so a revocation sticks.
        """
        now = utc_now()
        token_hash = sha256(refresh_token)
        stored = await repository.refresh_token(session, token_hash)
        if stored is None:
            raise Unauthorized("invalid refresh token")
        found = await repository.session_with_user(session, stored.session_id)
        if found is None:
            raise Unauthorized("invalid refresh token")
        row, user = found
        if stored.used_at is not None or not await repository.spend_refresh_token(
            session, token_hash, now
        ):
            assert user.id is not None
            await repository.revoke_sessions(
                session, user.id, now, "refresh_reuse", session_id=row.id
            )
            audit("session.refresh_reuse", outcome="revoked", user_id=user.id, session=row.id)
            raise Unauthorized("refresh token already used; the session was ended")
        if row.last_used_at + self.idle <= now or not self._session_alive(row, now):
            raise Unauthorized("session ended; sign in again")
        if not user.is_active:
            raise Unauthorized("account disabled")
        await repository.touch_session(session, row.id, now)
        return await self._issue(session, user, row.id, now)

    async def session_of_refresh_token(
        self, session: AsyncSession, refresh_token: str
    ) -> tuple[User, str] | None:
        """The user and session a refresh token belongs to (spent or not)."""
        stored = await repository.refresh_token(session, sha256(refresh_token))
        if stored is None:
            return None
        found = await repository.session_with_user(session, stored.session_id)
        return None if found is None else (found[1], found[0].id)

    async def end_session(self, session: AsyncSession, user: User, session_id: str) -> None:
        assert user.id is not None
        if not await repository.revoke_sessions(
            session, user.id, utc_now(), "logout", session_id=session_id
        ):
            raise NotFound("session not found")
        audit("session.revoked", user_id=user.id, session=session_id)

    async def end_all_sessions(self, session: AsyncSession, user: User, reason: str) -> int:
        assert user.id is not None
        count = await repository.revoke_sessions(session, user.id, utc_now(), reason)
        audit("session.revoked_all", user_id=user.id, reason=reason, count=count)
        return count

    async def list_sessions(self, session: AsyncSession, user: User) -> list[AuthSession]:
        assert user.id is not None
        now = utc_now()
        rows = await repository.list_sessions(session, user.id, now)
        return [row for row in rows if self._session_alive(row, now)]

    # Sign-in.

    async def sign_in(
        self,
        session: AsyncSession,
        *,
        email: str,
        password: str,
        client: Client,
        link_token: str | None = None,
        binding: str | None = None,
    ) -> SignIn:
        """Email + password; answers alike for unknown emails (AUTH-05), limited (AUTH-04).

        `binding` is the browser's pre-auth cookie, when it already has one: a 2FA challenge is
        only redeemable together with it (MFA-03).
        """
        account = email.strip().lower()[:320]
        ip = client.ip or "unknown"
        await self.limiter.check(LOGIN_PER_ACCOUNT, "login-account", account, what="sign-ins")
        await self.limiter.check(LOGIN_PER_IP, "login-ip", ip, what="sign-ins")
        try:
            user = await user_service.get_by_email(session, email)
        except UnprocessableEntity:
            user = None
        ok = await verify_password_async(password, user.password_hash if user else None)
        if user is None or not ok or not user.is_active:
            await self.limiter.hit(LOGIN_PER_ACCOUNT, "login-account", account)
            await self.limiter.hit(LOGIN_PER_IP, "login-ip", ip)
            audit("login", outcome="failure", user_id=user.id if user else None, ip=client.ip)
            raise Unauthorized(INVALID_LOGIN)
        assert user.id is not None
        if user.password_hash and needs_rehash(user.password_hash):
            user.password_hash = await hash_password_async(password)  # raise to today's policy
        mail: list[Mail] = []
        if link_token:
            from whowhywhen.auth.oidc import link_pending_identity

            provider = await link_pending_identity(session, user, link_token)
            if provider is not None:
                mail.append(
                    Mail(
                        user.email,
                        "sign_in_linked",
                        {"provider": provider, "url": self._link("/forgot-password")},
                    )
                )
        result = await self._after_first_factor(session, user, client, "password", binding)
        result.mail.extend(mail)
        return result

    async def _after_first_factor(
        self,
        session: AsyncSession,
        user: User,
        client: Client,
        method: str,
        binding: str | None = None,
    ) -> SignIn:
        assert user.id is not None
        if await user_service.two_factor_enabled(session, user.id):
            if not binding or not 32 <= len(binding) <= 128:
                binding = new_secret()
            payload = {"method": method, "binding": sha256(binding)}
            challenge = await self.issue_token(
                session, MFA, user.id, timedelta(minutes=CHALLENGE_MINUTES), payload
            )
            audit("login.password_ok", outcome="2fa_required", user_id=user.id, ip=client.ip)
            return SignIn(challenge=challenge, binding=binding)
        issued = await self.start_session(session, user, client, method)
        audit("login", user_id=user.id, ip=client.ip, method=method, user_agent=client.user_agent)
        return SignIn(session=issued)

    async def verify_second_factor(
        self,
        session: AsyncSession,
        *,
        challenge: str,
        binding: str | None,
        client: Client,
        code: str | None = None,
        recovery_code: str | None = None,
    ) -> SignIn:
        """Step two of a 2FA sign-in: the challenge, the pre-auth cookie it is bound to (MFA-03),
        and a TOTP or recovery code."""
        now = utc_now()
        pending = await repository.peek_token(session, sha256(challenge), MFA, now)
        if pending is None or pending.user_id is None:
            raise Unauthorized(CHALLENGE_EXPIRED)
        saved = json.loads(pending.payload)
        bound = saved.get("binding")
        if (
            not binding
            or not isinstance(bound, str)
            or not secrets.compare_digest(sha256(binding), bound)
        ):
            audit("2fa.verify", outcome="unbound", user_id=pending.user_id, ip=client.ip)
            raise Unauthorized(CHALLENGE_EXPIRED)
        user = await repository.get(session, pending.user_id)
        if user is None or not user.is_active:
            raise Unauthorized(CHALLENGE_EXPIRED)
        mail = await self._check_second_factor(session, user, code, recovery_code, client)
        if await repository.spend_token(session, sha256(challenge), MFA, now) is None:
            raise Unauthorized(CHALLENGE_EXPIRED)
        method = saved.get("method", "password")
        issued = await self.start_session(session, user, client, str(method))
        audit("login", user_id=user.id, ip=client.ip, method=method, second_factor=True)
        return SignIn(session=issued, mail=mail)

    async def _check_second_factor(
        self,
        session: AsyncSession,
        user: User,
        code: str | None,
        recovery_code: str | None,
        client: Client,
    ) -> list[Mail]:
        assert user.id is not None
        key = str(user.id)
        await self.limiter.check(TOTP_PER_USER, "totp", key, what="two-factor attempts")
        row = await repository.totp(session, user.id)
        if row is None or row.enabled_at is None:
            raise BadRequest("two-factor authentication is not enabled")
        if code:
            if await self._claim_code(session, row, code):
                audit("2fa.verify", user_id=user.id, ip=client.ip)
                return []
        elif recovery_code:
            remaining = await self._use_recovery_code(session, user.id, recovery_code)
            if remaining is not None:
                audit("2fa.recovery_code_used", user_id=user.id, ip=client.ip, remaining=remaining)
                return [
                    Mail(
                        user.email,
                        "recovery_code_used",
                        {"remaining": str(remaining), "url": self._link("/forgot-password")},
                    )
                ]
        else:
            raise UnprocessableEntity("code: give a code from your app or a recovery code")
        await self.limiter.hit(TOTP_PER_USER, "totp", key)
        audit("2fa.verify", outcome="failure", user_id=user.id, ip=client.ip)
        raise Unauthorized("invalid two-factor code")

    async def _claim_code(self, session: AsyncSession, row: UserTotp, code: str) -> bool:
        secret = totp.decrypt(self.settings.resolved_totp_key, row.secret_encrypted)
        if secret is None:
            return False
        step = totp.matching_step(secret, code)
        return step is not None and await repository.claim_totp_step(session, row.user_id, step)

    async def _use_recovery_code(
        self, session: AsyncSession, user_id: int, code: str
    ) -> int | None:
        wanted = totp.normalise_recovery_code(code)
        if len(wanted) != 10:
            return None
        codes = await repository.recovery_codes(session, user_id)
        for stored in codes:
            if await verify_password_async(wanted, stored.code_hash):
                assert stored.id is not None
                if await repository.delete_recovery_code(session, stored.id):
                    return len(codes) - 1
                return None
        return None

    # Sign-up.

    async def sign_up(
        self, session: AsyncSession, *, email: str, password: str, name: str, client: Client
    ) -> SignUp:
        """A new account, or (for an email that has one) a note to its owner and nothing else.

        Both paths validate the same input, hash the password once and answer alike, so the
        answer and its timing do not tell whether the address is registered (AUTH-05).
        """
        email = normalise_email(email)
        name = _clean_user_name(name)
        check_password_policy(password, email=email)
        existing = await repository.get_by_email(session, email)
        password_hash = await hash_password_async(password)
        if existing is not None:
            audit("register", outcome="existing_email", user_id=existing.id, ip=client.ip)
            return SignUp(
                None,
                Mail(
                    existing.email,
                    "register_existing",
                    {"url": self._link("/login"), "reset_url": self._link("/forgot-password")},
                ),
            )
        user = User(email=email, name=name, password_hash=password_hash, created_at=utc_now())
        await repository.add(session, user)
        audit("register", user_id=user.id, ip=client.ip)
        return SignUp(
            user, Mail(email, "welcome", {"name": name or email, "url": self._link("/login")})
        )

    # Passwords.

    async def change_password(
        self,
        session: AsyncSession,
        user: User,
        *,
        current: str,
        new: str,
        client: Client,
        code: str | None = None,
    ) -> tuple[IssuedSession, Mail]:
        """Needs the current password (and a code with 2FA on); ends every session and starts a
        fresh one."""
        assert user.id is not None
        await self.reauthenticate(session, user, current, code, field="current_password")
        check_password_policy(new, email=user.email)
        user.password_hash = await hash_password_async(new)
        await self.end_all_sessions(session, user, "password_changed")
        await repository.expire_tokens(session, user.id, RESET, utc_now())
        issued = await self.start_session(session, user, client)
        audit("password.changed", user_id=user.id, ip=client.ip)
        return issued, Mail(user.email, "password_changed", {"url": self._link("/forgot-password")})

    async def request_password_reset(
        self, session: AsyncSession, email: str, client: Client
    ) -> Mail | None:
        """A reset link for a known email; None (and the same answer) for unknown ones."""
        ip = client.ip or "unknown"
        if not await self.limiter.hit(RESET_PER_IP, "reset-ip", ip):
            return None
        try:
            user = await user_service.get_by_email(session, email)
        except UnprocessableEntity:
            return None
        if user is None or user.id is None or not user.is_active:
            audit("password.reset_requested", outcome="unknown_email", ip=client.ip)
            return None
        if not await self.limiter.hit(RESET_MAILS_PER_ACCOUNT, "reset-account", str(user.id)):
            audit("password.reset_requested", outcome="rate_limited", user_id=user.id)
            return None
        now = utc_now()
        await repository.expire_tokens(session, user.id, RESET, now)
        minutes = self.settings.password_reset_minutes
        token = await self.issue_token(session, RESET, user.id, timedelta(minutes=minutes), {})
        audit("password.reset_requested", user_id=user.id, ip=client.ip)
        return Mail(
            user.email,
            "password_reset",
            {"url": self._link(f"/reset-password#token={token}"), "minutes": str(minutes)},
        )

    async def reset_password(
        self, session: AsyncSession, *, token: str, new: str, client: Client
    ) -> Mail:
        """Set a new password with a single-use token; every session ends; 2FA stays on."""
        now = utc_now()
        pending = await repository.peek_token(session, sha256(token), RESET, now)
        user = None
        if pending is not None and pending.user_id is not None:
            user = await repository.get(session, pending.user_id)
        if user is None:
            raise BadRequest("token: invalid or expired reset link")
        check_password_policy(new, email=user.email)
        if await repository.spend_token(session, sha256(token), RESET, now) is None:
            raise BadRequest("token: invalid or expired reset link")
        user.password_hash = await hash_password_async(new)
        await self.end_all_sessions(session, user, "password_reset")
        audit("password.reset", user_id=user.id, ip=client.ip)
        return Mail(user.email, "password_changed", {"url": self._link("/forgot-password")})

    async def reauthenticate(
        self,
        session: AsyncSession,
        user: User,
        password: str,
        code: str | None,
        *,
        field: str = "password",
    ) -> None:
        """The password (and a TOTP code when 2FA is on) sent with a sensitive change (AUTH-10).

        Raises Forbidden (not Unauthorized: the session itself is fine) and counts each wrong
        password or code against the same limits as sign-in.
        """
        assert user.id is not None
        key = str(user.id)
        await self.limiter.check(LOGIN_PER_ACCOUNT, "reauth", key, what="password attempts")
        if user.password_hash is None:
            raise Forbidden(
                f"{field}: this account signs in with Google only; set a password first "
                "(sign out, then 'Forgot password?' sends a link)"
            )
        if not await verify_password_async(password, user.password_hash):
            await self.limiter.hit(LOGIN_PER_ACCOUNT, "reauth", key)
            audit("reauth", outcome="failure", user_id=user.id, reason="password")
            raise Forbidden(f"{field}: incorrect password")
        row = await repository.totp(session, user.id)
        if row is not None and row.enabled_at is not None:
            if not code:
                raise Forbidden("code: enter the current code from your authenticator app")
            await self.limiter.check(TOTP_PER_USER, "totp", key, what="two-factor attempts")
            if not await self._claim_code(session, row, code):
                await self.limiter.hit(TOTP_PER_USER, "totp", key)
                audit("reauth", outcome="failure", user_id=user.id, reason="code")
                raise Forbidden("code: invalid two-factor code")

    # 2FA enrolment.

    async def totp_setup(self, session: AsyncSession, user: User) -> tuple[str, str]:
        """A new secret (not yet enabled): the otpauth URI and its QR code as SVG."""
        assert user.id is not None
        row = await repository.totp(session, user.id)
        if row is not None and row.enabled_at is not None:
            raise Conflict("two-factor authentication is already enabled")
        secret = totp.new_secret()
        sealed = totp.encrypt(self.settings.resolved_totp_key, secret)
        if row is None:
            await repository.add(
                session, UserTotp(user_id=user.id, secret_encrypted=sealed, created_at=utc_now())
            )
        else:
            row.secret_encrypted = sealed
            row.last_used_step = 0
            await session.flush()
        uri = totp.provisioning_uri(secret, user.email)
        audit("2fa.setup", user_id=user.id)
        return uri, totp.qr_svg(uri)

    async def totp_enable(
        self, session: AsyncSession, user: User, *, code: str, client: Client
    ) -> tuple[list[str], IssuedSession, Mail]:
        """Turn 2FA on with a valid code; answers the recovery codes and a fresh session."""
        assert user.id is not None
        key = str(user.id)
        await self.limiter.check(TOTP_PER_USER, "totp", key, what="two-factor attempts")
        row = await repository.totp(session, user.id)
        if row is None:
            raise BadRequest("start with /dashauth/2fa/setup")
        if row.enabled_at is not None:
            raise Conflict("two-factor authentication is already enabled")
        if not await self._claim_code(session, row, code):
            await self.limiter.hit(TOTP_PER_USER, "totp", key)
            raise BadRequest("code: invalid two-factor code")
        row.enabled_at = utc_now()
        codes = await self._replace_recovery_codes(session, user.id)
        await self.end_all_sessions(session, user, "2fa_enabled")
        issued = await self.start_session(session, user, client)
        audit("2fa.enabled", user_id=user.id, ip=client.ip)
        return codes, issued, self._factor_mail(user, "enabled")

    async def totp_disable(
        self, session: AsyncSession, user: User, *, password: str, code: str, client: Client
    ) -> tuple[IssuedSession, Mail]:
        assert user.id is not None
        if not await user_service.two_factor_enabled(session, user.id):
            raise BadRequest("two-factor authentication is not enabled")
        await self.reauthenticate(session, user, password, code)
        await repository.delete_totp(session, user.id)
        await self.end_all_sessions(session, user, "2fa_disabled")
        issued = await self.start_session(session, user, client)
        audit("2fa.disabled", user_id=user.id, ip=client.ip)
        return issued, self._factor_mail(user, "disabled")

    async def regenerate_recovery_codes(
        self, session: AsyncSession, user: User, *, password: str, code: str
    ) -> tuple[list[str], Mail]:
        assert user.id is not None
        if not await user_service.two_factor_enabled(session, user.id):
            raise BadRequest("two-factor authentication is not enabled")
        await self.reauthenticate(session, user, password, code)
        codes = await self._replace_recovery_codes(session, user.id)
        audit("2fa.recovery_codes_regenerated", user_id=user.id)
        return codes, self._factor_mail(user, "given new recovery codes")

    async def _replace_recovery_codes(self, session: AsyncSession, user_id: int) -> list[str]:
        codes = totp.new_recovery_codes()
        now = utc_now()
        rows = [
            RecoveryCode(user_id=user_id, code_hash=await hash_password_async(code), created_at=now)
            for code in codes
        ]
        await repository.replace_recovery_codes(session, user_id, rows)
        return [f"{code[:5]}-{code[5:]}" for code in codes]

    def _factor_mail(self, user: User, change: str) -> Mail:
        return Mail(
            user.email,
            "two_factor_changed",
            {"change": change, "url": self._link("/forgot-password")},
        )

    # Single-use tokens.

    async def issue_token(
        self,
        session: AsyncSession,
        purpose: str,
        user_id: int | None,
        ttl: timedelta,
        payload: dict[str, Any],
    ) -> str:
        """A new single-use token for `purpose`; only its SHA-256 is stored."""
        token = new_secret()
        now = utc_now()
        await repository.add(
            session,
            OneTimeToken(
                token_hash=sha256(token),
                purpose=purpose,
                user_id=user_id,
                payload=json.dumps(payload),
                created_at=now,
                expires_at=now + ttl,
            ),
        )
        return token

    async def after_oidc(
        self, session: AsyncSession, user: User, client: Client, binding: str | None = None
    ) -> SignIn:
        """An OIDC identity signed in: the same 2FA step as a password sign-in (MFA-06)."""
        return await self._after_first_factor(session, user, client, "oidc", binding)
