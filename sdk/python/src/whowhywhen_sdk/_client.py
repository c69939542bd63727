from __future__ import annotations

import atexit
import functools
import ipaddress
import logging
import os
import random
import re
import threading
import time
import weakref
from collections.abc import Mapping, MutableMapping
from typing import Any, Callable

from . import _log
from ._buffer import Buffer, Stats
from ._config import Config, ConfigError, env_enabled, resolve_config
from ._event import MAX_NAME, MAX_ROUTE, MAX_UA, MAX_URL, Memo, Queued
from ._log import log_limited, logger
from ._sender import Sender
from ._transport import HTTPTransport, Transport

CONSUMER_KEY = "whowhywhen.consumer"
EXCEPTION_KEY = "whowhywhen.exception"
SDK_UA_PREFIX = "whowhywhen-"


def _request_store(request: Any) -> MutableMapping[str, Any] | None:
    """The per-request mapping the adapters read: an ASGI scope, a WSGI environ or Django META."""
    if isinstance(request, MutableMapping):
        return request
    for attribute in ("scope", "environ", "META"):
        store = getattr(request, attribute, None)
        if isinstance(store, MutableMapping):
            return store
    return None


def set_consumer(request: Any, identifier: str | int, name: str | None = None) -> None:
    """Attribute the current request to an API consumer (a customer, an app, a key).

    Call it anywhere while handling the request, with the framework's request object (a
    Starlette/FastAPI ``Request``, ``flask.request``, a Django ``HttpRequest``) or the raw ASGI
    scope / WSGI environ::

        from whowhywhen_sdk import set_consumer

        @app.get("/orders")
        async def orders(request: Request, user: User = Depends(current_user)):
            set_consumer(request, user.org_id, user.org_name)
            ...
    """
    try:
        store = _request_store(request)
        if store is not None and identifier is not None and str(identifier):
            store[CONSUMER_KEY] = (str(identifier), None if name is None else str(name))
    except Exception:
        log_limited("consumer", logging.WARNING, "WhoWhyWhen set_consumer failed", exc_info=True)


def record_exception(request: Any, exc: BaseException) -> None:
    store = _request_store(request)
    if store is not None:
        store[EXCEPTION_KEY] = type(exc).__name__[:MAX_NAME]


def _consumer_pair(value: Any) -> tuple[str | None, str | None]:
    if value is None or value == "":
        return None, None
    if isinstance(value, Mapping):
        ident = value.get("id", value.get("identifier"))
        name = value.get("name")
    elif isinstance(value, (tuple, list)):
        ident = value[0] if value else None
        name = value[1] if len(value) > 1 else None
    else:
        ident, name = value, None
    if ident is None or str(ident) == "":
        return None, None
    return str(ident)[:MAX_NAME], (None if name is None else str(name)[:MAX_NAME])


_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>:]+)>")
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")


def normalise_route(route: str | None) -> str | None:
    """``users/<int:pk>/`` (Django, Flask) -> ``/users/{pk}/``, like Starlette's templates.

    Django ``re_path`` routes lose their anchors and named groups become ``{name}`` too.
    """
    if not route:
        return None
    if "(?P<" in route or route.startswith("^"):
        route = _NAMED_GROUP.sub(r"{\1}", route).replace("^", "").rstrip("$")
    else:
        route = _CONVERTER.sub(r"{\1}", route)
    if not route.startswith("/"):
        route = "/" + route
    return route[:MAX_ROUTE]


class Client:
    """The framework-agnostic core that every adapter shares: config, buffer and sender."""

    def __init__(self, config: Config, transport: Transport | None = None) -> None:
        self.config = config
        self._transport = transport or HTTPTransport(config.endpoint, config.api_key)
        #: What decides whether a request is recorded (`should_capture`): the exclusion
        #: pattern's answer is kept per path, so a known path costs one dict lookup.
        self.excluded_methods = frozenset(config.exclude_methods)
        pattern = re.compile("|".join(f"(?:{p})" for p in config.exclude_paths) or "(?!)")
        self.excluded_paths: Memo[str, bool] = Memo(
            lambda path: pattern.fullmatch(path) is not None, 4096
        )
        self.sample_rate = config.sample_rate
        # The proxy check per address: asked per request that has X-Forwarded-For.
        self._address_trusted = functools.lru_cache(maxsize=4096)(self._in_trusted_networks)
        #: Whether a request's consumer must be looked up even when none was set on it.
        self.wants_consumer = config.consumer_callback is not None
        self._trust_all = "*" in config.trusted_proxies
        self._networks = tuple(
            ipaddress.ip_network(p, strict=False) for p in config.trusted_proxies if p != "*"
        )
        self._atexit_registered = False
        self._reset()
        _live_clients.add(self)
        _install_fork_handler()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self.stats = Stats()
        self.buffer = Buffer(self.config.max_queue_size, self.config.max_queue_bytes, self.stats)
        self._sender: Sender | None = None
        #: Queue a record (``put(record, size)``, ``size`` its approximate bytes): the request
        #: path's whole share of the work. Until the sender runs, this starts it first; then it
        #: is the buffer's own ``put``, so a request pays for one call, not two.
        self.put: Callable[[Queued, int], None] = self._start_and_put

    # -- request path -------------------------------------------------------------------------

    def should_capture(self, method: str, path: str) -> bool:
        if method in self.excluded_methods or self.excluded_paths[path]:
            return False
        return self.sample_rate >= 1.0 or random.random() < self.sample_rate  # noqa: S311

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client address, read from ``X-Forwarded-For`` only when the peer is trusted."""
        if not forwarded_for or peer is None or not self._is_trusted(peer):
            return peer
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        if self._trust_all:
            return hops[0] if hops else peer
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return hop
        return hops[0] if hops else peer

    def _is_trusted(self, ip: str) -> bool:
        return self._trust_all or self._address_trusted(ip)

    def _in_trusted_networks(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def consumer(
        self, store: Mapping[str, Any] | None, request: Callable[[], Any]
    ) -> tuple[str | None, str | None]:
        value = store.get(CONSUMER_KEY) if store is not None else None
        if value is None and self.config.consumer_callback is not None:
            try:
                value = self.config.consumer_callback(request())
            except Exception:
                log_limited(
                    "consumer",
                    logging.WARNING,
                    "WhoWhyWhen consumer_callback raised",
                    exc_info=True,
                )
                return None, None
        return _consumer_pair(value)

    def capture(
        self,
        *,
        method: str,
        url: str,
        status_code: int,
        duration_ns: int,
        timestamp_ns: int,
        user_agent: str | None,
        ip_address: str | None,
        route: str | None = None,
        request_size: int | None = None,
        response_size: int | None = None,
        exception: str | None = None,
        consumer: tuple[str | None, str | None] = (None, None),
    ) -> None:
        """Queue one event; never raises and never does network I/O.

        Only a tuple is built here (text cut to the collector's limits); the sender thread gives
        it an id and writes the JSON."""
        try:
            name = consumer[1] if consumer[0] is not None else None
            url = url if len(url) <= MAX_URL else url[:MAX_URL]
            user_agent = None if user_agent is None else user_agent[:MAX_UA]
            self.put(
                (
                    url,
                    method,
                    status_code,
                    duration_ns,
                    timestamp_ns,
                    user_agent,
                    ip_address,
                    route,
                    request_size,
                    response_size,
                    None if exception is None else exception[:MAX_NAME],
                    consumer[0],
                    name,
                ),
                len(url) + (len(user_agent) if user_agent else 0) + 200,
            )
        except Exception:
            log_limited(
                "capture", logging.WARNING, "WhoWhyWhen could not record a request", exc_info=True
            )

    def _start_and_put(self, record: Queued, size: int) -> None:
        self.start()
        self.buffer.put(record, size)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background sender (idempotent); the adapters call it lazily."""
        with self._lock:
            if self._sender is not None:
                return
            sender = Sender(self.config, self.buffer, self.stats, self._transport)
            sender.start()
            self._sender = sender
            self.put = self.buffer.put
            if not self._atexit_registered:
                self._atexit_registered = True
                atexit.register(self._at_exit)

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued so far; True when it was delivered within ``timeout``."""
        sender = self._sender
        if sender is None:
            return len(self.buffer) == 0
        return sender.flush(self.config.shutdown_timeout if timeout is None else timeout)

    def shutdown(self, timeout: float | None = None) -> None:
        """Deliver what is queued within ``timeout`` (default ``shutdown_timeout``) and stop.

        The next captured request starts a new sender, so a client can outlive a lifespan.
        """
        with self._lock:
            sender, self._sender = self._sender, None
            self.put = self._start_and_put
        if sender is not None:
            sender.close(self.config.shutdown_timeout if timeout is None else timeout)

    def _at_exit(self) -> None:
        try:
            self.shutdown()
        except Exception:  # pragma: no cover - interpreter teardown
            logger.debug("WhoWhyWhen atexit flush failed", exc_info=True)


# -- one client per configuration, shared by every adapter instance ------------------------------

_clients: dict[Config, Client] = {}
_clients_lock = threading.Lock()
_live_clients: weakref.WeakSet[Client] = weakref.WeakSet()
_fork_handler_installed = False


def _after_fork_in_child() -> None:
    global _clients_lock
    _clients_lock = threading.Lock()
    _log._lock = threading.Lock()
    for client in list(_live_clients):
        client._reset()


def _install_fork_handler() -> None:
    global _fork_handler_installed
    if not _fork_handler_installed and hasattr(os, "register_at_fork"):
        _fork_handler_installed = True
        os.register_at_fork(after_in_child=_after_fork_in_child)


def get_client(
    api_key: str | None = None,
    url: str | None = None,
    *,
    transport: Transport | None = None,
    **options: Any,
) -> Client | None:
    """Resolve the configuration and return the shared client, or None (logged once) if the
    SDK is disabled or misconfigured."""
    if not env_enabled():
        logger.info("WhoWhyWhen disabled by WHOWHYWHEN_ENABLED")
        return None
    try:
        config = resolve_config(api_key, url, **options)
    except ConfigError as exc:
        logger.warning("WhoWhyWhen disabled: %s", exc)
        return None
    except TypeError as exc:
        logger.warning("WhoWhyWhen disabled: unknown option (%s)", exc)
        return None
    except Exception:
        logger.warning("WhoWhyWhen disabled: invalid configuration", exc_info=True)
        return None
    if transport is not None:
        return Client(config, transport)
    with _clients_lock:
        client = _clients.get(config)
        if client is None:
            client = _clients[config] = Client(config)
    return client


def flush(timeout: float = 5.0) -> bool:
    """Send what every WhoWhyWhen middleware in this process has queued; wait up to ``timeout``.

    Useful before a short-lived process (a job, a serverless handler) returns::

        import whowhywhen_sdk
        whowhywhen_sdk.flush(timeout=2.0)
    """
    deadline = time.monotonic() + timeout
    done = True
    for client in list(_live_clients):
        done = client.flush(max(0.0, deadline - time.monotonic())) and done
    return done


def shutdown(timeout: float = 5.0) -> None:
    """Flush and stop every WhoWhyWhen sender in this process, within ``timeout`` seconds.

    The middlewares do this on ASGI lifespan shutdown and at interpreter exit already.
    """
    deadline = time.monotonic() + timeout
    for client in list(_live_clients):
        client.shutdown(max(0.0, deadline - time.monotonic()))


def wsgi_host(environ: Mapping[str, Any], scheme: str) -> str:
    """``Host`` as sent, else ``SERVER_NAME[:SERVER_PORT]`` without the scheme's default port."""
    host = environ.get("HTTP_HOST")
    if host:
        return str(host)
    name = str(environ.get("SERVER_NAME", "localhost"))
    port = str(environ.get("SERVER_PORT", ""))
    if not port or (scheme, port) in (("http", "80"), ("https", "443")):
        return name
    return f"{name}:{port}"


def is_sdk_request(user_agent: str | None) -> bool:
    return user_agent is not None and user_agent.startswith(SDK_UA_PREFIX)
