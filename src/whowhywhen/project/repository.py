from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from whowhywhen.models import Project, ProjectMember


async def add(session: AsyncSession, project: Project, member: ProjectMember) -> Project:
    session.add(project)
    await session.flush()
    assert project.id is not None
    member.project_id = project.id
    session.add(member)
    await session.flush()
    return project


async def get(session: AsyncSession, project_id: int) -> Project | None:
    return await session.get(Project, project_id)


async def role_of(session: AsyncSession, project_id: int, user_id: int) -> str | None:
    result = await session.execute(
        sa.select(col(ProjectMember.role)).where(
            col(ProjectMember.project_id) == project_id, col(ProjectMember.user_id) == user_id
        )
    )
    return result.scalar_one_or_none()
