"""Per-dimension rollups (browser, OS, device type, client type, library, country, consumer) and
per-bot rollups, written hourly by the collector and compacted into project-local days."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from whowhywhen.models.base import UTCDateTime, batch_project_id, covering_primary_key, project_fk


class DimensionRollupHour(SQLModel, table=True):
    """Requests per project, UTC hour, dimension value, status code and bot-or-not."""

    __tablename__ = "dimension_rollups_hour"
    __table_args__ = (
        covering_primary_key(
            "project_id", "bucket", "dimension", "value", "status_code", "is_bot", include=["count"]
        ),
    )

    project_id: int = Field(sa_column=batch_project_id())
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    dimension: str = Field(sa_column=sa.Column(sa.String(16), primary_key=True, nullable=False))
    value: str = Field(sa_column=sa.Column(sa.String(256), primary_key=True, nullable=False))
    status_code: int = Field(primary_key=True)
    is_bot: bool = Field(primary_key=True)
    count: int
    duration_sum: float


class DimensionRollupDay(SQLModel, table=True):
    __tablename__ = "dimension_rollups_day"

    project_id: int = Field(sa_column=project_fk())
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    dimension: str = Field(sa_column=sa.Column(sa.String(16), primary_key=True, nullable=False))
    value: str = Field(sa_column=sa.Column(sa.String(256), primary_key=True, nullable=False))
    status_code: int = Field(primary_key=True)
    is_bot: bool = Field(primary_key=True)
    count: int
    duration_sum: float


class DimensionTotalDay(SQLModel, table=True):
    """`dimension_rollups_day` summed over status codes and bot-or-not: what breakdowns without
    a status or bot filter read, ≈ 15× fewer rows. The compaction task adds every hour row it
    moves into `dimension_rollups_day` here too, in the same transaction."""

    __tablename__ = "dimension_totals_day"

    project_id: int = Field(sa_column=project_fk())
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    dimension: str = Field(sa_column=sa.Column(sa.String(16), primary_key=True, nullable=False))
    value: str = Field(sa_column=sa.Column(sa.String(256), primary_key=True, nullable=False))
    count: int
    duration_sum: float


class BotRollupHour(SQLModel, table=True):
    """Bot requests per project, UTC hour, bot, endpoint and status code."""

    __tablename__ = "bot_rollups_hour"

    project_id: int = Field(sa_column=batch_project_id())
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    # Plain columns (no per-row foreign-key checks on the collector's write path).
    bot_id: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, nullable=False))
    endpoint_id: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, nullable=False))
    status_code: int = Field(primary_key=True)
    count: int
    last_seen: datetime = Field(sa_type=UTCDateTime, nullable=False)


class BotRollupDay(SQLModel, table=True):
    __tablename__ = "bot_rollups_day"

    project_id: int = Field(sa_column=project_fk())
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    # Plain columns (no per-row foreign-key checks on the collector's write path).
    bot_id: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, nullable=False))
    endpoint_id: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, nullable=False))
    status_code: int = Field(primary_key=True)
    count: int
    last_seen: datetime = Field(sa_type=UTCDateTime, nullable=False)
