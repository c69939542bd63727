from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse
from pydantic.json_schema import models_json_schema

from whowhywhen.api_key.service import KeyPrincipal
from whowhywhen.exceptions import (
    AppError,
    BadRequest,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from whowhywhen.ingest.auth import IngestKey, get_ingest_service
from whowhywhen.ingest.schemas import IngestResult, LogBatch, LogEvent
from whowhywhen.ingest.service import IngestService
from whowhywhen.kit.compression import CorruptData, TooLarge, gunzip_limited

router = APIRouter(prefix="/api", tags=["collector"])

Service = Annotated[IngestService, Depends(get_ingest_service)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed body (not JSON, wrong shape, corrupt gzip)"},
    401: {"description": "Missing, invalid or revoked X-API-KEY, or its project deleted"},
    413: {"description": "Body or batch over the limits"},
    415: {"description": "Not application/json, or an encoding other than gzip"},
    429: {"description": "Over the key's rate; see Retry-After"},
    503: {"description": "Storage unavailable or collector at capacity; see Retry-After"},
}


def _check_content_type(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, got {media_type or 'nothing'}"
        )


async def read_body(request: Request, *, wire_limit: int, decoded_limit: int) -> bytes:
    """Read the body, enforcing the wire limit while reading and the decoded limit while
    decompressing, so neither a huge upload nor a gzip bomb is ever held in memory."""
    _check_content_type(request)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", ""):
        raise UnsupportedMediaType(
            f"Content-Encoding {encoding!r} is not supported; use gzip or none"
        )
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest("Content-Length is not a number")
        if int(declared) > wire_limit:
            raise PayloadTooLarge(f"body is over the {wire_limit} byte limit")

    async def chunks() -> AsyncIterator[bytes]:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > wire_limit:
                raise PayloadTooLarge(f"body is over the {wire_limit} byte limit")
            yield chunk

    if encoding == "gzip":
        try:
            return await gunzip_limited(chunks(), decoded_limit)
        except TooLarge as exc:
            raise PayloadTooLarge(
                f"decompressed body is over the {decoded_limit} byte limit"
            ) from exc
        except CorruptData as exc:
            raise BadRequest(f"body is not valid gzip: {exc}") from exc
    body = bytearray()
    async for chunk in chunks():
        body += chunk
    return bytes(body)


async def _ingest(
    request: Request, service: IngestService, key: KeyPrincipal, *, single: bool
) -> JSONResponse:
    settings = service.settings
    try:
        service.admit()
    except ServiceUnavailable:
        service.outcomes.add(key.project_id, "shed")
        raise
    try:
        body = await read_body(
            request,
            wire_limit=settings.max_single_body_bytes if single else settings.max_body_bytes,
            decoded_limit=settings.max_decompressed_bytes,
        )
        result = await service.ingest(key, body, single=single)
    except AppError as exc:
        service.outcomes.refused(key.project_id, exc)
        raise
    finally:
        service.release()
    return JSONResponse(result.model_dump(), status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/log",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestResult,
    responses={
        **_ERRORS,
        422: {"description": "The event is invalid; the message names the field"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LogEvent"}}},
        }
    },
)
async def log_request(request: Request, service: Service, key: IngestKey) -> JSONResponse:
    """Store one request of your API (the seed README's snippets call this)."""
    return await _ingest(request, service, key, single=True)


@router.post(
    "/log/bulk",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestResult,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/LogBatch"},
                            {"type": "array", "items": {"$ref": "#/components/schemas/LogEvent"}},
                        ]
                    }
                }
            },
        }
    },
)
async def log_requests_bulk(request: Request, service: Service, key: IngestKey) -> JSONResponse:
    """Store a batch of up to 1000 requests; invalid events are listed, the rest stored."""
    return await _ingest(request, service, key, single=False)


@router.get("/health", tags=["health"])
async def health(service: Service) -> JSONResponse:
    """Ready when the database answers; 503 otherwise."""
    try:
        await service.db.ping()
    except Exception:
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    return JSONResponse({"status": "ok", "database": "ok"})


def openapi_components() -> dict[str, Any]:
    """The payload models the collector routes reference (their bodies are read by hand)."""
    _, schema = models_json_schema(
        [(LogEvent, "validation"), (LogBatch, "validation")],
        ref_template="#/components/schemas/{model}",
    )
    components: dict[str, Any] = schema["$defs"]
    return components
