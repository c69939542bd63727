"""Analytics read-side latency: every stats route over 30 days and over 1 day, from rollups,
printed beside the same aggregate computed straight from raw rows in the same run.

Fills a fresh database with N events over 30 days (the demo generator, stored through the
collector's pipeline in 1000-event batches), runs the compaction task as the scheduler would,
then times each route through the query service (p95 of --runs calls, a fresh session each) and
the raw-row query (p95 of --raw-runs calls). Also checks the histogram percentiles against the
exact ones.

    .venv/bin/python bench/analytics.py --backend sqlite [--events 1000000]
    .venv/bin/python bench/analytics.py --backend postgresql \\
        --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import math
import secrets
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlmodel import SQLModel

from whowhywhen.analytics import demo
from whowhywhen.analytics.service import analytics_service, resolve_query
from whowhywhen.analytics.tasks import compact_rollups
from whowhywhen.api_key.service import KeyPrincipal
from whowhywhen.auth.service import user_service
from whowhywhen.config import Settings
from whowhywhen.db import Database
from whowhywhen.ingest.service import IngestService
from whowhywhen.kit.time import utc_now
from whowhywhen.migrations import upgrade
from whowhywhen.models import Project
from whowhywhen.project.service import project_service

ROUTES = ["summary", "timeline", "endpoints", "status-codes", "user-agents", "countries"]


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def exact(values: list[float], q: float) -> float:
    return values[max(1, math.ceil(q * len(values))) - 1]


async def vacuum_rollups(db: Database) -> None:
    """VACUUM ANALYZE the tables the collector and the compaction task rewrite (PostgreSQL)."""
    if db.dialect != "postgresql":
        return
    tables = [
        name
        for name in SQLModel.metadata.tables
        if name.startswith(("rollups_", "latency_histograms_", "dimension_", "unique_ip_"))
        or name.startswith("bot_rollups_")
    ]
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(f"VACUUM ANALYZE {', '.join(tables)}"))


async def fill(db: Database, settings: Settings, events: int, days: int) -> tuple[int, float]:
    async with db.session() as session:
        user = await user_service.create(
            session, email=f"bench-{secrets.token_hex(3)}@example.com", password="x" * 16
        )
        project = await project_service.create(session, owner=user, name="bench")
        await session.commit()
        assert project.id is not None
        project_id = project.id
    service = IngestService(settings, db)
    principal = KeyPrincipal(key_id=0, project_id=project_id, prefix="bench", anonymize_ip=False)
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []
    stored = 0
    for event in demo.generate(events, days=days, seed=42):
        batch.append(event)
        if len(batch) == 1000:
            stored += await demo.store(service, principal, batch, max_age=timedelta(days=days + 1))
            batch = []
            if stored % 100_000 == 0:
                # What the scheduler (compaction every few minutes) and PostgreSQL's autovacuum
                # do to a server that receives this traffic over 30 days; without it the minute
                # tables hold 30 days of rows until one final compaction leaves them 99 % dead.
                await compact_rollups(db)
                await vacuum_rollups(db)
                print(f"  {stored:,} stored ({time.perf_counter() - started:.0f} s)", flush=True)
    if batch:
        stored += await demo.store(service, principal, batch, max_age=timedelta(days=days + 1))
    print(f"  {stored:,} events stored in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    moved = await compact_rollups(db)
    print(f"  compaction {time.perf_counter() - started:.1f} s: {moved}", flush=True)
    return project_id, time.perf_counter() - started


# -- the same aggregates, straight from raw rows ----------------------------------------------


async def raw_route(db: Database, route: str, project_id: int, start: Any, end: Any) -> Any:
    pg = db.dialect == "postgresql"
    params: dict[str, Any] = {
        "pid": project_id,
        "start": start if pg else start.replace(tzinfo=None),
        "end": end if pg else end.replace(tzinfo=None),
    }
    async with db.session() as s:

        async def rows(sql: str) -> list[Any]:
            return list(await s.execute(sa.text(sql), params))

        if route == "summary":
            counts = await rows(
                "SELECT count(*), sum(CASE WHEN status_code BETWEEN 400 AND 499 THEN 1 ELSE 0 END),"
                " sum(CASE WHEN status_code >= 500 THEN 1 ELSE 0 END), avg(duration_ms),"
                " count(DISTINCT ip), count(bot_id),"
                " sum(CASE WHEN duration_ms <= 500 THEN 1 ELSE 0 END) FROM request_logs"
                " WHERE project_id = :pid AND timestamp >= :start AND timestamp < :end"
            )
            if pg:
                pct = await rows(
                    "SELECT percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP"
                    " (ORDER BY duration_ms) FROM request_logs"
                    " WHERE project_id = :pid AND timestamp >= :start AND timestamp < :end"
                )
                return counts, list(pct[0][0])
            ordered = await rows(
                "SELECT duration_ms FROM request_logs"
                " WHERE project_id = :pid AND timestamp >= :start AND timestamp < :end"
                " ORDER BY duration_ms"
            )
            values = [r[0] for r in ordered]
            return counts, [exact(values, q) for q in (0.5, 0.95, 0.99)]
        if route == "timeline":
            unit = "hour" if end - start <= timedelta(days=7) else "day"
            if pg:
                params["unit"] = unit
                return await rows(
                    "SELECT date_trunc(:unit, timestamp AT TIME ZONE 'UTC') AS p,"
                    " count(*) FILTER (WHERE status_code < 300),"
                    " count(*) FILTER (WHERE status_code BETWEEN 300 AND 399),"
                    " count(*) FILTER (WHERE status_code BETWEEN 400 AND 499),"
                    " count(*) FILTER (WHERE status_code >= 500), avg(duration_ms),"
                    " percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms)"
                    " FROM request_logs"
                    " WHERE project_id = :pid AND timestamp >= :start AND timestamp < :end"
                    " GROUP BY p ORDER BY p"
                )
            cut = 13 if unit == "hour" else 10
            per: dict[str, list[float]] = defaultdict(list)
            classes: Counter[tuple[str, int]] = Counter()
            for ts, status, ms in await rows(
                "SELECT timestamp, status_code, duration_ms FROM request_logs"
                " WHERE project_id = :pid AND timestamp >= :start AND timestamp < :end"
            ):
                key = str(ts)[:cut]
                per[key].append(ms)
                classes[(key, status // 100)] += 1
            return {k: (statistics.fmean(v), exact(sorted(v), 0.95)) for k, v in per.items()}
        if route == "endpoints":
            if pg:
                return await rows(
                    "SELECT endpoint_id, count(*), avg(duration_ms),"
                    " sum(CASE WHEN status_code >= 400 THEN 1 ELSE 0 END),"
                    " percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_ms)"
                    " FROM request_logs"
                    " WHERE project_id = :pid AND timestamp >= :start AND timestamp < :end"
                    " GROUP BY endpoint_id"
                )
            groups: dict[int, list[float]] = defaultdict(list)
            for endpoint_id, ms in await rows(
                "SELECT endpoint_id, duration_ms FROM request_logs"
                " WHERE project_id = :pid AND timestamp >= :start AND timestamp < :end"
            ):
                groups[endpoint_id].append(ms)
            return {k: [exact(sorted(v), q) for q in (0.5, 0.95, 0.99)] for k, v in groups.items()}
        if route == "status-codes":
            return await rows(
                "SELECT status_code, count(*) FROM request_logs"
                " WHERE project_id = :pid AND timestamp >= :start AND timestamp < :end"
                " GROUP BY status_code"
            )
        if route == "user-agents":
            return await rows(
                "SELECT u.browser, u.os, u.device_type, u.client_type, u.library, count(*)"
                " FROM request_logs r LEFT JOIN user_agents u ON u.id = r.user_agent_id"
                " WHERE r.project_id = :pid AND r.timestamp >= :start AND r.timestamp < :end"
                " GROUP BY 1, 2, 3, 4, 5"
            )
        return await rows(
            "SELECT country, count(*) FROM request_logs"
            " WHERE project_id = :pid AND timestamp >= :start AND timestamp < :end"
            " GROUP BY country"
        )


async def rollup_route(db: Database, route: str, project: Project, start: Any, end: Any) -> Any:
    q = resolve_query(start, end)
    async with db.session() as s:
        call: Callable[..., Awaitable[Any]] = {
            "summary": analytics_service.summary,
            "timeline": analytics_service.timeline,
            "endpoints": analytics_service.endpoints,
            "status-codes": analytics_service.status_codes,
            "user-agents": analytics_service.user_agents,
            "countries": analytics_service.countries,
        }[route]
        return await call(s, project, q)


async def timed(work: Callable[[], Awaitable[Any]], runs: int) -> float:
    await work()  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        samples.append((time.perf_counter() - started) * 1000)
    return p95(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--raw-runs", type=int, default=3)
    parser.add_argument(
        "--reuse",
        default="",
        help="Measure only, on a database a previous --keep run filled (SQLite data dir or "
        "PostgreSQL database name)",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the filled database")
    args = parser.parse_args()

    data_dir = Path(args.reuse if args.reuse and args.backend == "sqlite" else "")
    if not args.reuse or args.backend != "sqlite":
        data_dir = Path(tempfile.mkdtemp(prefix="whowhywhen-bench-"))
    dbname = args.reuse or f"whowhywhen_bench_{secrets.token_hex(3)}"
    if args.backend == "postgresql":
        if not args.reuse:
            asyncio.run(_admin(args.postgres, f'CREATE DATABASE "{dbname}"'))
        base = args.postgres.rsplit("/", 1)[0]
        settings = Settings(
            WHOWHYWHEN_DATA_DIR=data_dir,
            SECRET_KEY="b" * 48,
            DATABASE_URL=f"{base}/{dbname}",
            DB_STATEMENT_TIMEOUT_MS=600_000,
        )
    else:
        settings = Settings(WHOWHYWHEN_DATA_DIR=data_dir, SECRET_KEY="b" * 48)
    upgrade(settings)
    try:
        asyncio.run(run(args, settings))
    finally:
        if args.keep or args.reuse:
            print(f"kept: --reuse {dbname if args.backend == 'postgresql' else data_dir}")
        elif args.backend == "postgresql":
            asyncio.run(_admin(args.postgres, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def run(args: argparse.Namespace, settings: Settings) -> None:
    db = Database(settings)
    try:
        print(f"{args.backend}: {args.events:,} events over {args.days} days", flush=True)
        if args.reuse:
            async with db.session() as s:
                found = await s.execute(sa.text("SELECT count(*) FROM request_logs"))
                print(f"  reusing {args.reuse}: {found.scalar_one():,} raw rows", flush=True)
        if args.reuse:
            project_id = 1
        else:
            project_id, _ = await fill(db, settings, args.events, args.days)
        if db.dialect == "postgresql":
            # VACUUM as autovacuum would after the compaction's mass DELETEs (it is off on some
            # shared boxes): otherwise the minute tables are 99 % dead rows and every read of
            # the recent hours scans them all.
            async with db.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(sa.text("VACUUM ANALYZE"))
        async with db.session() as s:
            project = await s.get(Project, project_id)
        assert project is not None
        now = utc_now()
        print()
        print(f"{'route':<14}{'range':>6}{'rollup p95':>12}{'raw p95':>11}{'speed-up':>10}")
        results: dict[tuple[str, str], tuple[float, float]] = {}
        for route in ROUTES:
            for label, span in (("30d", timedelta(days=args.days)), ("1d", timedelta(days=1))):
                start, end = now - span, now
                fast = await timed(
                    functools.partial(rollup_route, db, route, project, start, end), args.runs
                )
                slow = await timed(
                    functools.partial(raw_route, db, route, project_id, start, end),
                    args.raw_runs,
                )
                results[(route, label)] = (fast, slow)
                print(
                    f"{route:<14}{label:>6}{fast:>10.1f}ms{slow:>9.0f}ms{slow / fast:>9.0f}×",
                    flush=True,
                )
        print()
        for route in ROUTES:
            ratio = results[(route, "30d")][0] / results[(route, "1d")][0]
            print(f"{route:<14} 30d/1d ratio {ratio:.2f}")
        summary = await rollup_route(db, "summary", project, now - timedelta(days=30), now)
        _, exact_pct = await raw_route(db, "summary", project_id, now - timedelta(days=30), now)
        print()
        for name, got, want in zip(
            ("p50", "p95", "p99"),
            (summary.p50_ms, summary.p95_ms, summary.p99_ms),
            exact_pct,
            strict=True,
        ):
            print(
                f"{name}: histogram {got:.2f} ms, exact {want:.2f} ms, "
                f"error {abs(got - want) / want * 100:.2f} %"
            )
        counts = (await raw_route(db, "summary", project_id, now - timedelta(days=30), now))[0][0]
        print(
            f"unique IPs: HyperLogLog {summary.unique_ips:,}, exact {counts[4]:,} "
            f"({abs(summary.unique_ips - counts[4]) / counts[4] * 100:.2f} %)"
        )
    finally:
        await db.dispose()


if __name__ == "__main__":
    main()
