"""The HTTP transport: one kept-alive connection, made again when the collector drops it."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from whowhywhen_sdk._transport import HTTPTransport


class CountingServer:
    """Answers 202 and notes the client port of each request (one port per connection);
    ``drop_after_answer`` closes the connection silently after answering, as a server whose
    keep-alive timeout ran out would."""

    def __init__(self) -> None:
        self.ports: list[int] = []
        self.bodies: list[bytes] = []
        self.drop_after_answer = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.ports.append(self.client_address[1])
                server.bodies.append(body)
                answer = b'{"accepted":1,"duplicates":0,"rejected":[]}'
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                if server.drop_after_answer:
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/api/log/bulk"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingServer]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    counting = CountingServer()
    yield counting
    counting.close()


def test_batches_share_one_connection(server: CountingServer) -> None:
    transport = HTTPTransport(server.url, "wwy_test")
    for i in range(5):
        response = transport.post(b'{"n":%d}' % i, gzipped=False, timeout=5)
        assert response.status == 202
        assert response.header("content-type") == "application/json"
    assert len(set(server.ports)) == 1
    assert server.bodies == [b'{"n":%d}' % i for i in range(5)]
    transport.close()


def test_a_connection_the_collector_dropped_is_made_again(server: CountingServer) -> None:
    server.drop_after_answer = True
    transport = HTTPTransport(server.url, "wwy_test")
    for i in range(3):
        assert transport.post(b'{"n":%d}' % i, gzipped=False, timeout=5).status == 202
    assert len(server.bodies) == 3
    assert len(set(server.ports)) == 3
    transport.close()


def test_a_refused_connection_raises_for_the_sender_to_retry(server: CountingServer) -> None:
    url = server.url
    server.close()
    transport = HTTPTransport(url, "wwy_test")
    with pytest.raises(ConnectionRefusedError):
        transport.post(b"{}", gzipped=False, timeout=2)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_its_own_connection(server: CountingServer) -> None:
    transport = HTTPTransport(server.url, "wwy_test")
    assert transport.post(b'{"who":"parent"}', gzipped=False, timeout=5).status == 202
    pid = os.fork()
    if pid == 0:  # the child: post once and leave without running any cleanup
        ok = transport.post(b'{"who":"child"}', gzipped=False, timeout=5).status == 202
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert transport.post(b'{"who":"parent"}', gzipped=False, timeout=5).status == 202
    assert len(server.bodies) == 3
    parent_ports = {server.ports[0], server.ports[2]}
    assert len(parent_ports) == 1
    assert server.ports[1] not in parent_ports
    transport.close()


def test_a_proxy_in_the_environment_is_used(
    server: CountingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP_PROXY set (and no NO_PROXY for the host), batches go to the proxy: here the
    counting server stands in for it and sees the absolute URL."""
    monkeypatch.setenv("HTTP_PROXY", server.url.rsplit("/api", 1)[0])
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    transport = HTTPTransport("http://collector.invalid:8001/api/log/bulk", "wwy_test")
    assert transport.post(b'{"via":"proxy"}', gzipped=False, timeout=5).status == 202
    assert server.bodies == [b'{"via":"proxy"}']
