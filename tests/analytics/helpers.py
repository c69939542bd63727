from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx2
import sqlalchemy as sa
from sqlmodel import col

from tests.factories import ProjectWithKey
from tests.ingest.helpers import CHROME, iso
from whowhywhen.db import Database
from whowhywhen.models import Project

CURL = "curl/8.5.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


def ev(
    at: datetime,
    *,
    path: str = "/users/42",
    method: str = "GET",
    status: int = 200,
    ms: float = 40.0,
    ua: str = CHROME,
    ip: str = "8.8.8.8",
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "url": f"http://api.example.com{path}",
        "method": method,
        "status_code": status,
        "duration": ms / 1000,
        "user_agent": ua,
        "ip_address": ip,
        "timestamp": iso(at),
    }
    data.update(extra)
    return data


async def send(client: httpx2.AsyncClient, project: ProjectWithKey, events: list[Any]) -> None:
    for start in range(0, len(events), 1000):
        chunk = events[start : start + 1000]
        response = await client.post("/api/log/bulk", headers=project.headers, json=chunk)
        assert response.status_code == 202, response.text
        assert response.json()["accepted"] == len(chunk), response.text


async def load_project(db: Database, project_id: int) -> Project:
    async with db.session() as session:
        project = await session.get(Project, project_id)
        assert project is not None
        return project


async def set_project(db: Database, project_id: int, **values: Any) -> None:
    async with db.session() as session:
        await session.execute(
            sa.update(Project).where(col(Project.id) == project_id).values(**values)
        )
        await session.commit()
