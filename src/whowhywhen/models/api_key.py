from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from whowhywhen.models.base import UTCDateTime


class ApiKey(SQLModel, table=True):
    """An ingest key; only the SHA-256 of the secret is stored (KEY-02)."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    last4: str = Field(max_length=4)
    key_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    created_by_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
