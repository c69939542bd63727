from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from whowhywhen.models import User


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(sa.select(User).where(col(User.email) == email))
    return result.scalar_one_or_none()


async def add(session: AsyncSession, user: User) -> User:
    session.add(user)
    await session.flush()
    return user
