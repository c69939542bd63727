"""The query service over real rollups written by the collector, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import math
import random
from datetime import timedelta
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa

from tests.analytics.helpers import CURL, IPHONE, ev, load_project, send, set_project
from tests.factories import Factory
from tests.ingest.helpers import CHROME, GOOGLEBOT, GPTBOT
from whowhywhen.analytics import queries, tasks
from whowhywhen.analytics.schemas import Interval
from whowhywhen.analytics.service import (
    analytics_service,
    floor_hour,
    make_filters,
    resolve_query,
)
from whowhywhen.db import Database
from whowhywhen.exceptions import UnprocessableEntity
from whowhywhen.kit.histogram import bin_value, percentiles
from whowhywhen.kit.time import utc_now


def _exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


class TestSummary:
    async def test_counts_errors_percentiles_apdex_ips_bots_and_previous(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        # On an hour boundary: unique IPs come from hour registers, and a range starting inside
        # an hour leaves that hour out (failed in the first minutes of every hour before).
        now = floor_hour(utc_now())
        rng = random.Random(7)
        durations = [rng.lognormvariate(4, 0.8) for _ in range(400)]
        events = [
            ev(now - timedelta(minutes=5 + i % 50), ms=d, ip=f"10.0.{i % 7}.1")
            for i, d in enumerate(durations)
        ]
        events += [ev(now - timedelta(minutes=10), status=404, ms=10) for _ in range(30)]
        events += [ev(now - timedelta(minutes=10), status=503, ms=900) for _ in range(20)]
        events += [ev(now - timedelta(minutes=12), ua=GOOGLEBOT, ms=50) for _ in range(10)]
        previous = [ev(now - timedelta(hours=1, minutes=30), ms=100) for _ in range(15)]
        await send(client, project, events + previous)

        p = await load_project(db, project.id)
        q = resolve_query(now - timedelta(hours=1), now + timedelta(seconds=1))
        async with db.session() as session:
            summary = await analytics_service.summary(session, p, q)
        assert summary.requests == 460
        assert summary.errors_4xx == 30
        assert summary.errors_5xx == 20
        assert summary.error_rate == pytest.approx(50 / 460, abs=1e-6)
        assert summary.bot_requests == 10
        assert summary.unique_ips == 8  # 7 + the default 8.8.8.8
        all_ms = durations + [10.0] * 30 + [900.0] * 20 + [50.0] * 10
        assert summary.avg_ms == pytest.approx(sum(all_ms) / len(all_ms), rel=1e-3)
        for got, quantile in (
            (summary.p50_ms, 0.5),
            (summary.p95_ms, 0.95),
            (summary.p99_ms, 0.99),
        ):
            assert got is not None
            assert got == pytest.approx(_exact(all_ms, quantile), rel=0.05)
        satisfied = sum(1 for d in all_ms if d <= 500)
        tolerating = sum(1 for d in all_ms if 500 < d <= 2000)
        assert summary.apdex == pytest.approx((satisfied + tolerating / 2) / len(all_ms), abs=0.02)
        assert summary.previous.requests == 15
        assert summary.previous.p50_ms == pytest.approx(100, rel=0.05)

    async def test_an_empty_range_gives_zeros_and_nulls(
        self, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        p = await load_project(db, project.id)
        async with db.session() as session:
            summary = await analytics_service.summary(session, p, resolve_query(None, None))
        assert summary.requests == 0
        assert summary.p95_ms is None
        assert summary.apdex is None
        assert summary.unique_ips == 0


class TestRollupReadsRunSerially:
    async def test_rollup_reads_use_custom_plans_and_no_parallel_workers_for_their_transaction(
        self, factory: Factory, db: Database
    ) -> None:
        if db.dialect != "postgresql":
            pytest.skip("parallel query is PostgreSQL's")
        project = await factory.project()
        p = await load_project(db, project.id)
        show = sa.text("SHOW max_parallel_workers_per_gather")
        async with db.session() as session:
            default = (await session.execute(show)).scalar_one()
            assert default != "0"
            await analytics_service.status_codes(session, p, resolve_query(None, None))
            await analytics_service.summary(session, p, resolve_query(None, None))
            assert (await session.execute(show)).scalar_one() == "0"
            plans = sa.text("SHOW plan_cache_mode")
            assert (await session.execute(plans)).scalar_one() == "force_custom_plan"
            await session.commit()  # SET LOCAL ends with the transaction
            assert (await session.execute(show)).scalar_one() == default
            await analytics_service.countries(session, p, resolve_query(None, None))
            assert (await session.execute(show)).scalar_one() == "0"
        async with db.session() as session:
            assert (await session.execute(show)).scalar_one() == default


class TestFilters:
    async def test_filters_compose_and_switch_to_raw_rows_when_rollups_cannot_answer(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        now = utc_now()
        await send(
            client,
            project,
            [ev(now - timedelta(minutes=3), path="/users/1", ip="1.1.1.1") for _ in range(5)]
            + [ev(now - timedelta(minutes=3), path="/orders", status=500, ms=300) for _ in range(4)]
            + [ev(now - timedelta(minutes=3), path="/orders", method="POST", status=201)] * 0
            + [ev(now - timedelta(minutes=3), path="/orders", ua=CURL, consumer="acme")],
        )
        p = await load_project(db, project.id)

        async def requests(**filters: str | int) -> int:
            q = resolve_query(
                now - timedelta(hours=1),
                now + timedelta(seconds=1),
                None,
                make_filters(**filters),  # type: ignore[arg-type]
            )
            async with db.session() as session:
                return (await analytics_service.summary(session, p, q)).requests

        assert await requests() == 10
        assert await requests(route="/orders") == 5
        assert await requests(route="/orders", status_class="5xx") == 4
        assert await requests(method="get", route="/users/{id}", status=200) == 5
        assert await requests(ip="1.1.1.1") == 5
        assert await requests(ip="1.1.1.1", route="/orders") == 0
        assert await requests(user_agent="CURL/") == 1
        assert await requests(consumer="acme") == 1
        assert await requests(q="orders") == 5
        assert await requests(country="US") == 5  # 1.1.1.1 is registered in Australia
        assert await requests(bot="false") == 10
        assert await requests(bot="true") == 0
        assert await requests(route="/nope") == 0
        assert await requests(country="ZZ") == 0
        assert await requests(bot="NoSuchBot") == 0

    def test_ranges_intervals_and_status_classes_are_validated(self) -> None:
        now = utc_now()
        with pytest.raises(UnprocessableEntity, match="after start"):
            resolve_query(now, now - timedelta(hours=1))
        with pytest.raises(UnprocessableEntity, match="400 days"):
            resolve_query(now - timedelta(days=401), now)
        with pytest.raises(UnprocessableEntity, match="coarser interval"):
            resolve_query(now - timedelta(days=30), now, Interval.minute)
        with pytest.raises(UnprocessableEntity, match="status_class"):
            make_filters(status_class="7xx")
        assert resolve_query(now - timedelta(hours=3), now).interval is Interval.minute
        assert resolve_query(now - timedelta(days=7), now).interval is Interval.hour
        assert resolve_query(now - timedelta(days=8), now).interval is Interval.day


class TestTimeline:
    async def test_every_period_is_present_in_the_project_time_zone(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        await set_project(db, project.id, timezone="Asia/Kolkata")
        now = utc_now().replace(second=0, microsecond=0)
        await send(
            client,
            project,
            [ev(now - timedelta(hours=2), status=200, ms=20)] * 0
            + [ev(now - timedelta(hours=2), status=200, ms=20) for _ in range(3)]
            + [ev(now - timedelta(hours=2), status=302, ms=20)]
            + [ev(now - timedelta(minutes=30), status=404, ms=20) for _ in range(2)]
            + [ev(now - timedelta(minutes=30), status=500, ms=80)],
        )
        p = await load_project(db, project.id)
        q = resolve_query(now - timedelta(hours=6), now, Interval.hour)
        async with db.session() as session:
            timeline = await analytics_service.timeline(session, p, q)
        assert timeline.interval is Interval.hour
        assert timeline.timezone == "Asia/Kolkata"
        assert len(timeline.items) in (6, 7)
        offsets = {item.period.utcoffset() for item in timeline.items}
        assert offsets == {timedelta(hours=5, minutes=30)}
        assert all(item.period.minute == 0 for item in timeline.items)
        assert sum(i.count_2xx for i in timeline.items) == 3
        assert sum(i.count_3xx for i in timeline.items) == 1
        assert sum(i.count_4xx for i in timeline.items) == 2
        assert sum(i.count_5xx for i in timeline.items) == 1
        empty = [i for i in timeline.items if i.requests == 0]
        assert empty
        assert all(i.avg_ms is None and i.p95_ms is None for i in empty)

    @pytest.mark.parametrize(
        ("timezone", "expected"),
        [("UTC", [2, 1]), ("Asia/Kolkata", [1, 2])],
    )
    async def test_minute_rows_land_in_their_local_hour(
        self,
        client: httpx2.AsyncClient,
        factory: Factory,
        db: Database,
        timezone: str,
        expected: list[int],
    ) -> None:
        # Minute rows are summed per UTC hour in SQL only where local hours start on UTC hours.
        project = await factory.project()
        await set_project(db, project.id, timezone=timezone)
        hour = floor_hour(utc_now()) - timedelta(hours=3)
        await send(
            client,
            project,
            [
                ev(hour + timedelta(minutes=10), ms=10),
                ev(hour + timedelta(minutes=40), ms=30),
                ev(hour + timedelta(minutes=65), ms=50),
            ],
        )
        p = await load_project(db, project.id)
        q = resolve_query(hour - timedelta(hours=2), hour + timedelta(hours=3), Interval.hour)
        async with db.session() as session:
            timeline = await analytics_service.timeline(session, p, q)
        busy = [i for i in timeline.items if i.requests]
        assert [i.requests for i in busy] == expected
        assert sum(i.count_2xx for i in busy) == 3
        assert [i.p95_ms for i in busy][-1] == pytest.approx(50, rel=0.05)

    async def test_day_periods_follow_local_midnight(self, factory: Factory, db: Database) -> None:
        project = await factory.project()
        await set_project(db, project.id, timezone="America/New_York")
        p = await load_project(db, project.id)
        now = utc_now()
        async with db.session() as session:
            timeline = await analytics_service.timeline(
                session, p, resolve_query(now - timedelta(days=10), now)
            )
        assert timeline.interval is Interval.day
        assert len(timeline.items) in (10, 11)
        assert all(i.period.hour == 0 and i.requests == 0 for i in timeline.items)


class TestBreakdowns:
    async def test_endpoints_status_codes_user_agents_countries_and_bots(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        now = floor_hour(utc_now())  # as in TestSummary: dimension rollups are hourly
        await send(
            client,
            project,
            [ev(now - timedelta(minutes=2), path="/users/1", ms=10) for _ in range(6)]
            + [ev(now - timedelta(minutes=2), path="/slow", ms=1500, status=500) for _ in range(2)]
            + [ev(now - timedelta(minutes=2), path="/slow", ua=IPHONE, ip="81.2.69.160")]
            + [ev(now - timedelta(minutes=2), path="/users/2", ua=CURL, status=404)]
            + [ev(now - timedelta(minutes=2), path="/robots.txt", ua=GOOGLEBOT) for _ in range(3)]
            + [ev(now - timedelta(minutes=1), path="/users/3", ua=GPTBOT, status=403)],
        )
        p = await load_project(db, project.id)
        q = resolve_query(now - timedelta(hours=1), now + timedelta(seconds=1))
        async with db.session() as session:
            endpoints = await analytics_service.endpoints(session, p, q)
            codes = await analytics_service.status_codes(session, p, q)
            agents = await analytics_service.user_agents(session, p, q)
            countries = await analytics_service.countries(session, p, q)
            bots = await analytics_service.bots(session, p, q)

        first = endpoints.items[0]
        assert (first.method, first.route, first.requests) == ("GET", "/users/{id}", 8)
        assert first.share == pytest.approx(8 / 14)
        assert first.error_rate == pytest.approx(2 / 8)
        slow = next(e for e in endpoints.items if e.route == "/slow")
        assert slow.p95_ms == pytest.approx(1500, rel=0.05)
        assert {c.status_code: c.requests for c in codes.items} == {
            200: 10,
            500: 2,
            404: 1,
            403: 1,
        }
        clients = {c.name: c.requests for c in agents.client_types}
        assert clients["library"] == 1
        assert clients["bot"] == 4
        assert {c.name for c in agents.libraries} == {"curl"}
        assert any(b.name == "Mobile Safari" for b in agents.browsers)
        by_code = {c.code: c for c in countries.items}
        assert by_code["US"].numeric == "840"
        assert by_code["US"].name == "United States"
        assert by_code["GB"].requests == 1

        cards = {b.name: b for b in bots.items}
        assert cards["Googlebot"].category == "search_engine"
        assert cards["Googlebot"].requests == 3
        assert cards["Googlebot"].last_seen is not None
        assert cards["Googlebot"].top_endpoints[0].route == "/robots.txt"
        assert [s.status_code for s in cards["GPTBot"].status_codes] == [403]
        totals = {c.category: c.requests for c in bots.categories}
        assert totals == {"search_engine": 3, "ai_crawler": 1}

        async with db.session() as session:
            filtered = await analytics_service.bots(
                session, p, resolve_query(q.start, q.end, None, make_filters(bot="GPTBot"))
            )
        assert [b.name for b in filtered.items] == ["GPTBot"]


class TestCompaction:
    async def test_moving_rollups_to_hours_and_days_keeps_every_figure(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        await set_project(db, project.id, timezone="Europe/Berlin")
        now = utc_now()
        rng = random.Random(3)
        events = [
            ev(
                now - timedelta(minutes=rng.randint(1, 6 * 24 * 60)),
                path=rng.choice(["/a", "/b/1", "/c"]),
                status=rng.choice([200, 200, 200, 404, 500]),
                ms=rng.lognormvariate(3.5, 1),
                ip=f"10.1.{rng.randint(0, 40)}.{rng.randint(0, 3)}",
                ua=rng.choice([GOOGLEBOT, CURL, IPHONE]),
            )
            for _ in range(600)
        ]
        await send(client, project, events)
        p = await load_project(db, project.id)
        q = resolve_query(now - timedelta(days=7), now + timedelta(seconds=1))

        hour = now.replace(minute=0, second=0, microsecond=0)
        day = resolve_query(hour - timedelta(days=1), now + timedelta(seconds=1))  # hour edges

        async def snapshot() -> tuple[object, ...]:
            async with db.session() as session:
                s = await analytics_service.summary(session, p, q)
                recent = await analytics_service.summary(session, p, day)
                hourly = await analytics_service.timeline(session, p, day)
                e = await analytics_service.endpoints(session, p, q)
                c = await analytics_service.status_codes(session, p, q)
                u = await analytics_service.user_agents(session, p, q)
                b = await analytics_service.bots(session, p, q)
            return (
                s.model_dump(exclude={"previous"}),
                recent.model_dump(exclude={"previous", "unique_ips"}),
                hourly.model_dump(),
                e.model_dump(),
                c.model_dump(),
                u.model_dump(),
                [(x.name, x.requests, x.last_seen) for x in b.items],
            )

        before = await snapshot()
        db.settings.rollup_minute_hours = 1
        db.settings.rollup_hour_days = 2
        moved = await tasks.compact_rollups(db, now=now)
        assert moved["facts->rollups_hour"] > 0
        assert moved["facts->rollups_day"] > 0
        assert moved["unique_ips->unique_ip_registers_day"] > 0
        after = await snapshot()
        assert after == before
        assert await tasks.compact_rollups(db, now=now) == {}

        def by_day(table: sa.Table) -> sa.Select[Any]:
            c = table.c
            keys = [c.bucket, c.dimension, c.value]
            return (
                sa.select(*keys, sa.func.sum(c.count))
                .where(c.project_id == project.id)
                .group_by(*keys)
            )

        async with db.session() as session:
            split = set(await session.execute(by_day(queries.DIMENSIONS[1])))
            totals = set(await session.execute(by_day(queries.DIMENSION_TOTALS_DAY)))
        assert split
        assert totals == split

    async def test_reads_without_an_endpoint_split_match_the_endpoint_rows(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        # In Asia/Kolkata (UTC+5:30) a local day starts inside a UTC hour: the day copies must
        # put that hour in the day the endpoint days put it in.
        project = await factory.project()
        await set_project(db, project.id, timezone="Asia/Kolkata")
        now = utc_now()
        rng = random.Random(11)

        def burst(n: int, minutes: int) -> list[dict[str, Any]]:
            return [
                ev(
                    now - timedelta(minutes=rng.randint(1, minutes)),
                    path=rng.choice(["/a", "/b/1", "/c", "/d/2/e"]),
                    method=rng.choice(["GET", "GET", "POST"]),
                    status=rng.choice([200, 200, 201, 301, 404, 429, 500, 503]),
                    ms=rng.lognormvariate(3.5, 1),
                    ua=rng.choice([CHROME, CURL, GOOGLEBOT, GPTBOT]),
                )
                for _ in range(n)
            ]

        await send(client, project, burst(900, 6 * 24 * 60 + 600))
        db.settings.rollup_minute_hours = 1
        db.settings.rollup_hour_days = 2
        await tasks.compact_rollups(db, now=now)
        # Late events for hours and days already compacted: both levels gain rows again.
        await send(client, project, burst(150, 5 * 24 * 60))
        await tasks.compact_rollups(db, now=now)

        def summed(table: sa.Table) -> sa.Select[Any]:
            c = table.c
            keys = [c.bucket, c.status_code, c.is_bot]
            return (
                sa.select(*keys, sa.func.sum(c.count), sa.func.max(c.duration_max))
                .where(c.project_id == project.id)
                .group_by(*keys)
            )

        async with db.session() as session:
            for level, copy in zip(queries.FACTS[1:], queries.PROJECT_FACTS, strict=True):
                split = set(await session.execute(summed(level)))
                assert split
                assert set(await session.execute(summed(copy))) == split

        ranges = [
            (now - timedelta(days=7), now + timedelta(seconds=1)),
            (now - timedelta(days=3, minutes=17), now - timedelta(hours=5, minutes=3)),
            (floor_hour(now) - timedelta(days=1), now + timedelta(seconds=1)),
        ]
        filters = [
            make_filters(),
            make_filters(status_class="5xx"),
            make_filters(bot="true"),
            make_filters(status=404, bot="false"),
        ]
        groups = [["status_code"], ["status_code", "is_bot"], ["bucket", "status_code"]]
        async with db.session() as session:
            for (start, end), f, group, hourly in itertools.product(
                ranges, filters, groups, [False, True]
            ):
                args = (project.id, start, end, f)
                got = await _fact_totals(session, queries.facts(*args, group, hour_buckets=hourly))
                per_endpoint = queries.facts(*args, ["endpoint_id", *group], hour_buckets=hourly)
                want = await _fact_totals(session, per_endpoint, skip=1)
                assert got.keys() == want.keys()
                assert [got[k][0::2] for k in got] == [want[k][0::2] for k in got]
                assert {k: v[1] for k, v in got.items()} == pytest.approx(
                    {k: v[1] for k, v in want.items()}
                )
        copies = queries.PROJECT_FACTS[0].name
        assert copies in str(queries.facts(project.id, now, now, make_filters(), ["status_code"]))
        by_route = queries.facts(project.id, now, now, make_filters(route="/c"), ["status_code"])
        assert copies not in str(by_route)


async def _fact_totals(
    session: Any, stmt: sa.Select[Any], skip: int = 0
) -> dict[tuple[Any, ...], tuple[int, float, float]]:
    """Rows (key…, count, duration sum, duration max) as {key: totals}, summed over the first
    `skip` key columns."""
    out: dict[tuple[Any, ...], tuple[int, float, float]] = {}
    for *key, count, total, top in await session.execute(stmt):
        k = tuple(key[skip:])
        n, s, m = out.get(k, (0, 0.0, float(top)))
        out[k] = (n + int(count), s + float(total), max(m, float(top)))
    return out


class TestPercentilesInSql:
    async def test_the_database_picks_the_bins_the_python_rule_picks(self, db: Database) -> None:
        rng = random.Random(7)
        histograms = {
            key: {rng.randint(-150, 250): rng.randint(1, 500) for _ in range(rng.randint(1, 30))}
            for key in range(12)
        }
        histograms[12] = {120: 1}
        histograms[13] = {10: 19, 11: 1}  # 0.95 x 20 sits exactly on a bin edge
        binned = sa.union_all(
            *(
                sa.select(
                    sa.literal(k, sa.Integer).label("key"),
                    sa.literal(b, sa.Integer).label("bin"),
                    sa.literal(n, sa.Integer).label("count"),
                )
                for k, h in histograms.items()
                for b, n in h.items()
            )
        ).subquery("binned")
        quantiles = (0.5, 0.95, 0.99)
        async with db.session() as session:
            got = {
                key: list(bins)
                for key, *bins in await session.execute(queries.percentile_bins(binned, quantiles))
            }
        assert {key: [bin_value(b) for b in bins] for key, bins in got.items()} == {
            key: percentiles(h, quantiles) for key, h in histograms.items()
        }


class TestRetention:
    async def test_old_raw_rows_go_and_rollups_stay(
        self, client: httpx2.AsyncClient, factory: Factory, db: Database
    ) -> None:
        project = await factory.project()
        now = utc_now()
        await send(
            client,
            project,
            [ev(now - timedelta(days=3)) for _ in range(4)]
            + [ev(now - timedelta(hours=1)) for _ in range(2)],
        )
        await set_project(db, project.id, retention_days=2)
        deleted = await tasks.prune_raw_rows(db, now=now)
        assert deleted[str(project.id)] == 4
        p = await load_project(db, project.id)
        q = resolve_query(now - timedelta(days=4), now)
        async with db.session() as session:
            summary = await analytics_service.summary(session, p, q)
            page = await analytics_service.requests(session, p, q)
        assert summary.requests == 6
        assert len(page.items) == 2
