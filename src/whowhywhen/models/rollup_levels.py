"""Coarser copies of the minute rollups: the compaction task moves minute rows into hours and
hours into (project-local) days, so long ranges read few rows."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from whowhywhen.models.base import UTCDateTime, project_fk


def _endpoint_fk() -> sa.Column[int]:
    return sa.Column(
        sa.ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True, nullable=False
    )


class RollupHour(SQLModel, table=True):
    """`rollups_minute` compacted per UTC hour."""

    __tablename__ = "rollups_hour"

    project_id: int = Field(sa_column=project_fk())
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    endpoint_id: int = Field(sa_column=_endpoint_fk())
    status_code: int = Field(primary_key=True)
    is_bot: bool = Field(primary_key=True)
    count: int
    duration_sum: float
    duration_max: float


class RollupDay(SQLModel, table=True):
    """`rollups_hour` compacted per day of the project's time zone (bucket = local midnight)."""

    __tablename__ = "rollups_day"

    project_id: int = Field(sa_column=project_fk())
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    endpoint_id: int = Field(sa_column=_endpoint_fk())
    status_code: int = Field(primary_key=True)
    is_bot: bool = Field(primary_key=True)
    count: int
    duration_sum: float
    duration_max: float


class _ProjectFacts(SQLModel):
    project_id: int = Field(foreign_key="projects.id", ondelete="CASCADE", primary_key=True)
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    status_code: int = Field(primary_key=True)
    is_bot: bool = Field(primary_key=True)
    count: int
    duration_sum: float
    duration_max: float


class RollupProjectHour(_ProjectFacts, table=True):
    """`rollups_hour` summed over endpoints: what reads without an endpoint split (summary,
    timeline, status codes) take their hours from, one row per hour and status code instead of
    one per endpoint too. The compaction task writes it and takes rows out of it in the
    transactions that write and empty `rollups_hour`, so both always hold the same requests."""

    __tablename__ = "rollups_project_hour"


class RollupProjectDay(_ProjectFacts, table=True):
    """`rollups_day` summed over endpoints, kept like `rollups_project_hour`."""

    __tablename__ = "rollups_project_day"


class LatencyHistogramHour(SQLModel, table=True):
    __tablename__ = "latency_histograms_hour"

    project_id: int = Field(sa_column=project_fk())
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    endpoint_id: int = Field(sa_column=_endpoint_fk())
    status_code: int = Field(primary_key=True)
    is_bot: bool = Field(primary_key=True)
    bin: int = Field(primary_key=True)
    count: int


class LatencyHistogramDay(SQLModel, table=True):
    __tablename__ = "latency_histograms_day"

    project_id: int = Field(sa_column=project_fk())
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    endpoint_id: int = Field(sa_column=_endpoint_fk())
    status_code: int = Field(primary_key=True)
    is_bot: bool = Field(primary_key=True)
    bin: int = Field(primary_key=True)
    count: int


class LatencyHistogramProjectHour(SQLModel, table=True):
    """Latency bins per project and UTC hour across all endpoints: what unfiltered summaries and
    timelines read, a few hundred rows a day however many endpoints there are. The compaction
    task adds every minute row it moves both here and to the day copy below, and drops hours
    older than ROLLUP_HOUR_DAYS (the day copy covers them)."""

    __tablename__ = "latency_histograms_project_hour"

    project_id: int = Field(sa_column=project_fk())
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    bin: int = Field(primary_key=True)
    count: int


class LatencyHistogramProjectDay(SQLModel, table=True):
    __tablename__ = "latency_histograms_project_day"

    project_id: int = Field(sa_column=project_fk())
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    bin: int = Field(primary_key=True)
    count: int


class LatencyHistogramEndpointDay(SQLModel, table=True):
    """Latency bins per endpoint and project-local day: a copy kept for long ranges of the
    endpoints table (the compaction task adds every minute row it moves)."""

    __tablename__ = "latency_histograms_endpoint_day"

    project_id: int = Field(sa_column=project_fk())
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    endpoint_id: int = Field(sa_column=_endpoint_fk())
    bin: int = Field(primary_key=True)
    count: int
