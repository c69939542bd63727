"""Live tail pub/sub: the collector publishes each stored batch after commit; SSE readers
subscribe per project. In process by default; Redis pub/sub when REDIS_URL is set, so a
dashboard replica sees batches stored by any collector replica."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

import orjson

log = logging.getLogger(__name__)

Items = list[dict[str, Any]]
QUEUE_SIZE = 256


class LivePublisher(Protocol):
    async def publish(self, project_id: int, items: Items) -> None: ...

    def listening(self, project_id: int) -> bool:
        """False when nobody can be reading this project's stream (skip building messages)."""
        ...


class LiveHub(LivePublisher, Protocol):
    def subscribe(
        self, project_id: int
    ) -> contextlib.AbstractAsyncContextManager[Subscription]: ...

    async def close(self) -> None: ...


class Subscription:
    """A reader's bounded queue of batches; when a slow reader falls behind, the oldest go."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Items] = asyncio.Queue(QUEUE_SIZE)
        self.dropped = 0

    def put(self, items: Items) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(items)

    async def get(self, wait_seconds: float) -> Items | None:
        """The next batch, or None when nothing came within `wait_seconds`."""
        try:
            async with asyncio.timeout(wait_seconds):
                return await self.queue.get()
        except TimeoutError:
            return None


class InProcessHub:
    """Fan-out inside one process (the embedded default)."""

    def __init__(self) -> None:
        self._subscribers: dict[int, set[Subscription]] = {}

    async def publish(self, project_id: int, items: Items) -> None:
        for subscription in list(self._subscribers.get(project_id, ())):
            subscription.put(items)

    @contextlib.asynccontextmanager
    async def subscribe(self, project_id: int) -> AsyncIterator[Subscription]:
        subscription = Subscription()
        self._subscribers.setdefault(project_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            readers = self._subscribers.get(project_id)
            if readers is not None:
                readers.discard(subscription)
                if not readers:
                    del self._subscribers[project_id]

    def subscribers(self, project_id: int) -> int:
        return len(self._subscribers.get(project_id, ()))

    def listening(self, project_id: int) -> bool:
        return project_id in self._subscribers

    async def close(self) -> None:
        self._subscribers.clear()


def channel(project_id: int) -> str:
    return f"whowhywhen:live:{project_id}"


class RedisHub:
    """Redis pub/sub (scale-out): publishing never fails ingest; readers get what is published
    while they listen."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(url)

    def listening(self, project_id: int) -> bool:
        return True  # readers may be in other processes

    async def publish(self, project_id: int, items: Items) -> None:
        try:
            await self._redis.publish(channel(project_id), orjson.dumps(items))
        except Exception:  # the batch is stored; the live view is best effort
            log.warning("live publish failed", exc_info=True)

    @contextlib.asynccontextmanager
    async def subscribe(self, project_id: int) -> AsyncIterator[Subscription]:
        subscription = Subscription()
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(channel(project_id))

        async def pump() -> None:
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message.get("type") == "message":
                    subscription.put(orjson.loads(message["data"]))

        task = asyncio.create_task(pump())
        try:
            yield subscription
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe()
                await pubsub.aclose()  # type: ignore[attr-defined]

    async def close(self) -> None:
        await self._redis.aclose()  # type: ignore[attr-defined]


def create_hub(redis_url: str) -> InProcessHub | RedisHub:
    return RedisHub(redis_url) if redis_url else InProcessHub()
