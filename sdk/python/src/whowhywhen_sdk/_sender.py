"""The background sender: one daemon thread that batches, posts and retries.

The loop wakes when the flush timer fires or when ``batch_size`` events are waiting, then sends
only what was queued at that moment, in batches of ``batch_size`` (a sender that keeps chasing new
arrivals degenerates into many tiny POSTs). A batch that fails with a retryable error stays at the
head of ``_pending`` with the same ``batch_id`` and event ids until it is delivered; new events
wait in the bounded buffer meanwhile, which drops its oldest when full.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import random
import threading
import time
import uuid
from collections import deque
from typing import Any

from ._buffer import Buffer, Stats
from ._config import Config
from ._event import (
    MAX_ROW_BYTES,
    ROW_COLUMNS,
    BatchRows,
    Queued,
    Row,
    check_row,
    encode_rows,
    encode_texts,
)
from ._log import key_prefix, log_limited, logger
from ._transport import Response, Transport, encode_body, parse_retry_after
from ._version import __version__

SDK_NAME = "whowhywhen-python"
MAX_WIRE_BYTES = 2 * 1024 * 1024 - 64 * 1024
MAX_RAW_BYTES = 9 * 1024 * 1024
AUTH_REPROBE_SECONDS = 300.0
RATE_LIMIT_DEFAULT_SECONDS = 60.0
RETRY_AFTER_MIN, RETRY_AFTER_MAX = 1.0, 3600.0


_COLUMNS = json.dumps(list(ROW_COLUMNS), separators=(",", ":")).encode()


class Batch:
    """Events on their way: their rows (kept for a split) and the rows' JSON, written once;
    with ``user_agents``, the rows give their user agents as indexes into it."""

    __slots__ = (
        "attempt",
        "batch_id",
        "encoded",
        "failures",
        "not_before",
        "rate_limited",
        "reason",
        "report",
        "rows",
        "user_agents",
    )

    def __init__(
        self,
        rows: list[Row],
        report: dict[str, int],
        encoded: bytes | None = None,
        user_agents: list[str] | None = None,
    ):
        self.batch_id = str(uuid.uuid4())
        self.rows = rows
        self.encoded = encode_rows(rows) if encoded is None else encoded
        self.user_agents = user_agents
        self.report = report
        self.attempt = 0
        self.failures = 0
        self.not_before = 0.0
        self.reason = "network_error"
        self.rate_limited = False

    def body(self) -> bytes:
        sdk = {
            "name": SDK_NAME,
            "version": __version__,
            "attempt": self.attempt,
            "dropped": self.report,
        }
        agents = self.user_agents
        return b"".join(
            (
                b'{"batch_id":"',
                self.batch_id.encode(),
                b'","columns":',
                _COLUMNS,
                b',"rows":',
                self.encoded,
                b"" if agents is None else b',"user_agents":' + encode_texts(agents),
                b',"sdk":',
                json.dumps(sdk, separators=(",", ":")).encode(),
                b"}",
            )
        )


class Sender:
    def __init__(self, config: Config, buffer: Buffer, stats: Stats, transport: Transport) -> None:
        self._config = config
        self._buffer = buffer
        self._stats = stats
        self._transport = transport
        self._pending: deque[Batch] = deque()
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._force = False
        self._closing = False
        self._deadline = 0.0
        self._auth_until = 0.0
        self._auth_logged = False
        self._reports_refused = False
        self._rows = BatchRows()
        self._thread = threading.Thread(target=self._run, name="whowhywhen-sender", daemon=True)

    # -- control, from other threads -------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def flush(self, timeout: float) -> bool:
        """Send everything queued now; True when it was all handled within ``timeout``."""
        deadline = time.monotonic() + timeout
        self._force = True
        self._wake.set()
        with self._idle:
            while self._busy or self._pending or len(self._buffer):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                self._idle.wait(remaining)
        return True

    def close(self, timeout: float) -> None:
        """Deliver what is queued within ``timeout`` seconds, then stop the thread."""
        self._deadline = time.monotonic() + timeout
        self._closing = True
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout + 0.25)

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        interval = self._config.flush_interval
        next_tick = time.monotonic() + interval
        self._buffer.arm(self._config.batch_size, self._wake)
        while not self._closing:
            try:
                now = time.monotonic()
                until = self._pending[0].not_before if self._pending else next_tick
                if not self._force and until > now:
                    self._wake.wait(until - now)
                self._wake.clear()
                if self._closing:
                    break
                self._busy = True
                now = time.monotonic()
                force, self._force = self._force, False
                timer = now >= next_tick
                if timer:
                    next_tick = now + interval
                self._cycle(timer=timer, force=force)
            except Exception:
                log_limited("sender", logging.WARNING, "WhoWhyWhen sender error", exc_info=True)
                self._wake.wait(1.0)
            finally:
                self._busy = False
                if not self._pending:
                    self._buffer.arm(self._config.batch_size, self._wake)
                with self._idle:
                    self._idle.notify_all()
        try:
            self._drain()
        except Exception:
            log_limited("sender", logging.WARNING, "WhoWhyWhen shutdown error", exc_info=True)
        finally:
            with self._idle:
                self._idle.notify_all()

    def _cycle(self, *, timer: bool, force: bool) -> None:
        if self._pending and not self._send_pending(force=force):
            return
        if self._auth_until and time.monotonic() < self._auth_until:
            self._buffer.clear("auth_error")
            return
        size = self._config.batch_size
        waiting = len(self._buffer)
        if waiting == 0:
            if timer and self._stats.has_unreported() and not self._reports_refused:
                self._queue_batch([])
                self._send_pending(force=False)
            return
        if not (timer or force):
            waiting -= waiting % size  # woken by size: send full batches, leave the rest
        while waiting > 0:
            items = self._buffer.take(min(size, waiting))
            if not items:
                return
            waiting -= len(items)
            if self._queue_batch(items) and not self._send_pending(force=False):
                return
            if self._auth_until:
                return

    def _drain(self) -> None:
        """Shutdown: send the buffer and anything pending until the deadline, then drop."""
        size = self._config.batch_size
        while True:
            now = time.monotonic()
            if now >= self._deadline or self._auth_until > now:
                break
            if not self._pending:
                items = self._buffer.take(size)
                if not items:
                    break
                self._queue_batch(items)
                continue
            head = self._pending[0]
            if head.not_before > now:
                if head.not_before >= self._deadline:
                    break
                time.sleep(head.not_before - now)
                continue
            self._attempt(head, min(self._config.timeout, self._deadline - now))
        reason = self._pending[0].reason if self._pending else "network_error"
        if self._auth_until:
            reason = "auth_error"
        while self._pending:
            self._drop_head(reason)
        self._buffer.clear(reason)

    # -- batches ------------------------------------------------------------------------------

    def _queue_batch(self, items: list[Queued]) -> bool:
        rows, failed, user_agents = self._rows.rows(items)
        if failed:
            self._stats.drop("send_error", failed)
            log_limited("serialize", logging.WARNING, "WhoWhyWhen could not encode an event")
        limit = self._config.max_event_bytes
        encoded: bytes | None = None
        if limit >= MAX_ROW_BYTES:  # no row can be too large: one call for the whole batch
            with contextlib.suppress(TypeError, ValueError):  # a bad value: checked row by row
                encoded = encode_rows(rows)
        if encoded is None:
            rows, encoded = self._checked(rows, limit)
        report = self._stats.take_unreported()
        if not rows and not any(report.values()):
            return False
        self._pending.append(Batch(rows, report, encoded, user_agents))
        return True

    def _checked(self, rows: list[Row], limit: int) -> tuple[list[Row], bytes]:
        """The rows that can be sent and are no larger than ``limit``, with their JSON; the rest
        dropped and counted."""
        kept: list[Row] = []
        parts: list[bytes] = []
        for row in rows:
            try:
                data = check_row(row)
            except (TypeError, ValueError):
                self._stats.drop("send_error", 1)
                log_limited("serialize", logging.WARNING, "WhoWhyWhen could not encode an event")
                continue
            if len(data) > limit:
                self._stats.drop("too_large", 1)
                continue
            kept.append(row)
            parts.append(data)
        return kept, b"[" + b",".join(parts) + b"]"

    def _send_pending(self, *, force: bool) -> bool:
        """Try the pending batches in order; False while one waits for its retry time."""
        while self._pending:
            head = self._pending[0]
            now = time.monotonic()
            if now < head.not_before and not (force and not head.rate_limited):
                return False
            self._attempt(head, self._config.timeout)
            if self._pending and self._pending[0] is head:
                return False
        return True

    def _attempt(self, batch: Batch, timeout: float) -> None:
        batch.attempt += 1
        body = batch.body()
        payload, gzipped = encode_body(body)
        if (len(payload) > MAX_WIRE_BYTES or len(body) > MAX_RAW_BYTES) and len(batch.rows) > 1:
            self._split_head()
            return
        try:
            response = self._transport.post(payload, gzipped=gzipped, timeout=timeout)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            log_limited(
                "network",
                logging.WARNING,
                "WhoWhyWhen collector unreachable (%s); will retry",
                exc.__class__.__name__,
            )
            self._retry(batch, "network_error", None, rate_limited=False)
            return
        status = response.status
        if 200 <= status < 300:
            self._delivered(batch, response)
        elif status in (401, 403):
            self._auth_failed(status)
        elif status == 413:
            if len(batch.rows) > 1:
                self._split_head()
            else:
                self._drop_head("too_large" if batch.rows else "send_error")
        elif status in (408, 429) or status >= 500:
            log_limited(
                f"http-{status}",
                logging.WARNING,
                "WhoWhyWhen collector answered %s; will retry",
                status,
            )
            delay = parse_retry_after(response.header("Retry-After"))
            if delay is not None:
                delay = min(max(delay, RETRY_AFTER_MIN), RETRY_AFTER_MAX)
            elif status == 429 and response.header("Retry-After") is None:
                delay = RATE_LIMIT_DEFAULT_SECONDS
            reason = "ratelimit_backoff" if status == 429 else "send_error"
            self._retry(batch, reason, delay, rate_limited=status == 429)
        else:
            if not batch.rows:
                self._reports_refused = True
            log_limited(
                f"http-{status}",
                logging.WARNING,
                "WhoWhyWhen collector refused a batch of %d events with %s: %s",
                len(batch.rows),
                status,
                response.body[:200].decode("utf-8", "replace"),
            )
            self._drop_head("send_error")

    def _retry(self, batch: Batch, reason: str, delay: float | None, *, rate_limited: bool) -> None:
        batch.failures += 1
        batch.reason = reason
        batch.rate_limited = rate_limited
        if delay is None:
            config = self._config
            delay = min(
                config.retry_backoff * 2 ** (batch.failures - 1), config.retry_backoff_max
            ) * random.uniform(0.8, 1.2)  # noqa: S311
        batch.not_before = time.monotonic() + delay
        self._buffer.overflow_reason = "ratelimit_backoff" if rate_limited else "queue_overflow"

    def _delivered(self, batch: Batch, response: Response) -> None:
        self._pending.popleft()
        rejected: list[Any] = []
        try:
            answer = json.loads(response.body) if response.body else {}
            if isinstance(answer, dict) and isinstance(answer.get("rejected"), list):
                rejected = answer["rejected"]
        except ValueError:
            pass
        if rejected:
            log_limited(
                "rejected",
                logging.WARNING,
                "WhoWhyWhen collector rejected %d event(s), e.g. %s",
                len(rejected),
                str(rejected[0])[:200],
            )
        count = len(batch.rows)
        self._stats.delivered_events(count - min(len(rejected), count), min(len(rejected), count))
        self._buffer.overflow_reason = "queue_overflow"
        if self._auth_until:
            self._auth_until = 0.0
            logger.warning(
                "WhoWhyWhen API key %s accepted again; sending resumed",
                key_prefix(self._config.api_key),
            )

    def _auth_failed(self, status: int) -> None:
        while self._pending:
            self._drop_head("auth_error")
        self._buffer.clear("auth_error")
        self._buffer.overflow_reason = "auth_error"
        self._auth_until = time.monotonic() + AUTH_REPROBE_SECONDS
        message = (
            "WhoWhyWhen collector refused API key %s (HTTP %s): sending stopped, "
            "events are dropped; retrying in 5 minutes"
        )
        if not self._auth_logged:
            self._auth_logged = True
            logger.error(message, key_prefix(self._config.api_key), status)
        else:
            log_limited("auth", logging.DEBUG, message, key_prefix(self._config.api_key), status)

    def _drop_head(self, reason: str) -> None:
        batch = self._pending.popleft()
        self._stats.drop(reason, len(batch.rows))
        self._stats.restore(batch.report)

    def _split_head(self) -> None:
        batch = self._pending.popleft()
        half = len(batch.rows) // 2
        agents = batch.user_agents  # both halves keep the whole list: their indexes point into it
        first = Batch(batch.rows[:half], batch.report, None, agents)
        second = Batch(batch.rows[half:], dict.fromkeys(batch.report, 0), None, agents)
        self._pending.appendleft(second)
        self._pending.appendleft(first)
