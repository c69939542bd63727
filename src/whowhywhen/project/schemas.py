from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from whowhywhen.models.enums import Role


class Project(BaseModel):
    id: int
    name: str
    role: Role = Field(description="The signed-in user's role in this project.")
    timezone: str
    retention_days: int = Field(description="Days raw requests are kept; rollups stay longer.")
    anonymize_ip: bool = Field(description="Store only the network part of client IPs.")
    apdex_t_ms: int = Field(description="Apdex threshold T in milliseconds.")
    created_at: datetime


class ProjectList(BaseModel):
    items: list[Project]
    total: int


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    retention_days: int | None = Field(default=None, ge=1, le=3650)
    anonymize_ip: bool | None = None
    apdex_t_ms: int | None = Field(default=None, ge=1, le=600_000)


class Reauthentication(BaseModel):
    """The signed-in user's password (and 2FA code), sent with an operation that needs it."""

    model_config = ConfigDict(extra="forbid")

    password: str = Field(
        min_length=1, max_length=4096, description="The signed-in user's current password."
    )
    code: str | None = Field(
        default=None,
        min_length=6,
        max_length=10,
        description="A current code from the authenticator app; required when 2FA is on.",
    )


class ProjectDelete(Reauthentication):
    confirm_name: str = Field(max_length=200, description="The project's exact name.")


class Transfer(Reauthentication):
    user_id: int = Field(description="The member who becomes the owner.")


class Member(BaseModel):
    user_id: int
    email: str
    name: str
    role: Role
    joined_at: datetime


class MemberList(BaseModel):
    items: list[Member]
    total: int


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class Invitation(BaseModel):
    id: int
    email: str
    role: Role
    created_at: datetime
    expires_at: datetime


class InvitationCreated(Invitation):
    accept_url: str = Field(
        description="Also emailed; works only for a user signed in with the invited email."
    )


class InvitationList(BaseModel):
    items: list[Invitation]
    total: int


class InvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    role: Role = Role.viewer


class InvitationAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=10, max_length=200)
