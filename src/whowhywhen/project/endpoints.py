"""`/dashapi/projects…`: projects, members and invitations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request, status

from whowhywhen.auth.auth import Auth, CurrentUser, DbSession, MailerDep
from whowhywhen.auth.endpoints import send_later
from whowhywhen.auth.ratelimit import INVITE_ACCEPT_PER_USER
from whowhywhen.config import Settings
from whowhywhen.models import Project, ProjectInvitation, ProjectMember, User
from whowhywhen.models.enums import Role
from whowhywhen.project import schemas
from whowhywhen.project.auth import ProjectAdmin, ProjectOwner, ProjectRead
from whowhywhen.project.service import project_service

router = APIRouter(prefix="/dashapi", tags=["projects"])


def _project(project: Project, role: Role) -> schemas.Project:
    assert project.id is not None
    return schemas.Project(
        id=project.id,
        name=project.name,
        role=role,
        timezone=project.timezone,
        retention_days=project.retention_days,
        anonymize_ip=project.anonymize_ip,
        apdex_t_ms=project.apdex_t_ms,
        created_at=project.created_at,
    )


def _member(member: ProjectMember, user: User) -> schemas.Member:
    return schemas.Member(
        user_id=member.user_id,
        email=user.email,
        name=user.name,
        role=Role(member.role),
        joined_at=member.created_at,
    )


def _invitation(row: ProjectInvitation) -> schemas.Invitation:
    assert row.id is not None
    return schemas.Invitation(
        id=row.id,
        email=row.email,
        role=Role(row.role),
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


@router.get("/projects")
async def list_projects(user: CurrentUser, session: DbSession) -> schemas.ProjectList:
    """The projects the user belongs to, with the user's role in each."""
    items = [
        _project(m.project, m.role) for m in await project_service.list_for_user(session, user)
    ]
    return schemas.ProjectList(items=items, total=len(items))


@router.post("/projects", status_code=status.HTTP_201_CREATED)
async def create_project(
    body: schemas.ProjectCreate, user: CurrentUser, session: DbSession
) -> schemas.Project:
    """Create a project owned by the user."""
    project = await project_service.create(session, owner=user, name=body.name)
    view = _project(project, Role.owner)
    await session.commit()
    return view


@router.get("/projects/{project_id}")
async def read_project(access: ProjectRead) -> schemas.Project:
    """One project, with the user's role."""
    return _project(access.project, access.role)


@router.patch("/projects/{project_id}")
async def update_project(
    body: schemas.ProjectUpdate, access: ProjectAdmin, session: DbSession
) -> schemas.Project:
    """Rename the project or change its settings (admin)."""
    project = await project_service.update(
        session, access.project, **body.model_dump(exclude_unset=True)
    )
    view = _project(project, access.role)
    await session.commit()
    return view


REAUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "Wrong password or 2FA code (or a role below owner)."},
    429: {"description": "Too many wrong passwords or codes; see Retry-After."},
}


@router.delete(
    "/projects/{project_id}", status_code=status.HTTP_204_NO_CONTENT, responses=REAUTH_RESPONSES
)
async def delete_project(
    body: schemas.ProjectDelete,
    access: ProjectOwner,
    session: DbSession,
    auth: Auth,
    request: Request,
) -> None:
    """Delete the project and all its data (owner; the project's name, your password and, with
    2FA on, a current code, all in the JSON body)."""
    await auth.reauthenticate(session, access.user, body.password, body.code)
    await project_service.delete(
        session, access.project, confirm_name=body.confirm_name, actor=access.user
    )
    await session.commit()
    ingest = getattr(request.app.state, "ingest", None)
    if ingest is not None:
        ingest.keys.forget()  # this process stops accepting its keys at once


@router.post(
    "/projects/{project_id}/transfer",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=REAUTH_RESPONSES,
)
async def transfer_project(
    body: schemas.Transfer, access: ProjectOwner, session: DbSession, auth: Auth
) -> None:
    """Make another member the owner; you stay on as an admin (owner; needs your password and,
    with 2FA on, a current code)."""
    await auth.reauthenticate(session, access.user, body.password, body.code)
    await project_service.transfer(
        session, access.project_id, actor=access.user, user_id=body.user_id
    )
    await session.commit()


# Members.


@router.get("/projects/{project_id}/members")
async def list_members(access: ProjectRead, session: DbSession) -> schemas.MemberList:
    """The project's members and their roles."""
    items = [
        _member(member, user)
        for member, user in await project_service.members(session, access.project_id)
    ]
    return schemas.MemberList(items=items, total=len(items))


@router.patch("/projects/{project_id}/members/{user_id}")
async def update_member(
    user_id: int, body: schemas.MemberUpdate, access: ProjectAdmin, session: DbSession
) -> schemas.Member:
    """Change a member's role (admin; only an owner grants or changes the owner role)."""
    member = await project_service.change_role(
        session,
        access.project_id,
        actor=access.user,
        actor_role=access.role,
        user_id=user_id,
        role=body.role,
    )
    view = next(
        _member(row, user)
        for row, user in await project_service.members(session, access.project_id)
        if row.user_id == member.user_id
    )
    await session.commit()
    return view


@router.delete("/projects/{project_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(user_id: int, access: ProjectAdmin, session: DbSession) -> None:
    """Remove a member (admin); the last owner cannot be removed."""
    await project_service.remove_member(
        session, access.project_id, actor=access.user, actor_role=access.role, user_id=user_id
    )
    await session.commit()


@router.post("/projects/{project_id}/leave", status_code=status.HTTP_204_NO_CONTENT)
async def leave_project(access: ProjectRead, session: DbSession) -> None:
    """Leave the project; the last owner must transfer ownership first."""
    await project_service.leave(session, access.project_id, access.user, access.role)
    await session.commit()


# Invitations.


@router.get("/projects/{project_id}/invitations")
async def list_invitations(access: ProjectAdmin, session: DbSession) -> schemas.InvitationList:
    """Open invitations (admin)."""
    items = [
        _invitation(row) for row in await project_service.invitations(session, access.project_id)
    ]
    return schemas.InvitationList(items=items, total=len(items))


@router.post("/projects/{project_id}/invitations", status_code=status.HTTP_201_CREATED)
async def create_invitation(
    body: schemas.InvitationCreate,
    access: ProjectAdmin,
    session: DbSession,
    mailer: MailerDep,
    background: BackgroundTasks,
    request: Request,
) -> schemas.InvitationCreated:
    """Invite someone by email (admin); single-use, bound to that address, 7 days at most."""
    settings: Settings = request.app.state.settings
    invitation, url, mail = await project_service.invite(
        session,
        access.project,
        actor=access.user,
        actor_role=access.role,
        email=body.email,
        role=body.role,
        days=settings.invitation_days,
        public_url=settings.public_url,
    )
    view = schemas.InvitationCreated(**_invitation(invitation).model_dump(), accept_url=url)
    await session.commit()
    send_later(background, mailer, mail)
    return view


@router.delete(
    "/projects/{project_id}/invitations/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT
)
async def revoke_invitation(invitation_id: int, access: ProjectAdmin, session: DbSession) -> None:
    """Withdraw an open invitation (admin)."""
    await project_service.revoke_invitation(session, access.project_id, invitation_id, access.user)
    await session.commit()


@router.post("/invitations/accept")
async def accept_invitation(
    body: schemas.InvitationAccept, user: CurrentUser, session: DbSession, request: Request
) -> schemas.Project:
    """Join a project with an invitation sent to the signed-in user's email."""
    limiter = request.app.state.auth.limiter
    await limiter.check(INVITE_ACCEPT_PER_USER, "invite", str(user.id), what="invitation attempts")
    try:
        membership = await project_service.accept_invitation(session, user, body.token)
    except Exception:
        await limiter.hit(INVITE_ACCEPT_PER_USER, "invite", str(user.id))
        raise
    view = _project(membership.project, membership.role)
    await session.commit()
    return view
