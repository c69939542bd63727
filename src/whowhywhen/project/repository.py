"""SQL for projects, memberships and invitations; every query is scoped by project id."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from whowhywhen.models import BATCH_TABLES, Project, ProjectInvitation, ProjectMember, User


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


async def delete(session: AsyncSession, project_id: int) -> None:
    """Delete a project and all its data.

    The project's row goes first: that waits for any collector transaction holding the project
    (`ingest.repository.lock_projects`) and keeps new ones out, so the rows deleted next are all
    there will be. Most tables follow by their foreign keys; `BATCH_TABLES` have none.
    """
    await session.execute(sa.delete(Project).where(col(Project.id) == project_id))
    for model in BATCH_TABLES:
        table: sa.Table = model.__table__  # type: ignore[attr-defined]
        await session.execute(sa.delete(table).where(table.c.project_id == project_id))


async def role_of(session: AsyncSession, project_id: int, user_id: int) -> str | None:
    result = await session.execute(
        sa.select(col(ProjectMember.role)).where(
            col(ProjectMember.project_id) == project_id, col(ProjectMember.user_id) == user_id
        )
    )
    return result.scalar_one_or_none()


async def membership(
    session: AsyncSession, project_id: int, user_id: int
) -> tuple[Project, ProjectMember] | None:
    result = await session.execute(
        sa.select(Project, ProjectMember)
        .join(ProjectMember, col(ProjectMember.project_id) == col(Project.id))
        .where(col(Project.id) == project_id, col(ProjectMember.user_id) == user_id)
    )
    row = result.first()
    return None if row is None else (row[0], row[1])


async def list_for_user(session: AsyncSession, user_id: int) -> list[tuple[Project, str]]:
    result = await session.execute(
        sa.select(Project, col(ProjectMember.role))
        .join(ProjectMember, col(ProjectMember.project_id) == col(Project.id))
        .where(col(ProjectMember.user_id) == user_id)
        .order_by(col(Project.name), col(Project.id))
    )
    return [(row[0], row[1]) for row in result.all()]


async def members(session: AsyncSession, project_id: int) -> list[tuple[ProjectMember, User]]:
    result = await session.execute(
        sa.select(ProjectMember, User)
        .join(User, col(User.id) == col(ProjectMember.user_id))
        .where(col(ProjectMember.project_id) == project_id)
        .order_by(col(ProjectMember.created_at), col(User.id))
    )
    return [(row[0], row[1]) for row in result.all()]


async def member(session: AsyncSession, project_id: int, user_id: int) -> ProjectMember | None:
    result = await session.execute(
        sa.select(ProjectMember).where(
            col(ProjectMember.project_id) == project_id, col(ProjectMember.user_id) == user_id
        )
    )
    return result.scalar_one_or_none()


async def add_member(session: AsyncSession, member: ProjectMember) -> None:
    session.add(member)
    await session.flush()


async def remove_member(session: AsyncSession, project_id: int, user_id: int) -> None:
    await session.execute(
        sa.delete(ProjectMember).where(
            col(ProjectMember.project_id) == project_id, col(ProjectMember.user_id) == user_id
        )
    )


async def count_owners(session: AsyncSession, project_id: int) -> int:
    result = await session.execute(
        sa.select(sa.func.count())
        .select_from(ProjectMember)
        .where(col(ProjectMember.project_id) == project_id, col(ProjectMember.role) == "owner")
    )
    return int(result.scalar_one())


async def add_invitation(session: AsyncSession, invitation: ProjectInvitation) -> None:
    session.add(invitation)
    await session.flush()


async def pending_invitations(
    session: AsyncSession, project_id: int, now: datetime
) -> list[ProjectInvitation]:
    result = await session.execute(
        sa.select(ProjectInvitation)
        .where(
            col(ProjectInvitation.project_id) == project_id,
            col(ProjectInvitation.accepted_at).is_(None),
            col(ProjectInvitation.revoked_at).is_(None),
            col(ProjectInvitation.expires_at) > now,
        )
        .order_by(col(ProjectInvitation.created_at))
    )
    return list(result.scalars())


async def invitation(
    session: AsyncSession, project_id: int, invitation_id: int
) -> ProjectInvitation | None:
    result = await session.execute(
        sa.select(ProjectInvitation).where(
            col(ProjectInvitation.project_id) == project_id,
            col(ProjectInvitation.id) == invitation_id,
        )
    )
    return result.scalar_one_or_none()


async def invitation_by_hash(session: AsyncSession, token_hash: str) -> ProjectInvitation | None:
    result = await session.execute(
        sa.select(ProjectInvitation).where(col(ProjectInvitation.token_hash) == token_hash)
    )
    return result.scalar_one_or_none()


async def claim_invitation(session: AsyncSession, invitation_id: int, now: datetime) -> bool:
    result = await session.execute(
        sa.update(ProjectInvitation)
        .where(
            col(ProjectInvitation.id) == invitation_id,
            col(ProjectInvitation.accepted_at).is_(None),
            col(ProjectInvitation.revoked_at).is_(None),
            col(ProjectInvitation.expires_at) > now,
        )
        .values(accepted_at=now)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def count_pending_invitations(session: AsyncSession, project_id: int, now: datetime) -> int:
    return len(await pending_invitations(session, project_id, now))
