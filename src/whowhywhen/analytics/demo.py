"""Realistic sample traffic for a project, stored through the collector's own pipeline.

A diurnal curve (quiet nights, busy afternoons, in the project's time zone), browsers, mobile
apps, HTTP libraries with consumer ids, bots of every category, clients from many countries,
a few slow endpoints and error-prone ones. Used by `whowhywhen demo` and `bench/analytics.py`.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from whowhywhen.api_key.service import KeyPrincipal
from whowhywhen.ingest.pipeline import enrich
from whowhywhen.ingest.schemas import Limits, Rejection, validate_event
from whowhywhen.ingest.service import IngestService
from whowhywhen.kit.time import utc_now


@dataclass(frozen=True, slots=True)
class _Endpoint:
    method: str
    path: str
    weight: float
    median_ms: float
    spread: float = 0.6
    error_4xx: float = 0.02
    error_5xx: float = 0.003


ENDPOINTS = [
    _Endpoint("GET", "/api/users/{n}", 18, 35),
    _Endpoint("GET", "/api/users", 8, 60, error_4xx=0.01),
    _Endpoint("PUT", "/api/users/{n}", 2, 80, error_4xx=0.06),
    _Endpoint("GET", "/api/products", 14, 45),
    _Endpoint("GET", "/api/products/{n}", 16, 30, error_4xx=0.05),
    _Endpoint("GET", "/api/search?q={word}", 9, 140, spread=0.9),
    _Endpoint("POST", "/api/orders", 5, 220, error_4xx=0.08, error_5xx=0.02),
    _Endpoint("GET", "/api/orders/{n}", 6, 50),
    _Endpoint("DELETE", "/api/orders/{n}", 1, 90, error_4xx=0.1),
    _Endpoint("POST", "/api/login", 4, 120, error_4xx=0.15),
    _Endpoint("GET", "/api/reports/export", 1, 1800, spread=0.5, error_5xx=0.06),
    _Endpoint("POST", "/api/webhooks/stripe", 2, 300, error_5xx=0.04),
    _Endpoint("GET", "/api/health", 6, 3, spread=0.3, error_4xx=0, error_5xx=0.001),
    _Endpoint("GET", "/robots.txt", 0.5, 2, spread=0.2, error_4xx=0, error_5xx=0),
    _Endpoint("GET", "/sitemap.xml", 0.5, 25, error_4xx=0.2, error_5xx=0),
]
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
]
LIBRARIES = [
    "curl/8.5.0",
    "python-requests/2.32.3",
    "okhttp/4.12.0",
    "axios/1.7.7",
    "Go-http-client/1.1",
    "PostmanRuntime/7.42.0",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
]
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; "
    "+claudebot@anthropic.com)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "Scrapy/2.11.2 (+https://scrapy.org)",
    "Mozilla/5.0 (compatible; Bytespider; spider-feedback@bytedance.com)",
]
# /16 prefixes registered in many countries (offline geo data resolves them).
NETWORKS = [
    ("8.8", 20),  # US
    ("81.2", 8),  # GB
    ("5.9", 8),  # DE
    ("2.15", 6),  # FR
    ("133.0", 5),  # JP
    ("49.44", 6),  # IN
    ("200.160", 5),  # BR
    ("1.1", 3),  # AU
    ("24.48", 4),  # CA
    ("31.13", 3),  # NL/IE
    ("41.0", 2),  # Africa
    ("58.14", 4),  # CN
    ("77.88", 2),  # RU
    ("190.0", 2),  # Latin America
    ("212.58", 2),  # ES/IT
]
WORDS = ["shoes", "=SUM(A1)", "laptop", "gift", "chair", "phone", "lamp", "book"]
CONSUMERS = ["acme", "globex", "initech", "umbrella", "hooli"]


def _diurnal(moment: datetime) -> float:
    """Relative traffic at a moment: about 5× more at 15:00 than at 03:00, less at weekends."""
    hour = moment.hour + moment.minute / 60
    level = 1.0 + 0.7 * math.sin((hour - 9) / 24 * 2 * math.pi)
    return level * (0.6 if moment.weekday() >= 5 else 1.0)


def generate(
    count: int, *, days: float, now: datetime | None = None, seed: int = 1
) -> Iterator[dict[str, Any]]:
    """`count` events spread over the last `days`, as an SDK would send them."""
    rng = random.Random(seed)  # noqa: S311 (sample data, not secrets)
    now = now or utc_now()
    span = days * 86400
    weights = [e.weight for e in ENDPOINTS]
    nets, net_weights = zip(*NETWORKS, strict=True)
    for _ in range(count):
        while True:
            moment = now - timedelta(seconds=rng.random() * span)
            if rng.random() * 1.7 <= _diurnal(moment):
                break
        endpoint = rng.choices(ENDPOINTS, weights)[0]
        kind = rng.random()
        consumer = None
        if kind < 0.06:
            ua = rng.choice(BOTS)
            if rng.random() < 0.6:
                endpoint = rng.choice(ENDPOINTS[-3:] + ENDPOINTS[3:5])
        elif kind < 0.40:
            ua = rng.choice(LIBRARIES)
            consumer = rng.choice(CONSUMERS)
        else:
            ua = rng.choice(BROWSERS)
        path = endpoint.path.replace("{n}", str(rng.randint(1, 5000))).replace(
            "{word}", rng.choice(WORDS)
        )
        ms = rng.lognormvariate(math.log(endpoint.median_ms), endpoint.spread)
        roll = rng.random()
        if roll < endpoint.error_5xx:
            status = rng.choice([500, 502, 503, 504])
            ms *= rng.choice([0.3, 3.0])
        elif roll < endpoint.error_5xx + endpoint.error_4xx:
            status = rng.choice([400, 401, 403, 404, 404, 422, 429])
            ms *= 0.5
        elif endpoint.method == "POST":
            status = 201
        elif endpoint.method == "DELETE":
            status = 204
        else:
            status = rng.choice([200] * 30 + [304, 301])
        net = rng.choices(nets, net_weights)[0]
        yield {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "url": f"https://api.example.com{path}",
            "method": endpoint.method,
            "status_code": status,
            "duration": round(ms / 1000, 6),
            "user_agent": ua,
            "ip_address": f"{net}.{rng.randint(0, 40)}.{rng.randint(1, 254)}",
            "timestamp": moment.isoformat(),
            "consumer": consumer,
            "request_size": rng.randint(0, 2000) if endpoint.method != "GET" else None,
            "response_size": rng.randint(100, 50_000),
        }


async def store(
    service: IngestService,
    principal: KeyPrincipal,
    events: list[dict[str, Any]],
    *,
    max_age: timedelta,
) -> int:
    """Validate, enrich and store one batch through the collector's pipeline; returns stored."""
    received_at = utc_now()
    limits = Limits(received_at=received_at, max_future=timedelta(seconds=60), max_age=max_age)
    incoming = []
    for index, obj in enumerate(events):
        checked = validate_event(obj, index, limits)
        if not isinstance(checked, Rejection):
            incoming.append(checked)
    context = service.pipeline.for_project(anonymise_ip=principal.anonymize_ip)
    enriched = enrich(incoming, context)
    outcome = await service._store(principal, None, enriched, received_at, 0, {})
    return outcome.stored
