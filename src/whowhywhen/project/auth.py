"""Project access: `ProjectRead`, `ProjectWrite`, `ProjectAdmin`, `ProjectOwner`.

Each resolves the `project_id` path parameter against the signed-in user's membership, checked
against the database on every request (role changes apply at once, TEN-05): 401 without a valid
access token, 404 when the user is not a member (existence never leaks), 403 below the role.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path

from whowhywhen.auth.auth import CurrentUser, DbSession
from whowhywhen.exceptions import Forbidden, NotFound
from whowhywhen.models import Project, User
from whowhywhen.models.enums import Role
from whowhywhen.project.service import at_least, project_service


@dataclass(frozen=True, slots=True)
class ProjectAccess:
    project: Project
    role: Role
    user: User

    @property
    def project_id(self) -> int:
        assert self.project.id is not None
        return self.project.id


def require(minimum: Role) -> Callable[..., Awaitable[ProjectAccess]]:
    async def dependency(
        session: DbSession,
        user: CurrentUser,
        project_id: Annotated[int, Path(description="The project's id")],
    ) -> ProjectAccess:
        assert user.id is not None
        membership = await project_service.membership(session, project_id, user.id)
        if membership is None:
            raise NotFound("project not found")
        if not at_least(membership.role, minimum):
            raise Forbidden(f"this needs the {minimum} role or higher in the project")
        return ProjectAccess(membership.project, membership.role, user)

    dependency.__name__ = f"project_{minimum}"
    return dependency


ProjectRead = Annotated[ProjectAccess, Depends(require(Role.viewer))]
ProjectWrite = Annotated[ProjectAccess, Depends(require(Role.member))]
ProjectAdmin = Annotated[ProjectAccess, Depends(require(Role.admin))]
ProjectOwner = Annotated[ProjectAccess, Depends(require(Role.owner))]
