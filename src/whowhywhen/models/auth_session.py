from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from whowhywhen.models.base import UTCDateTime


class AuthSession(SQLModel, table=True):
    """A signed-in browser or client: the family its rotating refresh tokens belong to (AUTH-08)."""

    __tablename__ = "auth_sessions"

    id: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True, nullable=False))
    user_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_used_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_reason: str | None = Field(default=None, max_length=32)
    method: str = Field(default="password", max_length=16)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)


class RefreshToken(SQLModel, table=True):
    """One refresh token of a session, by SHA-256; spent tokens stay to detect reuse."""

    __tablename__ = "refresh_tokens"

    token_hash: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True, nullable=False))
    session_id: str = Field(
        sa_column=sa.Column(
            sa.ForeignKey("auth_sessions.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OneTimeToken(SQLModel, table=True):
    """A single-use secret by SHA-256: password reset, 2FA challenge, OIDC state, account link."""

    __tablename__ = "one_time_tokens"

    token_hash: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True, nullable=False))
    purpose: str = Field(max_length=16)
    user_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
        ),
    )
    payload: str = Field(default="{}", sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
