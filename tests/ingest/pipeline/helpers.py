"""Builders for pipeline tests."""

import dataclasses
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from whowhywhen.ingest.pipeline import EnrichedEvent, IncomingEvent

DATA = Path(__file__).with_name("data")

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
CHROME_ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GPTBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot"
)


def incoming_event(**overrides: Any) -> IncomingEvent:
    """A valid incoming event; any field can be overridden."""
    event = IncomingEvent(
        index=0,
        event_id=uuid.UUID(int=1),
        url="https://api.example.com/users/42?expand=orders",
        method="GET",
        status_code=200,
        duration_ms=42.1,
        user_agent=CHROME_WINDOWS,
        ip="8.8.8.8",
        timestamp=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        route=None,
        consumer=None,
        request_size=None,
        response_size=None,
    )
    return dataclasses.replace(event, **overrides)


def started(**overrides: Any) -> EnrichedEvent:
    """An event before any step ran."""
    return EnrichedEvent.start(incoming_event(**overrides))


def browser_user_agents() -> list[str]:
    """The browser corpus (see data/make_browser_user_agents.py)."""
    text = (DATA / "browser_user_agents.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]
