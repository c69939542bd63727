"""How a batch's stored events become rollup rows.

Minute rollups and latency bins are keyed by endpoint, status and bot-or-not; dimension rollups
(browser, OS, device type, client type, library, country, consumer), bot rollups and HyperLogLog
IP registers are hourly. The same aggregation exists twice, and a test holds them equal:

- on PostgreSQL it is SQL (`repository.copy_events`): one statement inserts the batch's raw
  rows from the staging table and aggregates exactly the rows it stored into every rollup
  table, so the collector process only ships rows and the database aggregates them in C;
- on SQLite (in-process, so nothing to offload to) it is `aggregate`, in Python.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from whowhywhen.analytics.hll import register_of
from whowhywhen.ingest.pipeline import UserAgentInfo
from whowhywhen.ingest.pipeline.events import EMPTY_USER_AGENT
from whowhywhen.kit.histogram import bin_of
from whowhywhen.kit.time import floor_minute

DIMENSION_VALUE_MAX = 256


@dataclass(slots=True)
class RollupRows:
    """Everything a batch adds to the rollups, aggregated in Python and sorted by key."""

    minute: list[dict[str, Any]]
    histograms: list[dict[str, Any]]
    dimensions: list[dict[str, Any]]
    bots: list[dict[str, Any]]
    unique_ips: list[dict[str, Any]]


def _dimensions(
    ua: UserAgentInfo, country: str | None, consumer: str | None
) -> list[tuple[str, str]]:
    pairs = [
        ("browser", ua.browser or ""),
        ("os", ua.os or ""),
        ("device_type", str(ua.device_type)),
        ("client_type", str(ua.client_type)),
        ("library", ua.library),
        ("country", country or ""),
        ("consumer", consumer),
    ]
    return [(name, value[:DIMENSION_VALUE_MAX]) for name, value in pairs if value is not None]


def aggregate(
    project_id: int, rows: list[dict[str, Any]], agents: list[UserAgentInfo]
) -> RollupRows:
    """Aggregate stored raw rows per rollup key, sorted by key (SQLite's path).

    `agents[i]` is the parsed user agent of `rows[i]`.
    """
    totals: dict[tuple[datetime, int, int, bool], list[float]] = {}
    bins: Counter[tuple[datetime, int, int, bool, int]] = Counter()
    dims: dict[tuple[datetime, str, str, int, bool], list[float]] = {}
    bots: dict[tuple[datetime, int, int, int], list[Any]] = {}
    registers: dict[tuple[datetime, int], int] = {}
    combos: dict[tuple[datetime, str, str | None, str | None, int, bool], list[float]] = {}
    by_raw: dict[str, UserAgentInfo] = {}
    for row, ua in zip(rows, agents, strict=True):
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
        # One dictionary update per event; the seven dimensions are expanded per distinct
        # combination below, not per event.
        combo_key = (hour, ua.raw, row["country"], row["consumer"], status, is_bot)
        combo = combos.get(combo_key)
        if combo is None:
            combos[combo_key] = [1, duration]
            by_raw[ua.raw] = ua
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
    for (hour, raw, country, consumer, status, is_bot), (count, duration_sum) in combos.items():
        for dimension, value in _dimensions(by_raw[raw], country, consumer):
            dim_key = (hour, dimension, value, status, is_bot)
            dim = dims.get(dim_key)
            if dim is None:
                dims[dim_key] = [count, duration_sum]
            else:
                dim[0] += count
                dim[1] += duration_sum
    base = {"project_id": project_id}
    return RollupRows(
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


def agent_columns(agents: dict[int, UserAgentInfo]) -> dict[str, list[Any]]:
    """The batch's distinct user agents as the `ua_*` arrays `repository.copy_events` binds.

    Id 0 stands for "no user agent", so rows without one join like the others.
    """
    ids = [0, *agents]
    infos = [EMPTY_USER_AGENT, *agents.values()]
    return {
        "ua_id": ids,
        "ua_browser": [ua.browser for ua in infos],
        "ua_os": [ua.os for ua in infos],
        "ua_device_type": [str(ua.device_type) for ua in infos],
        "ua_client_type": [str(ua.client_type) for ua in infos],
        "ua_library": [ua.library for ua in infos],
    }
