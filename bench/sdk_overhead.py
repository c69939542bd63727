"""What the WhoWhyWhen SDKs cost a host API: bare vs instrumented, interleaved, in one run.

    python bench/sdk_overhead.py                 # FastAPI + Express, 3 rounds
    python bench/sdk_overhead.py --only fastapi --rounds 5 --duration 20

For each host (a small FastAPI app under uvicorn; a small Express 5 app under node) it runs
variants interleaved round by round, the host pinned to core 0, wrk and the real collector on
core 1:

- FastAPI: bare, our ``WhoWhyWhenMiddleware``, and the seed README's snippet (an httpx POST per
  request, verbatim);
- Express: bare and our ``whowhywhen()`` middleware.

Each variant's host process is warmed up (wrk, ``--warmup`` seconds), then measured twice:

1. **saturated**: ``wrk -t1 -c32`` for ``--duration`` seconds: requests/s and p99 (at 32
   connections the p99 is mostly queueing, 32 requests waiting for one core).
2. **fixed rate**: ``--rate`` requests/s from ``--rate-connections`` wrk connections, each
   waiting an exponential think time between requests. The host is far from saturation, so
   p50/p99 show the latency the SDK adds to a request, not queueing.

For each phase the host's process CPU time (user + sys from ``/proc/PID/stat``: every thread,
the SDK's sender included) is read before wrk starts and again once the collector has stored
every request served so far, so the work the SDK does after the load stops is charged too:
CPU µs per request, and ``bare / variant`` of it as a capacity ratio.

During each phase the collector runs under ``SCHED_IDLE`` on core 1: it gets only the CPU wrk
leaves, so it cannot starve the load generator in the SDK variants only (a starved wrk sends
smaller bursts, and the host then spends more CPU per request, bare or not). Between phases it
goes back to the normal policy and catches up. The SDK is given a queue that holds a whole phase
(``max_queue_size`` / ``maxQueueSize``, a documented option), so nothing is dropped meanwhile,
and the run fails unless the collector stored every request each host served, exactly once.
The host and wrk run at ``nice -10`` so that other jobs on a shared machine preempt them less.

Needs: root (or CAP_SYS_NICE), ``wrk`` and ``taskset`` (apt-get install -y wrk util-linux), the
repository's ``.venv`` (the collector), ``sdk/python/.venv`` (``sdk/python/run-tests.sh``
creates it) and ``sdk/js`` built (``npm ci && npm run build`` in sdk/js). On a machine shared
with other benchmarks, hold their lock: ``flock /tmp/wwy-bench.lock python3 bench/...``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SDK_PY = ROOT / "sdk" / "python"
SDK_JS = ROOT / "sdk" / "js"
sys.path.insert(0, str(SDK_PY / "tests"))

from collector_harness import (  # type: ignore[import-not-found]  # noqa: E402
    RealCollector,
    collector_binary,
    free_port,
)

#: The SDK queue in the bench: a whole saturated phase (≈ 10 s × up to 10k req/s) fits.
QUEUE_EVENTS = 300_000
QUEUE_BYTES = 256 * 1024 * 1024
#: How long the collector may take to store what a phase produced.
DRAIN_TIMEOUT = 300.0
#: Host and wrk: ahead of unrelated jobs on a shared machine (needs root or CAP_SYS_NICE).
BOOST = ["nice", "-n", "-10"]

FASTAPI_APP = """
import os
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI, Request

VARIANT = os.environ["BENCH_VARIANT"]
COUNT_FILE = os.environ["BENCH_COUNT_FILE"]
COLLECTOR = os.environ["BENCH_COLLECTOR"]
API_KEY = os.environ["BENCH_API_KEY"]
served = 0


@asynccontextmanager
async def lifespan(app):
    yield
    with open(COUNT_FILE, "w") as handle:
        handle.write(str(served))


app = FastAPI(lifespan=lifespan)


@app.get("/items/{item_id}")
async def item(item_id: int) -> dict:
    global served
    served += 1
    return {"id": item_id, "name": "widget", "tags": ["a", "b"], "price": 9.99}


@app.get("/served")
async def count() -> int:
    return served


if VARIANT == "sdk":
    from whowhywhen_sdk import WhoWhyWhenMiddleware

    app.add_middleware(
        WhoWhyWhenMiddleware,
        api_key=API_KEY,
        url=COLLECTOR,
        max_queue_size=int(os.environ["BENCH_QUEUE_EVENTS"]),
        max_queue_bytes=int(os.environ["BENCH_QUEUE_BYTES"]),
    )

if VARIANT == "seed":
    import httpx

    # The seed README's FastAPI snippet, verbatim but for the URL and key.
    @app.middleware("http")
    async def track_requests(request: Request, call_next):
        # Record request start time
        start_time = datetime.now()

        # Process the request
        response = await call_next(request)

        # Calculate request duration
        duration = (datetime.now() - start_time).total_seconds()

        # Capture request details
        data = {
            "url": str(request.url),
            "method": request.method,
            "status_code": response.status_code,
            "duration": duration,
            "user_agent": request.headers.get("User-Agent"),
            "ip_address": request.client.host,
        }

        # Send analytics to WhoWhyWhen asynchronously (non-blocking)
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                await client.post(
                    COLLECTOR + "/api/log",
                    headers={"X-API-KEY": API_KEY},
                    json=data
                )
        except Exception:
            # Fail silently to avoid affecting the main application
            pass

        return response
"""

EXPRESS_APP = """
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
const require = createRequire(process.env.BENCH_SDK_JS + "/package.json");
const express = require("express5");
const variant = process.env.BENCH_VARIANT;
const app = express();
let served = 0;
let ww = null;
if (variant === "sdk") {
  const { whowhywhen } = await import(process.env.BENCH_SDK_JS + "/dist/esm/index.js");
  ww = whowhywhen({
    apiKey: process.env.BENCH_API_KEY,
    url: process.env.BENCH_COLLECTOR,
    maxQueueSize: Number(process.env.BENCH_QUEUE_EVENTS),
    maxQueueBytes: Number(process.env.BENCH_QUEUE_BYTES),
  });
  app.use(ww);
}
app.get("/items/:id", (req, res) => {
  served += 1;
  res.json({ id: Number(req.params.id), name: "widget", tags: ["a", "b"], price: 9.99 });
});
app.get("/served", (req, res) => {
  res.json(served);
});
const server = app.listen(Number(process.env.BENCH_PORT), "127.0.0.1");
process.on("SIGTERM", async () => {
  server.close();
  if (ww) await ww.shutdown();
  writeFileSync(process.env.BENCH_COUNT_FILE, String(served));
  process.exit(0);
});
"""

# Per connection: an exponential think time between requests (mean BENCH_THINK_MS), so the
# connections together offer a steady rate with random arrivals instead of a closed loop.
THINK_LUA = """
local mean = tonumber(os.getenv("BENCH_THINK_MS"))
function delay()
  return math.floor(-math.log(1 - math.random()) * mean + 0.5)
end
"""


@dataclass
class Result:
    rps: float
    p99_ms: float
    cpu_us: float
    rate_cpu_us: float
    rate_rps: float
    rate_p50_ms: float
    rate_p99_ms: float
    served: int
    stored: int | None
    load: float


@dataclass
class Variant:
    host: str
    name: str
    results: list[Result] = field(default_factory=list)


@dataclass
class WrkRun:
    rps: float
    p50_ms: float
    p99_ms: float


def parse_latency(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    url: str, duration: int, connections: int, script: Path | None = None, think_ms: float = 0
) -> WrkRun:
    command = [*BOOST, "taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration}s"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run(
        [*command, "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "BENCH_THINK_MS": str(think_ms)},
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = parse_latency(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = parse_latency(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    if "Non-2xx" in output or "Socket errors" in output:
        print(textwrap.indent(output, "    wrk| "), file=sys.stderr)
    return WrkRun(rps, p50, p99)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """Every thread of ``pid`` and of its descendants."""
    tasks: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        for task in Path(f"/proc/{current}/task").iterdir():
            tasks.append(int(task.name))
            children = (task / "children").read_text().split()
            pending.extend(int(child) for child in children)
    return tasks


def set_idle(pid: int, idle: bool) -> None:
    """Put the collector under ``SCHED_IDLE`` (runs only when its core is otherwise idle), or
    back under the normal policy so it catches up."""
    policy = os.SCHED_IDLE if idle else os.SCHED_OTHER
    for task in process_tree(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.sched_setscheduler(task, policy, os.sched_param(0))


def fetch_served(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/served", timeout=5) as answer:
        return int(answer.read())


def wait_until_up(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            fetch_served(port)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the host app did not start")


def stored_count(collector: RealCollector, marker: str) -> tuple[int, int]:
    row = collector.query(
        "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM request_logs WHERE url LIKE ?",
        f"%run={marker}%",
    )[0]
    return int(row[0]), int(row[1])


def wait_stored(collector: RealCollector, marker: str, served: int, timeout: float) -> int:
    """Wait until the collector holds ``served`` events of this host process; return the count."""
    deadline = time.monotonic() + timeout
    while True:
        total, distinct = stored_count(collector, marker)
        if total != distinct:
            raise AssertionError(
                f"duplicates stored for run {marker}: {total} rows, {distinct} ids"
            )
        if total >= served or time.monotonic() > deadline:
            return total
        time.sleep(0.25)


def run_host(
    host: str, variant: str, collector: RealCollector, workdir: Path, args: argparse.Namespace
) -> Result:
    port = free_port()
    marker = uuid.uuid4().hex
    count_file = workdir / f"{marker}.count"
    env = {
        **os.environ,
        "BENCH_VARIANT": variant,
        "BENCH_COUNT_FILE": str(count_file),
        "BENCH_COLLECTOR": collector.url,
        "BENCH_API_KEY": collector.key,
        "BENCH_PORT": str(port),
        "BENCH_SDK_JS": str(SDK_JS),
        "BENCH_QUEUE_EVENTS": str(QUEUE_EVENTS),
        "BENCH_QUEUE_BYTES": str(QUEUE_BYTES),
        "PYTHONPATH": str(workdir),
    }
    if host == "fastapi":
        command = [
            str(SDK_PY / ".venv" / "bin" / "python"),
            "-m",
            "uvicorn",
            "bench_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    else:
        command = ["node", str(workdir / "bench_app.mjs")]
    # nice and taskset exec the command: the pid is the host's own. The host and wrk run at
    # nice -10, so that unrelated jobs on a shared machine do not preempt them.
    process = subprocess.Popen([*BOOST, "taskset", "-c", "0", *command], env=env, cwd=workdir)
    url = f"http://127.0.0.1:{port}/items/1?run={marker}"
    collector_pid = collector.process.pid

    def measured(run: Callable[[], WrkRun]) -> tuple[WrkRun, float]:
        """Run one phase with the collector idle-only; then let it store every request served
        so far and charge the host the CPU it used until then (its sender's work included)."""
        before = fetch_served(port)
        cpu_before = process_cpu_seconds(process.pid)
        set_idle(collector_pid, True)
        try:
            result = run()
        finally:
            set_idle(collector_pid, False)
        after = fetch_served(port)
        if variant != "bare":
            wait_stored(collector, marker, after, DRAIN_TIMEOUT)
        cpu = process_cpu_seconds(process.pid) - cpu_before
        return result, cpu / max(1, after - before) * 1e6

    try:
        wait_until_up(port)
        run_wrk(url, args.warmup, args.connections)  # warm-up: JIT, caches, connections
        if variant != "bare":
            wait_stored(collector, marker, fetch_served(port), DRAIN_TIMEOUT)
        load = os.getloadavg()[0]
        saturated, cpu_us = measured(lambda: run_wrk(url, args.duration, args.connections))
        think_ms = args.rate_connections / args.rate * 1000
        fixed, rate_cpu_us = measured(
            lambda: run_wrk(
                url, args.duration, args.rate_connections, workdir / "think.lua", think_ms
            )
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    served = int(count_file.read_text())
    stored = None
    if variant != "bare":
        stored = wait_stored(collector, marker, served, DRAIN_TIMEOUT)
    return Result(
        rps=saturated.rps,
        p99_ms=saturated.p99_ms,
        cpu_us=cpu_us,
        rate_cpu_us=rate_cpu_us,
        rate_rps=fixed.rps,
        rate_p50_ms=fixed.p50_ms,
        rate_p99_ms=fixed.p99_ms,
        served=served,
        stored=stored,
        load=load,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured phase")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of wrk before measuring")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections, saturated")
    parser.add_argument("--rate", type=float, default=1000.0, help="req/s of the fixed-rate phase")
    parser.add_argument("--rate-connections", type=int, default=4)
    parser.add_argument("--only", choices=["fastapi", "express"])
    parser.add_argument("--no-seed", action="store_true", help="skip the seed snippet variant")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()

    for tool in ("wrk", "taskset", "nice"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: apt-get install -y wrk util-linux")
    binary = collector_binary()
    if binary is None:
        sys.exit("the collector is not installed: create the repository's .venv first")
    if not (SDK_PY / ".venv" / "bin" / "python").exists():
        sys.exit("sdk/python/.venv is missing: run sdk/python/run-tests.sh once")
    hosts = [args.only] if args.only else ["fastapi", "express"]
    if "express" in hosts and not (SDK_JS / "dist" / "esm" / "index.js").exists():
        sys.exit("sdk/js is not built: cd sdk/js && npm ci && npm run build")
    # This driver (polling, parsing) stays off the host's core.
    os.sched_setaffinity(0, {1})

    variants = [
        Variant("fastapi", "bare"),
        Variant("fastapi", "sdk"),
        Variant("fastapi", "seed"),
        Variant("express", "bare"),
        Variant("express", "sdk"),
    ]
    variants = [v for v in variants if v.host in hosts and not (args.no_seed and v.name == "seed")]
    with tempfile.TemporaryDirectory(prefix="sdk-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "bench_app.py").write_text(FASTAPI_APP)
        (workdir / "bench_app.mjs").write_text(EXPRESS_APP)
        (workdir / "think.lua").write_text(THINK_LUA)
        # On wrk's core (SCHED_IDLE while measuring, see set_idle); the per-key rate limit is
        # lifted so the run measures the SDK, not the limit.
        collector = RealCollector(
            workdir,
            binary,
            cpu="1",
            env={"INGEST_RATE_PER_SECOND": "1000000", "INGEST_RATE_BURST": "1000000"},
        )
        collector.start()
        collector.create_key()
        try:
            for round_ in range(args.rounds):
                for variant in variants:
                    r = run_host(variant.host, variant.name, collector, workdir, args)
                    variant.results.append(r)
                    print(
                        f"round {round_ + 1} {variant.host:8} {variant.name:5} "
                        f"load {r.load:4.2f} | {r.rps:8.1f} req/s p99 {r.p99_ms:7.2f} ms "
                        f"cpu {r.cpu_us:6.1f} us/req | fixed {r.rate_rps:6.1f} req/s "
                        f"p50 {r.rate_p50_ms:6.3f} p99 {r.rate_p99_ms:7.3f} ms "
                        f"cpu {r.rate_cpu_us:6.1f} us/req | "
                        f"served {r.served} stored {r.stored}",
                        flush=True,
                    )
        finally:
            collector.close()

    print(
        f"\nhost on core 0; wrk and the collector (SCHED_IDLE while measuring) on core 1; "
        f"median of {args.rounds} rounds; left: saturated, wrk -t1 -c{args.connections} "
        f"-d{args.duration}s; middle: fixed rate, {args.rate:g} req/s offered over "
        f"{args.rate_connections} connections (+p50/+p99: added to bare; ms); "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'host':8} {'variant':7} {'req/s':>8} {'ratio':>6} {'p99 ms':>8} "
        f"{'cpu us':>7} {'ratio':>6} | {'req/s':>7} {'p50':>7} {'+p50':>7} {'p99':>7} "
        f"{'+p99':>7} {'cpu us':>7} {'ratio':>6} | {'stored/served':>15}"
    )
    summary = []
    ok = True
    for host in hosts:
        bare = next(v for v in variants if v.host == host and v.name == "bare")
        base = {
            key: statistics.median(getattr(r, key) for r in bare.results)
            for key in ("rps", "cpu_us", "rate_cpu_us", "rate_p50_ms", "rate_p99_ms")
        }
        for variant in (v for v in variants if v.host == host):
            med = {
                key: statistics.median(getattr(r, key) for r in variant.results)
                for key in (
                    "rps",
                    "p99_ms",
                    "cpu_us",
                    "rate_rps",
                    "rate_p50_ms",
                    "rate_p99_ms",
                    "rate_cpu_us",
                )
            }
            complete = all(r.stored == r.served for r in variant.results)
            stored = sum(r.stored or 0 for r in variant.results)
            served = sum(r.served for r in variant.results)
            if variant.name != "bare":
                ok = ok and complete
            row = {
                "host": host,
                "variant": variant.name,
                **med,
                "ratio": med["rps"] / base["rps"],
                "cpu_ratio": base["cpu_us"] / med["cpu_us"],
                "rate_cpu_ratio": base["rate_cpu_us"] / med["rate_cpu_us"],
                "added_p50_ms": med["rate_p50_ms"] - base["rate_p50_ms"],
                "added_p99_ms": med["rate_p99_ms"] - base["rate_p99_ms"],
                "stored": stored if variant.name != "bare" else None,
                "served": served,
                "all_stored": complete if variant.name != "bare" else None,
            }
            summary.append(row)
            print(
                f"{host:8} {variant.name:7} {row['rps']:8.1f} {row['ratio']:6.2f} "
                f"{row['p99_ms']:8.2f} {row['cpu_us']:7.1f} {row['cpu_ratio']:6.2f} | "
                f"{row['rate_rps']:7.1f} {row['rate_p50_ms']:7.3f} {row['added_p50_ms']:+7.3f} "
                f"{row['rate_p99_ms']:7.3f} {row['added_p99_ms']:+7.3f} "
                f"{row['rate_cpu_us']:7.1f} {row['rate_cpu_ratio']:6.2f} | "
                f"{'-' if variant.name == 'bare' else f'{stored}/{served}':>15}"
            )
    if args.json:
        print(json.dumps(summary, indent=2))
    if not ok:
        print("FAILED: some requests served with the SDK were not stored", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
