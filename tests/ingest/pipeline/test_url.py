from urllib.parse import parse_qs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.ingest.pipeline.helpers import started
from whowhywhen.ingest.pipeline import (
    PipelineContext,
    UserAgentClassifier,
    build_context,
    parse_url,
)
from whowhywhen.ingest.pipeline.url import parse_query, split_url


class TestSplitUrl:
    @pytest.mark.parametrize(
        ("url", "host", "path", "query"),
        [
            ("https://api.example.com/users/1?x=2", "api.example.com", "/users/1", "x=2"),
            ("http://API.Example.COM/Users", "api.example.com", "/Users", ""),
            ("http://localhost:8000/health", "localhost:8000", "/health", ""),
            ("https://user:secret@example.com/a", "example.com", "/a", ""),
            ("https://example.com", "example.com", "/", ""),
            ("https://example.com?x=1", "example.com", "/", "x=1"),
            ("http://[::1]:8080/v1", "[::1]:8080", "/v1", ""),
            ("/users/1?x=2", None, "/users/1", "x=2"),
            ("/users/1#section?not=query", None, "/users/1", ""),
            ("/search?q=a#frag", None, "/search", "q=a"),
            ("//double/slash", None, "//double/slash", ""),
            ("users/1", None, "/users/1", ""),
            ("", None, "/", ""),
            ("?only=query", None, "/", "only=query"),
            ("/a%20b/c", None, "/a%20b/c", ""),
            ("/redirect/http://x.com/y", None, "/redirect/http://x.com/y", ""),
        ],
    )
    def test_splits_urls_and_paths(self, url: str, host: str | None, path: str, query: str) -> None:
        assert split_url(url) == (host, path, query)

    @pytest.mark.parametrize(
        "url", ["http://[::1/x", "::::", "http://", "\x00\ud800", "%%%", "http:/x", "*"]
    )
    def test_garbage_gives_a_best_effort_path(self, url: str) -> None:
        _, path, _ = split_url(url)
        assert path.startswith("/")

    @given(st.text(max_size=300))
    def test_never_raises_and_path_always_starts_with_a_slash(self, url: str) -> None:
        host, path, _ = split_url(url)
        assert path.startswith("/")
        assert host is None or host == host.lower()


class TestParseQuery:
    def test_keeps_repeated_and_blank_values(self) -> None:
        assert parse_query("a=1&a=2&b=&c") == {"a": ["1", "2"], "b": [""], "c": [""]}

    def test_decodes_percent_escapes_and_plus(self) -> None:
        assert parse_query("q=hello+world&n%20x=%C3%A9") == {"q": ["hello world"], "n x": ["é"]}

    def test_empty_query_is_empty(self) -> None:
        assert parse_query("") == {}

    @given(st.text(alphabet=st.sampled_from("ab=&%+;2Fé x"), max_size=40))
    def test_equals_parse_qs_with_blank_values(self, query: str) -> None:
        assert parse_query(query) == parse_qs(query, keep_blank_values=True)

    @given(st.text(max_size=200))
    def test_equals_parse_qs_on_any_text(self, query: str) -> None:
        assert parse_query(query) == parse_qs(query, keep_blank_values=True)


class TestParseUrlStep:
    def test_fills_host_path_and_query(self, ctx: PipelineContext) -> None:
        event = started(url="https://api.example.com/users/42?expand=orders&expand=items")
        parse_url(event, ctx)
        assert event.host == "api.example.com"
        assert event.path == "/users/42"
        assert event.query_params == {"expand": ["orders", "items"]}

    def test_bare_path_has_no_host(self, ctx: PipelineContext) -> None:
        event = started(url="/v1/ping")
        parse_url(event, ctx)
        assert event.host is None
        assert event.path == "/v1/ping"
        assert event.query_params == {}

    @given(url=st.text(max_size=200))
    def test_never_raises(self, classifier: UserAgentClassifier, url: str) -> None:
        event = started(url=url)
        parse_url(event, build_context(user_agents=classifier))
        assert event.path.startswith("/")
