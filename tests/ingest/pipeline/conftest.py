import pytest

from whowhywhen.ingest.pipeline import (
    PipelineContext,
    RouteTemplates,
    UserAgentClassifier,
    build_context,
    shared_user_agent_classifier,
)


@pytest.fixture(scope="session")
def classifier() -> UserAgentClassifier:
    return shared_user_agent_classifier()


@pytest.fixture
def ctx(classifier: UserAgentClassifier) -> PipelineContext:
    return build_context(user_agents=classifier, routes=RouteTemplates())
