"""Ready dependencies: the database session, the auth service and the signed-in user.

Access tokens travel only in `Authorization: Bearer <jwt>` (never cookies or URLs), so the live
tail is read with `fetch` streaming and that header rather than `EventSource`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from whowhywhen.auth.mail import Mailer
from whowhywhen.auth.service import AuthService, Client
from whowhywhen.db import Database
from whowhywhen.exceptions import Unauthorized
from whowhywhen.models import AuthSession, User

bearer = OAuth2PasswordBearer(tokenUrl="/dashauth/token", auto_error=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One database session per request; endpoints commit once at the end."""
    db: Database = request.app.state.db
    async with db.session() as session:
        yield session


def get_auth_service(request: Request) -> AuthService:
    service: AuthService = request.app.state.auth
    return service


def get_client(request: Request) -> Client:
    return Client(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


DbSession = Annotated[AsyncSession, Depends(get_session)]
Auth = Annotated[AuthService, Depends(get_auth_service)]
ClientInfo = Annotated[Client, Depends(get_client)]


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    session: AuthSession


async def signed_in(
    session: DbSession, auth: Auth, token: Annotated[str | None, Depends(bearer)]
) -> SignedIn:
    if not token:
        raise Unauthorized("sign in first", headers={"WWW-Authenticate": "Bearer"})
    try:
        user, row = await auth.authenticate(session, token)
    except Unauthorized as exc:
        exc.headers.setdefault("WWW-Authenticate", "Bearer")
        raise
    return SignedIn(user, row)


async def current_user(signed: Annotated[SignedIn, Depends(signed_in)]) -> User:
    return signed.user


CurrentSession = Annotated[SignedIn, Depends(signed_in)]
CurrentUser = Annotated[User, Depends(current_user)]


def get_mailer(request: Request) -> Mailer:
    mailer: Mailer = request.app.state.mailer
    return mailer


MailerDep = Annotated[Mailer, Depends(get_mailer)]
