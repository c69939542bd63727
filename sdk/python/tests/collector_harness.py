"""The real WhoWhyWhen collector as a subprocess, and an HTTP fault proxy to put in front of it.

Used by the integration tests here and by ``bench/sdk_overhead.py``. The collector binary is
``$WHOWHYWHEN_BIN``, else the repository's ``.venv/bin/whowhywhen``, else ``whowhywhen`` on PATH.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.request
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]


def collector_binary() -> str | None:
    explicit = os.environ.get("WHOWHYWHEN_BIN")
    if explicit:
        return explicit if Path(explicit).exists() else None
    local = REPO_ROOT / ".venv" / "bin" / "whowhywhen"
    if local.exists():
        return str(local)
    return shutil.which("whowhywhen")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RealCollector:
    """``whowhywhen collector`` on a free port with its own SQLite database."""

    def __init__(
        self,
        data_dir: Path,
        binary: str,
        *,
        cpu: str | None = None,
        nice: int = 0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.binary = binary
        self.cpu = cpu
        self.nice = nice
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_path = data_dir / "whowhywhen.sqlite"
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite+aiosqlite:///{self.db_path}",
            "WHOWHYWHEN_DATA_DIR": str(data_dir),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log = open(data_dir / "collector.log", "ab")  # noqa: SIM115
        self.project_id = 0
        self.key = ""

    def _cli(self, *args: str) -> str:
        result = subprocess.run(
            [self.binary, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"whowhywhen {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout

    def create_key(self) -> str:
        """Create a user, a project and an ingest key through the CLI; returns the secret."""
        email = "sdk-tests@example.com"
        self._cli("create-user", "--email", email, "--password", "correct-horse-battery-9")
        output = self._cli("create-project", "--owner", email, "--name", "sdk-tests")
        self.project_id = int(output.strip().splitlines()[-1].strip())
        output = self._cli("create-key", "--project", str(self.project_id))
        self.key = output.strip().splitlines()[-1]
        return self.key

    def start(self, timeout: float = 60.0) -> None:
        command = [self.binary, "collector", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.cpu is not None and shutil.which("taskset"):
            command = ["taskset", "-c", self.cpu, *command]
        if self.nice:
            command = ["nice", "-n", str(self.nice), *command]
        self.process = subprocess.Popen(
            command, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"collector exited: see {self.data_dir / 'collector.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/health", timeout=1) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("collector did not become healthy")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def close(self) -> None:
        self.stop()
        self._log.close()

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(self.db_path, timeout=30)
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()

    def stored_urls(self, marker: str) -> list[str]:
        rows = self.query("SELECT url FROM request_logs WHERE url LIKE ?", f"%{marker}%")
        return [row[0] for row in rows]

    def sdk_dropped(self) -> dict[str, int]:
        reasons = (
            "queue_overflow",
            "network_error",
            "ratelimit_backoff",
            "send_error",
            "too_large",
            "auth_error",
        )
        row = self.query(
            "SELECT "
            + ", ".join(f"COALESCE(SUM(sdk_{r}), 0)" for r in reasons)
            + " FROM ingest_outcomes WHERE project_id = ?",
            self.project_id,
        )[0]
        return dict(zip(reasons, row))


class FaultProxy:
    """Forwards ``POST`` bodies to the collector, or misbehaves on request.

    ``script`` holds statuses to answer instead of forwarding (one per request); ``delay`` adds
    latency before forwarding; ``blackhole`` holds requests unanswered until it is switched off.
    """

    def __init__(self, target: str) -> None:
        self.target = target.replace("http://", "")
        self.script: deque[tuple[int, dict[str, str]]] = deque()
        self.delay = 0.0
        self.blackhole = False
        self.closing = False
        self.forwarded = 0
        self.answered: list[int] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                while proxy.blackhole and not proxy.closing:
                    time.sleep(0.05)
                if proxy.script:
                    status, headers = proxy.script.popleft()
                    proxy.answered.append(status)
                    self._answer(status, headers, b'{"error":"Injected"}')
                    return
                if proxy.delay:
                    time.sleep(proxy.delay)
                connection = http.client.HTTPConnection(proxy.target, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    connection.request("POST", self.path, body=body, headers=headers)
                    answer = connection.getresponse()
                    data = answer.read()
                    proxy.forwarded += 1
                    proxy.answered.append(answer.status)
                    self._answer(answer.status, dict(answer.getheaders()), data)
                finally:
                    connection.close()

            def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in (
                        "content-length",
                        "date",
                        "server",
                        "transfer-encoding",
                        "connection",
                    ):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.closing = True
        self._server.shutdown()
        self._server.server_close()
