"""What the WhoWhyWhen SDKs cost a host API: requests/s and p99, bare vs instrumented, in one run.

    python bench/sdk_overhead.py                 # FastAPI + Express, 3 rounds of 10 s each
    python bench/sdk_overhead.py --only fastapi --rounds 5 --duration 20

For each host (a small FastAPI app under uvicorn; a small Express 5 app under node) it runs
variants interleaved round by round, the host pinned to core 0 and wrk plus the real collector
on core 1:

- FastAPI: bare, our ``WhoWhyWhenMiddleware``, and the seed README's snippet (an httpx POST per
  request, verbatim);
- Express: bare and our ``whowhywhen()`` middleware.

It prints medians of requests/s and p99 latency, the ratio to bare, the p99 added, and checks
that every request the host served was stored by the collector exactly once (the host counts
what it served; the collector's database is queried for the run's marker).

Needs: ``wrk`` and ``taskset`` (apt-get install -y wrk), the repository's ``.venv`` (the
collector), ``sdk/python/.venv`` (``sdk/python/run-tests.sh`` creates it) and ``sdk/js``
built (``npm ci && npm run build`` in sdk/js).
"""

from __future__ import annotations

import argparse
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


if VARIANT == "sdk":
    from whowhywhen_sdk import WhoWhyWhenMiddleware

    app.add_middleware(WhoWhyWhenMiddleware, api_key=API_KEY, url=COLLECTOR)

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
  ww = whowhywhen({ apiKey: process.env.BENCH_API_KEY, url: process.env.BENCH_COLLECTOR });
  app.use(ww);
}
app.get("/items/:id", (req, res) => {
  served += 1;
  res.json({ id: Number(req.params.id), name: "widget", tags: ["a", "b"], price: 9.99 });
});
const server = app.listen(Number(process.env.BENCH_PORT), "127.0.0.1");
process.on("SIGTERM", async () => {
  server.close();
  if (ww) await ww.shutdown();
  writeFileSync(process.env.BENCH_COUNT_FILE, String(served));
  process.exit(0);
});
"""


@dataclass
class Result:
    rps: float
    p99_ms: float
    served: int
    stored: int | None


@dataclass
class Variant:
    host: str
    name: str
    results: list[Result] = field(default_factory=list)


def parse_latency(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, duration: int, connections: int) -> tuple[float, float]:
    output = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p99 = parse_latency(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    if "Non-2xx" in output or "Socket errors" in output:
        print(textwrap.indent(output, "    wrk| "), file=sys.stderr)
    return rps, p99


def wait_until_up(port: int, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the host app did not start")


def run_host(
    host: str,
    variant: str,
    collector: RealCollector,
    workdir: Path,
    duration: int,
    connections: int,
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
    process = subprocess.Popen(["taskset", "-c", "0", *command], env=env, cwd=workdir)
    try:
        warm = f"/items/1?run=warm-{marker[:8]}"
        wait_until_up(port, warm)
        rps, p99 = run_wrk(f"http://127.0.0.1:{port}/items/1?run={marker}", duration, connections)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    served = int(count_file.read_text()) - 1  # the warm-up request
    stored = None
    if variant != "bare":
        deadline = time.monotonic() + 60
        while True:
            stored = collector.query(
                "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM request_logs WHERE url LIKE ?",
                f"%run={marker}%",
            )[0]
            if stored[0] >= served or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if stored[0] != stored[1]:
            raise AssertionError(f"{host}/{variant}: duplicates stored: {stored}")
        stored = stored[0]
    return Result(rps, p99, served, stored)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", choices=["fastapi", "express"])
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument(
        "--collector-nice",
        type=int,
        default=10,
        help="nice level of the collector on wrk's core (0 = not niced)",
    )
    args = parser.parse_args()

    for tool in ("wrk", "taskset"):
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

    variants = [
        Variant("fastapi", "bare"),
        Variant("fastapi", "sdk"),
        Variant("fastapi", "seed"),
        Variant("express", "bare"),
        Variant("express", "sdk"),
    ]
    variants = [v for v in variants if v.host in hosts]
    with tempfile.TemporaryDirectory(prefix="sdk-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "bench_app.py").write_text(FASTAPI_APP)
        (workdir / "bench_app.mjs").write_text(EXPRESS_APP)
        # The collector shares core 1 with wrk: niced, so its ingest work does not starve the
        # load generator; the per-key rate limit is lifted so it measures the SDK, not the limit.
        collector = RealCollector(
            workdir,
            binary,
            cpu="1",
            nice=args.collector_nice,
            env={"INGEST_RATE_PER_SECOND": "1000000", "INGEST_RATE_BURST": "1000000"},
        )
        collector.start()
        collector.create_key()
        try:
            for round_ in range(args.rounds):
                for variant in variants:
                    result = run_host(
                        variant.host,
                        variant.name,
                        collector,
                        workdir,
                        args.duration,
                        args.connections,
                    )
                    variant.results.append(result)
                    print(
                        f"round {round_ + 1} {variant.host:8} {variant.name:5} "
                        f"{result.rps:9.1f} req/s  p99 {result.p99_ms:7.2f} ms  "
                        f"served {result.served}  stored {result.stored}",
                        flush=True,
                    )
        finally:
            collector.close()

    print(
        f"\nhost on core 0, wrk -t1 -c{args.connections} -d{args.duration}s and the collector on "
        f"core 1; median of {args.rounds} rounds; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'host':8} {'variant':8} {'req/s':>9} {'ratio':>6} {'p99 ms':>8} {'+p99 ms':>8} "
        f"{'stored/served':>14}"
    )
    summary = []
    ok = True
    for host in hosts:
        bare = next(v for v in variants if v.host == host and v.name == "bare")
        bare_rps = statistics.median(r.rps for r in bare.results)
        bare_p99 = statistics.median(r.p99_ms for r in bare.results)
        for variant in (v for v in variants if v.host == host):
            rps = statistics.median(r.rps for r in variant.results)
            p99 = statistics.median(r.p99_ms for r in variant.results)
            complete = all(r.stored == r.served for r in variant.results)
            stored = (
                "-"
                if variant.name == "bare"
                else (
                    f"{sum(r.stored or 0 for r in variant.results)}/"
                    f"{sum(r.served for r in variant.results)}"
                )
            )
            if variant.name == "sdk":
                ok = ok and complete
            print(
                f"{host:8} {variant.name:8} {rps:9.1f} {rps / bare_rps:6.2f} {p99:8.2f} "
                f"{p99 - bare_p99:+8.2f} {stored:>14}"
            )
            summary.append(
                {
                    "host": host,
                    "variant": variant.name,
                    "rps": rps,
                    "ratio": rps / bare_rps,
                    "p99_ms": p99,
                    "added_p99_ms": p99 - bare_p99,
                    "all_stored": complete,
                }
            )
    if args.json:
        print(json.dumps(summary, indent=2))
    if not ok:
        print("FAILED: some requests served with the SDK were not stored", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
