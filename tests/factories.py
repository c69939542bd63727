"""Factories for users, projects and keys, through the same services the product uses."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from whowhywhen.api_key.service import api_key_service
from whowhywhen.auth.service import AuthService, Client, IssuedSession, user_service
from whowhywhen.db import Database
from whowhywhen.models import Project, User
from whowhywhen.models.enums import Role
from whowhywhen.project.service import project_service

PASSWORD = "correct horse battery staple"


@dataclass
class ProjectWithKey:
    user: User
    project: Project
    key: str

    @property
    def id(self) -> int:
        assert self.project.id is not None
        return self.project.id

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-KEY": self.key}


class Factory:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def user(self, email: str | None = None) -> User:
        email = email or f"user-{secrets.token_hex(6)}@example.com"
        async with self.db.session() as session:
            user = await user_service.create(session, email=email, password=PASSWORD, name="Test")
            await session.commit()
            return user

    async def project(self, owner: User | None = None, name: str = "Test API") -> ProjectWithKey:
        owner = owner or await self.user()
        async with self.db.session() as session:
            project = await project_service.create(session, owner=owner, name=name)
            assert project.id is not None
            _key, secret = await api_key_service.create(
                session, project_id=project.id, name="test", created_by_id=owner.id
            )
            await session.commit()
        return ProjectWithKey(owner, project, secret)

    async def key(self, project_id: int) -> str:
        async with self.db.session() as session:
            _key, secret = await api_key_service.create(
                session, project_id=project_id, name="extra", created_by_id=None
            )
            await session.commit()
            return secret

    async def session(self, user: User) -> IssuedSession:
        """A real session (access + refresh token) issued by the auth service."""
        async with self.db.session() as session:
            issued = await AuthService(self.db.settings).start_session(
                session, user, Client(ip="127.0.0.1", user_agent="tests")
            )
            await session.commit()
            return issued

    async def auth_headers(self, user: User) -> dict[str, str]:
        """`Authorization: Bearer <access token>` for a fresh session of `user`."""
        issued = await self.session(user)
        return {"Authorization": f"Bearer {issued.access_token}"}

    async def member(self, project_id: int, role: Role | str) -> User:
        """A new user who belongs to the project with `role`."""
        user = await self.user()
        async with self.db.session() as session:
            await project_service.add_member(session, project_id, user, Role(role))
            await session.commit()
        return user
