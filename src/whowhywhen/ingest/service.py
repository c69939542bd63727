"""The collector's flow: decode → validate → enrich (pipeline) → one transaction → ack.

Batches that wait for storage together share that transaction (group commit, see
`IngestService._store`), each still all or nothing. A batch is acknowledged only after its
transaction commits; the dimension ids learnt in it (user agents, bots, endpoints) are cached
only after the commit, so a rolled-back batch never leaves a stale id behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession

from whowhywhen.analytics.live import LivePublisher
from whowhywhen.api_key.service import KeyAuthenticator, KeyPrincipal
from whowhywhen.config import Settings
from whowhywhen.db import Database
from whowhywhen.exceptions import (
    AppError,
    BadRequest,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    UnprocessableEntity,
)
from whowhywhen.ingest import repository, rollups
from whowhywhen.ingest.pipeline import (
    EnrichedEvent,
    PipelineContext,
    UserAgentInfo,
    build_context,
    enrich,
)
from whowhywhen.ingest.schemas import (
    IngestResult,
    InvalidBody,
    Limits,
    TooManyEvents,
    check_body,
)
from whowhywhen.kit.rate_limit import TokenBuckets, retry_after_seconds
from whowhywhen.kit.time import floor_day, utc_now
from whowhywhen.models import Bot

log = logging.getLogger(__name__)

RETRY_AFTER_UNAVAILABLE = 5
AUTH_FAILURES = parse("20/minute")  # per client address (KEY-06)
_TRANSIENT_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


def ua_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()


@dataclass
class DimensionCache:
    """Ids of rows that never change once stored: user agents, bots, endpoints."""

    user_agents: dict[str, int] = field(default_factory=dict)
    bots: dict[str, int] = field(default_factory=dict)
    endpoints: dict[tuple[int, str, str], int] = field(default_factory=dict)
    project_bots: set[tuple[int, int]] = field(default_factory=set)

    def trim(self, limit: int = 200_000) -> None:
        for cache in (self.user_agents, self.endpoints):
            if len(cache) > limit:
                cache.clear()


@dataclass
class _Learnt:
    user_agents: dict[str, int] = field(default_factory=dict)
    bots: dict[str, int] = field(default_factory=dict)
    endpoints: dict[tuple[int, str, str], int] = field(default_factory=dict)
    project_bots: set[tuple[int, int]] = field(default_factory=set)
    live: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass(slots=True)
class StoreOutcome:
    stored: int
    duplicates: int


#: The most events one transaction of the writer stores (several batches, group commit).
MAX_GROUP_EVENTS = 5000
#: Transactions the writer keeps open at once: two overlap one group's round trips with the
#: next one's, and rarely meet on the same rollup rows.
WRITERS = 2


@dataclass(slots=True, eq=False)  # compared and hashed by identity: a key per batch
class _Write:
    """A batch waiting for the writer, and the future its request awaits."""

    principal: KeyPrincipal
    batch_id: str | None
    events: list[EnrichedEvent]
    received_at: datetime
    rejected: int
    sdk_dropped: dict[str, int]
    done: asyncio.Future[StoreOutcome]


def _consume(future: asyncio.Future[StoreOutcome]) -> None:
    if not future.cancelled():
        future.exception()


def _fail(group: list[_Write], exc: BaseException) -> None:
    for write in group:
        if not write.done.done():
            write.done.set_exception(exc)


def is_unavailable(exc: BaseException) -> bool:
    """True for errors that mean the database cannot be reached right now."""
    if isinstance(exc, OperationalError | PoolTimeout | OSError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        text = str(exc.orig).lower()
        return any(
            marker in text
            for marker in (
                "database is locked",
                "connection",
                "terminat",
                "shutdown",
                "too many clients",
                "statement timeout",
                "canceling statement",
            )
        )
    return False


_REFUSALS = {
    400: "refused_invalid",
    422: "refused_invalid",
    413: "refused_too_large",
    415: "refused_media_type",
    429: "rate_limited",
    503: "unavailable",
}


class OutcomeTally:
    """Requests the collector refused, per project and day (COL-12).

    Counted in memory so a refusal stays cheap (a flood of 429s writes nothing per request),
    then added to `ingest_outcomes` by `flush`: every few seconds, at shutdown, and before the
    dashboard reads them. Counts that cannot be written yet (storage down) wait for the next
    flush; those of a project deleted meanwhile are dropped.
    """

    def __init__(self) -> None:
        self._pending: dict[tuple[int, datetime], Counter[str]] = {}

    def add(self, project_id: int, outcome: str) -> None:
        key = (project_id, floor_day(utc_now()))
        self._pending.setdefault(key, Counter())[outcome] += 1

    def refused(self, project_id: int, error: AppError) -> None:
        outcome = _REFUSALS.get(error.status_code)
        if outcome is not None:
            self.add(project_id, outcome)

    async def flush(self, db: Database) -> None:
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            async with db.session() as session:
                # Held until commit, so a project deleted meanwhile cannot fail the insert.
                alive = await repository.lock_projects(session, {p for p, _ in pending})
                await repository.add_outcome_rows(
                    session,
                    [(p, day, dict(counts)) for (p, day), counts in pending.items() if p in alive],
                )
                await session.commit()
        except BaseException:
            for key, counts in pending.items():
                self._pending.setdefault(key, Counter()).update(counts)
            raise

    async def run(self, db: Database, interval: float) -> None:
        """Flush every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush(db)
            except Exception as exc:  # storage down: keep counting, retry next time
                log.warning("could not record ingest outcomes yet: %s", exc)


class IngestService:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.keys = KeyAuthenticator(ttl=settings.api_key_cache_seconds)
        self.buckets = TokenBuckets(settings.rate_limit_per_second, settings.rate_limit_burst)
        self.pipeline: PipelineContext = build_context()
        self.dims = DimensionCache()
        self._write_lock = asyncio.Lock() if db.dialect == "sqlite" else None
        self._queue: deque[_Write] = deque()
        self._writers: set[asyncio.Task[None]] = set()
        self.writers = WRITERS
        self._inflight = 0
        self._auth_failures = MovingWindowRateLimiter(MemoryStorage())
        self.live: LivePublisher | None = None
        self.outcomes = OutcomeTally()

    # -- admission -------------------------------------------------------------------------

    def admit(self) -> None:
        """Shed load beyond the in-flight cap at once instead of queueing without bound."""
        if self._inflight >= self.settings.max_inflight_requests:
            raise ServiceUnavailable("the collector is at capacity; retry shortly", retry_after=1)
        self._inflight += 1

    def release(self) -> None:
        self._inflight -= 1

    async def auth_failures_allowed(self, client: str) -> bool:
        return await self._auth_failures.test(AUTH_FAILURES, client)

    async def record_auth_failure(self, client: str) -> None:
        await self._auth_failures.hit(AUTH_FAILURES, client)

    async def authenticate(self, secret: str) -> KeyPrincipal | None:
        try:
            async with self.db.session() as session:
                return await self.keys.authenticate(session, secret)
        except Exception as exc:
            if is_unavailable(exc):
                raise self._unavailable() from exc
            raise

    def _unavailable(self) -> ServiceUnavailable:
        return ServiceUnavailable(
            "storage is temporarily unavailable; retry later",
            retry_after=RETRY_AFTER_UNAVAILABLE,
        )

    # -- the flow --------------------------------------------------------------------------

    async def ingest(self, principal: KeyPrincipal, body: bytes, *, single: bool) -> IngestResult:
        received_at = utc_now()
        limits = Limits(
            received_at=received_at,
            max_future=timedelta(seconds=self.settings.max_future_seconds),
            max_age=timedelta(days=self.settings.max_age_days),
        )
        try:
            checked = check_body(
                body, limits, single=single, max_events=self.settings.max_batch_events
            )
        except InvalidBody as exc:
            raise BadRequest(str(exc)) from exc
        except TooManyEvents as exc:
            raise PayloadTooLarge(str(exc)) from exc

        wait = self.buckets.take(principal.key_id, max(checked.size, 1))
        if wait:
            raise RateLimited(
                f"over this key's rate of {self.settings.rate_limit_per_second:g} events/s",
                retry_after=retry_after_seconds(wait),
            )
        batch_id, incoming, rejected = checked.batch_id, checked.events, checked.rejected
        sdk_dropped = checked.sdk_dropped
        if single and rejected:
            problem = rejected[0]
            raise UnprocessableEntity(
                [{"loc": ["body", problem.field], "msg": problem.reason, "index": problem.index}]
            )

        context = self.pipeline.for_project(anonymise_ip=principal.anonymize_ip)
        enriched = enrich(incoming, context)
        outcome = await self._store(
            principal, batch_id, enriched, received_at, len(rejected), sdk_dropped
        )
        return IngestResult(
            accepted=outcome.stored + outcome.duplicates,
            duplicates=outcome.duplicates,
            rejected=rejected,
        )

    async def _store(
        self,
        principal: KeyPrincipal,
        batch_id: str | None,
        events: list[EnrichedEvent],
        received_at: datetime,
        rejected: int,
        sdk_dropped: dict[str, int],
    ) -> StoreOutcome:
        """Queue the batch for the writer and wait until its transaction has committed.

        Each of the `writers` tasks takes every batch waiting when it is free and stores them in
        one transaction (group commit): the rollup rows those batches share are upserted once, not
        once each, and concurrent transactions no longer queue on the same rollup rows' locks
        until each one commits. A batch is acknowledged only after that commit.
        """
        write = _Write(
            principal,
            batch_id,
            events,
            received_at,
            rejected,
            sdk_dropped,
            asyncio.get_running_loop().create_future(),
        )
        # A waiter that goes away (client disconnected) must not leave an unread exception.
        write.done.add_done_callback(_consume)
        self._queue.append(write)
        if len(self._writers) < self.writers:
            writer = asyncio.create_task(self._write_queued())
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        return await asyncio.shield(write.done)

    async def _write_queued(self) -> None:
        while self._queue:
            group = [self._queue.popleft()]
            size = len(group[0].events)
            while self._queue and size + len(self._queue[0].events) <= MAX_GROUP_EVENTS:
                size += len(self._queue[0].events)
                group.append(self._queue.popleft())
            await self._settle(group)

    async def _settle(self, group: list[_Write]) -> None:
        """Store a group and answer each of its waiters; a group that fails for anything but
        unavailable storage is stored again batch by batch, so one bad batch fails alone."""
        try:
            outcomes = await self._store_retrying(group)
        except ServiceUnavailable as exc:
            _fail(group, exc)
        except asyncio.CancelledError:
            _fail(group, self._unavailable())
            raise
        except Exception as exc:
            if len(group) == 1:
                _fail(group, exc)
                return
            for write in group:
                await self._settle([write])
        else:
            for write, outcome in zip(group, outcomes, strict=True):
                if outcome is not None and not write.done.done():
                    write.done.set_result(outcome)

    async def _store_retrying(self, group: list[_Write]) -> list[StoreOutcome | None]:
        for attempt in range(3):
            try:
                if self._write_lock is None:
                    return await self._store_once(group)
                async with self._write_lock:
                    return await self._store_once(group)
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES and attempt < 2:
                    continue
                if is_unavailable(exc):
                    raise self._unavailable() from exc
                raise
            except (OSError, TimeoutError, PoolTimeout) as exc:
                raise self._unavailable() from exc
        raise self._unavailable()

    async def _store_once(self, group: list[_Write]) -> list[StoreOutcome | None]:
        """Store a group in one transaction; None for a batch answered already (its project is
        gone)."""
        learnt = _Learnt()
        async with self.db.session() as session:
            # Held until commit: a project's deletion waits for this transaction, and the
            # batches of a project deleted before it are refused, not stored as orphans.
            projects = {w.principal.project_id for w in group}
            alive = await repository.lock_projects(session, projects)
            if alive != projects:
                self.keys.forget()  # a cached key of a deleted project stops working at once
                _fail(
                    [w for w in group if w.principal.project_id not in alive],
                    Unauthorized("the API key's project was deleted"),
                )
            writes = [w for w in group if w.principal.project_id in alive]
            claimed = await repository.claim_batches(
                session,
                [
                    (w.principal.project_id, w.batch_id, len(w.events), w.received_at)
                    for w in writes
                    if w.batch_id is not None
                ],
            )
            fresh: list[_Write] = []
            for write in writes:
                if write.batch_id is None:
                    fresh.append(write)
                elif (claim := (write.principal.project_id, write.batch_id)) in claimed:
                    claimed.discard(claim)  # a second batch of the group with this id is a retry
                    fresh.append(write)
            writing = [w for w in fresh if w.events]
            stored = dict(
                zip(
                    writing,
                    await self._write_events(session, writing, learnt) if writing else [],
                    strict=True,
                )
            )
            outcomes: list[StoreOutcome] = []
            totals: dict[tuple[int, datetime], Counter[str]] = {}
            for write in writes:
                count = stored.get(write, 0)
                outcome = StoreOutcome(stored=count, duplicates=len(write.events) - count)
                outcomes.append(outcome)
                counts = totals.setdefault(
                    (write.principal.project_id, floor_day(write.received_at)), Counter()
                )
                counts.update(
                    accepted=outcome.stored,
                    duplicates=outcome.duplicates,
                    rejected=write.rejected,
                )
                if write in fresh:  # a retried batch repeats the drop report counted the first time
                    counts.update({f"sdk_{reason}": n for reason, n in write.sdk_dropped.items()})
            await repository.add_outcome_rows(
                session, [(p, day, dict(counts)) for (p, day), counts in totals.items()]
            )
            for key_id in sorted({w.principal.key_id for w in writes}):
                if self.keys.due_for_touch(key_id):
                    await self.keys.touch(session, key_id)
            await session.commit()
        self._remember(learnt)
        if self.live is not None:
            for project_id, items in learnt.live.items():
                await self.live.publish(project_id, items)
        by_write = dict(zip(writes, outcomes, strict=True))
        return [by_write.get(w) for w in group]

    async def _write_events(
        self, session: AsyncSession, writes: list[_Write], learnt: _Learnt
    ) -> list[int]:
        """Store the events of several batches (of one or more projects); how many of each
        batch's events were new."""
        dims = self.dims
        events = [e for w in writes for e in w.events]
        # Dimensions: resolve each distinct value once per group, from the cache when known.
        bot_infos = {e.ua.bot.name: e.ua.bot for e in events if e.ua.bot is not None}
        bot_ids = {name: dims.bots[name] for name in bot_infos if name in dims.bots}
        missing_bots = [
            Bot(name=b.name, category=str(b.category), url=b.url)
            for name, b in bot_infos.items()
            if name not in bot_ids
        ]
        if missing_bots:
            learnt.bots = await repository.resolve_bots(session, missing_bots)
            bot_ids.update(learnt.bots)

        ua_keys: dict[str, str] = {}
        parsed: dict[str, UserAgentInfo] = {}  # each distinct user agent of the group
        missing_uas: dict[str, repository.UserAgentRow] = {}
        for e in events:
            raw = e.ua.raw
            if raw and raw not in ua_keys:
                key = ua_keys[raw] = ua_key(raw)
                parsed[raw] = e.ua
                if key not in dims.user_agents and key not in missing_uas:
                    ua = e.ua
                    missing_uas[key] = repository.UserAgentRow(
                        key=key,
                        raw=raw,
                        browser=ua.browser,
                        browser_version=ua.browser_version,
                        os=ua.os,
                        os_version=ua.os_version,
                        device=ua.device,
                        device_type=str(ua.device_type),
                        client_type=str(ua.client_type),
                        library=ua.library,
                        bot_name=ua.bot.name if ua.bot else None,
                    )
        ua_ids = {key: dims.user_agents[key] for key in ua_keys.values() if key in dims.user_agents}
        if missing_uas:
            learnt.user_agents = await repository.resolve_user_agents(
                session, list(missing_uas.values()), bot_ids
            )
            ua_ids.update(learnt.user_agents)

        # Endpoints and bots first seen by a project, per project.
        first_seen: dict[int, dict[tuple[str, str], datetime]] = {}
        new_project_bots: dict[int, dict[int, datetime]] = {}
        for w in writes:
            project_id = w.principal.project_id
            for e in w.events:
                when = e.source.timestamp
                endpoint = (e.source.method, e.route)
                if (project_id, *endpoint) not in dims.endpoints:
                    seen_endpoints = first_seen.setdefault(project_id, {})
                    seen = seen_endpoints.get(endpoint)
                    if seen is None or when < seen:
                        seen_endpoints[endpoint] = when
                if e.ua.bot is not None:
                    bot_id = bot_ids[e.ua.bot.name]
                    if (project_id, bot_id) not in dims.project_bots:
                        seen_bots = new_project_bots.setdefault(project_id, {})
                        seen = seen_bots.get(bot_id)
                        if seen is None or when < seen:
                            seen_bots[bot_id] = when
        endpoint_ids: dict[tuple[int, str, str], int] = {}
        for project_id, endpoints in sorted(first_seen.items()):
            resolved = await repository.resolve_endpoints(session, project_id, endpoints)
            endpoint_ids.update({(project_id, m, r): i for (m, r), i in resolved.items()})
        learnt.endpoints = endpoint_ids
        for project_id, bots in sorted(new_project_bots.items()):
            await repository.mark_project_bots(session, project_id, bots)
            learnt.project_bots.update((project_id, b) for b in bots)

        per_write: list[list[tuple[Any, ...]]] = []
        for w in writes:
            project_id = w.principal.project_id
            records: list[tuple[Any, ...]] = []
            append = records.append
            for e in w.events:
                s = e.source
                endpoint_key = (project_id, s.method, e.route)
                endpoint_id = endpoint_ids.get(endpoint_key)
                if endpoint_id is None:
                    endpoint_id = dims.endpoints[endpoint_key]
                ua = e.ua
                # In REQUEST_LOG_COLUMNS order.
                append(
                    (
                        project_id,
                        s.event_id,
                        s.timestamp,
                        w.received_at,
                        s.method,
                        s.url,
                        e.host,
                        e.path,
                        orjson.dumps(e.query_params).decode() if e.query_params else None,
                        e.route,
                        endpoint_id,
                        s.status_code,
                        s.duration_ms,
                        s.request_size,
                        s.response_size,
                        e.ip,
                        e.country,
                        ua_ids[ua_keys[ua.raw]] if ua.raw else None,
                        bot_ids[ua.bot.name] if ua.bot is not None else None,
                        s.consumer,
                        s.consumer_name,
                        s.exception,
                    )
                )
            per_write.append(records)

        counts: list[int] = []
        stored_ids: list[set[Any] | None] = []  # None: the batch's every event was new
        if self.db.dialect == "postgresql":
            agents = {ua_ids[ua_keys[raw]]: ua for raw, ua in parsed.items()}
            all_records = [r for records in per_write for r in records]
            new = await repository.copy_events(session, all_records, rollups.agent_columns(agents))
            sent: Counter[int] = Counter()
            for w in writes:
                sent[w.principal.project_id] += len(w.events)
            left: dict[int, set[Any]] = {}
            for w in writes:
                project_id = w.principal.project_id
                new_ids = new.get(project_id, ())
                if len(new_ids) == sent[project_id]:  # the usual case: no event id seen before
                    counts.append(len(w.events))
                    stored_ids.append(None)
                    continue
                # Each new event id belongs to the first batch of the group that has it.
                unclaimed = left.get(project_id)
                if unclaimed is None:
                    unclaimed = left[project_id] = set(new_ids)
                mine = {e.source.event_id for e in w.events} & unclaimed
                unclaimed -= mine
                counts.append(len(mine))
                stored_ids.append(mine)
        else:
            for w, records in zip(writes, per_write, strict=True):
                ids = await self._insert_sqlite(session, w.principal.project_id, records, w.events)
                counts.append(len(ids))
                stored_ids.append(ids)
        if self.live is not None:
            for w, count, stored in zip(writes, counts, stored_ids, strict=True):
                project_id = w.principal.project_id
                if count and self.live.listening(project_id):
                    learnt.live.setdefault(project_id, []).extend(_live_items(w.events, stored))
        return counts

    async def _insert_sqlite(
        self,
        session: AsyncSession,
        project_id: int,
        records: list[tuple[Any, ...]],
        events: list[EnrichedEvent],
    ) -> set[Any]:
        rows = [dict(zip(repository.REQUEST_LOG_COLUMNS, r, strict=True)) for r in records]
        stored_ids = await repository.insert_request_logs(session, project_id, rows)
        if stored_ids:
            kept = [i for i, row in enumerate(rows) if row["event_id"] in stored_ids]
            batch = rollups.aggregate(
                project_id, [rows[i] for i in kept], [events[i].ua for i in kept]
            )
            await repository.add_rollups(session, batch)
        return stored_ids

    def _remember(self, learnt: _Learnt) -> None:
        self.dims.bots.update(learnt.bots)
        self.dims.user_agents.update(learnt.user_agents)
        self.dims.endpoints.update(learnt.endpoints)
        self.dims.project_bots.update(learnt.project_bots)
        self.dims.trim()


def _live_items(events: list[EnrichedEvent], stored: set[Any] | None) -> list[dict[str, Any]]:
    """What the live tail shows of each stored event of a batch."""
    items = []
    for e in events:
        s = e.source
        if stored is not None and s.event_id not in stored:
            continue
        ua = e.ua
        items.append(
            {
                "event_id": str(s.event_id),
                "timestamp": s.timestamp.isoformat(),
                "method": s.method,
                "path": e.path,
                "route": e.route,
                "status_code": s.status_code,
                "duration_ms": s.duration_ms,
                "ip": e.ip,
                "country": e.country,
                "bot": ua.bot.name if ua.bot is not None else None,
                "browser": ua.browser,
                "client_type": str(ua.client_type),
                "consumer": s.consumer,
            }
        )
    return items
