from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from whowhywhen.models.base import UTCDateTime


class Endpoint(SQLModel, table=True):
    """A method + route template of a project, kept from the first time it was seen."""

    __tablename__ = "endpoints"
    __table_args__ = (sa.UniqueConstraint("project_id", "method", "route"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    )
    method: str = Field(max_length=16)
    route: str = Field(max_length=2048)
    first_seen_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class ProjectBot(SQLModel, table=True):
    """The first time a bot was seen on a project (for the events feed)."""

    __tablename__ = "project_bots"

    project_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    bot_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("bots.id"), primary_key=True, nullable=False)
    )
    first_seen_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
