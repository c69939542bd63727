"""SQL for users, sessions, refresh tokens, single-use tokens, 2FA and OIDC identities."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from whowhywhen.models import (
    AuthSession,
    OAuthAccount,
    OneTimeToken,
    RecoveryCode,
    RefreshToken,
    User,
    UserTotp,
)


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(sa.select(User).where(col(User.email) == email))
    return result.scalar_one_or_none()


async def get(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def add(session: AsyncSession, row: object) -> None:
    session.add(row)
    await session.flush()


# Sessions and refresh tokens.


async def session_with_user(
    session: AsyncSession, session_id: str
) -> tuple[AuthSession, User] | None:
    result = await session.execute(
        sa.select(AuthSession, User)
        .join(User, col(User.id) == col(AuthSession.user_id))
        .where(col(AuthSession.id) == session_id)
    )
    row = result.first()
    return None if row is None else (row[0], row[1])


async def list_sessions(session: AsyncSession, user_id: int, now: datetime) -> list[AuthSession]:
    result = await session.execute(
        sa.select(AuthSession)
        .where(
            col(AuthSession.user_id) == user_id,
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.expires_at) > now,
        )
        .order_by(col(AuthSession.created_at).desc())
    )
    return list(result.scalars())


async def revoke_sessions(
    session: AsyncSession,
    user_id: int,
    now: datetime,
    reason: str,
    *,
    session_id: str | None = None,
) -> int:
    statement = (
        sa.update(AuthSession)
        .where(col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    if session_id is not None:
        statement = statement.where(col(AuthSession.id) == session_id)
    result = await session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def refresh_token(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    return await session.get(RefreshToken, token_hash)


async def spend_refresh_token(session: AsyncSession, token_hash: str, now: datetime) -> bool:
    """Mark a refresh token used; False when it already was (a concurrent or replayed use)."""
    result = await session.execute(
        sa.update(RefreshToken)
        .where(col(RefreshToken.token_hash) == token_hash, col(RefreshToken.used_at).is_(None))
        .values(used_at=now)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def touch_session(session: AsyncSession, session_id: str, now: datetime) -> None:
    await session.execute(
        sa.update(AuthSession).where(col(AuthSession.id) == session_id).values(last_used_at=now)
    )


# Single-use tokens.


async def spend_token(
    session: AsyncSession, token_hash: str, purpose: str, now: datetime
) -> OneTimeToken | None:
    """Atomically mark an unexpired token of this purpose used and return it; None otherwise."""
    result = await session.execute(
        sa.update(OneTimeToken)
        .where(
            col(OneTimeToken.token_hash) == token_hash,
            col(OneTimeToken.purpose) == purpose,
            col(OneTimeToken.used_at).is_(None),
            col(OneTimeToken.expires_at) > now,
        )
        .values(used_at=now)
    )
    if int(result.rowcount) != 1:  # type: ignore[attr-defined]
        return None
    return await session.get(OneTimeToken, token_hash)


async def peek_token(
    session: AsyncSession, token_hash: str, purpose: str, now: datetime
) -> OneTimeToken | None:
    result = await session.execute(
        sa.select(OneTimeToken).where(
            col(OneTimeToken.token_hash) == token_hash,
            col(OneTimeToken.purpose) == purpose,
            col(OneTimeToken.used_at).is_(None),
            col(OneTimeToken.expires_at) > now,
        )
    )
    return result.scalar_one_or_none()


async def expire_tokens(session: AsyncSession, user_id: int, purpose: str, now: datetime) -> None:
    await session.execute(
        sa.update(OneTimeToken)
        .where(
            col(OneTimeToken.user_id) == user_id,
            col(OneTimeToken.purpose) == purpose,
            col(OneTimeToken.used_at).is_(None),
        )
        .values(used_at=now)
    )


async def prune(session: AsyncSession, now: datetime, keep: timedelta) -> None:
    """Forget expired single-use tokens and sessions (their refresh tokens go with them)."""
    await session.execute(sa.delete(OneTimeToken).where(col(OneTimeToken.expires_at) < now))
    await session.execute(
        sa.delete(RefreshToken).where(
            col(RefreshToken.session_id).in_(
                sa.select(col(AuthSession.id)).where(col(AuthSession.expires_at) < now - keep)
            )
        )
    )
    await session.execute(sa.delete(AuthSession).where(col(AuthSession.expires_at) < now - keep))


# 2FA.


async def totp(session: AsyncSession, user_id: int) -> UserTotp | None:
    return await session.get(UserTotp, user_id)


async def delete_totp(session: AsyncSession, user_id: int) -> None:
    await session.execute(sa.delete(UserTotp).where(col(UserTotp.user_id) == user_id))
    await session.execute(sa.delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))


async def claim_totp_step(session: AsyncSession, user_id: int, step: int) -> bool:
    """Record `step` as used unless it or a later one already was (MFA-02: atomic, no replay)."""
    result = await session.execute(
        sa.update(UserTotp)
        .where(col(UserTotp.user_id) == user_id, col(UserTotp.last_used_step) < step)
        .values(last_used_step=step)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def recovery_codes(session: AsyncSession, user_id: int) -> list[RecoveryCode]:
    result = await session.execute(
        sa.select(RecoveryCode).where(col(RecoveryCode.user_id) == user_id)
    )
    return list(result.scalars())


async def replace_recovery_codes(
    session: AsyncSession, user_id: int, codes: list[RecoveryCode]
) -> None:
    await session.execute(sa.delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    session.add_all(codes)
    await session.flush()


async def delete_recovery_code(session: AsyncSession, code_id: int) -> bool:
    result = await session.execute(sa.delete(RecoveryCode).where(col(RecoveryCode.id) == code_id))
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


# OpenID Connect identities.


async def oauth_account(session: AsyncSession, issuer: str, subject: str) -> OAuthAccount | None:
    result = await session.execute(
        sa.select(OAuthAccount).where(
            col(OAuthAccount.issuer) == issuer, col(OAuthAccount.subject) == subject
        )
    )
    return result.scalar_one_or_none()
