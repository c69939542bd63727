"""The WSGI middleware with Flask and with plain WSGI apps."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any, Callable

import pytest

flask = pytest.importorskip("flask")
from flask import Blueprint, Flask, Response, jsonify, request  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402

import whowhywhen_sdk  # noqa: E402
from whowhywhen_sdk import WhoWhyWhenWSGIMiddleware, set_consumer  # noqa: E402

from .conftest import API_KEY  # noqa: E402
from .fake_collector import FakeCollector  # noqa: E402


def build_flask(instrument: dict[str, Any] | None) -> Flask:
    app = Flask(__name__)

    @app.get("/users/<int:user_id>")
    def get_user(user_id: int) -> Any:
        return jsonify(id=user_id)

    @app.post("/echo")
    def echo() -> bytes:
        return request.get_data()

    @app.get("/boom")
    def boom() -> str:
        raise ValueError("boom")

    @app.get("/stream")
    def stream() -> Response:
        def chunks() -> Iterator[bytes]:
            yield b"a" * 10
            yield b"b" * 20

        return Response(chunks(), mimetype="text/plain")

    @app.get("/whoami")
    def whoami() -> str:
        set_consumer(request, 7, "Initech")
        return "ok"

    @app.get("/health")
    def health() -> str:
        return "ok"

    blueprint = Blueprint("v1", __name__, url_prefix="/v1")

    @blueprint.get("/orders/<order_id>")
    def order(order_id: str) -> str:
        return order_id

    app.register_blueprint(blueprint)
    if instrument is not None:
        app.wsgi_app = WhoWhyWhenWSGIMiddleware(app.wsgi_app, **instrument)  # type: ignore[method-assign]
    return app


def call_wsgi(
    app: Callable[..., Iterable[bytes]], path: str, method: str = "GET", data: bytes = b""
) -> tuple[Any, bytes]:
    environ = EnvironBuilder(
        path=path, method=method, data=data, environ_base={"REMOTE_ADDR": "198.51.100.4"}
    ).get_environ()
    started: list[Any] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        started.append((status, headers))
        return lambda data: None

    try:
        result = app(environ, start_response)
    except Exception as exc:
        return ("raised", type(exc).__name__), b""
    try:
        body = b"".join(result)
    except Exception as exc:
        return ("raised", type(exc).__name__), b""
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return started, body


def ignore_start(
    status: str, headers: list[tuple[str, str]], exc_info: Any = None
) -> Callable[[bytes], None]:
    return lambda data: None


def stored(collector: FakeCollector) -> list[dict[str, Any]]:
    assert whowhywhen_sdk.flush(3)
    return collector.stored


@pytest.fixture
def options(collector: FakeCollector) -> dict[str, Any]:
    return {"api_key": API_KEY, "url": collector.url}


class TestFlask:
    def test_records_method_url_route_status_sizes(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        client = build_flask(options).test_client()
        response = client.get(
            "/users/12?x=y",
            buffered=True,
            headers={"User-Agent": "httpie/3"},
            environ_base={"REMOTE_ADDR": "198.51.100.4"},
        )
        assert response.json == {"id": 12}
        client.post("/echo", buffered=True, data=b"z" * 50)
        client.get("/v1/orders/abc", buffered=True)
        first, echo, order = stored(collector)
        assert first["url"] == "http://localhost/users/12?x=y"
        assert first["route"] == "/users/{user_id}"
        assert (first["status_code"], first["user_agent"], first["ip_address"]) == (
            200,
            "httpie/3",
            "198.51.100.4",
        )
        assert first["response_size"] == len(response.data)
        assert (echo["method"], echo["request_size"], echo["response_size"]) == ("POST", 50, 50)
        assert echo["route"] == "/echo"
        assert order["route"] == "/v1/orders/{order_id}"

    def test_a_view_exception_is_recorded_with_its_type(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        client = build_flask(options).test_client()
        assert client.get("/boom", buffered=True).status_code == 500
        assert client.get("/nope", buffered=True).status_code == 404
        boom, nope = stored(collector)
        assert (boom["status_code"], boom["exception"]) == (500, "ValueError")
        assert nope["status_code"] == 404
        assert "route" not in nope
        assert "exception" not in nope

    def test_streamed_response_size_and_consumer(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        client = build_flask(options).test_client()
        assert client.get("/stream", buffered=True).data == b"a" * 10 + b"b" * 20
        client.get("/whoami", buffered=True)
        client.get("/health", buffered=True)
        stream, whoami = stored(collector)
        assert stream["response_size"] == 30
        assert (whoami["consumer"], whoami["consumer_name"]) == ("7", "Initech")

    def test_consumer_callback_gets_the_flask_request(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        app = build_flask({**options, "consumer_callback": lambda r: r.headers.get("X-Org")})
        app.test_client().get("/users/1", buffered=True, headers={"X-Org": "umbrella"})
        assert stored(collector)[0]["consumer"] == "umbrella"

    @pytest.mark.parametrize(
        ("path", "method", "data"),
        [
            ("/users/3", "GET", b""),
            ("/echo", "POST", b"abc"),
            ("/boom", "GET", b""),
            ("/stream", "GET", b""),
            ("/missing", "GET", b""),
            ("/health", "GET", b""),
        ],
    )
    def test_responses_are_identical_with_and_without_the_sdk(
        self,
        collector: FakeCollector,
        options: dict[str, Any],
        path: str,
        method: str,
        data: bytes,
    ) -> None:
        bare = call_wsgi(build_flask(None), path, method, data)
        instrumented = call_wsgi(build_flask(options), path, method, data)
        assert instrumented == bare


class TestPlainWSGI:
    def test_write_callable_generator_errors_and_lengths(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            path = environ["PATH_INFO"]
            if path == "/write":
                write = start_response("201 Created", [("Content-Type", "text/plain")])
                write(b"12345")
                return []
            if path == "/fails-late":

                def body() -> Iterator[bytes]:
                    raise KeyError("late")
                    yield b""

                start_response("200 OK", [])
                return body()
            if path == "/fails-early":
                raise LookupError("early")
            start_response("200 OK", [("Content-Length", "2")])
            return [b"ok"]

        wrapped = WhoWhyWhenWSGIMiddleware(app, **options)
        assert call_wsgi(wrapped, "/write")[1] == b""
        assert call_wsgi(wrapped, "/fails-late")[0] == ("raised", "KeyError")
        assert call_wsgi(wrapped, "/fails-early")[0] == ("raised", "LookupError")
        result = wrapped(EnvironBuilder(path="/one").get_environ(), ignore_start)
        assert len(result) == 1  # type: ignore[arg-type]
        list(result)
        result.close()  # type: ignore[attr-defined]
        events = {e["url"].rsplit("/", 1)[1]: e for e in stored(collector)}
        assert (events["write"]["status_code"], events["write"]["response_size"]) == (201, 5)
        assert (events["fails-late"]["status_code"], events["fails-late"]["exception"]) == (
            500,
            "KeyError",
        )
        assert (events["fails-early"]["status_code"], events["fails-early"]["exception"]) == (
            500,
            "LookupError",
        )
        assert "route" not in events["one"]

    def test_file_wrapper_responses_keep_the_servers_fast_path(
        self, collector: FakeCollector, options: dict[str, Any]
    ) -> None:
        class FileWrapper:
            def __init__(self, filelike: Any, block_size: int = 8192) -> None:
                self.filelike = filelike

            def __iter__(self) -> Iterator[bytes]:
                return iter([self.filelike.read()])

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            start_response("200 OK", [("Content-Length", "4")])
            return environ["wsgi.file_wrapper"](io.BytesIO(b"data"))

        environ = EnvironBuilder(path="/file").get_environ()
        environ["wsgi.file_wrapper"] = FileWrapper
        result = WhoWhyWhenWSGIMiddleware(app, **options)(environ, ignore_start)
        assert isinstance(result, FileWrapper)
        (event,) = stored(collector)
        assert event["response_size"] == 4
