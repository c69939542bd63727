from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from whowhywhen.models import ApiKey, Project, User


async def add(session: AsyncSession, key: ApiKey) -> ApiKey:
    session.add(key)
    await session.flush()
    return key


async def count_active(session: AsyncSession, project_id: int) -> int:
    result = await session.execute(
        sa.select(sa.func.count())
        .select_from(ApiKey)
        .where(col(ApiKey.project_id) == project_id, col(ApiKey.revoked_at).is_(None))
    )
    return int(result.scalar_one())


async def find_active_by_hash(
    session: AsyncSession, key_hash: str, now: datetime
) -> tuple[ApiKey, Project] | None:
    result = await session.execute(
        sa.select(ApiKey, Project)
        .join(Project, col(Project.id) == col(ApiKey.project_id))
        .where(
            col(ApiKey.key_hash) == key_hash,
            col(ApiKey.revoked_at).is_(None),
            sa.or_(col(ApiKey.expires_at).is_(None), col(ApiKey.expires_at) > now),
        )
    )
    row = result.first()
    return None if row is None else (row[0], row[1])


async def touch(session: AsyncSession, key_ids: list[int], when: datetime) -> None:
    await session.execute(
        sa.update(ApiKey).where(col(ApiKey.id).in_(key_ids)).values(last_used_at=when)
    )


async def get(session: AsyncSession, project_id: int, key_id: int) -> ApiKey | None:
    result = await session.execute(
        sa.select(ApiKey).where(col(ApiKey.project_id) == project_id, col(ApiKey.id) == key_id)
    )
    return result.scalar_one_or_none()


async def list_active(session: AsyncSession, project_id: int) -> list[tuple[ApiKey, str | None]]:
    result = await session.execute(
        sa.select(ApiKey, col(User.email))
        .outerjoin(User, col(User.id) == col(ApiKey.created_by_id))
        .where(col(ApiKey.project_id) == project_id, col(ApiKey.revoked_at).is_(None))
        .order_by(col(ApiKey.created_at).desc(), col(ApiKey.id).desc())
    )
    return [(row[0], row[1]) for row in result.all()]
