"""The collector's flow: decode → validate → enrich (pipeline) → one transaction → ack.

A batch is acknowledged only after its transaction commits; the dimension ids learnt in it
(user agents, bots, endpoints) are cached only after the commit, so a rolled-back batch never
leaves a stale id behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
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

from whowhywhen.analytics.hll import register_of
from whowhywhen.analytics.live import LivePublisher
from whowhywhen.api_key.service import KeyAuthenticator, KeyPrincipal
from whowhywhen.config import Settings
from whowhywhen.db import Database
from whowhywhen.exceptions import (
    BadRequest,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    UnprocessableEntity,
)
from whowhywhen.ingest import repository
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
from whowhywhen.kit.histogram import bin_of
from whowhywhen.kit.rate_limit import TokenBuckets, retry_after_seconds
from whowhywhen.kit.time import floor_day, floor_minute, utc_now
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
    live: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class StoreOutcome:
    stored: int
    duplicates: int


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


class IngestService:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.keys = KeyAuthenticator(ttl=settings.api_key_cache_seconds)
        self.buckets = TokenBuckets(settings.rate_limit_per_second, settings.rate_limit_burst)
        self.pipeline: PipelineContext = build_context()
        self.dims = DimensionCache()
        self._write_lock = asyncio.Lock() if db.dialect == "sqlite" else None
        self._inflight = 0
        self._auth_failures = MovingWindowRateLimiter(MemoryStorage())
        self.live: LivePublisher | None = None

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
        for attempt in range(3):
            try:
                if self._write_lock is None:
                    return await self._store_once(
                        principal, batch_id, events, received_at, rejected, sdk_dropped
                    )
                async with self._write_lock:
                    return await self._store_once(
                        principal, batch_id, events, received_at, rejected, sdk_dropped
                    )
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES and attempt < 2:
                    continue
                if is_unavailable(exc):
                    raise self._unavailable() from exc
                raise
            except (OSError, TimeoutError, PoolTimeout) as exc:
                raise self._unavailable() from exc
        raise self._unavailable()

    async def _store_once(
        self,
        principal: KeyPrincipal,
        batch_id: str | None,
        events: list[EnrichedEvent],
        received_at: datetime,
        rejected: int,
        sdk_dropped: dict[str, int],
    ) -> StoreOutcome:
        project_id = principal.project_id
        learnt = _Learnt()
        async with self.db.session() as session:
            if batch_id is not None and not await repository.claim_batch(
                session, project_id, batch_id, len(events), received_at
            ):
                return StoreOutcome(stored=0, duplicates=len(events))
            stored = 0
            if events:
                stored = await self._write_events(session, project_id, events, received_at, learnt)
            counts = {"accepted": stored, "duplicates": len(events) - stored, "rejected": rejected}
            counts.update({f"sdk_{reason}": n for reason, n in sdk_dropped.items()})
            await repository.add_outcomes(session, project_id, floor_day(received_at), counts)
            if self.keys.due_for_touch(principal.key_id):
                await self.keys.touch(session, principal.key_id)
            await session.commit()
        self._remember(learnt)
        if self.live is not None and learnt.live:
            await self.live.publish(project_id, learnt.live)
        return StoreOutcome(stored=stored, duplicates=len(events) - stored)

    async def _write_events(
        self,
        session: AsyncSession,
        project_id: int,
        events: list[EnrichedEvent],
        received_at: datetime,
        learnt: _Learnt,
    ) -> int:
        dims = self.dims
        # Dimensions: resolve each distinct value once per batch, from the cache when known.
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
        missing_uas: dict[str, repository.UserAgentRow] = {}
        for e in events:
            raw = e.ua.raw
            if raw and raw not in ua_keys:
                key = ua_keys[raw] = ua_key(raw)
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

        first_seen: dict[tuple[str, str], datetime] = {}
        for e in events:
            endpoint = (e.source.method, e.route)
            if (project_id, *endpoint) not in dims.endpoints:
                seen = first_seen.get(endpoint)
                if seen is None or e.source.timestamp < seen:
                    first_seen[endpoint] = e.source.timestamp
        endpoint_ids: dict[tuple[str, str], int] = {}
        if first_seen:
            endpoint_ids = await repository.resolve_endpoints(session, project_id, first_seen)
            learnt.endpoints = {(project_id, m, r): i for (m, r), i in endpoint_ids.items()}

        new_project_bots: dict[int, datetime] = {}
        for e in events:
            if e.ua.bot is not None:
                bot_id = bot_ids[e.ua.bot.name]
                if (project_id, bot_id) not in dims.project_bots:
                    seen = new_project_bots.get(bot_id)
                    if seen is None or e.source.timestamp < seen:
                        new_project_bots[bot_id] = e.source.timestamp
        if new_project_bots:
            await repository.mark_project_bots(session, project_id, new_project_bots)
            learnt.project_bots = {(project_id, b) for b in new_project_bots}

        rows = []
        for e in events:
            s = e.source
            endpoint_key = (s.method, e.route)
            endpoint_id = endpoint_ids.get(endpoint_key)
            if endpoint_id is None:
                endpoint_id = dims.endpoints[(project_id, *endpoint_key)]
            rows.append(
                {
                    "project_id": project_id,
                    "event_id": s.event_id,
                    "timestamp": s.timestamp,
                    "received_at": received_at,
                    "method": s.method,
                    "url": s.url,
                    "host": e.host,
                    "path": e.path,
                    "query_params": orjson.dumps(e.query_params).decode()
                    if e.query_params
                    else None,
                    "route": e.route,
                    "endpoint_id": endpoint_id,
                    "status_code": s.status_code,
                    "duration_ms": s.duration_ms,
                    "request_size": s.request_size,
                    "response_size": s.response_size,
                    "ip": e.ip,
                    "country": e.country,
                    "user_agent_id": ua_ids[ua_keys[e.ua.raw]] if e.ua.raw else None,
                    "bot_id": bot_ids[e.ua.bot.name] if e.ua.bot is not None else None,
                    "consumer": s.consumer,
                    "consumer_name": s.consumer_name,
                    "exception": s.exception,
                }
            )
        stored_ids = await repository.insert_request_logs(session, project_id, rows)
        if stored_ids:
            live = self.live is not None and self.live.listening(project_id)
            batch, learnt.live = _rollups(project_id, rows, stored_ids, events, live=live)
            await repository.add_rollups(session, batch)
        return len(stored_ids)

    def _remember(self, learnt: _Learnt) -> None:
        self.dims.bots.update(learnt.bots)
        self.dims.user_agents.update(learnt.user_agents)
        self.dims.endpoints.update(learnt.endpoints)
        self.dims.project_bots.update(learnt.project_bots)
        self.dims.trim()


def _rollups(
    project_id: int,
    rows: list[dict[str, Any]],
    stored: set[Any],
    events: list[EnrichedEvent],
    *,
    live: bool = True,
) -> tuple[repository.RollupRows, list[dict[str, Any]]]:
    """Aggregate the stored rows of a batch per rollup key, sorted by key; also the live items.

    `rows` and `events` are parallel lists. Minute rollups and latency bins are keyed by
    endpoint, status and bot-or-not; dimension rollups (browser, OS, device type, client type,
    library, country, consumer), bot rollups and HyperLogLog IP registers are hourly.
    """
    totals: dict[tuple[datetime, int, int, bool], list[float]] = {}
    bins: Counter[tuple[datetime, int, int, bool, int]] = Counter()
    dims: dict[tuple[datetime, str, str, int, bool], list[float]] = {}
    bots: dict[tuple[datetime, int, int, int], list[Any]] = {}
    registers: dict[tuple[datetime, int], int] = {}
    combos: dict[tuple[datetime, str, str | None, str | None, int, bool], list[float]] = {}
    agents: dict[str, UserAgentInfo] = {}
    items: list[dict[str, Any]] = []
    for row, event in zip(rows, events, strict=True):
        if row["event_id"] not in stored:
            continue
        timestamp: datetime = row["timestamp"]
        status = row["status_code"]
        is_bot = row["bot_id"] is not None
        key = (floor_minute(timestamp), row["endpoint_id"], status, is_bot)
        duration = row["duration_ms"]
        total = totals.get(key)
        if total is None:
            totals[key] = [1, duration, duration]
        else:
            total[0] += 1
            total[1] += duration
            if duration > total[2]:
                total[2] = duration
        bins[(*key, bin_of(duration))] += 1

        hour = timestamp.replace(minute=0, second=0, microsecond=0)
        ua = event.ua
        # One dictionary update per event; the seven dimensions are expanded per distinct
        # combination below, not per event.
        combo_key = (hour, ua.raw, row["country"], row["consumer"], status, is_bot)
        combo = combos.get(combo_key)
        if combo is None:
            combos[combo_key] = [1, duration]
            agents[ua.raw] = ua
        else:
            combo[0] += 1
            combo[1] += duration
        if is_bot:
            bot_key = (hour, row["bot_id"], row["endpoint_id"], status)
            bot = bots.get(bot_key)
            if bot is None:
                bots[bot_key] = [1, timestamp]
            else:
                bot[0] += 1
                bot[1] = max(bot[1], timestamp)
        if row["ip"]:
            slot, rank = register_of(row["ip"])
            if rank > registers.get((hour, slot), 0):
                registers[(hour, slot)] = rank
        if not live:
            continue
        items.append(
            {
                "event_id": str(row["event_id"]),
                "timestamp": timestamp.isoformat(),
                "method": row["method"],
                "path": row["path"],
                "route": row["route"],
                "status_code": status,
                "duration_ms": duration,
                "ip": row["ip"],
                "country": row["country"],
                "bot": ua.bot.name if ua.bot is not None else None,
                "browser": ua.browser,
                "client_type": str(ua.client_type),
                "consumer": row["consumer"],
            }
        )
    for (hour, raw, country, consumer, status, is_bot), (count, duration_sum) in combos.items():
        ua = agents[raw]
        for dimension, value in (
            ("browser", ua.browser or ""),
            ("os", ua.os or ""),
            ("device_type", str(ua.device_type)),
            ("client_type", str(ua.client_type)),
            ("library", ua.library),
            ("country", country or ""),
            ("consumer", consumer),
        ):
            if value is None:
                continue
            dim_key = (hour, dimension, value[:256], status, is_bot)
            dim = dims.get(dim_key)
            if dim is None:
                dims[dim_key] = [count, duration_sum]
            else:
                dim[0] += count
                dim[1] += duration_sum
    base = {"project_id": project_id}
    batch = repository.RollupRows(
        minute=[
            {
                **base,
                "bucket": bucket,
                "endpoint_id": endpoint_id,
                "status_code": status,
                "is_bot": is_bot,
                "count": int(count),
                "duration_sum": duration_sum,
                "duration_max": duration_max,
            }
            for (bucket, endpoint_id, status, is_bot), (
                count,
                duration_sum,
                duration_max,
            ) in sorted(totals.items())
        ],
        histograms=[
            {
                **base,
                "bucket": bucket,
                "endpoint_id": endpoint_id,
                "status_code": status,
                "is_bot": is_bot,
                "bin": bin_index,
                "count": count,
            }
            for (bucket, endpoint_id, status, is_bot, bin_index), count in sorted(bins.items())
        ],
        dimensions=[
            {
                **base,
                "bucket": bucket,
                "dimension": dimension,
                "value": value,
                "status_code": status,
                "is_bot": is_bot,
                "count": int(count),
                "duration_sum": duration_sum,
            }
            for (bucket, dimension, value, status, is_bot), (count, duration_sum) in sorted(
                dims.items()
            )
        ],
        bots=[
            {
                **base,
                "bucket": bucket,
                "bot_id": bot_id,
                "endpoint_id": endpoint_id,
                "status_code": status,
                "count": count,
                "last_seen": last_seen,
            }
            for (bucket, bot_id, endpoint_id, status), (count, last_seen) in sorted(bots.items())
        ],
        unique_ips=[
            {**base, "bucket": bucket, "slot": slot, "value": value}
            for (bucket, slot), value in sorted(registers.items())
        ],
    )
    return batch, items
