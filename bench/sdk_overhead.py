"""What the WhoWhyWhen SDKs cost a host API: bare vs instrumented, interleaved, in one run.

    python bench/sdk_overhead.py                 # FastAPI + Express, 6 rounds of 5 s phases
    python bench/sdk_overhead.py --only fastapi --rounds 10 --duration 8

For each framework (a small FastAPI app under uvicorn; a small Express 5 app under node) every
variant's host process is started once and kept alive, all pinned to core 0, wrk and the real
collector on core 1:

- FastAPI: bare, our ``WhoWhyWhenMiddleware``, and the seed README's snippet (an httpx POST per
  request, verbatim);
- Express: bare and our ``whowhywhen()`` middleware;
- with ``--base DIR``, a ``base`` variant of each: the same app with the SDKs of another checkout
  (DIR holds its ``sdk/python/src`` and a built ``sdk/js``), so that a change is measured against
  the code before it in the same run, not minutes apart.

The variants are measured in turn, round by round, each round in the next of their orders (with
two variants AB, BA; with three, all six orders in turn, so that no variant is always measured
in the middle), so that each round's variants see the machine within seconds of each other. On a
shared VM whose speed drifts by ±20 % over tens of seconds, a ratio between processes measured
minutes apart says more about the VM than the SDK; the summary therefore gives, per variant, the
median of each round's figure against that round's bare (and the range of the throughput ratio),
beside the plain medians. Idle hosts wait in ``epoll`` and cost nothing meanwhile; an SDK host's
sender has delivered everything before the next host is measured.

Each host is warmed up once (wrk, ``--warmup`` seconds); each round measures it twice, each
phase right after ``--prime`` seconds of unmeasured load on the same host (then a drain). Without
it, the host measured first in a round had just served the previous phase and the other had been
idle for one or two phases, and Express's paired ratios alternated with the order (0.82–0.90
with bare first, 0.92–0.98 with the SDK first, in one run).

1. **saturated**: ``wrk -t1 -c32`` for ``--duration`` seconds: requests/s and p99 (at 32
   connections the p99 is mostly queueing, 32 requests waiting for one core).
2. **fixed rate**: ``--rate`` requests/s from ``--rate-connections`` wrk connections, each
   waiting an exponential think time between requests. The host is far from saturation, so
   p50/p99 show the latency the SDK adds to a request, not queueing.

For each phase the host's process CPU time (user + sys from ``/proc/PID/stat``: every thread,
the SDK's sender included) is read before wrk starts and again once the collector has stored
every request served so far, so the work the SDK does after the load stops is charged too:
CPU µs per request, and ``bare / variant`` of it as a capacity ratio.

Every request carries a browser's ``User-Agent`` (``--user-agent``, 101 characters), as real
traffic does: the SDK reads, queues and sends it, so a bench without one would flatter it.

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
import itertools
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
#: What real clients send; wrk sends no User-Agent of its own.
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)

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


if VARIANT in ("sdk", "base"):
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
if (variant === "sdk" || variant === "base") {
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
class Phase:
    """One measured phase of one host: wrk's figures and the host's CPU per request."""

    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    #: requests the host served in the phase
    requests: int


@dataclass
class Round:
    saturated: Phase
    fixed: Phase
    load: float


@dataclass
class WrkRun:
    rps: float
    p50_ms: float
    p99_ms: float


def parse_latency(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk_command(duration: int, connections: int, user_agent: str) -> list[str]:
    """wrk on core 1, one thread, every request with ``user_agent`` ('' for none); the URL and
    any further options go after it."""
    command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration}s"]
    if user_agent:
        command += ["-H", f"User-Agent: {user_agent}"]
    return command


def run_wrk(
    url: str,
    duration: int,
    connections: int,
    user_agent: str,
    script: Path | None = None,
    think_ms: float = 0,
) -> WrkRun:
    command = [*BOOST, *wrk_command(duration, connections, user_agent)]
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


class Host:
    """One host process (a framework and a variant), alive for the whole run."""

    def __init__(
        self, kind: str, variant: str, collector: RealCollector, workdir: Path, args: Any
    ) -> None:
        self.kind = kind
        self.variant = variant
        self.collector = collector
        self.args = args
        self.port = free_port()
        self.marker = uuid.uuid4().hex
        self.count_file = workdir / f"{self.marker}.count"
        self.url = f"http://127.0.0.1:{self.port}/items/1?run={self.marker}"
        self.rounds: list[Round] = []
        self.served = 0
        self.stored: int | None = None
        # `base`: the SDKs of another checkout (--base), the same app otherwise
        base = Path(args.base).resolve() if variant == "base" else None
        python_path = [str(workdir)] + ([str(base / "sdk" / "python" / "src")] if base else [])
        env = {
            **os.environ,
            "BENCH_VARIANT": variant,
            "BENCH_COUNT_FILE": str(self.count_file),
            "BENCH_COLLECTOR": collector.url,
            "BENCH_API_KEY": collector.key,
            "BENCH_PORT": str(self.port),
            "BENCH_SDK_JS": str(base / "sdk" / "js" if base else SDK_JS),
            "BENCH_QUEUE_EVENTS": str(QUEUE_EVENTS),
            "BENCH_QUEUE_BYTES": str(QUEUE_BYTES),
            "PYTHONPATH": os.pathsep.join(python_path),
        }
        if kind == "fastapi":
            command = [
                str(SDK_PY / ".venv" / "bin" / "python"),
                "-m",
                "uvicorn",
                "bench_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--log-level",
                "warning",
            ]
        else:
            # V8 flags of bench/sdk_js_profile.py's --no-inlining; none here
            command = ["node", *getattr(args, "node_flags", []), str(workdir / "bench_app.mjs")]
        # nice and taskset exec the command: the pid is the host's own. The host and wrk run
        # at nice -10, so that unrelated jobs on a shared machine do not preempt them.
        self.process = subprocess.Popen(
            [*BOOST, "taskset", "-c", "0", *command], env=env, cwd=workdir
        )

    def wait_until_up(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                fetch_served(self.port)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the {self.kind} {self.variant} host did not start")

    def drain(self) -> int:
        """Wait until the collector has stored every request this host served so far; return
        how many it served."""
        served = fetch_served(self.port)
        if self.variant != "bare":
            wait_stored(self.collector, self.marker, served, DRAIN_TIMEOUT)
        return served

    def warm_up(self) -> None:
        self.wait_until_up()
        run_wrk(
            self.url, self.args.warmup, self.args.connections, self.args.user_agent
        )  # JIT, caches, connections
        self.drain()

    def measure(self, run: Callable[[str], WrkRun]) -> Phase:
        """Run one phase with the collector idle-only; then let it store every request served
        so far and charge the host the CPU it used until then (its sender's work included)."""
        if self.args.prime > 0:
            run_wrk(self.url, self.args.prime, self.args.connections, self.args.user_agent)
            self.drain()
        before = fetch_served(self.port)
        cpu_before = process_cpu_seconds(self.process.pid)
        collector_pid = self.collector.process.pid
        set_idle(collector_pid, True)
        try:
            result = run(self.url)
        finally:
            set_idle(collector_pid, False)
        after = self.drain()
        cpu = process_cpu_seconds(self.process.pid) - cpu_before
        served = after - before
        return Phase(result.rps, result.p50_ms, result.p99_ms, cpu / max(1, served) * 1e6, served)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)
        self.served = int(self.count_file.read_text())
        if self.variant != "bare":
            self.stored = wait_stored(self.collector, self.marker, self.served, DRAIN_TIMEOUT)


def require(tools: tuple[str, ...], packages: str) -> str:
    """Exit with what to install unless every tool is on PATH and the collector is installed;
    return the collector's binary."""
    for tool in tools:
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: apt-get install -y {packages}")
    binary = collector_binary()
    if binary is None:
        sys.exit("the collector is not installed: create the repository's .venv first")
    return str(binary)


def require_js_built(base: str | None) -> None:
    """Exit unless sdk/js is built here, and in ``base`` (another checkout) when given."""
    if not (SDK_JS / "dist" / "esm" / "index.js").exists():
        sys.exit("sdk/js is not built: cd sdk/js && npm ci && npm run build")
    if base and not (Path(base) / "sdk/js/dist/esm/index.js").exists():
        sys.exit(f"{base}/sdk/js is not built")


def start_collector(workdir: Path, binary: str) -> RealCollector:
    """The real collector on wrk's core (SCHED_IDLE while measuring, see set_idle), with an API
    key; the per-key rate limit is lifted so the run measures the SDK, not the limit."""
    collector = RealCollector(
        workdir,
        binary,
        cpu="1",
        env={"INGEST_RATE_PER_SECOND": "1000000", "INGEST_RATE_BURST": "1000000"},
    )
    collector.start()
    collector.create_key()
    return collector


def run_kind(
    kind: str, names: list[str], collector: RealCollector, workdir: Path, args: Any
) -> list[Host]:
    """Every variant of one framework, alive together on core 0 and measured in turn."""
    hosts = [Host(kind, name, collector, workdir, args) for name in names]
    think_ms = args.rate_connections / args.rate * 1000
    orders = list(itertools.permutations(hosts))
    try:
        for host in hosts:
            host.warm_up()
        for round_ in range(args.rounds):
            # Every order in turn: no variant is always measured first, in the middle, or right
            # after another.
            order = orders[round_ % len(orders)]
            load = os.getloadavg()[0]
            saturated = {
                id(host): host.measure(
                    lambda url: run_wrk(url, args.duration, args.connections, args.user_agent)
                )
                for host in order
            }
            fixed = {
                id(host): host.measure(
                    lambda url: run_wrk(
                        url,
                        args.duration,
                        args.rate_connections,
                        args.user_agent,
                        workdir / "think.lua",
                        think_ms,
                    )
                )
                for host in order
            }
            for host in hosts:
                host.rounds.append(Round(saturated[id(host)], fixed[id(host)], load))
                bare = hosts[0].rounds[-1]
                r = host.rounds[-1]
                print(
                    f"round {round_ + 1} {kind:8} {host.variant:5} load {r.load:4.2f} | "
                    f"{r.saturated.rps:8.1f} req/s ({r.saturated.rps / bare.saturated.rps:4.2f}) "
                    f"p99 {r.saturated.p99_ms:7.2f} ms cpu {r.saturated.cpu_us:6.1f} us/req | "
                    f"fixed {r.fixed.rps:6.1f} req/s p50 {r.fixed.p50_ms:6.3f} "
                    f"p99 {r.fixed.p99_ms:7.3f} ms ({r.fixed.p99_ms - bare.fixed.p99_ms:+6.3f}) "
                    f"cpu {r.fixed.cpu_us:6.1f} us/req",
                    flush=True,
                )
    finally:
        for host in hosts:
            host.stop()
    return hosts


def summarise(hosts: list[Host]) -> list[dict[str, Any]]:
    """Per variant: medians over the rounds, and paired figures (each round's variant against
    that round's bare) as the median of the per-round values."""
    bare = hosts[0]
    rows = []
    for host in hosts:
        pairs = list(zip(host.rounds, bare.rounds, strict=True))

        def median(values: Any) -> float:
            return float(statistics.median(list(values)))

        ratios = [r.saturated.rps / b.saturated.rps for r, b in pairs]
        rows.append(
            {
                "host": host.kind,
                "variant": host.variant,
                "rps": median(r.saturated.rps for r in host.rounds),
                "p99_ms": median(r.saturated.p99_ms for r in host.rounds),
                "cpu_us": median(r.saturated.cpu_us for r in host.rounds),
                "rate_rps": median(r.fixed.rps for r in host.rounds),
                "rate_p50_ms": median(r.fixed.p50_ms for r in host.rounds),
                "rate_p99_ms": median(r.fixed.p99_ms for r in host.rounds),
                "rate_cpu_us": median(r.fixed.cpu_us for r in host.rounds),
                "ratio": median(ratios),
                "ratio_min": min(ratios),
                "ratio_max": max(ratios),
                "cpu_ratio": median(b.saturated.cpu_us / r.saturated.cpu_us for r, b in pairs),
                "rate_cpu_ratio": median(b.fixed.cpu_us / r.fixed.cpu_us for r, b in pairs),
                "added_p50_ms": median(r.fixed.p50_ms - b.fixed.p50_ms for r, b in pairs),
                "added_p99_ms": median(r.fixed.p99_ms - b.fixed.p99_ms for r, b in pairs),
                "stored": host.stored,
                "served": host.served,
                "all_stored": None if host.variant == "bare" else host.stored == host.served,
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=int, default=5, help="seconds per measured phase")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of wrk before measuring")
    parser.add_argument(
        "--prime", type=int, default=1, help="seconds of unmeasured wrk before each phase (0: none)"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk connections, saturated")
    parser.add_argument("--rate", type=float, default=1000.0, help="req/s of the fixed-rate phase")
    parser.add_argument("--rate-connections", type=int, default=4)
    parser.add_argument("--only", choices=["fastapi", "express"])
    parser.add_argument(
        "--user-agent", default=USER_AGENT, help="User-Agent of every request ('' for none)"
    )
    parser.add_argument("--no-seed", action="store_true", help="skip the seed snippet variant")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument(
        "--base",
        metavar="DIR",
        help="also measure the SDKs of another checkout (variant `base`): DIR holds its "
        "sdk/python/src and a built sdk/js (e.g. `git archive REV sdk | tar -x -C DIR`)",
    )
    args = parser.parse_args()

    binary = require(("wrk", "taskset", "nice"), "wrk util-linux")
    if not (SDK_PY / ".venv" / "bin" / "python").exists():
        sys.exit("sdk/python/.venv is missing: run sdk/python/run-tests.sh once")
    kinds = [args.only] if args.only else ["fastapi", "express"]
    if "express" in kinds:
        require_js_built(args.base)
    # This driver (polling, parsing) stays off the host's core.
    os.sched_setaffinity(0, {1})

    variants = {
        "fastapi": ["bare", "sdk"] if args.no_seed else ["bare", "sdk", "seed"],
        "express": ["bare", "sdk"],
    }
    if args.base:
        # without it, the base host would import this checkout's SDK and measure it twice
        if "fastapi" in kinds and not (Path(args.base) / "sdk/python/src/whowhywhen_sdk").is_dir():
            sys.exit(f"{args.base}/sdk/python/src/whowhywhen_sdk is missing")
        for names in variants.values():
            names.insert(2, "base")
    summary: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sdk-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "bench_app.py").write_text(FASTAPI_APP)
        (workdir / "bench_app.mjs").write_text(EXPRESS_APP)
        (workdir / "think.lua").write_text(THINK_LUA)
        collector = start_collector(workdir, binary)
        try:
            for kind in kinds:
                summary += summarise(run_kind(kind, variants[kind], collector, workdir, args))
        finally:
            collector.close()

    print(
        f"\nhosts on core 0, all alive, measured in turn, each order in turn; wrk and the "
        f"collector (SCHED_IDLE while measuring) on core 1; {args.rounds} rounds, each phase after "
        f"{args.prime} s of unmeasured load; ratios and added "
        f"latencies are medians of each round's variant against that round's bare; left: "
        f"saturated, wrk -t1 -c{args.connections} -d{args.duration}s; middle: fixed rate, "
        f"{args.rate:g} req/s offered over {args.rate_connections} connections; "
        f"User-Agent of {len(args.user_agent)} characters; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'host':8} {'variant':7} {'req/s':>8} {'ratio':>6} {'range':>10} {'p99 ms':>8} "
        f"{'cpu us':>7} {'ratio':>6} | {'req/s':>7} {'p50':>7} {'+p50':>7} {'p99':>7} "
        f"{'+p99':>7} {'cpu us':>7} {'ratio':>6} | {'stored/served':>15}"
    )
    ok = True
    for row in summary:
        bare = row["variant"] == "bare"
        if not bare:
            ok = ok and bool(row["all_stored"])
        spread = "" if bare else f"{row['ratio_min']:.2f}-{row['ratio_max']:.2f}"
        stored = "-" if bare else f"{row['stored']}/{row['served']}"
        print(
            f"{row['host']:8} {row['variant']:7} {row['rps']:8.1f} {row['ratio']:6.2f} "
            f"{spread:>10} {row['p99_ms']:8.2f} {row['cpu_us']:7.1f} {row['cpu_ratio']:6.2f} | "
            f"{row['rate_rps']:7.1f} {row['rate_p50_ms']:7.3f} {row['added_p50_ms']:+7.3f} "
            f"{row['rate_p99_ms']:7.3f} {row['added_p99_ms']:+7.3f} "
            f"{row['rate_cpu_us']:7.1f} {row['rate_cpu_ratio']:6.2f} | "
            f"{stored:>15}"
        )
    if args.json:
        print(json.dumps(summary, indent=2))
    if not ok:
        print("FAILED: some requests served with the SDK were not stored", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
