from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from whowhywhen.models.base import UTCDateTime


class ProjectInvitation(SQLModel, table=True):
    """An invitation to a project, bound to one email address; the token is stored by SHA-256."""

    __tablename__ = "project_invitations"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    email: str = Field(max_length=320)
    role: str = Field(max_length=16)
    token_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    invited_by_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
