from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from whowhywhen.auth import repository
from whowhywhen.auth.passwords import hash_password
from whowhywhen.exceptions import Conflict, UnprocessableEntity
from whowhywhen.kit.time import utc_now
from whowhywhen.models import User

MIN_PASSWORD = 12
MAX_PASSWORD = 128


def normalise_email(email: str) -> str:
    email = email.strip()
    local, sep, domain = email.rpartition("@")
    if not sep or not local or "." not in domain or len(email) > 320:
        raise UnprocessableEntity("email: not a valid address")
    return f"{local}@{domain.lower()}"


def check_password_policy(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UnprocessableEntity(
            f"password: must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long"
        )


class UserService:
    async def create(
        self, session: AsyncSession, *, email: str, password: str, name: str = ""
    ) -> User:
        email = normalise_email(email)
        check_password_policy(password)
        if await repository.get_by_email(session, email) is not None:
            raise Conflict("a user with this email already exists")
        password_hash = await asyncio.to_thread(hash_password, password)
        user = User(email=email, name=name, password_hash=password_hash, created_at=utc_now())
        return await repository.add(session, user)

    async def get_by_email(self, session: AsyncSession, email: str) -> User | None:
        return await repository.get_by_email(session, normalise_email(email))


user_service = UserService()
