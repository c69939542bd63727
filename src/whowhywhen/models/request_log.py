import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from whowhywhen.models.base import BigIntPK, UTCDateTime, batch_project_id


class RequestLog(SQLModel, table=True):
    """One request to a user's API, as reported by its middleware and enriched by us."""

    __tablename__ = "request_logs"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "event_id"),
        sa.Index("ix_request_logs_project_time", "project_id", "timestamp", "id"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigIntPK, primary_key=True))
    project_id: int = Field(sa_column=batch_project_id(primary_key=False))
    event_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    timestamp: datetime = Field(sa_type=UTCDateTime, nullable=False)
    received_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    method: str = Field(max_length=16)
    url: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    host: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    path: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    query_params: str | None = Field(
        default=None,
        sa_column=sa.Column(sa.Text, nullable=True),
        description="JSON object of query parameter lists",
    )
    route: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # No foreign keys to dimension rows: per-row checks would double the insert cost of the
    # hottest table; ids come from the dimension tables in the same transaction.
    endpoint_id: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    status_code: int
    duration_ms: float
    request_size: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    response_size: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    ip: str | None = Field(default=None, max_length=64)
    country: str | None = Field(default=None, max_length=2)
    user_agent_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    bot_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    consumer: str | None = Field(default=None, max_length=256)
    consumer_name: str | None = Field(default=None, max_length=256)
    exception: str | None = Field(default=None, max_length=256)


class IngestBatch(SQLModel, table=True):
    """A batch id already stored for a project, so a retried batch is stored once."""

    __tablename__ = "ingest_batches"

    project_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    batch_id: str = Field(sa_column=sa.Column(sa.String(128), primary_key=True, nullable=False))
    received_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    events: int
