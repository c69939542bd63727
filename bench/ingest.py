"""Ingest throughput: events stored per second through POST /api/log/bulk.

One collector process (pinned to core 0 when `taskset` exists), 4 concurrent senders on the
other core, 1000-event gzip batches with 2,000+ distinct user agents in a Zipf mix, on SQLite and
on PostgreSQL; printed beside PostgreSQL's own COPY rate for rows of the same shape (same table
definition and indexes), measured in the same run. Also prints the collector's peak RSS.

    .venv/bin/python bench/ingest.py [--batches 200] [--postgres postgresql://postgres@127.0.0.1/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx2

from whowhywhen.ingest.schemas import ROW_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
BATCH = 1000
SENDERS = 4


def user_agents(n: int, rng: random.Random) -> list[str]:
    agents: list[str] = []
    platforms = [
        "Windows NT 10.0; Win64; x64",
        "Macintosh; Intel Mac OS X 10_15_7",
        "X11; Linux x86_64",
        "Linux; Android 14; Pixel 8",
        "iPhone; CPU iPhone OS 17_5 like Mac OS X",
    ]
    while len(agents) < n:
        kind = rng.random()
        if kind < 0.55:
            agents.append(
                f"Mozilla/5.0 ({rng.choice(platforms)}) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{rng.randint(100, 131)}.0.{rng.randint(1000, 6999)}.{rng.randint(0, 200)}"
                " Safari/537.36"
            )
        elif kind < 0.75:
            agents.append(
                f"Mozilla/5.0 ({rng.choice(platforms)}; rv:{rng.randint(100, 133)}.0) "
                f"Gecko/20100101 Firefox/{rng.randint(100, 133)}.0"
            )
        elif kind < 0.9:
            lib = rng.choice(["python-requests", "curl", "okhttp", "axios", "Go-http-client"])
            agents.append(f"{lib}/{rng.randint(1, 9)}.{rng.randint(0, 40)}.{rng.randint(0, 9)}")
        else:
            bot = rng.choice(["Googlebot", "bingbot", "GPTBot", "AhrefsBot", "ClaudeBot"])
            agents.append(
                f"Mozilla/5.0 (compatible; {bot}/{rng.randint(1, 3)}.{rng.randint(0, 9)}; "
                f"+https://example.com/bot-{rng.randint(1, 50)})"
            )
    return agents


#: The leading columns of the collector's row layout that the bench fills (`--form rows`).
ROW_FILLED = ROW_COLUMNS[:8]


def make_bodies(
    count: int, spread: float, seed: int = 7, form: str = "objects", batch_ids: int = 0
) -> list[bytes]:
    """Gzip JSON batches, made before the clock starts so the senders only send.

    Timestamps fall within `spread` seconds before now: an SDK flushes every 2 s, so a batch
    holds seconds of traffic (a larger spread means more distinct rollup rows per batch).
    `form` "rows" writes the same events as the SDKs do (`columns` + `rows`, nanoseconds).
    With `batch_ids`, that many bodies are made instead, the `count` batches of events over
    again, each with its own `batch_id` as an SDK sends it (so the collector claims every one).
    """
    rng = random.Random(seed)
    agents = user_agents(2500, rng)
    weights = [1 / (rank**1.1) for rank in range(1, len(agents) + 1)]
    routes = [f"/v1/resource{i}" for i in range(30)]
    now = datetime.now(UTC)
    payloads: list[dict[str, Any]] = []
    for _ in range(count):
        events: list[dict[str, Any]] = []
        picked = rng.choices(agents, weights=weights, k=BATCH)
        for agent in picked:
            path = f"{rng.choice(routes)}/{rng.randint(1, 100_000)}"
            events.append(
                {
                    "url": f"https://api.example.com{path}?page={rng.randint(1, 9)}",
                    "method": rng.choice(("GET", "GET", "GET", "POST", "PUT")),
                    "status_code": rng.choice((200,) * 17 + (201, 404, 500)),
                    "duration": rng.lognormvariate(-3.5, 1.0),
                    "user_agent": agent,
                    "ip_address": f"{rng.randint(1, 223)}.{rng.randint(0, 255)}."
                    f"{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                    "timestamp": (now - timedelta(seconds=rng.uniform(0, spread))).isoformat(),
                }
            )
        if form == "rows":
            payload: dict[str, Any] = {
                "columns": list(ROW_COLUMNS),
                "rows": [_row(e) for e in events],
            }
        else:
            payload = {"events": events}
        payloads.append(payload)
    if batch_ids:
        payloads = [
            {"batch_id": f"bench-{index}", **payloads[index % count]} for index in range(batch_ids)
        ]
    return [gzip.compress(json.dumps(payload).encode(), 6) for payload in payloads]


def _row(event: dict[str, Any]) -> list[Any]:
    values = {
        **event,
        "id": None,
        "duration_ns": round(event["duration"] * 1e9),
        "timestamp_ns": round(datetime.fromisoformat(event["timestamp"]).timestamp() * 1e9),
    }
    return [values[name] for name in ROW_FILLED]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "whowhywhen", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip().splitlines()[-1]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def send_all(
    url: str, key: str, bodies: list[bytes], batches: int, senders: int = SENDERS
) -> tuple[float, int]:
    headers = {"X-API-KEY": key, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for index in range(batches):
        queue.put_nowait(bodies[index % len(bodies)])
    stored = 0

    async def sender() -> None:
        nonlocal stored
        async with httpx2.AsyncClient(base_url=url, timeout=60) as http:
            while not queue.empty():
                body = queue.get_nowait()
                response = await http.post("/api/log/bulk", content=body, headers=headers)
                if response.status_code != 202:
                    raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
                stored += response.json()["accepted"]

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(senders)))
    return time.perf_counter() - started, stored


def run_collector(
    name: str, database_url: str, bodies: list[bytes], batches: int, senders: int = SENDERS
) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"wwy-bench-{name}-"))
    env = {
        **os.environ,
        "WHOWHYWHEN_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "INGEST_RATE_PER_SECOND": "10000000",
        "INGEST_RATE_BURST": "10000000",
    }
    cli(env, "migrate")
    cli(
        env, "create-user", "--email", "bench@example.com", "--password", "tangerine orbit falcon 7"
    )
    project = cli(env, "create-project", "--owner", "bench@example.com", "--name", "bench")
    key = cli(env, "create-key", "--project", project)
    port = free_port()
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
    process = subprocess.Popen(
        [
            *pin,
            sys.executable,
            "-m",
            "whowhywhen",
            "collector",
            "--port",
            str(port),
            "--no-migrate",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if pin:
        os.sched_setaffinity(0, {1})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx2.get(f"{url}/api/health", timeout=1)
                break
            except httpx2.TransportError:
                time.sleep(0.1)
        # warm-up: first sight of every user agent and endpoint, then the measured run
        asyncio.run(send_all(url, key, bodies, min(len(bodies), 8)))
        elapsed, stored = asyncio.run(send_all(url, key, bodies, batches, senders))
        rss = peak_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=15)
        shutil.rmtree(data_dir, ignore_errors=True)
    return {"events": stored, "seconds": elapsed, "rate": stored / elapsed, "rss_mb": rss}


async def copy_rate(admin_url: str, database: str, batches: int) -> float:
    """PostgreSQL COPY into a table shaped exactly like request_logs (same indexes)."""
    base = admin_url.rsplit("/", 1)[0]
    conn = await asyncpg.connect(f"{base}/{database}")
    try:
        await conn.execute("CREATE TABLE bench_copy (LIKE request_logs INCLUDING ALL)")
        await conn.execute("ALTER TABLE bench_copy DROP CONSTRAINT IF EXISTS pk_request_logs")
        columns = [
            "project_id", "event_id", "timestamp", "received_at", "method", "url", "host",
            "path", "query_params", "route", "endpoint_id", "status_code", "duration_ms",
            "request_size", "response_size", "ip", "country", "user_agent_id", "bot_id",
            "consumer", "consumer_name", "exception",
        ]  # fmt: skip
        project_id, endpoint_id = 1, 1  # LIKE … INCLUDING ALL copies no foreign keys
        now = datetime.now(UTC)
        rng = random.Random(3)
        rows = [
            (
                project_id, uuid.uuid4(), now, now, "GET",
                f"https://api.example.com/v1/resource{i % 30}/{i}?page=1", "api.example.com",
                f"/v1/resource{i % 30}/{i}", '{"page": ["1"]}', f"/v1/resource{i % 30}/{{id}}",
                endpoint_id, 200, rng.random() * 100, None, None, "8.8.8.8", "US", None, None,
                None, None, None,
            )
            for i in range(BATCH)
        ]  # fmt: skip
        started = time.perf_counter()
        for _ in range(batches):
            fresh = [(r[0], uuid.uuid4(), *r[2:]) for r in rows]
            async with conn.transaction():
                await conn.copy_records_to_table("bench_copy", records=fresh, columns=columns)
        elapsed = time.perf_counter() - started
        await conn.execute("DROP TABLE bench_copy")
        return batches * BATCH / elapsed
    finally:
        await conn.close()


async def pg_admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "WHOWHYWHEN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--senders",
        type=int,
        default=SENDERS,
        help=f"concurrent senders, as many SDK instances (default {SENDERS})",
    )
    parser.add_argument(
        "--spread", type=float, default=5.0, help="seconds of traffic in one batch (default 5)"
    )
    parser.add_argument(
        "--form",
        choices=("objects", "rows"),
        default="objects",
        help="events as JSON objects (default) or as rows, the form the SDKs send",
    )
    parser.add_argument(
        "--batch-ids",
        action="store_true",
        help="give every batch its own batch_id, as the SDKs do (one more statement per group)",
    )
    args = parser.parse_args()
    bodies = make_bodies(
        40, args.spread, form=args.form, batch_ids=args.batches if args.batch_ids else 0
    )
    results: dict[str, dict[str, Any]] = {}
    if not args.skip_sqlite:
        results["sqlite"] = run_collector("sqlite", "", bodies, args.batches, args.senders)
    database = f"whowhywhen_bench_{secrets.token_hex(4)}"
    asyncio.run(pg_admin(args.postgres, f'CREATE DATABASE "{database}"'))
    try:
        pg_url = args.postgres.rsplit("/", 1)[0] + f"/{database}"
        results["postgresql"] = run_collector(
            "postgresql", pg_url, bodies, args.batches, args.senders
        )
        copy = asyncio.run(copy_rate(args.postgres, database, args.batches))
    finally:
        asyncio.run(pg_admin(args.postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    print(f"{'backend':<12}{'events':>10}{'seconds':>10}{'events/s':>12}{'peak RSS MB':>14}")
    for name, r in results.items():
        print(
            f"{name:<12}{r['events']:>10}{r['seconds']:>10.2f}{r['rate']:>12,.0f}{r['rss_mb']:>14.0f}"
        )
    print(f"{'pg COPY':<12}{args.batches * BATCH:>10}{'':>10}{copy:>12,.0f}")
    print(f"PostgreSQL collector / raw COPY: {results['postgresql']['rate'] / copy:.2f}")


if __name__ == "__main__":
    main()
