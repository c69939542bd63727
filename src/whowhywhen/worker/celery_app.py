"""Celery (scale-out mode, REDIS_URL set): `celery -A whowhywhen.worker.celery_app worker` and
`… beat`. Each task runs its async function with a fresh database engine."""

from __future__ import annotations

import asyncio
import functools
import importlib
from typing import Any

from whowhywhen.config import Settings, get_settings
from whowhywhen.db import Database
from whowhywhen.worker import registry


def run_task(name: str, settings: Settings | None = None) -> Any:
    """Run one registered task to completion in a fresh event loop (a Celery worker's body)."""

    async def runner() -> Any:
        db = Database(settings or get_settings())
        try:
            return await registry.run(name, db)
        finally:
            await db.dispose()

    return asyncio.run(runner())


def _runner(name: str) -> Any:
    def run_registered_task() -> Any:
        return run_task(name)

    run_registered_task.__name__ = name.replace(".", "_")
    return run_registered_task


def create_celery(settings: Settings) -> Any:
    try:
        celery = importlib.import_module("celery")
    except ImportError as exc:  # the `celery` extra is optional
        raise RuntimeError("install whowhywhen[celery] to run with REDIS_URL") from exc

    app = celery.Celery("whowhywhen", broker=settings.redis_url, backend=None)
    app.conf.update(
        task_ignore_result=True,
        timezone="UTC",
        worker_hijack_root_logger=False,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
    )
    for name in registry.tasks():
        app.task(name=name, shared=False)(_runner(name))
    app.conf.beat_schedule = {
        item.name: {"task": item.name, "schedule": item.every_seconds}
        for item in registry.schedule(settings)
        if item.every_seconds > 0
    }
    return app


@functools.cache
def _default() -> Any:
    return create_celery(get_settings())


def __getattr__(name: str) -> Any:
    if name in ("celery", "app"):
        return _default()
    raise AttributeError(name)
