"""`GET /dashapi/projects/{project_id}/ingest/outcomes`: what happened to a project's events.

Per UTC day: events stored, duplicates and invalid events of stored batches; requests refused by
reason (malformed, too large, wrong media type, over the key's rate, collector at capacity,
storage unreachable); and the events the SDKs reported dropping before they ever reached us.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from whowhywhen.auth.auth import DbSession
from whowhywhen.ingest import repository
from whowhywhen.ingest.service import IngestService
from whowhywhen.kit.time import floor_day, utc_now
from whowhywhen.models import IngestOutcome
from whowhywhen.project.auth import ProjectRead

router = APIRouter(prefix="/dashapi/projects/{project_id}", tags=["ingest"])

_SDK_PREFIX = "sdk_"


class OutcomeCounts(BaseModel):
    accepted: int = Field(0, description="Events stored")
    duplicates: int = Field(0, description="Events already stored (retried batch or event id)")
    rejected: int = Field(0, description="Invalid events left out of stored batches")
    refused_invalid: int = Field(0, description="Requests refused as malformed (400/422)")
    refused_too_large: int = Field(0, description="Requests over a size or batch limit (413)")
    refused_media_type: int = Field(0, description="Requests with a wrong content type (415)")
    rate_limited: int = Field(0, description="Requests over the key's rate (429)")
    shed: int = Field(0, description="Requests refused at capacity (503)")
    unavailable: int = Field(0, description="Requests refused while storage was down (503)")
    sdk_dropped: dict[str, int] = Field(
        default_factory=dict,
        description="Events the SDKs dropped before sending, by reason (queue_overflow, …)",
    )


class OutcomeDay(OutcomeCounts):
    day: date


class IngestOutcomes(BaseModel):
    days: list[OutcomeDay] = Field(description="Days with any outcome, newest first")
    totals: OutcomeCounts


def _counts(row: IngestOutcome) -> dict[str, object]:
    values = row.model_dump(exclude={"project_id", "day"})
    plain = {k: v for k, v in values.items() if not k.startswith(_SDK_PREFIX)}
    plain["sdk_dropped"] = {
        k.removeprefix(_SDK_PREFIX): v for k, v in values.items() if k.startswith(_SDK_PREFIX)
    }
    return plain


@router.get("/ingest/outcomes", response_model=IngestOutcomes)
async def ingest_outcomes(
    request: Request,
    access: ProjectRead,
    session: DbSession,
    days: Annotated[int, Query(ge=1, le=400, description="Days back, today included")] = 30,
) -> IngestOutcomes:
    """Stored, duplicate, rejected and refused events and requests per day (COL-12)."""
    ingest: IngestService = request.app.state.ingest
    await ingest.outcomes.flush(ingest.db)  # this process's refusals not written yet
    since: datetime = floor_day(utc_now()) - timedelta(days=days - 1)
    rows = await repository.outcomes_of(session, access.project_id, since=since)
    listed = [OutcomeDay(day=row.day.date(), **_counts(row)) for row in rows]
    totals = OutcomeCounts()
    for item in listed:
        for name in OutcomeCounts.model_fields:
            if name == "sdk_dropped":
                for reason, n in item.sdk_dropped.items():
                    totals.sdk_dropped[reason] = totals.sdk_dropped.get(reason, 0) + n
            else:
                setattr(totals, name, getattr(totals, name) + getattr(item, name))
    return IngestOutcomes(days=listed, totals=totals)
