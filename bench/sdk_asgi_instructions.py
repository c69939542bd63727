"""Instructions per request of the ASGI middleware, counted by callgrind, per thread.

    sdk/python/.venv/bin/python bench/sdk_asgi_instructions.py --app fastapi \
        --variant bare --variant base=/tmp/base/sdk/python/src --variant new=sdk/python/src

An app is called in-process (no server, no network) ``--warmup`` times, then ``--requests``
times with callgrind's instrumentation switched on (``callgrind_control``) for those calls only;
each thread's instructions are reported per request: the caller's (the request path) and the
SDK's sender's (ids, rows, JSON, gzip, a transport that answers 202 at once). ``--app fastapi``
is the bench's FastAPI app, ``--app trivial`` an ASGI app that sends two messages, so that the
middleware's own share stands out. ``--hold`` makes the transport wait until the calls are done,
so events stay queued as in ``bench/sdk_overhead.py``, whose collector only gets idle CPU.
Counts are deterministic to a few hundred instructions a request for the caller's thread; the
sender's move by a few thousand with where its batches fall. Every request carries
``bench/sdk_overhead.py``'s browser User-Agent (``--user-agent ''`` for none), and with
``--browser-headers`` the other headers a browser's ``fetch()`` sends. Needs valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from sdk_overhead import USER_AGENT

Message = dict[str, Any]

#: What a browser's fetch() sends besides Host and User-Agent (``--browser-headers``).
BROWSER_HEADERS = [
    ("connection", b"keep-alive"),
    ("sec-ch-ua", b'"Chromium";v="131", "Not_A Brand";v="24"'),
    ("sec-ch-ua-mobile", b"?0"),
    ("sec-ch-ua-platform", b'"Linux"'),
    ("accept", b"application/json"),
    ("origin", b"https://app.example.com"),
    ("sec-fetch-site", b"same-site"),
    ("sec-fetch-mode", b"cors"),
    ("sec-fetch-dest", b"empty"),
    ("referer", b"https://app.example.com/"),
    ("accept-encoding", b"gzip, deflate, br, zstd"),
    ("accept-language", b"en-US,en;q=0.9"),
    ("authorization", b"Bearer eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN"),
]


def fastapi_app() -> Any:
    """The benches' FastAPI app: one JSON endpoint with a path parameter."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        return {"id": item_id, "name": "widget", "tags": ["a", "b"], "price": 9.99}

    return app


def http_scope(
    path: str,
    query: bytes,
    agent: str,
    extra: list[tuple[str, bytes]] | None = None,
    port: int = 51234,
) -> dict[str, Any]:
    """A GET as uvicorn's scope gives it: Host, the User-Agent ``agent`` ('' for none) as a new
    ``bytes`` each time, as a server's parser makes it, then the ``extra`` headers."""
    headers = [(b"host", b"127.0.0.1:8000")]
    if agent:
        headers.append((b"user-agent", agent.encode("latin-1")))
    headers += [(name.encode(), value) for name, value in extra or ()]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", port),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": headers,
        "state": {},
        "extensions": {},
    }


_REQUEST: Message = {"type": "http.request", "body": b"", "more_body": False}


async def receive() -> Message:
    """An empty request body."""
    return _REQUEST


async def send(message: Message) -> None:
    """A server that takes every message at once."""


def build_app(kind: str, sdk: bool, hold: threading.Event) -> Any:
    app: Any
    if kind == "fastapi":
        app = fastapi_app()
    else:
        start: Message = {"type": "http.response.start", "status": 200, "headers": []}
        body: Message = {"type": "http.response.body", "body": b'{"id":1}'}

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send(start)
            await send(body)

    if not sdk:
        return app
    # The SDK is importable from sdk/python's virtual environment, which runs this script.
    from whowhywhen_sdk import WhoWhyWhenMiddleware  # type: ignore[import-not-found]
    from whowhywhen_sdk._transport import Response  # type: ignore[import-not-found]

    class Instant:
        def post(self, payload: bytes, *, gzipped: bool, timeout: float) -> Response:
            hold.wait()
            return Response(202, {}, b"{}")

    return WhoWhyWhenMiddleware(
        app,
        api_key="www_instructions",
        url="http://127.0.0.1:9",
        transport=Instant(),
        max_queue_size=300_000,
        max_queue_bytes=256 * 1024 * 1024,
    )


def drive(args: argparse.Namespace) -> None:
    """The process under callgrind: calls the app, waits on stdin around the measured calls."""
    hold = threading.Event()
    if not args.hold:
        hold.set()
    app = build_app(args.app, os.environ.get("INSTRUCTIONS_SDK") == "1", hold)
    extra = BROWSER_HEADERS if args.browser_headers else []

    async def calls(count: int) -> None:
        for _ in range(count):
            await app(
                http_scope("/items/1", b"run=instructions", args.user_agent, extra), receive, send
            )

    async def main() -> None:
        await calls(args.warmup)
        print("ready", flush=True)
        sys.stdin.readline()
        await calls(args.requests)
        print("done", flush=True)
        sys.stdin.readline()
        hold.set()

    asyncio.run(main())


def measure(name: str, source: str | None, args: argparse.Namespace) -> list[float]:
    """Instructions per request of each thread that ran any while measuring, caller first."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "INSTRUCTIONS_SDK": "0" if source is None else "1"}
    if source is not None:
        env["PYTHONPATH"] = os.path.abspath(source)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = scratch
        if args.keep:
            tmp = os.path.join(args.keep, name)
            os.makedirs(tmp, exist_ok=True)
            for old in Path(tmp).glob("out*"):
                old.unlink()
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--separate-threads=yes",
            f"--callgrind-out-file={tmp}/out",
            sys.executable,
            __file__,
            "--drive",
            *sys.argv[1:],
        ]
        with subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        ) as process:
            assert process.stdin is not None
            assert process.stdout is not None
            for switch in ("on", "off"):
                line = process.stdout.readline().strip()
                if line not in ("ready", "done"):
                    raise RuntimeError(f"the driver said {line!r}")
                subprocess.run(
                    ["callgrind_control", "-i", switch, str(process.pid)],
                    check=True,
                    capture_output=True,
                )
                process.stdin.write("go\n")
                process.stdin.flush()
        counts = []
        for path in sorted(Path(tmp).glob("out-*")):
            match = re.search(r"^totals: (\d+)", path.read_text(), re.MULTILINE)
            if match and int(match.group(1)):
                counts.append(int(match.group(1)) / args.requests)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", choices=["fastapi", "trivial"], default="fastapi")
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--warmup", type=int, default=3000)
    parser.add_argument("--hold", action="store_true", help="keep events queued while measuring")
    parser.add_argument(
        "--user-agent", default=USER_AGENT, help="User-Agent of every request ('' for none)"
    )
    parser.add_argument(
        "--browser-headers",
        action="store_true",
        help="send a browser's thirteen other request headers too",
    )
    parser.add_argument("--variant", action="append", default=[], help="NAME or NAME=SRC")
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="keep callgrind's files in DIR/NAME/ (out-01 the caller), for callgrind_annotate",
    )
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        drive(args)
        return 0
    for variant in args.variant:
        name, _, source = variant.partition("=")
        counts = measure(name, source or None, args)
        print(
            f"{name:>10}: {sum(counts):9.0f} instructions/request; caller {counts[0]:9.0f}"
            + "".join(f", other thread {count:7.0f}" for count in counts[1:]),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
