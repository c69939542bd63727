from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Callable, Union
from urllib.parse import urlsplit

#: Paths that are not reported unless you pass your own ``exclude_paths``: health checks and
#: static files. Each entry is a regular expression matched against the whole request path.
DEFAULT_EXCLUDE_PATHS: tuple[str, ...] = (
    r"(/api)?/(health|healthz|healthcheck|health-check|health_check|readyz|ready|readiness"
    r"|livez|live|liveness|ping|_health)/?",
    r"/static/.*",
    r"/favicon\.ico",
)
DEFAULT_EXCLUDE_METHODS: tuple[str, ...] = ("OPTIONS",)
#: Proxies whose ``X-Forwarded-For`` is believed: loopback and private networks.
DEFAULT_TRUSTED_PROXIES: tuple[str, ...] = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
)

BULK_PATH = "/api/log/bulk"
MAX_BATCH_EVENTS = 1000

ConsumerValue = Union[str, int, tuple[Any, Any], Mapping[str, Any], None]
ConsumerCallback = Callable[[Any], ConsumerValue]


class ConfigError(ValueError):
    """Raised while resolving options; the middleware logs it once and disables itself."""


@dataclass(frozen=True)
class Config:
    api_key: str
    url: str
    exclude_paths: tuple[str, ...] = DEFAULT_EXCLUDE_PATHS
    exclude_methods: tuple[str, ...] = DEFAULT_EXCLUDE_METHODS
    sample_rate: float = 1.0
    trusted_proxies: tuple[str, ...] = DEFAULT_TRUSTED_PROXIES
    consumer_callback: ConsumerCallback | None = None
    max_queue_size: int = 10_000
    max_queue_bytes: int = 16 * 1024 * 1024
    max_event_bytes: int = 256 * 1024
    batch_size: int = 500
    flush_interval: float = 2.0
    shutdown_timeout: float = 5.0
    timeout: float = 10.0
    retry_backoff: float = 1.0
    retry_backoff_max: float = 30.0

    @property
    def endpoint(self) -> str:
        return self.url + BULK_PATH


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _normalise_url(url: str) -> str:
    url = url.strip().rstrip("/")
    for suffix in (BULK_PATH, "/api/log"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"url must look like http(s)://host[:port], got {url!r}")
    if parts.query or parts.fragment:
        raise ConfigError("url must not contain a query string or fragment")
    return url


def _strings(value: Iterable[str] | str, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    items = tuple(str(v).strip() for v in value)
    if any(not v for v in items):
        raise ConfigError(f"{name} must not contain empty entries")
    return items


def _positive(value: Any, name: str, *, integer: bool = False) -> Any:
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    return number


def resolve_config(
    api_key: str | None = None,
    url: str | None = None,
    *,
    exclude_paths: Iterable[str] | None = None,
    exclude_methods: Iterable[str] | None = None,
    sample_rate: float | None = None,
    trusted_proxies: Iterable[str] | str | None = None,
    consumer_callback: ConsumerCallback | None = None,
    max_queue_size: int = 10_000,
    max_queue_bytes: int = 16 * 1024 * 1024,
    max_event_bytes: int = 256 * 1024,
    batch_size: int = 500,
    flush_interval: float = 2.0,
    shutdown_timeout: float = 5.0,
    timeout: float = 10.0,
    retry_backoff: float = 1.0,
    retry_backoff_max: float = 30.0,
) -> Config:
    """Merge arguments with ``WHOWHYWHEN_*`` environment variables; arguments win.

    Raises ConfigError for anything that cannot work.
    """
    key = api_key if api_key else _env("WHOWHYWHEN_API_KEY")
    if not key or not key.strip():
        raise ConfigError("no API key: pass api_key=... or set WHOWHYWHEN_API_KEY")
    key = key.strip()
    if any(c.isspace() for c in key) or not key.isprintable():
        raise ConfigError("the API key contains whitespace or control characters")
    raw_url = url if url else _env("WHOWHYWHEN_URL")
    if not raw_url:
        raise ConfigError(
            "no collector URL: pass url='http://your-whowhywhen:8001' or set WHOWHYWHEN_URL"
        )
    base = _normalise_url(raw_url)

    paths = DEFAULT_EXCLUDE_PATHS if exclude_paths is None else _strings(exclude_paths, "paths")
    try:
        re.compile("|".join(f"(?:{p})" for p in paths))
    except re.error as exc:
        raise ConfigError(f"exclude_paths holds an invalid regular expression: {exc}") from None
    methods = (
        DEFAULT_EXCLUDE_METHODS
        if exclude_methods is None
        else tuple(m.upper() for m in _strings(exclude_methods, "exclude_methods"))
    )

    if sample_rate is None:
        env_rate = _env("WHOWHYWHEN_SAMPLE_RATE")
        sample_rate = float(env_rate) if env_rate is not None else 1.0
    rate = float(sample_rate)
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"sample_rate must be between 0 and 1, got {sample_rate!r}")

    if trusted_proxies is None:
        env_proxies = _env("WHOWHYWHEN_TRUSTED_PROXIES")
        trusted_proxies = env_proxies if env_proxies is not None else DEFAULT_TRUSTED_PROXIES
    proxies = () if trusted_proxies == "" else _strings(trusted_proxies, "trusted_proxies")
    for entry in proxies:
        if entry != "*":
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError(f"trusted_proxies: {entry!r} is not an IP or CIDR") from None

    if consumer_callback is not None and not callable(consumer_callback):
        raise ConfigError("consumer_callback must be callable")

    size = _positive(batch_size, "batch_size", integer=True)
    if size > MAX_BATCH_EVENTS:
        raise ConfigError(f"batch_size must be at most {MAX_BATCH_EVENTS}")
    return Config(
        api_key=key,
        url=base,
        exclude_paths=paths,
        exclude_methods=methods,
        sample_rate=rate,
        trusted_proxies=proxies,
        consumer_callback=consumer_callback,
        max_queue_size=_positive(max_queue_size, "max_queue_size", integer=True),
        max_queue_bytes=_positive(max_queue_bytes, "max_queue_bytes", integer=True),
        max_event_bytes=_positive(max_event_bytes, "max_event_bytes", integer=True),
        batch_size=size,
        flush_interval=_positive(flush_interval, "flush_interval"),
        shutdown_timeout=_positive(shutdown_timeout, "shutdown_timeout"),
        timeout=_positive(timeout, "timeout"),
        retry_backoff=_positive(retry_backoff, "retry_backoff"),
        retry_backoff_max=_positive(retry_backoff_max, "retry_backoff_max"),
    )


def env_enabled() -> bool:
    """``WHOWHYWHEN_ENABLED=false`` turns every middleware into a pass-through."""
    value = _env("WHOWHYWHEN_ENABLED")
    return value is None or value.lower() not in ("0", "false", "no", "off")
