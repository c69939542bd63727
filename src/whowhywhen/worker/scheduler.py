"""The in-process scheduler of the embedded mode: each periodic task on its own interval, one run
at a time, errors logged and never raised into the app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from whowhywhen.db import Database
from whowhywhen.worker import registry

log = logging.getLogger(__name__)


class InProcessScheduler:
    def __init__(self, db: Database, periodic: Sequence[registry.Periodic]) -> None:
        self.db = db
        self.periodic = list(periodic)
        self._tasks: list[asyncio.Task[None]] = []
        self.runs: dict[str, int] = {}

    async def run_once(self, name: str) -> None:
        try:
            await registry.run(name, self.db)
            self.runs[name] = self.runs.get(name, 0) + 1
        except Exception:
            log.exception("scheduled task failed", extra={"task": name})

    async def _loop(self, item: registry.Periodic) -> None:
        while True:
            await asyncio.sleep(item.every_seconds)
            await self.run_once(item.name)

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._loop(item), name=f"scheduler:{item.name}")
            for item in self.periodic
            if item.every_seconds > 0
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
