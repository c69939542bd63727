"""The collector's enrichment pipeline: pure, ordered, named steps.

The collector validates a batch into :class:`IncomingEvent` objects, builds a
:class:`PipelineContext` for the project (``build_context(anonymise_ip=...)``: cheap, it reuses
the process-wide classifier and caches) and calls :func:`enrich`, which turns each event into an
:class:`EnrichedEvent` by running :data:`STEPS` over it in order:

1. ``parse_url``: URL → host, path (kept as sent, always starting with ``/``), query parameters.
2. ``route_template``: the SDK's route, else ``/users/123`` → ``/users/{id}`` (cached per path).
3. ``user_agent``: ua-parser's browser, OS and device, device type, and HTTP libraries (curl,
   python-requests, okhttp…: API clients, not bots).
4. ``bot``: crawler-user-agents patterns (one RE2 pass) plus our names and categories for the
   well-known bots, then ua-parser's spider detection. Steps 3 and 4 are cached per distinct
   user-agent string: each string is parsed and matched once.
5. ``geo``: IP → ISO country (offline data in the ``iptocc`` wheel).
6. ``anonymise_ip``: when the project asks, 1.2.3.4 → 1.2.3.0 and IPv6 → its /48; after ``geo``
   so the country is still right.

Each step is a plain function of ``(event, context)`` that fills in its fields of the event. No
step does I/O, touches a database or keeps state outside the context, and none raises on any
input, so each can be unit-tested alone and the whole pipeline costs a few microseconds per event.
"""

from whowhywhen.ingest.pipeline.context import (
    PipelineContext,
    build_context,
    shared_route_templates,
    shared_user_agent_classifier,
)
from whowhywhen.ingest.pipeline.events import (
    BotInfo,
    EnrichedEvent,
    IncomingEvent,
    UserAgentInfo,
)
from whowhywhen.ingest.pipeline.geoip import GeoLookup, IptoccGeoLookup, anonymise_address
from whowhywhen.ingest.pipeline.routes import RouteTemplates, infer_route_template
from whowhywhen.ingest.pipeline.steps import (
    STEPS,
    Step,
    anonymise_ip,
    bot,
    enrich,
    geo,
    parse_url,
    route_template,
    user_agent,
)
from whowhywhen.ingest.pipeline.user_agents import UserAgentClassifier

__all__ = [
    "STEPS",
    "BotInfo",
    "EnrichedEvent",
    "GeoLookup",
    "IncomingEvent",
    "IptoccGeoLookup",
    "PipelineContext",
    "RouteTemplates",
    "Step",
    "UserAgentClassifier",
    "UserAgentInfo",
    "anonymise_address",
    "anonymise_ip",
    "bot",
    "build_context",
    "enrich",
    "geo",
    "infer_route_template",
    "parse_url",
    "route_template",
    "shared_route_templates",
    "shared_user_agent_classifier",
    "user_agent",
]
