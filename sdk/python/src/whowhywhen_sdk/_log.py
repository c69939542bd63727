from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger("whowhywhen_sdk")

LOG_INTERVAL = 60.0

_last_logged: dict[str, float] = {}
_lock = threading.Lock()


def log_limited(kind: str, level: int, msg: str, *args: object, exc_info: bool = False) -> None:
    """Log ``msg`` at most once per ``LOG_INTERVAL`` seconds for each fault ``kind``."""
    now = time.monotonic()
    with _lock:
        last = _last_logged.get(kind)
        if last is not None and now - last < LOG_INTERVAL:
            return
        _last_logged[kind] = now
    logger.log(level, msg, *args, exc_info=exc_info)


def key_prefix(api_key: str) -> str:
    """The part of a key that is safe to show in logs (never the whole secret)."""
    shown = min(8, len(api_key) // 4)
    return api_key[:shown] + "…"
