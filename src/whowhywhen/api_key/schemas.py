from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ApiKey(BaseModel):
    """An ingest key as listed: never the secret, only its first and last characters."""

    id: int
    name: str
    prefix: str = Field(description="The first characters of the key.")
    last4: str = Field(description="The last four characters of the key.")
    display: str = Field(description="`prefix…last4`, to recognise a key.")
    created_by_id: int | None
    created_by_email: str | None
    created_at: datetime
    last_used_at: datetime | None = Field(description="Updated at most once a minute.")
    expires_at: datetime | None


class ApiKeyCreated(ApiKey):
    key: str = Field(description="The secret; shown only in this answer. Store it now.")


class ApiKeyList(BaseModel):
    items: list[ApiKey]
    total: int


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="Default", min_length=1, max_length=100)
    expires_at: datetime | None = Field(default=None, description="Optional expiry (UTC).")
