"""Host CPU per request of the ASGI middleware in a real server, variants interleaved.

    git archive main sdk/python/src | tar -x -C /tmp/base   # the code to compare against
    flock /tmp/wwy-bench.lock sdk/python/.venv/bin/python bench/sdk_asgi_cpu.py --rounds 8 \
        --variant bare --variant base=/tmp/base/sdk/python/src --variant new=sdk/python/src

The bench's FastAPI app under uvicorn (uvloop, httptools) pinned to core 0; ``wrk -t1 -c32``
(every request with ``bench/sdk_overhead.py``'s browser User-Agent, ``--user-agent ''`` for
none) and a sink that answers every batch 202 at once on core 1, so the SDK's sender keeps up and
events are delivered as they come (``bench/sdk_overhead.py`` holds a whole phase's events
instead; this isolates the SDK's own cost). Each variant is ``name`` (bare FastAPI) or
``name=DIR``: the middleware imported from ``DIR`` (a copy of ``src`` at another commit).
For each phase: requests/s, and the host's CPU time per request (``/proc/PID/task/*/stat``),
whole process and event-loop thread, read before wrk starts and after the sender has sent what
the phase produced. The run fails unless the sink received every request the SDK variants
served (within the 32 in flight when wrk stops).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sdk" / "python" / "tests"))

from collector_harness import free_port  # type: ignore[import-not-found]
from sdk_overhead import USER_AGENT, wrk_command

APP = """
import os
from fastapi import FastAPI

app = FastAPI()


@app.get("/items/{item_id}")
async def item(item_id: int) -> dict:
    return {"id": item_id, "name": "widget", "tags": ["a", "b"], "price": 9.99}


if os.environ["OVERHEAD_SDK"] == "1":
    from whowhywhen_sdk import WhoWhyWhenMiddleware

    app.add_middleware(
        WhoWhyWhenMiddleware, api_key="www_overhead", url=os.environ["OVERHEAD_SINK"]
    )
"""

TICKS = os.sysconf("SC_CLK_TCK")


class Sink:
    """An HTTP/1.1 server answering 202 at once; counts the rows it was sent."""

    def __init__(self) -> None:
        self.rows = 0
        self.port = 0
        self._ready = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()
        self._ready.wait()

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        sink = self

        class Protocol(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport
                self.buffer = b""

            def data_received(self, data: bytes) -> None:
                self.buffer += data
                while True:
                    end = self.buffer.find(b"\r\n\r\n")
                    if end < 0:
                        return
                    head = self.buffer[:end].lower()
                    match = re.search(rb"content-length:\s*(\d+)", head)
                    size = int(match.group(1)) if match else 0
                    if len(self.buffer) < end + 4 + size:
                        return
                    body = self.buffer[end + 4 : end + 4 + size]
                    self.buffer = self.buffer[end + 4 + size :]
                    if b"content-encoding: gzip" in head:
                        body = gzip.decompress(body)
                    sink.rows += len(json.loads(body)["rows"])
                    self.transport.write(  # type: ignore[attr-defined]
                        b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 2\r\n\r\n{}"
                    )

        server = await asyncio.get_running_loop().create_server(Protocol, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await asyncio.Event().wait()


def cpu(pid: int) -> tuple[float, float]:
    """(whole process, main thread) user + system seconds."""
    total = main = 0.0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/task/{task}/stat").read_text().rsplit(")", 1)[1].split()
            seconds = (int(fields[11]) + int(fields[12])) / TICKS
            total += seconds
            if int(task) == pid:
                main = seconds
    return total, main


def wrk(url: str, seconds: float, connections: int, user_agent: str) -> int:
    out = subprocess.run(
        [*wrk_command(int(seconds), connections, user_agent), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"(\d+) requests in", out)
    if not match or "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(out)
    return int(match.group(1))


def run(
    name: str, source: str | None, sink: Sink, args: argparse.Namespace, workdir: Path
) -> tuple[float, float, float]:
    port = free_port()
    env = {
        **os.environ,
        "OVERHEAD_SDK": "0" if source is None else "1",
        "OVERHEAD_SINK": f"http://127.0.0.1:{sink.port}",
        "PYTHONPATH": os.pathsep.join([str(workdir), *([source] if source else [])]),
    }
    command = [sys.executable, "-m", "uvicorn", "overhead_app:app", "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning"]
    process = subprocess.Popen(["nice", "-n", "-10", "taskset", "-c", "0", *command], env=env)
    url = f"http://127.0.0.1:{port}/items/1?run=overhead"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        wrk(url, args.warmup, 32, args.user_agent)
        time.sleep(2.5)  # the warm-up's last events flushed by the timer
        rows_before = sink.rows
        before = cpu(process.pid)
        served = wrk(url, args.duration, 32, args.user_agent)
        if source is not None:
            deadline = time.monotonic() + 30
            while sink.rows - rows_before < served and time.monotonic() < deadline:
                time.sleep(0.05)
            # wrk does not count the responses still in flight when it stops
            if not served <= sink.rows - rows_before <= served + 32:
                raise RuntimeError(f"{name}: served {served}, sink got {sink.rows - rows_before}")
        after = cpu(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    return (
        served / args.duration,
        (after[0] - before[0]) / served * 1e6,
        (after[1] - before[1]) / served * 1e6,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--variant", action="append", required=True, help="NAME or NAME=SRC")
    parser.add_argument(
        "--user-agent", default=USER_AGENT, help="User-Agent of every request ('' for none)"
    )
    args = parser.parse_args()
    # Stopped with SIGTERM: unwind, so that the host being measured is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    variants = [
        (v.split("=", 1)[0], v.split("=", 1)[1] if "=" in v else None) for v in args.variant
    ]
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in variants}
    sink = Sink()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "overhead_app.py").write_text(APP)
        for round_ in range(args.rounds):
            order = variants[round_ % len(variants) :] + variants[: round_ % len(variants)]
            for name, source in order:
                result = run(name, os.path.abspath(source) if source else None, sink, args, workdir)
                results[name].append(result)
                print(
                    f"round {round_ + 1} {name:>8}: {result[0]:8.0f} req/s "
                    f"{result[1]:6.1f} µs/req (loop thread {result[2]:6.1f}) "
                    f"load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
    reference = variants[0][0]
    print(f"\nmedians of {args.rounds} rounds; per round, against {reference} in the same round:")
    for name, _ in variants:
        rows = results[name]
        pairs = list(zip(rows, results[reference], strict=True))
        ratios = [r[0] / b[0] for r, b in pairs]
        extra = [r[1] - b[1] for r, b in pairs]
        print(
            f"{name:>8}: {statistics.median(r[0] for r in rows):8.0f} req/s "
            f"{statistics.median(r[1] for r in rows):6.1f} µs/req "
            f"(loop {statistics.median(r[2] for r in rows):6.1f}); "
            f"req/s ratio {statistics.median(ratios):.3f} ["
            + " ".join(f"{x:.2f}" for x in ratios)
            + f"]; CPU +{statistics.median(extra):.1f} µs ["
            + " ".join(f"{x:+.1f}" for x in extra)
            + "]"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
