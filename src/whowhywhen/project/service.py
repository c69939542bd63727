from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from whowhywhen.exceptions import NotFound, UnprocessableEntity
from whowhywhen.kit.time import utc_now
from whowhywhen.models import Project, ProjectMember, User
from whowhywhen.models.enums import Role
from whowhywhen.project import repository


class ProjectService:
    async def create(self, session: AsyncSession, *, owner: User, name: str) -> Project:
        name = name.strip()
        if not 1 <= len(name) <= 200:
            raise UnprocessableEntity("name: must be 1 to 200 characters long")
        assert owner.id is not None
        now = utc_now()
        project = Project(name=name, created_at=now)
        member = ProjectMember(project_id=0, user_id=owner.id, role=Role.owner, created_at=now)
        return await repository.add(session, project, member)

    async def get(self, session: AsyncSession, project_id: int) -> Project:
        project = await repository.get(session, project_id)
        if project is None:
            raise NotFound("project not found")
        return project


project_service = ProjectService()
