"""The data that flows through the pipeline: what comes in, what the steps fill in."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Self

from whowhywhen.models.enums import BotCategory, ClientType, DeviceType


@dataclass(slots=True)
class IncomingEvent:
    """One request-log event, already validated and cleaned by the collector."""

    index: int
    """Position in the batch (error messages and ordering)."""
    event_id: uuid.UUID
    url: str
    """A full URL or just a path (``/users/1?x=2``); at most 8 KiB."""
    method: str
    """Upper-case HTTP verb."""
    status_code: int
    duration_ms: float
    user_agent: str
    """``""`` when absent; already truncated to 1024 characters."""
    ip: str | None
    """The end-client IP as reported in the payload."""
    timestamp: datetime
    """Aware, UTC."""
    route: str | None
    """Route template from the SDK (the framework's router), when given."""
    consumer: str | None
    request_size: int | None
    response_size: int | None
    consumer_name: str | None = None
    exception: str | None = None
    """The exception type when the app raised."""


@dataclass(frozen=True, slots=True)
class BotInfo:
    """A known crawler; the same bot always carries the same ``name``."""

    name: str
    """A clean human name: ``Googlebot``, ``GPTBot``, ``AhrefsBot``."""
    category: BotCategory
    url: str | None


@dataclass(frozen=True, slots=True)
class UserAgentInfo:
    """Everything learnt from one user-agent string; one shared instance per distinct string."""

    raw: str
    browser: str | None
    """Browser or client family as ua-parser names it; ``None`` when unknown."""
    browser_version: str | None
    os: str | None
    os_version: str | None
    device: str | None
    """Device family (``iPhone``, ``Pixel 7``, ``Mac``); ``None`` when unknown."""
    device_type: DeviceType
    client_type: ClientType
    library: str | None = None
    """The HTTP library (``curl``, ``python-requests``) when ``client_type`` is ``library``."""
    bot: BotInfo | None = None


EMPTY_USER_AGENT = UserAgentInfo(
    raw="",
    browser=None,
    browser_version=None,
    os=None,
    os_version=None,
    device=None,
    device_type=DeviceType.other,
    client_type=ClientType.other,
)
"""What an absent user agent is; also the placeholder before the ``user_agent`` step runs."""


@dataclass(slots=True)
class EnrichedEvent:
    """An event being enriched: created from the incoming event, filled in by the steps."""

    source: IncomingEvent
    host: str | None = None
    """Lower-case host (with port when one was given); ``None`` for a bare path."""
    path: str = "/"
    """Always starts with ``/``; not percent-decoded."""
    query_params: dict[str, list[str]] = field(default_factory=dict)
    route: str = "/"
    """The SDK's route when given, else the template inferred from ``path``."""
    route_inferred: bool = False
    ua: UserAgentInfo = EMPTY_USER_AGENT
    ip: str | None = None
    """The client IP, anonymised when the project asks for it."""
    country: str | None = None
    """ISO 3166-1 alpha-2, upper-case."""

    @classmethod
    def start(cls, source: IncomingEvent) -> Self:
        """The event before any step ran: nothing learnt yet, the IP as reported."""
        return cls(source, None, "/", {}, "/", False, EMPTY_USER_AGENT, source.ip, None)
