"""`/dashapi/projects/{project_id}/apikeys…`: create (secret shown once), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from whowhywhen.api_key import schemas
from whowhywhen.api_key.service import api_key_service
from whowhywhen.auth.auth import DbSession
from whowhywhen.models import ApiKey
from whowhywhen.project.auth import ProjectAdmin

router = APIRouter(prefix="/dashapi/projects/{project_id}/apikeys", tags=["api keys"])


def _view(key: ApiKey, created_by_email: str | None) -> schemas.ApiKey:
    assert key.id is not None
    return schemas.ApiKey(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        last4=key.last4,
        display=f"{key.prefix}…{key.last4}",
        created_by_id=key.created_by_id,
        created_by_email=created_by_email,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        expires_at=key.expires_at,
    )


@router.get("")
async def list_api_keys(access: ProjectAdmin, session: DbSession) -> schemas.ApiKeyList:
    """The project's active keys (admin), never their secrets."""
    items = [
        _view(key, email)
        for key, email in await api_key_service.list_active(session, access.project_id)
    ]
    return schemas.ApiKeyList(items=items, total=len(items))


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_api_key(
    body: schemas.ApiKeyCreate, access: ProjectAdmin, session: DbSession
) -> schemas.ApiKeyCreated:
    """Create an ingest key (admin); the secret `key` is in this answer only. 50 at most."""
    key, secret = await api_key_service.create(
        session,
        project_id=access.project_id,
        name=body.name,
        created_by_id=access.user.id,
        expires_at=body.expires_at,
    )
    view = schemas.ApiKeyCreated(**_view(key, access.user.email).model_dump(), key=secret)
    await session.commit()
    return view


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(
    key_id: int, access: ProjectAdmin, session: DbSession, request: Request
) -> None:
    """Revoke a key (admin): refused here at once, by every collector within the cache TTL."""
    key = await api_key_service.revoke(
        session, project_id=access.project_id, key_id=key_id, revoked_by_id=access.user.id
    )
    await session.commit()
    ingest = getattr(request.app.state, "ingest", None)
    if ingest is not None:
        ingest.keys.forget(key.key_hash)
