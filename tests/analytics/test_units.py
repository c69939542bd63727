"""Pure pieces: HyperLogLog, the in-process live hub, CSV neutralising, cursors, intervals."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from whowhywhen.analytics import hll
from whowhywhen.analytics.endpoints import neutralise
from whowhywhen.analytics.live import InProcessHub
from whowhywhen.analytics.schemas import Interval
from whowhywhen.analytics.service import _periods, decode_cursor, encode_cursor
from whowhywhen.exceptions import UnprocessableEntity


class TestHyperLogLog:
    @pytest.mark.parametrize("n", [0, 1, 3, 50, 1000, 20_000, 200_000])
    def test_estimates_within_a_few_percent(self, n: int) -> None:
        registers = hll.registers(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(n))
        estimate = hll.estimate(registers)
        assert estimate == pytest.approx(n, rel=0.06, abs=1)

    def test_merging_is_a_max_per_slot(self) -> None:
        a = hll.registers(str(i) for i in range(5000))
        b = hll.registers(str(i) for i in range(2500, 7500))
        merged = {s: max(a.get(s, 0), b.get(s, 0)) for s in set(a) | set(b)}
        assert hll.estimate(merged) == pytest.approx(7500, rel=0.06)


class TestInProcessHub:
    async def test_fans_out_per_project_and_forgets_readers_that_leave(self) -> None:
        hub = InProcessHub()
        async with hub.subscribe(1) as one, hub.subscribe(2) as two:
            await hub.publish(1, [{"n": 1}])
            assert await one.get(1.0) == [{"n": 1}]
            assert await two.get(0.05) is None
            assert hub.subscribers(1) == 1
        assert hub.subscribers(1) == 0

    async def test_a_slow_reader_loses_the_oldest_batches_not_the_collector(self) -> None:
        hub = InProcessHub()
        async with hub.subscribe(1) as reader:
            for n in range(300):
                await hub.publish(1, [{"n": n}])
            assert reader.dropped == 300 - reader.queue.maxsize
            first = await reader.get(1.0)
            assert first == [{"n": 300 - reader.queue.maxsize}]
        await asyncio.sleep(0)


class TestNeutralise:
    @pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\0x"])
    def test_formula_triggers_get_a_quote(self, cell: str) -> None:
        assert neutralise(cell) == "'" + cell

    def test_other_cells_and_numbers_are_kept(self) -> None:
        assert neutralise("GET") == "GET"
        assert neutralise(-1.5) == -1.5
        assert neutralise(None) is None


class TestCursors:
    def test_round_trip_and_garbage(self) -> None:
        moment = datetime(2026, 1, 1, tzinfo=UTC)
        assert decode_cursor(encode_cursor([moment, 7]), 2) == [moment.isoformat(), 7]
        with pytest.raises(UnprocessableEntity):
            decode_cursor("%%%", 2)
        with pytest.raises(UnprocessableEntity):
            decode_cursor(encode_cursor([1, 2, 3]), 2)


class TestPeriods:
    def test_days_follow_local_midnight_across_a_dst_change(self) -> None:
        zone = ZoneInfo("Europe/Berlin")
        start = datetime(2026, 3, 27, 12, tzinfo=UTC)
        periods = _periods(start, start + timedelta(days=4), Interval.day, zone)
        assert [p.day for p in periods] == [27, 28, 29, 30, 31]
        assert all(p.hour == 0 for p in periods)
        assert periods[1].utcoffset() == timedelta(hours=1)
        assert periods[3].utcoffset() == timedelta(hours=2)

    def test_hours_in_a_half_hour_zone(self) -> None:
        zone = ZoneInfo("Asia/Kolkata")
        start = datetime(2026, 1, 1, 0, 10, tzinfo=UTC)
        periods = _periods(start, start + timedelta(hours=3), Interval.hour, zone)
        assert [p.minute for p in periods] == [0, 0, 0, 0]
        assert periods[0] == datetime(2026, 1, 1, 5, 0, tzinfo=zone)


class TestRedisHub:
    async def test_publishes_across_hubs_through_redis(self) -> None:
        import random

        import redis.asyncio as redis

        from whowhywhen.analytics.live import RedisHub

        url = "redis://127.0.0.1:6379/15"
        probe = redis.Redis.from_url(url)
        try:
            await probe.ping()
        except (OSError, redis.ConnectionError):
            pytest.skip("Redis is not running on 127.0.0.1:6379")
        finally:
            await probe.aclose()  # type: ignore[attr-defined]
        project_id = random.randint(10**8, 10**9)
        reader, writer = RedisHub(url), RedisHub(url)
        try:
            async with reader.subscribe(project_id) as subscription:
                await asyncio.sleep(0.2)  # the subscription is registered
                await writer.publish(project_id, [{"path": "/from/another/replica"}])
                assert await subscription.get(2.0) == [{"path": "/from/another/replica"}]
        finally:
            await reader.close()
            await writer.close()
