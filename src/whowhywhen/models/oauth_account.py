from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from whowhywhen.models.base import UTCDateTime


class OAuthAccount(SQLModel, table=True):
    """An OpenID Connect identity linked to a user, keyed by (issuer, subject) (OAUTH-01)."""

    __tablename__ = "oauth_accounts"
    __table_args__ = (sa.UniqueConstraint("issuer", "subject"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    issuer: str = Field(max_length=255)
    subject: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=320)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
