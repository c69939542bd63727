"""The named steps, in order, and :func:`enrich` that runs them over a batch."""

from collections.abc import Callable, Sequence

from whowhywhen.ingest.pipeline.context import PipelineContext
from whowhywhen.ingest.pipeline.events import EnrichedEvent, IncomingEvent
from whowhywhen.ingest.pipeline.geoip import anonymise_address
from whowhywhen.ingest.pipeline.routes import MAX_ROUTE_LENGTH
from whowhywhen.ingest.pipeline.url import parse_query, split_url

Step = Callable[[EnrichedEvent, PipelineContext], None]
"""A step reads the event (its source and what earlier steps filled in) and the context, and
fills in its own fields of the event. No I/O, no global state, never raises."""


def parse_url(event: EnrichedEvent, ctx: PipelineContext) -> None:
    """URL → ``host``, ``path``, ``query_params``."""
    host, path, query = split_url(event.source.url)
    event.host = host
    event.path = path
    event.query_params = parse_query(query)


def route_template(event: EnrichedEvent, ctx: PipelineContext) -> None:
    """The SDK's route when given, else the template inferred from ``path`` (``route_inferred``)."""
    if event.source.route:
        event.route = event.source.route[:MAX_ROUTE_LENGTH]
        event.route_inferred = False
    else:
        event.route = ctx.routes.template(event.path)
        event.route_inferred = True


def user_agent(event: EnrichedEvent, ctx: PipelineContext) -> None:
    """User-agent string → browser, OS, device, device type, client type, library."""
    event.ua = ctx.user_agents.parse(event.source.user_agent)


def bot(event: EnrichedEvent, ctx: PipelineContext) -> None:
    """Bot detection on the user agent: name, category and URL; bots get type ``bot``."""
    event.ua = ctx.user_agents.classify(event.ua.raw)


def geo(event: EnrichedEvent, ctx: PipelineContext) -> None:
    """Client IP → ISO country code; ``None`` for private, reserved or invalid addresses."""
    event.country = ctx.geo.country(event.ip) if event.ip else None


def anonymise_ip(event: EnrichedEvent, ctx: PipelineContext) -> None:
    """When the project asks for it, keep only the network part of the IP (after ``geo``)."""
    if ctx.anonymise_ip and event.ip:
        event.ip = anonymise_address(event.ip)


STEPS: tuple[Step, ...] = (parse_url, route_template, user_agent, bot, geo, anonymise_ip)


def enrich(
    events: Sequence[IncomingEvent], ctx: PipelineContext, steps: Sequence[Step] = STEPS
) -> list[EnrichedEvent]:
    """Run ``steps`` over each event of a batch, in order; one enriched event per input."""
    enriched: list[EnrichedEvent] = []
    for source in events:
        event = EnrichedEvent.start(source)
        for step in steps:
            step(event, ctx)
        enriched.append(event)
    return enriched
