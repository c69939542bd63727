"""Failure counters for sign-in, 2FA, reset requests and invitations (AUTH-04, MFA-03, RESET-01).

Counted in process (moving windows from `limits`); a limited caller gets 429 + Retry-After before
any hash runs. Scale-out deployments pin a user's sign-ins to one dashboard or accept the per-node
limit: the hourly per-account ceiling still bounds guessing.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from whowhywhen.exceptions import RateLimited

LOGIN_PER_ACCOUNT = (parse("5/minute"), parse("100/hour"))
LOGIN_PER_IP = (parse("5/minute"),)
TOTP_PER_USER = (parse("5/minute"), parse("100/hour"))
RESET_MAILS_PER_ACCOUNT = (parse("3/hour"),)
RESET_PER_IP = (parse("10/hour"),)
INVITE_ACCEPT_PER_USER = (parse("5/minute"),)
REGISTER_PER_IP = (parse("10/hour"),)


class Limiter:
    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def retry_after(self, items: tuple[RateLimitItem, ...], *key: str) -> int:
        """Seconds until another failure may be tried; 0 when allowed now."""
        wait = 0.0
        for item in items:
            if not await self._limiter.test(item, *key):
                stats = await self._limiter.get_window_stats(item, *key)
                wait = max(wait, stats.reset_time - time.time())
        return math.ceil(wait) if wait > 0 else 0

    async def check(self, items: tuple[RateLimitItem, ...], *key: str, what: str) -> None:
        wait = await self.retry_after(items, *key)
        if wait:
            raise RateLimited(f"too many {what}; try again later", retry_after=max(1, wait))

    async def hit(self, items: tuple[RateLimitItem, ...], *key: str) -> bool:
        """Count one event against every window; False when one of them was already full."""
        allowed = True
        for item in items:
            allowed = await self._limiter.hit(item, *key) and allowed
        return allowed

    async def clear(self, items: tuple[RateLimitItem, ...], *key: str) -> None:
        for item in items:
            await self._limiter.clear(item, *key)
