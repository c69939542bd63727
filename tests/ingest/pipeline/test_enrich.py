import dataclasses
import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from tests.ingest.pipeline.helpers import GPTBOT, incoming_event
from whowhywhen.ingest.pipeline import (
    STEPS,
    EnrichedEvent,
    IncomingEvent,
    PipelineContext,
    RouteTemplates,
    UserAgentClassifier,
    build_context,
    enrich,
    shared_route_templates,
    shared_user_agent_classifier,
)
from whowhywhen.models.enums import BotCategory, ClientType


class TestSteps:
    def test_named_steps_in_order(self) -> None:
        assert [step.__name__ for step in STEPS] == [
            "parse_url",
            "route_template",
            "user_agent",
            "bot",
            "geo",
            "anonymise_ip",
        ]


class TestEnrich:
    def test_enriches_every_field(self, ctx: PipelineContext) -> None:
        source = incoming_event(
            url="https://api.example.com/users/42?expand=orders",
            user_agent=GPTBOT,
            ip="8.8.8.8",
        )
        [event] = enrich([source], ctx.for_project(anonymise_ip=True))
        assert event.source is source
        assert (event.host, event.path) == ("api.example.com", "/users/42")
        assert event.query_params == {"expand": ["orders"]}
        assert (event.route, event.route_inferred) == ("/users/{id}", True)
        assert event.ua.client_type is ClientType.bot
        assert event.ua.bot is not None
        assert (event.ua.bot.name, event.ua.bot.category) == ("GPTBot", BotCategory.ai_crawler)
        assert event.country == "US"  # looked up before anonymisation
        assert event.ip == "8.8.8.0"

    def test_one_output_per_input_in_order(self, ctx: PipelineContext) -> None:
        sources = [incoming_event(index=i, url=f"/items/{i}") for i in range(5)]
        enriched = enrich(sources, ctx)
        assert [e.source.index for e in enriched] == [0, 1, 2, 3, 4]
        assert {e.route for e in enriched} == {"/items/{id}"}

    def test_empty_batch(self, ctx: PipelineContext) -> None:
        assert enrich([], ctx) == []

    def test_runs_the_given_steps(self, ctx: PipelineContext) -> None:
        calls: list[int] = []

        def count(event: EnrichedEvent, ctx: PipelineContext) -> None:
            calls.append(event.source.index)

        enrich([incoming_event(index=7)], ctx, steps=[count])
        assert calls == [7]

    @given(
        url=st.text(max_size=200),
        user_agent=st.text(max_size=300),
        ip=st.none() | st.text(max_size=50) | st.ip_addresses().map(str),
        route=st.none() | st.text(max_size=50),
        anonymise=st.booleans(),
    )
    def test_never_raises(
        self,
        classifier: UserAgentClassifier,
        url: str,
        user_agent: str,
        ip: str | None,
        route: str | None,
        anonymise: bool,
    ) -> None:
        ctx = build_context(anonymise_ip=anonymise, user_agents=classifier)
        source = incoming_event(url=url, user_agent=user_agent, ip=ip, route=route)
        [event] = enrich([source], ctx)
        assert event.path.startswith("/")
        assert event.country is None or len(event.country) == 2
        assert dataclasses.asdict(event.source) == dataclasses.asdict(source)


class TestBuildContext:
    def test_shares_the_expensive_parts(self) -> None:
        first = build_context()
        second = build_context(anonymise_ip=True)
        assert first.user_agents is second.user_agents is shared_user_agent_classifier()
        assert first.routes is second.routes is shared_route_templates()
        assert (first.anonymise_ip, second.anonymise_ip) == (False, True)

    def test_accepts_its_own_parts(self, classifier: UserAgentClassifier) -> None:
        routes = RouteTemplates(maxsize=5)
        ctx = build_context(user_agents=classifier, routes=routes)
        assert ctx.routes is routes

    def test_for_project_keeps_the_resources(self, ctx: PipelineContext) -> None:
        other = ctx.for_project(anonymise_ip=True)
        assert other.anonymise_ip is True
        assert ctx.anonymise_ip is False
        assert (other.user_agents, other.geo, other.routes) == (
            ctx.user_agents,
            ctx.geo,
            ctx.routes,
        )


def test_incoming_event_is_a_plain_dataclass() -> None:
    event = IncomingEvent(
        index=0,
        event_id=uuid.uuid4(),
        url="/",
        method="GET",
        status_code=204,
        duration_ms=0.5,
        user_agent="",
        ip=None,
        timestamp=datetime.now(UTC),
        route=None,
        consumer="acme",
        request_size=10,
        response_size=None,
    )
    assert EnrichedEvent.start(event).ip is None
