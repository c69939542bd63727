"""Process lifecycle: the atexit flush, its deadline, and fork safety (gunicorn --preload)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest

from .conftest import API_KEY
from .fake_collector import BlackHole, FakeCollector

PRELUDE = textwrap.dedent(f"""
    import os, sys, time
    import whowhywhen_sdk
    from whowhywhen_sdk._client import get_client

    def capture(client, label, count):
        for i in range(count):
            client.capture(method="GET", url=f"http://app.test/{{label}}/{{i}}", status_code=200,
                           duration_ns=1_000_000, timestamp_ns=time.time_ns(), user_agent="t",
                           ip_address="127.0.0.1")

    client = get_client({API_KEY!r}, sys.argv[1], flush_interval=60, shutdown_timeout=2)
""")


def run_script(body: str, url: str, timeout: float = 30) -> tuple[float, str]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body), url],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return time.monotonic() - started, result.stderr


def test_exit_delivers_what_is_queued(collector: FakeCollector) -> None:
    run_script("capture(client, 'exit', 50)", collector.url)
    assert len(collector.stored) == 50


def test_exit_is_bounded_when_the_collector_hangs() -> None:
    hole = BlackHole()
    try:
        baseline, _ = run_script("pass", hole.url)
        elapsed, _ = run_script("capture(client, 'hang', 50)", hole.url)
        assert elapsed - baseline <= 2.5
    finally:
        hole.close()


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_forked_children_send_their_own_events_once(collector: FakeCollector) -> None:
    run_script(
        """
        capture(client, "parent-before", 50)   # the parent's sender is running at fork time
        children = []
        for n in range(2):
            pid = os.fork()
            if pid == 0:
                capture(client, f"child{n}", 100)
                whowhywhen_sdk.shutdown(5)
                os._exit(0)
            children.append(pid)
        capture(client, "parent-after", 50)
        for pid in children:
            assert os.waitpid(pid, 0)[1] == 0
    """,
        collector.url,
    )
    ids = collector.stored_ids()
    assert len(ids) == len(set(ids)) == 300
    labels = Counter(e["url"].split("/")[3] for e in collector.stored)
    assert labels == {"parent-before": 50, "parent-after": 50, "child0": 100, "child1": 100}
