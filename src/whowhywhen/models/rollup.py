from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from whowhywhen.models.base import UTCDateTime, batch_project_id, covering_primary_key, project_fk


def _endpoint_key() -> sa.Column[int]:
    # A plain column: endpoints are never deleted alone, and per-row FK checks are costly here.
    return sa.Column(sa.Integer, primary_key=True, nullable=False)


class RollupMinute(SQLModel, table=True):
    """Requests per project, minute, endpoint, status code and bot-or-not."""

    __tablename__ = "rollups_minute"
    __table_args__ = (
        covering_primary_key(
            "project_id",
            "bucket",
            "endpoint_id",
            "status_code",
            "is_bot",
            include=["count", "duration_sum", "duration_max"],
        ),
    )

    project_id: int = Field(sa_column=batch_project_id())
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    endpoint_id: int = Field(sa_column=_endpoint_key())
    status_code: int = Field(primary_key=True)
    is_bot: bool = Field(primary_key=True)
    count: int
    duration_sum: float
    duration_max: float


class LatencyHistogramMinute(SQLModel, table=True):
    """Counts per log-spaced latency bin for the same key as `rollups_minute` (mergeable)."""

    __tablename__ = "latency_histograms_minute"
    __table_args__ = (
        covering_primary_key(
            "project_id", "bucket", "endpoint_id", "status_code", "is_bot", "bin", include=["count"]
        ),
    )

    project_id: int = Field(sa_column=batch_project_id())
    bucket: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    endpoint_id: int = Field(sa_column=_endpoint_key())
    status_code: int = Field(primary_key=True)
    is_bot: bool = Field(primary_key=True)
    bin: int = Field(primary_key=True)
    count: int


class IngestOutcome(SQLModel, table=True):
    """What the collector and the SDKs did with a project's events, per day (COL-12, SDK-15)."""

    __tablename__ = "ingest_outcomes"

    project_id: int = Field(sa_column=project_fk())
    day: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    accepted: int = 0
    """Events stored."""
    duplicates: int = 0
    """Events already stored (a retried batch or event id), acknowledged and not stored again."""
    rejected: int = 0
    """Invalid events left out of an otherwise stored batch."""
    refused_invalid: int = 0
    """Requests refused as malformed (400, or 422 for a single event)."""
    refused_too_large: int = 0
    """Requests refused as over a size or batch limit (413)."""
    refused_media_type: int = 0
    """Requests refused for their Content-Type or Content-Encoding (415)."""
    rate_limited: int = 0
    """Requests refused as over the key's rate (429)."""
    shed: int = 0
    """Requests refused because the collector was at capacity (503)."""
    unavailable: int = 0
    """Requests refused because storage could not be reached (503)."""
    sdk_queue_overflow: int = 0
    sdk_network_error: int = 0
    sdk_ratelimit_backoff: int = 0
    sdk_send_error: int = 0
    sdk_too_large: int = 0
    sdk_auth_error: int = 0
