from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from whowhywhen.models.base import UTCDateTime


class UserTotp(SQLModel, table=True):
    """A user's TOTP secret, AES-GCM encrypted under a key kept outside the database (MFA-04)."""

    __tablename__ = "user_totp"

    user_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    secret_encrypted: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    enabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_step: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class RecoveryCode(SQLModel, table=True):
    """A single-use 2FA recovery code, stored as an argon2id hash (MFA-05)."""

    __tablename__ = "recovery_codes"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    code_hash: str = Field(max_length=255)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
