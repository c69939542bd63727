"""The application factory: wiring, lifespan, exception handlers, the dashboard UI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from whowhywhen import __version__
from whowhywhen.analytics.endpoints import router as analytics_router
from whowhywhen.analytics.live import create_hub
from whowhywhen.analytics.service import analytics_service
from whowhywhen.api_key.endpoints import router as api_key_router
from whowhywhen.auth.endpoints import router as auth_router
from whowhywhen.auth.headers import SecurityHeaders, inline_script_hashes
from whowhywhen.auth.mail import Mailer
from whowhywhen.auth.oidc import OidcService
from whowhywhen.auth.service import AuthService
from whowhywhen.config import Settings, get_settings
from whowhywhen.db import Database
from whowhywhen.exceptions import AppError
from whowhywhen.ingest.endpoints import openapi_components as ingest_components
from whowhywhen.ingest.endpoints import router as ingest_router
from whowhywhen.ingest.outcomes import router as ingest_outcomes_router
from whowhywhen.ingest.service import IngestService
from whowhywhen.kit.gc_tuning import tune_for_server
from whowhywhen.project.endpoints import router as project_router
from whowhywhen.worker import registry
from whowhywhen.worker.scheduler import InProcessScheduler

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


class Mode(StrEnum):
    all = "all"
    dashboard = "dashboard"
    collector = "collector"


def _envelope(
    status: int, name: str, detail: object, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": name, "detail": detail}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def app_error(_request: Request, exc: AppError) -> JSONResponse:
        return _envelope(exc.status_code, exc.name, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type")}
            for err in exc.errors()
        ]
        return _envelope(422, "UnprocessableEntity", errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        names = {404: "NotFound", 405: "MethodNotAllowed", 401: "Unauthorized"}
        return _envelope(
            exc.status_code,
            names.get(exc.status_code, "HTTPError"),
            exc.detail,
            dict(exc.headers or {}),
        )

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        request_id = uuid.uuid4().hex
        log.exception("unhandled error", extra={"request_id": request_id})
        return _envelope(500, "InternalError", f"internal error (request id {request_id})")


def create_app(
    settings: Settings | None = None, mode: Mode = Mode.all, *, server_process: bool = False
) -> FastAPI:
    """The application; `server_process` when it is the process's only job (the CLI's servers),
    which also tunes the garbage collector once start-up is done."""
    settings = settings or get_settings()
    settings.check_production()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings)
        app.state.settings = settings
        app.state.db = db
        app.state.ingest = IngestService(settings, db)
        app.state.live = hub = create_hub(settings.redis_url)
        app.state.ingest.live = hub
        analytics_service.raw_max_days = settings.analytics_raw_max_days
        analytics_service.rollup_hour_days = settings.rollup_hour_days
        scheduler = InProcessScheduler(db, registry.schedule(settings))
        if settings.scheduler_enabled and not settings.redis_url:
            scheduler.start()
        app.state.auth = AuthService(settings)
        app.state.oidc = OidcService(settings, app.state.auth)
        app.state.mailer = Mailer(settings)
        if server_process:
            tune_for_server()
        flusher = asyncio.create_task(
            app.state.ingest.outcomes.run(db, settings.outcome_flush_seconds)
        )
        try:
            yield
        finally:
            flusher.cancel()
            with contextlib.suppress(Exception):
                await app.state.ingest.outcomes.flush(db)
            await scheduler.stop()
            await hub.close()
            await db.dispose()

    app = FastAPI(
        title="WhoWhyWhen",
        version=__version__,
        description="Self-hosted API analytics: collector and dashboard API.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    if mode in (Mode.all, Mode.collector):
        app.include_router(ingest_router)
        _publish_components(app, ingest_components())
    if mode in (Mode.all, Mode.dashboard):
        app.include_router(auth_router)
        app.include_router(project_router)
        app.include_router(api_key_router)
        app.include_router(analytics_router)
        app.include_router(ingest_outcomes_router)
        _mount_ui(app)
    index = STATIC_DIR / "index.html"
    app.add_middleware(
        SecurityHeaders,
        hsts=settings.public_url.startswith("https://"),
        cors_origins=settings.cors_origin_list,
        script_hashes=inline_script_hashes(index.read_text()) if index.is_file() else [],
    )
    return app


def _publish_components(app: FastAPI, components: dict[str, Any]) -> None:
    """Add schemas that routes reference by hand (`openapi_extra`) to the OpenAPI document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _mount_ui(app: FastAPI) -> None:
    index = STATIC_DIR / "index.html"

    @app.get("/{path:path}", include_in_schema=False, response_model=None)
    async def spa(path: str) -> Response:
        if path.startswith(("api/", "dashapi/", "dashauth/")):
            return _envelope(404, "NotFound", "Not Found")
        candidate = (STATIC_DIR / path).resolve()
        if path and candidate.is_file() and STATIC_DIR.resolve() in candidate.parents:
            return FileResponse(candidate)
        if index.is_file():
            return FileResponse(index)
        return JSONResponse(
            {"name": "WhoWhyWhen", "version": __version__, "docs": "/docs"},
        )
