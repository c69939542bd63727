from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from whowhywhen.models.base import UTCDateTime


class Project(SQLModel, table=True):
    __tablename__ = "projects"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    retention_days: int = Field(default=30)
    anonymize_ip: bool = Field(default=False)
    apdex_t_ms: int = Field(default=500)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class ProjectMember(SQLModel, table=True):
    __tablename__ = "project_members"

    project_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    user_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
            nullable=False,
            index=True,
        )
    )
    role: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
