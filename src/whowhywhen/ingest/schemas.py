"""Collector payloads: the documented models (OpenAPI) and the fast per-event validator.

Bodies are decoded once with msgspec and every event is checked by `validate_event`, so one bad
event is listed in `rejected` while the rest of its batch is stored (partial success).
Rules (RELIABILITY.md VAL-03, COL-11):
- `url` is required (≤ 8 KiB); `status_code`/`response_code` 100–599; `duration`/`response_time`
  in seconds (or `duration_ns`, integer nanoseconds), 0–86,400 s; `method` one of nine verbs
  (default GET).
- `user_agent` over 1024 characters is truncated; NUL characters are removed and lone surrogates
  replaced, so neither reaches the database.
- `timestamp` (ISO 8601 or Unix seconds; or `timestamp_ns`, Unix nanoseconds) more than 60 s in
  the future is clamped to the receive time; older than 7 days is rejected; absent means the
  receive time.
- an invalid `ip_address` is dropped (the event is kept); unknown fields are ignored.

A bulk body holds its events either as objects (`events`) or as rows (`columns` + `rows`): each
row an array of the `ROW_COLUMNS` fields in that order, trailing nulls optional. Rows are what the
SDKs send: a client writes a batch with one JSON call over plain tuples, and the collector
decodes it by position, without a key per field. A row batch may also list its distinct User-Agent
texts once (`user_agents`) and give each row's `user_agent` as an index into that list: a browser's
User-Agent is over 100 characters and most requests of a batch share a few, so the SDK then writes
and compresses each once a batch, not once an event.
"""

from __future__ import annotations

import json
import math
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

import msgspec
from pydantic import BaseModel, Field

from whowhywhen.ingest.pipeline import IncomingEvent
from whowhywhen.kit.ids import uuid7

METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
MAX_URL = 8192
MAX_ROUTE = 2048
MAX_USER_AGENT = 1024
MAX_SHORT = 256
MAX_DURATION_S = 86_400.0
MAX_SIZE = 2**53
MAX_BATCH_ID = 128
#: The row form's columns, in order (`columns` must list exactly these).
ROW_COLUMNS = (
    "id",
    "url",
    "method",
    "status_code",
    "duration_ns",
    "timestamp_ns",
    "user_agent",
    "ip_address",
    "route",
    "request_size",
    "response_size",
    "exception",
    "consumer",
    "consumer_name",
)
_ROW_COLUMNS = list(ROW_COLUMNS)


class LogEvent(BaseModel):
    """One request to your API (the seed README's snippets send exactly these fields)."""

    url: str = Field(description="Full URL or path of the request", max_length=MAX_URL)
    method: str = Field(default="GET", description="HTTP method")
    status_code: int | None = Field(default=None, description="Response status (or response_code)")
    response_code: int | None = Field(default=None, description="Alias of status_code")
    duration: float | None = Field(default=None, description="Seconds until the response ended")
    response_time: float | None = Field(default=None, description="Alias of duration (seconds)")
    duration_ns: int | None = Field(
        default=None, ge=0, description="The duration in integer nanoseconds (instead of seconds)"
    )
    user_agent: str | None = Field(default=None, description="User-Agent of the client")
    ip_address: str | None = Field(default=None, description="IP address of the client")
    timestamp: str | float | None = Field(
        default=None, description="When the request started: ISO 8601 or Unix seconds"
    )
    timestamp_ns: int | None = Field(
        default=None, ge=0, description="When the request started, in Unix nanoseconds"
    )
    route: str | None = Field(default=None, description="Route template, e.g. /users/{id}")
    consumer: str | None = Field(default=None, description="Your identifier of the API consumer")
    consumer_name: str | None = Field(default=None, description="Display name of the consumer")
    request_size: int | None = Field(default=None, description="Request body size in bytes")
    response_size: int | None = Field(default=None, description="Response body size in bytes")
    exception: str | None = Field(default=None, description="Exception type when the app raised")
    id: uuid.UUID | None = Field(default=None, description="Client-generated event id (dedup)")


class SdkReport(BaseModel):
    name: str | None = None
    version: str | None = None
    attempt: int | None = None
    dropped: dict[str, int] = Field(
        default_factory=dict, description="Events the SDK dropped since its last report, by reason"
    )


class LogBatch(BaseModel):
    """A batch: `{batch_id, events, sdk}`, or `{batch_id, columns, rows, sdk}` with each event a
    row of values in the order of `columns`; a bare JSON array of events is accepted too."""

    batch_id: str | None = Field(
        default=None, max_length=MAX_BATCH_ID, description="Retries with the same id store once"
    )
    events: list[LogEvent] | None = Field(
        default=None, max_length=1000, description="The events as objects (or use columns + rows)"
    )
    columns: list[str] | None = Field(
        default=None,
        description="With `rows`: exactly " + ", ".join(ROW_COLUMNS),
        json_schema_extra={"example": list(ROW_COLUMNS)},
    )
    rows: list[list[Any]] | None = Field(
        default=None,
        max_length=1000,
        description="The events as arrays of values in the order of `columns` (null when "
        "unknown; trailing nulls may be left out); durations and timestamps in nanoseconds",
    )
    user_agents: list[str] | None = Field(
        default=None,
        max_length=1000,
        description="With `rows`: distinct User-Agent texts; a row's `user_agent` may then be "
        "the index (from 0) of its text in this list instead of the text",
        json_schema_extra={"example": ["Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0"]},
    )
    sdk: SdkReport | None = None


class Rejection(BaseModel):
    index: int
    field: str
    reason: str


class IngestResult(BaseModel):
    accepted: int = Field(description="Events stored (or already stored) by this request")
    duplicates: int = Field(description="Events that had been stored before")
    rejected: list[Rejection] = Field(description="Invalid events; never retry these")


SDK_DROP_REASONS = (
    "queue_overflow",
    "network_error",
    "ratelimit_backoff",
    "send_error",
    "too_large",
    "auth_error",
)


class InvalidBody(Exception):
    """The body as a whole is unusable (not JSON, wrong shape); the message says why."""


class TooManyEvents(Exception):
    pass


@dataclass(slots=True)
class ParsedBatch:
    batch_id: str | None
    events: list[Any]
    sdk_dropped: dict[str, int]
    rows: bool = False
    """The events came as rows: an entry that is not a dict was a malformed row."""


def decode_json(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except RecursionError as exc:
        raise InvalidBody("JSON is nested too deeply") from exc
    except msgspec.DecodeError as exc:
        # msgspec refuses lone surrogates and invalid UTF-8; the lenient decoder keeps the
        # batch and the sanitiser replaces them.
        try:
            return json.loads(body.decode("utf-8", "replace"))
        except (ValueError, RecursionError):
            raise InvalidBody(f"body is not valid JSON: {exc}") from exc


_SHAPE = "expected a JSON array of events, or an object with `events` or `columns` + `rows`"


def parse_batch(payload: Any, max_events: int) -> ParsedBatch:
    if isinstance(payload, list):
        batch_id, events, sdk, rows = None, payload, None, False
    elif isinstance(payload, dict):
        batch_id, sdk = payload.get("batch_id"), payload.get("sdk")
        rows = "rows" in payload or "columns" in payload
        if rows:
            if "events" in payload:
                raise InvalidBody("send either `events` or `columns` + `rows`, not both")
            agents = _user_agents(payload.get("user_agents"), max_events)
            events = _rows_as_events(payload.get("columns"), payload.get("rows"), agents)
        elif "user_agents" in payload:
            raise InvalidBody("`user_agents` goes with `columns` + `rows`, not with `events`")
        elif "events" in payload:
            events = payload["events"]
            if not isinstance(events, list):
                raise InvalidBody("`events` must be an array")
        else:
            raise InvalidBody(_SHAPE)
        if batch_id is not None:
            if not isinstance(batch_id, str) or not 1 <= len(batch_id) <= MAX_BATCH_ID:
                raise InvalidBody(f"`batch_id` must be a string of 1 to {MAX_BATCH_ID} characters")
            batch_id = clean_text(batch_id)
    else:
        raise InvalidBody(_SHAPE)
    if len(events) > max_events:
        raise TooManyEvents(f"a batch holds at most {max_events} events, got {len(events)}")
    return ParsedBatch(batch_id, events, _sdk_dropped(sdk), rows)


def _rows_as_events(
    columns: Any, rows: Any, agents: list[str] | None
) -> list[dict[str, Any] | _Reject | None]:
    """Rows as event objects (None for a row that is not an array of at most 14 values), with
    `user_agent` indexes read from `agents` (a `_Reject` for an index that is not in it)."""
    if columns != _ROW_COLUMNS:
        raise InvalidBody("`columns` must be exactly " + json.dumps(_ROW_COLUMNS))
    if not isinstance(rows, list):
        raise InvalidBody("`rows` must be an array of arrays")
    width = len(ROW_COLUMNS)
    events: list[dict[str, Any] | _Reject | None] = []
    for row in rows:
        if not isinstance(row, list) or len(row) > width:
            events.append(None)
            continue
        event = dict(zip(ROW_COLUMNS, row, strict=False))
        agent = event.get("user_agent")
        if type(agent) is int:
            try:
                event["user_agent"] = _agent_at(agents, agent)
            except _Reject as rejection:
                events.append(rejection)
                continue
        events.append(event)
    return events


def _user_agents(value: Any, max_events: int) -> list[str] | None:
    """A row batch's `user_agents` list, checked."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(text, str) for text in value):
        raise InvalidBody("`user_agents` must be an array of strings")
    if len(value) > max_events:
        raise InvalidBody(f"`user_agents` holds at most {max_events} texts, got {len(value)}")
    return value


def _agent_at(agents: list[str] | None, index: int) -> str:
    """The User-Agent a row gives as an index into its batch's `user_agents`."""
    if agents is None:
        raise _Reject("user_agent", "is an index, but the batch has no `user_agents`")
    if not 0 <= index < len(agents):
        reason = f"index {index} is not in `user_agents`, which holds {len(agents)} texts"
        raise _Reject("user_agent", reason)
    return agents[index]


def _sdk_dropped(sdk: Any) -> dict[str, int]:
    if not isinstance(sdk, dict) or not isinstance(sdk.get("dropped"), dict):
        return {}
    dropped = sdk["dropped"]
    counts = {}
    for reason in SDK_DROP_REASONS:
        value = dropped.get(reason)
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31:
            counts[reason] = value
    return counts


class _Event(msgspec.Struct, kw_only=True):
    """The common case decoded in C; anything unusual falls back to `validate_event`."""

    url: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_URL)]
    method: str = "GET"
    status_code: int | None = None
    response_code: int | None = None
    duration: float | None = None
    response_time: float | None = None
    duration_ns: Annotated[int, msgspec.Meta(ge=0)] | None = None
    user_agent: str | None = None
    ip_address: str | None = None
    timestamp: datetime | float | None = None
    timestamp_ns: Annotated[int, msgspec.Meta(ge=0)] | None = None
    route: Annotated[str, msgspec.Meta(max_length=MAX_ROUTE)] | None = None
    consumer: Annotated[str, msgspec.Meta(max_length=MAX_SHORT)] | None = None
    consumer_name: Annotated[str, msgspec.Meta(max_length=MAX_SHORT)] | None = None
    exception: Annotated[str, msgspec.Meta(max_length=MAX_SHORT)] | None = None
    request_size: Annotated[int, msgspec.Meta(ge=0, lt=MAX_SIZE)] | None = None
    response_size: Annotated[int, msgspec.Meta(ge=0, lt=MAX_SIZE)] | None = None
    id: uuid.UUID | None = None


class _Row(msgspec.Struct, array_like=True):
    """One event of the row form, decoded by position (`ROW_COLUMNS`); it answers to the same
    attribute names as `_Event`, so `_finish` checks both."""

    id: uuid.UUID | None
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_URL)]
    method: str
    status_code: int | None
    duration_ns: Annotated[int, msgspec.Meta(ge=0)] | None
    timestamp_ns: Annotated[int, msgspec.Meta(ge=0)] | None = None
    user_agent: str | int | None = None  # an index into the batch's `user_agents`
    ip_address: str | None = None
    route: Annotated[str, msgspec.Meta(max_length=MAX_ROUTE)] | None = None
    request_size: Annotated[int, msgspec.Meta(ge=0, lt=MAX_SIZE)] | None = None
    response_size: Annotated[int, msgspec.Meta(ge=0, lt=MAX_SIZE)] | None = None
    exception: Annotated[str, msgspec.Meta(max_length=MAX_SHORT)] | None = None
    consumer: Annotated[str, msgspec.Meta(max_length=MAX_SHORT)] | None = None
    consumer_name: Annotated[str, msgspec.Meta(max_length=MAX_SHORT)] | None = None
    response_code: ClassVar[None] = None
    duration: ClassVar[None] = None
    response_time: ClassVar[None] = None
    timestamp: ClassVar[None] = None


class _Batch(msgspec.Struct, kw_only=True):
    events: list[_Event] | None = None
    columns: list[str] | None = None
    rows: list[_Row] | None = None
    user_agents: list[str] | None = None
    batch_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_BATCH_ID)] | None = None
    sdk: dict[str, Any] | None = None


_batch_decoder = msgspec.json.Decoder(_Batch | list[_Event])
_event_decoder = msgspec.json.Decoder(_Event)


@dataclass(slots=True)
class CheckedBatch:
    batch_id: str | None
    events: list[IncomingEvent]
    rejected: list[Rejection]
    sdk_dropped: dict[str, int]
    size: int


def check_body(body: bytes, limits: Limits, *, single: bool, max_events: int) -> CheckedBatch:
    """Decode and validate a body: typed decoding in C when every event is well-typed, the
    per-event path (which names each bad field) otherwise."""
    try:
        decoded = _event_decoder.decode(body) if single else _batch_decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return _check_slowly(body, limits, single=single, max_events=max_events)
    typed: Sequence[_Event | _Row]
    agents: list[str] | None = None
    if isinstance(decoded, _Event):
        typed, batch_id, sdk = [decoded], None, None
    elif isinstance(decoded, _Batch):
        if decoded.rows is None:
            if (
                decoded.events is None
                or decoded.columns is not None
                or decoded.user_agents is not None
            ):
                return _check_slowly(body, limits, single=single, max_events=max_events)
            typed, batch_id, sdk = decoded.events, decoded.batch_id, decoded.sdk
        else:
            agents = decoded.user_agents
            if (
                decoded.events is not None
                or decoded.columns != _ROW_COLUMNS
                or (agents is not None and len(agents) > max_events)
            ):
                return _check_slowly(body, limits, single=single, max_events=max_events)
            typed, batch_id, sdk = decoded.rows, decoded.batch_id, decoded.sdk
        if batch_id is not None:
            batch_id = clean_text(batch_id)
    else:
        typed, batch_id, sdk = decoded, None, None
    if len(typed) > max_events:
        raise TooManyEvents(f"a batch holds at most {max_events} events, got {len(typed)}")
    events: list[IncomingEvent] = []
    rejected: list[Rejection] = []
    for index, item in enumerate(typed):
        checked = _finish(item, index, limits, agents)
        (rejected if isinstance(checked, Rejection) else events).append(checked)  # type: ignore[arg-type]
    return CheckedBatch(
        batch_id,
        events,
        rejected,
        _sdk_dropped({"dropped": sdk and sdk.get("dropped")}),
        len(typed),
    )


def _check_slowly(body: bytes, limits: Limits, *, single: bool, max_events: int) -> CheckedBatch:
    payload = decode_json(body)
    if single:
        if not isinstance(payload, dict):
            raise InvalidBody("expected one event as a JSON object (use /api/log/bulk for many)")
        parsed = ParsedBatch(None, [payload], {})
    else:
        parsed = parse_batch(payload, max_events)
    events: list[IncomingEvent] = []
    rejected: list[Rejection] = []
    for index, obj in enumerate(parsed.events):
        if parsed.rows and obj is None:
            checked: IncomingEvent | Rejection = Rejection(
                index=index,
                field="",
                reason=f"a row must be an array of at most {len(ROW_COLUMNS)} values",
            )
        elif isinstance(obj, _Reject):
            checked = Rejection(index=index, field=obj.field, reason=obj.reason)
        else:
            checked = validate_event(obj, index, limits)
        (rejected if isinstance(checked, Rejection) else events).append(checked)  # type: ignore[arg-type]
    return CheckedBatch(parsed.batch_id, events, rejected, parsed.sdk_dropped, len(parsed.events))


def _finish(
    item: _Event | _Row, index: int, limits: Limits, agents: list[str] | None = None
) -> IncomingEvent | Rejection:
    """The checks typed decoding cannot express: aliases, ranges, cleaning, clamping; a row's
    `user_agent` index read from its batch's `agents`."""
    try:
        method = item.method.upper()
        if method not in METHODS:
            raise _Reject("method", "must be an HTTP method such as GET or POST")
        status = item.status_code if item.status_code is not None else item.response_code
        if status is None:
            raise _Reject("status_code", "is required (status_code or response_code)")
        if not 100 <= status <= 599:
            field = "status_code" if item.status_code is not None else "response_code"
            raise _Reject(field, "must be an integer from 100 to 599")
        if item.duration is not None:
            field, duration = "duration", item.duration
        elif item.response_time is not None:
            field, duration = "response_time", item.response_time
        elif item.duration_ns is not None:
            field, duration = "duration_ns", item.duration_ns / 1e9
        else:
            raise _Reject("duration", _DURATION_REQUIRED)
        if not (math.isfinite(duration) and 0 <= duration <= MAX_DURATION_S):
            raise _Reject(field, "must be between 0 and 86400 seconds")
        url = _clean(item.url)
        if not url:
            raise _Reject("url", "is required")
        agent = item.user_agent
        if isinstance(agent, int):
            agent = _agent_at(agents, agent)
        user_agent = _clean(agent) if agent else ""
        return IncomingEvent(
            index=index,
            event_id=item.id or uuid7(),
            url=url,
            method=method,
            status_code=status,
            duration_ms=duration * 1000.0,
            user_agent=user_agent[:MAX_USER_AGENT],
            ip=_ip(item.ip_address),
            timestamp=_timestamp(
                item.timestamp
                if item.timestamp is not None or item.timestamp_ns is None
                else item.timestamp_ns / 1e9,
                limits.received_at,
                limits.max_future,
                limits.max_age,
            ),
            route=_clean(item.route) or None if item.route else None,
            consumer=_clean(item.consumer) or None if item.consumer else None,
            consumer_name=_clean(item.consumer_name) or None if item.consumer_name else None,
            exception=_clean(item.exception) or None if item.exception else None,
            request_size=item.request_size,
            response_size=item.response_size,
        )
    except _Reject as rejection:
        return Rejection(index=index, field=rejection.field, reason=rejection.reason)


def _clean(value: str) -> str:
    # Typed decoding already refused lone surrogates; only NUL needs removing.
    return value.replace("\x00", "") if "\x00" in value else value


def clean_text(value: str) -> str:
    """Remove NUL characters and replace lone surrogates: neither may reach the database."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value


class _Reject(Exception):
    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason


def _text(obj: dict[str, Any], field: str, limit: int, *, truncate: bool = False) -> str | None:
    value = obj.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Reject(field, "must be a string")
    value = clean_text(value)
    if len(value) > limit:
        if truncate:
            return value[:limit]
        raise _Reject(field, f"longer than {limit} characters")
    return value or None


def _number(obj: dict[str, Any], names: tuple[str, str]) -> tuple[str, float | None]:
    for name in names:
        value = obj.get(name)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _Reject(name, "must be a number")
            return name, float(value)
    return names[0], None


def _nanoseconds(obj: dict[str, Any], field: str) -> float | None:
    """An integer count of nanoseconds, as seconds."""
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Reject(field, "must be a non-negative integer (nanoseconds)")
    return value / 1e9


_DURATION_REQUIRED = "is required (duration or response_time in seconds, or duration_ns)"


def _size(obj: dict[str, Any], field: str) -> int | None:
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_SIZE:
        raise _Reject(field, "must be a non-negative integer")
    return value


def _ip(value: Any) -> str | None:
    """The canonical form of an IPv4/IPv6 address (IPv4-mapped IPv6 as IPv4), else None."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    value = value.strip()
    try:
        return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, value))
    except OSError:
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, value)
    except OSError:
        return None
    if packed[:12] == _V4_MAPPED:
        return socket.inet_ntop(socket.AF_INET, packed[12:])
    return socket.inet_ntop(socket.AF_INET6, packed)


_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"


def _timestamp(
    value: Any, received_at: datetime, max_future: timedelta, max_age: timedelta
) -> datetime:
    if value is None:
        return received_at
    if isinstance(value, bool):
        raise _Reject("timestamp", "must be an ISO 8601 string or Unix seconds")
    if isinstance(value, datetime):
        when = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    elif isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise _Reject("timestamp", "must be a finite, non-negative Unix time")
        try:
            when = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise _Reject("timestamp", "is out of range") from exc
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise _Reject("timestamp", "is not an ISO 8601 date-time") from exc
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    else:
        raise _Reject("timestamp", "must be an ISO 8601 string or Unix seconds")
    if when > received_at + max_future:
        return received_at
    if when < received_at - max_age:
        raise _Reject("timestamp", f"older than {max_age.days} days")
    return when


@dataclass(slots=True)
class Limits:
    received_at: datetime
    max_future: timedelta
    max_age: timedelta


def validate_event(obj: Any, index: int, limits: Limits) -> IncomingEvent | Rejection:
    """Turn one decoded event into an `IncomingEvent`, or say which field is wrong and why."""
    if not isinstance(obj, dict):
        return Rejection(index=index, field="", reason="an event must be a JSON object")
    try:
        url = _text(obj, "url", MAX_URL)
        if url is None:
            raise _Reject("url", "is required")
        method = obj.get("method", "GET")
        if not isinstance(method, str) or (method := method.upper()) not in METHODS:
            raise _Reject("method", "must be an HTTP method such as GET or POST")
        status_field, status = _number(obj, ("status_code", "response_code"))
        if status is None:
            raise _Reject("status_code", "is required (status_code or response_code)")
        if status != int(status) or not 100 <= status <= 599:
            raise _Reject(status_field, "must be an integer from 100 to 599")
        duration_field, duration = _number(obj, ("duration", "response_time"))
        if duration is None:
            duration_field, duration = "duration_ns", _nanoseconds(obj, "duration_ns")
        if duration is None:
            raise _Reject("duration", _DURATION_REQUIRED)
        if not (math.isfinite(duration) and 0 <= duration <= MAX_DURATION_S):
            raise _Reject(duration_field, "must be between 0 and 86400 seconds")
        when = obj.get("timestamp")
        if when is None:
            when = _nanoseconds(obj, "timestamp_ns")
        raw_id = obj.get("id")
        if raw_id is None:
            event_id = uuid7()
        else:
            if not isinstance(raw_id, str):
                raise _Reject("id", "must be a UUID string")
            try:
                event_id = uuid.UUID(raw_id)
            except ValueError as exc:
                raise _Reject("id", "must be a UUID string") from exc
        return IncomingEvent(
            index=index,
            event_id=event_id,
            url=url,
            method=method,
            status_code=int(status),
            duration_ms=duration * 1000.0,
            user_agent=_text(obj, "user_agent", MAX_USER_AGENT, truncate=True) or "",
            ip=_ip(obj.get("ip_address")),
            timestamp=_timestamp(when, limits.received_at, limits.max_future, limits.max_age),
            route=_text(obj, "route", MAX_ROUTE),
            consumer=_text(obj, "consumer", MAX_SHORT),
            consumer_name=_text(obj, "consumer_name", MAX_SHORT),
            exception=_text(obj, "exception", MAX_SHORT),
            request_size=_size(obj, "request_size"),
            response_size=_size(obj, "response_size"),
        )
    except _Reject as rejection:
        return Rejection(index=index, field=rejection.field, reason=rejection.reason)
