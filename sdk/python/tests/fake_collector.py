"""A scripted stand-in for the collector's ``POST /api/log/bulk`` (stdlib only).

It answers like the real collector (202 with accepted/duplicates, duplicate batch ids ignored),
unless a test scripts other answers, a delay, or a black hole.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from whowhywhen_sdk._event import ROW_COLUMNS


@dataclass
class Answer:
    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


def as_events(payload: Any) -> Any:
    """A rows batch as the collector reads it: one object per row, null fields left out, user
    agents given as indexes read from ``user_agents``, the duration and timestamp also in
    seconds (as ``duration`` / ``timestamp``)."""
    if not isinstance(payload, dict) or "rows" not in payload:
        return payload
    assert payload["columns"] == list(ROW_COLUMNS), payload["columns"]
    agents: list[str] = payload.get("user_agents") or []
    events = []
    for row in payload["rows"]:
        assert isinstance(row, list), row
        assert 6 <= len(row) <= len(ROW_COLUMNS), row  # trailing nulls may be left out
        event = {k: v for k, v in zip(ROW_COLUMNS, row) if v is not None}
        if isinstance(event.get("user_agent"), int):  # an index into the batch's user_agents
            event["user_agent"] = agents[event["user_agent"]]
        event["duration"] = event["duration_ns"] / 1e9
        event["timestamp"] = event["timestamp_ns"] / 1e9
        events.append(event)
    return {**payload, "events": events}


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    raw: bytes
    gzipped: bool
    payload: Any

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(self.payload.get("events", []))


class FakeCollector:
    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []
        self.script: deque[Answer] = deque()
        self.responder: Callable[[Received], Answer] | None = None
        self.delay = 0.0
        self.stored_batches: set[str] = set()
        self.stored: list[dict[str, Any]] = []
        self.dropped_totals: dict[str, int] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                collector._handle(self, raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _handle(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        gzipped = handler.headers.get("Content-Encoding") == "gzip"
        body = gzip.decompress(raw) if gzipped else raw
        payload = as_events(json.loads(body))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        record = Received(time.monotonic(), headers, raw, gzipped, payload)
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.received.append(record)
            if self.script:
                answer = self.script.popleft()
            elif self.responder is not None:
                answer = self.responder(record)
            else:
                answer = Answer()
            if 200 <= answer.status < 300 and answer.body is None:
                answer = Answer(answer.status, answer.headers, self._store(payload))
            self._changed.notify_all()
        data = answer.body or b""
        handler.send_response(answer.status)
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _store(self, payload: dict[str, Any]) -> bytes:
        batch_id = payload["batch_id"]
        events = payload["events"]
        if batch_id in self.stored_batches:
            return json.dumps({"accepted": 0, "duplicates": len(events), "rejected": []}).encode()
        self.stored_batches.add(batch_id)
        self.stored.extend(events)
        for reason, count in payload.get("sdk", {}).get("dropped", {}).items():
            self.dropped_totals[reason] = self.dropped_totals.get(reason, 0) + count
        return json.dumps({"accepted": len(events), "duplicates": 0, "rejected": []}).encode()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def stored_ids(self) -> list[str]:
        with self._lock:
            return [e["id"] for e in self.stored]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class BlackHole:
    """Accepts TCP connections and never answers (a hung collector)."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._conns: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._conns.append(conn)

    def close(self) -> None:
        self._closed = True
        self._sock.close()
        for conn in self._conns:
            conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
