import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.ingest.pipeline.helpers import started
from whowhywhen.ingest.pipeline import (
    PipelineContext,
    RouteTemplates,
    infer_route_template,
    route_template,
)
from whowhywhen.ingest.pipeline.routes import MAX_ROUTE_LENGTH


class TestInferRouteTemplate:
    @pytest.mark.parametrize(
        ("path", "template"),
        [
            ("/users/123", "/users/{id}"),
            ("/users/123/", "/users/{id}/"),
            ("/orders/550e8400-e29b-41d4-a716-446655440000/items", "/orders/{id}/items"),
            ("/orders/550E8400-E29B-41D4-A716-446655440000", "/orders/{id}"),
            ("/commits/9fceb02d0ae598e95dc970b74767f19372d61af8", "/commits/{id}"),
            ("/objects/5f2b9c1e", "/objects/{id}"),
            ("/users/1/posts/2/comments/3", "/users/{id}/posts/{id}/comments/{id}"),
            ("/1/2", "/{id}/{id}"),
            ("/files/V1StGXR8_Z5jdHi6B-myT", "/files/{id}"),
            ("/t/eyJhbGciOiJIUzI1NiJ9abc123", "/t/{id}"),
            ("/customers/cus_NffrFeUfNV2Hib", "/customers/{id}"),
            ("/reports/2024-05-01", "/reports/{id}"),
            ("/users/jane.doe@example.com/settings", "/users/{id}/settings"),
            ("/users/123.json", "/users/{id}.json"),
            ("/api/v1/users", "/api/v1/users"),
            ("/v2", "/v2"),
            ("/healthz", "/healthz"),
            ("/", "/"),
            ("/deadbeefcafe", "/deadbeefcafe"),
            (
                "/blog/how-to-install-python-3-12-on-ubuntu",
                "/blog/how-to-install-python-3-12-on-ubuntu",
            ),
            ("/api/v1.2/status", "/api/v1.2/status"),
            ("/oauth2/callback", "/oauth2/callback"),
            ("/s3/bucket", "/s3/bucket"),
            ("/user_settings", "/user_settings"),
            ("/abc123", "/abc123"),
            ("/@jane", "/@jane"),
        ],
    )
    def test_collapses_id_like_segments_only(self, path: str, template: str) -> None:
        assert infer_route_template(path) == template

    def test_long_paths_are_cut_to_the_stored_length(self) -> None:
        assert len(infer_route_template("/a" * 5000)) == MAX_ROUTE_LENGTH

    @given(st.text(max_size=300).map(lambda s: "/" + s))
    def test_never_raises_and_is_idempotent(self, path: str) -> None:
        template = infer_route_template(path)
        assert template.startswith("/")
        assert infer_route_template(template) == template


class TestRouteTemplates:
    def test_caches_per_path(self) -> None:
        routes = RouteTemplates(maxsize=10)
        assert routes.template("/users/1") == "/users/{id}"
        assert routes.template("/users/1") == "/users/{id}"
        info = routes.cache_info()
        assert (info.hits, info.misses, info.currsize) == (1, 1, 1)

    def test_cache_is_bounded(self) -> None:
        routes = RouteTemplates(maxsize=10)
        for n in range(100):
            routes.template(f"/users/{n}")
        assert routes.cache_info().currsize == 10

    def test_long_paths_are_not_cached(self) -> None:
        routes = RouteTemplates(maxsize=10, max_cached_path=20)
        assert routes.template("/users/" + "1" * 50) == "/users/{id}"
        assert routes.cache_info().currsize == 0


class TestRouteTemplateStep:
    def test_keeps_the_sdk_route(self, ctx: PipelineContext) -> None:
        event = started(route="/users/{user_id}")
        event.path = "/users/42"
        route_template(event, ctx)
        assert event.route == "/users/{user_id}"
        assert event.route_inferred is False

    def test_infers_without_an_sdk_route(self, ctx: PipelineContext) -> None:
        event = started(route=None)
        event.path = "/users/42"
        route_template(event, ctx)
        assert event.route == "/users/{id}"
        assert event.route_inferred is True

    def test_empty_sdk_route_counts_as_absent(self, ctx: PipelineContext) -> None:
        event = started(route="")
        event.path = "/users/42"
        route_template(event, ctx)
        assert (event.route, event.route_inferred) == ("/users/{id}", True)

    def test_cuts_an_overlong_sdk_route(self, ctx: PipelineContext) -> None:
        event = started(route="/x" * 2000)
        route_template(event, ctx)
        assert len(event.route) == MAX_ROUTE_LENGTH
