"""Projects, memberships with roles, and invitations.

Roles rank viewer < member < admin < owner: a viewer reads analytics, a member also manages
alerts, an admin also manages keys and members, an owner also deletes and transfers the project.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from whowhywhen.auth.audit import audit
from whowhywhen.auth.service import Mail, normalise_email
from whowhywhen.exceptions import BadRequest, Conflict, Forbidden, NotFound, UnprocessableEntity
from whowhywhen.kit.keys import hash_secret
from whowhywhen.kit.time import utc_now
from whowhywhen.models import Project, ProjectInvitation, ProjectMember, User
from whowhywhen.models.enums import Role
from whowhywhen.project import repository

RANK = {Role.viewer: 0, Role.member: 1, Role.admin: 2, Role.owner: 3}
MAX_PENDING_INVITATIONS = 50


def at_least(role: Role, minimum: Role) -> bool:
    return RANK[role] >= RANK[minimum]


@dataclass(frozen=True, slots=True)
class Membership:
    project: Project
    role: Role


def _clean_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise UnprocessableEntity("name: must be 1 to 200 characters long")
    return name


class ProjectService:
    async def create(self, session: AsyncSession, *, owner: User, name: str) -> Project:
        name = _clean_name(name)
        assert owner.id is not None
        now = utc_now()
        project = Project(name=name, created_at=now)
        member = ProjectMember(project_id=0, user_id=owner.id, role=Role.owner, created_at=now)
        project = await repository.add(session, project, member)
        audit("project.created", user_id=owner.id, project_id=project.id)
        return project

    def clean_name(self, name: str) -> str:
        """A project name as it will be stored; 422 when it is empty or too long."""
        return _clean_name(name)

    async def get(self, session: AsyncSession, project_id: int) -> Project:
        project = await repository.get(session, project_id)
        if project is None:
            raise NotFound("project not found")
        return project

    async def membership(
        self, session: AsyncSession, project_id: int, user_id: int
    ) -> Membership | None:
        """The user's project and role; None when not a member (or no such project)."""
        found = await repository.membership(session, project_id, user_id)
        if found is None:
            return None
        project, member = found
        return Membership(project, Role(member.role))

    async def list_for_user(self, session: AsyncSession, user: User) -> list[Membership]:
        assert user.id is not None
        rows = await repository.list_for_user(session, user.id)
        return [Membership(project, Role(role)) for project, role in rows]

    async def update(
        self,
        session: AsyncSession,
        project: Project,
        *,
        name: str | None = None,
        timezone: str | None = None,
        retention_days: int | None = None,
        anonymize_ip: bool | None = None,
        apdex_t_ms: int | None = None,
    ) -> Project:
        if name is not None:
            project.name = _clean_name(name)
        if timezone is not None:
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise UnprocessableEntity("timezone: not an IANA time zone name") from None
            project.timezone = timezone
        if retention_days is not None:
            project.retention_days = retention_days
        if anonymize_ip is not None:
            project.anonymize_ip = anonymize_ip
        if apdex_t_ms is not None:
            project.apdex_t_ms = apdex_t_ms
        await session.flush()
        return project

    async def delete(
        self, session: AsyncSession, project: Project, *, confirm_name: str, actor: User
    ) -> None:
        """Delete a project and all its data; the caller types the project's name to confirm."""
        if confirm_name != project.name:
            raise BadRequest("confirm_name: type the project's exact name to delete it")
        assert project.id is not None
        await repository.delete(session, project.id)
        audit("project.deleted", user_id=actor.id, project_id=project.id)

    # Members.

    async def members(
        self, session: AsyncSession, project_id: int
    ) -> list[tuple[ProjectMember, User]]:
        return await repository.members(session, project_id)

    async def add_member(
        self, session: AsyncSession, project_id: int, user: User, role: Role
    ) -> ProjectMember:
        assert user.id is not None
        if await repository.member(session, project_id, user.id) is not None:
            raise Conflict("already a member of this project")
        member = ProjectMember(
            project_id=project_id, user_id=user.id, role=role, created_at=utc_now()
        )
        await repository.add_member(session, member)
        audit("member.added", user_id=user.id, project_id=project_id, role=role)
        return member

    async def _target(self, session: AsyncSession, project_id: int, user_id: int) -> ProjectMember:
        member = await repository.member(session, project_id, user_id)
        if member is None:
            raise NotFound("member not found")
        return member

    async def _keep_an_owner(self, session: AsyncSession, project_id: int) -> None:
        if await repository.count_owners(session, project_id) <= 1:
            raise Conflict("a project needs an owner: transfer ownership first")

    async def change_role(
        self,
        session: AsyncSession,
        project_id: int,
        *,
        actor: User,
        actor_role: Role,
        user_id: int,
        role: Role,
    ) -> ProjectMember:
        member = await self._target(session, project_id, user_id)
        current = Role(member.role)
        if (current == Role.owner or role == Role.owner) and actor_role != Role.owner:
            raise Forbidden("only an owner can grant or change the owner role")
        if current == Role.owner and role != Role.owner:
            await self._keep_an_owner(session, project_id)
        member.role = role
        await session.flush()
        audit(
            "member.role_changed",
            user_id=actor.id,
            project_id=project_id,
            member=user_id,
            old=current,
            new=role,
        )
        return member

    async def remove_member(
        self,
        session: AsyncSession,
        project_id: int,
        *,
        actor: User,
        actor_role: Role,
        user_id: int,
    ) -> None:
        member = await self._target(session, project_id, user_id)
        if member.role == Role.owner:
            if actor_role != Role.owner:
                raise Forbidden("only an owner can remove an owner")
            await self._keep_an_owner(session, project_id)
        await repository.remove_member(session, project_id, user_id)
        audit("member.removed", user_id=actor.id, project_id=project_id, member=user_id)

    async def leave(self, session: AsyncSession, project_id: int, user: User, role: Role) -> None:
        assert user.id is not None
        if role == Role.owner:
            await self._keep_an_owner(session, project_id)
        await repository.remove_member(session, project_id, user.id)
        audit("member.left", user_id=user.id, project_id=project_id)

    async def transfer(
        self, session: AsyncSession, project_id: int, *, actor: User, user_id: int
    ) -> None:
        """Make another member the owner; the current owner stays on as an admin."""
        assert actor.id is not None
        if user_id == actor.id:
            raise BadRequest("user_id: you already own this project")
        target = await self._target(session, project_id, user_id)
        me = await self._target(session, project_id, actor.id)
        target.role = Role.owner
        me.role = Role.admin
        await session.flush()
        audit("project.transferred", user_id=actor.id, project_id=project_id, to=user_id)

    # Invitations (TEN-06).

    async def invite(
        self,
        session: AsyncSession,
        project: Project,
        *,
        actor: User,
        actor_role: Role,
        email: str,
        role: Role,
        days: int,
        public_url: str,
    ) -> tuple[ProjectInvitation, str, Mail]:
        assert project.id is not None
        email = normalise_email(email)
        if role == Role.owner:
            raise UnprocessableEntity("role: invite as admin, member or viewer; transfer later")
        now = utc_now()
        if await repository.count_pending_invitations(session, project.id, now) >= (
            MAX_PENDING_INVITATIONS
        ):
            raise Conflict(f"a project has at most {MAX_PENDING_INVITATIONS} open invitations")
        for _member, user in await repository.members(session, project.id):
            if user.email == email:
                raise Conflict("already a member of this project")
        token = secrets.token_urlsafe(32)
        invitation = ProjectInvitation(
            project_id=project.id,
            email=email,
            role=role,
            token_hash=hash_secret(token),
            invited_by_id=actor.id,
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
        await repository.add_invitation(session, invitation)
        url = f"{public_url.rstrip('/')}/invitations/accept#token={token}"
        audit("invitation.created", user_id=actor.id, project_id=project.id, role=role)
        mail = Mail(
            email,
            "invitation",
            {
                "inviter": actor.name or actor.email,
                "project": project.name,
                "role": role,
                "days": str(days),
                "email": email,
                "url": url,
            },
        )
        return invitation, url, mail

    async def invitations(self, session: AsyncSession, project_id: int) -> list[ProjectInvitation]:
        return await repository.pending_invitations(session, project_id, utc_now())

    async def revoke_invitation(
        self, session: AsyncSession, project_id: int, invitation_id: int, actor: User
    ) -> None:
        invitation = await repository.invitation(session, project_id, invitation_id)
        if invitation is None or invitation.accepted_at is not None:
            raise NotFound("invitation not found")
        invitation.revoked_at = utc_now()
        await session.flush()
        audit("invitation.revoked", user_id=actor.id, project_id=project_id)

    async def accept_invitation(self, session: AsyncSession, user: User, token: str) -> Membership:
        """Join with an invitation sent to this user's email: single-use, unexpired."""
        invitation = await repository.invitation_by_hash(session, hash_secret(token.strip()))
        now = utc_now()
        if (
            invitation is None
            or invitation.accepted_at is not None
            or invitation.revoked_at is not None
            or invitation.expires_at <= now
        ):
            raise BadRequest("token: invalid, used or expired invitation")
        if invitation.email != user.email:
            raise Forbidden("this invitation was sent to another email address")
        assert invitation.id is not None
        assert user.id is not None
        if await repository.member(session, invitation.project_id, user.id) is not None:
            raise Conflict("already a member of this project")
        if not await repository.claim_invitation(session, invitation.id, now):
            raise BadRequest("token: invalid, used or expired invitation")
        role = Role(invitation.role)
        await self.add_member(session, invitation.project_id, user, role)
        project = await self.get(session, invitation.project_id)
        return Membership(project, role)


project_service = ProjectService()
