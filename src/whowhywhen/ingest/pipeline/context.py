"""Everything the steps need, passed in explicitly.

The expensive parts (the user-agent classifier, the route-template cache, the geo lookup) are
built once per process and shared; a context is cheap, so the collector makes one per batch with
the project's settings: ``build_context(anonymise_ip=project.anonymise_ip)``.
"""

import dataclasses
import functools
import threading
from dataclasses import dataclass
from typing import Self

from whowhywhen.ingest.pipeline.geoip import GeoLookup, IptoccGeoLookup
from whowhywhen.ingest.pipeline.routes import RouteTemplates
from whowhywhen.ingest.pipeline.user_agents import UserAgentClassifier


@dataclass(slots=True)
class PipelineContext:
    user_agents: UserAgentClassifier
    """Parser, library and bot matchers, and the per-string LRU cache."""
    geo: GeoLookup
    routes: RouteTemplates
    """Route inference with its per-path LRU cache."""
    anonymise_ip: bool = False
    """The project's setting: keep only the network part of client IPs."""

    def for_project(self, *, anonymise_ip: bool) -> Self:
        """The same shared resources with another project's settings."""
        return dataclasses.replace(self, anonymise_ip=anonymise_ip)


_build_lock = threading.Lock()


@functools.cache
def _shared_user_agents() -> UserAgentClassifier:
    return UserAgentClassifier()


@functools.cache
def _shared_routes() -> RouteTemplates:
    return RouteTemplates()


def shared_user_agent_classifier() -> UserAgentClassifier:
    """The process-wide classifier, built on first use (call at start-up to pay for it then)."""
    with _build_lock:
        return _shared_user_agents()


def shared_route_templates() -> RouteTemplates:
    with _build_lock:
        return _shared_routes()


def build_context(
    *,
    anonymise_ip: bool = False,
    user_agents: UserAgentClassifier | None = None,
    geo: GeoLookup | None = None,
    routes: RouteTemplates | None = None,
) -> PipelineContext:
    """A context for one batch; what is not given is the process-wide shared instance."""
    return PipelineContext(
        user_agents=user_agents or shared_user_agent_classifier(),
        geo=geo or IptoccGeoLookup(),
        routes=routes or shared_route_templates(),
        anonymise_ip=anonymise_ip,
    )
