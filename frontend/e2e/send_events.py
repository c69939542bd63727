# ruff: noqa: S310, S311, T201
"""Sends realistic traffic to a WhoWhyWhen collector through the Python SDK's WSGI middleware.

Usage: python send_events.py API_KEY COLLECTOR_URL [COUNT]
       python send_events.py API_KEY COLLECTOR_URL --history HOURS
A plain WSGI app is wrapped and called in process (no HTTP server needed); the SDK batches
the events and `flush()` waits until the collector acknowledged them. `--history` backfills
past hours through `POST /api/log/bulk` (the SDK always stamps "now"), so the screenshots show
a realistic day.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from wsgiref.util import setup_testing_defaults

import whowhywhen_sdk
from whowhywhen_sdk import WhoWhyWhenWSGIMiddleware

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GPTBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot)"
)
# (method, path, query, status, user agent, client IP)
TRAFFIC = [
    ("GET", "/users/42", "expand=orders&page=2", 200, CHROME, "8.8.8.8"),
    ("GET", "/users/7", "", 200, IPHONE, "81.169.145.1"),
    ("POST", "/orders", "", 201, "python-requests/2.32.3", "133.242.0.1"),
    ("GET", "/orders/991", "", 404, CHROME, "8.8.4.4"),
    ("GET", "/products", "q=shoes&sort=price", 200, GOOGLEBOT, "66.249.66.1"),
    ("GET", "/products", "", 500, "curl/8.5.0", "81.169.145.2"),
    ("GET", "/health-report", "", 200, GPTBOT, "20.15.240.64"),
    ("DELETE", "/users/42", "", 204, CHROME, "8.8.8.8"),
]


def app(environ, start_response):
    status = int(environ["wanted.status"])
    time.sleep(random.uniform(0.004, 0.06) * (4 if status >= 500 else 1))
    reason = {200: "OK", 201: "Created", 204: "No Content", 404: "Not Found"}.get(status, "Error")
    start_response(f"{status} {reason}", [("Content-Type", "text/plain")])
    return [b"" if status == 204 else b"ok"]


def history(key: str, url: str, hours: int) -> None:
    rng = random.Random(7)
    now = datetime.now(UTC)
    events = []
    for h in range(hours, 0, -1):
        # A daily shape: busier in the (UTC) afternoon, a 5xx incident three hours ago.
        hour = (now - timedelta(hours=h)).hour
        volume = int(20 + 25 * (1 + math.sin((hour - 9) / 24 * 2 * math.pi)))
        for _ in range(volume):
            method, path, query, status, ua, ip = rng.choice(TRAFFIC)
            if h == 3 and rng.random() < 0.35:
                status = 503
            slow = 6 if status >= 500 else 1
            events.append(
                {
                    "url": f"https://api.example.com{path}" + (f"?{query}" if query else ""),
                    "method": method,
                    "status_code": status,
                    "duration": rng.lognormvariate(math.log(0.035), 0.6) * slow,
                    "user_agent": ua,
                    "ip_address": ip,
                    "timestamp": (
                        now - timedelta(hours=h) + timedelta(seconds=rng.uniform(0, 3600))
                    ).isoformat(),
                }
            )
    for i in range(0, len(events), 500):
        req = urllib.request.Request(
            f"{url.rstrip('/')}/api/log/bulk",
            data=json.dumps(events[i : i + 500]).encode(),
            headers={"Content-Type": "application/json", "X-API-KEY": key},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as res:
            if res.status != 202:
                sys.exit(f"bulk answered {res.status}")
    print(f"backfilled {len(events)} events over {hours} h")


def main() -> None:
    key, url = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 4 and sys.argv[3] == "--history":
        history(key, url, int(sys.argv[4]))
        return
    count = int(sys.argv[3]) if len(sys.argv) > 3 else len(TRAFFIC) * 3
    wrapped = WhoWhyWhenWSGIMiddleware(app, api_key=key, url=url, flush_interval=0.2)
    for i in range(count):
        method, path, query, status, ua, ip = TRAFFIC[i % len(TRAFFIC)]
        environ: dict = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_X_FORWARDED_FOR": ip,
            "HTTP_USER_AGENT": ua,
            "HTTP_HOST": "api.example.com",
            "wanted.status": status,
        }
        setup_testing_defaults(environ)
        list(wrapped(environ, lambda *_a, **_k: None))
    if not whowhywhen_sdk.flush(timeout=15):
        sys.exit("events were not acknowledged by the collector")
    print(f"sent {count} events")


if __name__ == "__main__":
    main()
