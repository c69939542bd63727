"""One error hierarchy; each error knows its HTTP status and is rendered as one envelope."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status_code = 500

    def __init__(self, detail: Any = None, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail if detail is not None else self.default_detail()
        self.headers = headers or {}

    @classmethod
    def default_detail(cls) -> str:
        return cls.__name__

    @property
    def name(self) -> str:
        return type(self).__name__


class BadRequest(AppError):
    status_code = 400


class Unauthorized(AppError):
    status_code = 401


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class PayloadTooLarge(AppError):
    status_code = 413


class UnsupportedMediaType(AppError):
    status_code = 415


class UnprocessableEntity(AppError):
    status_code = 422


class RateLimited(AppError):
    status_code = 429

    def __init__(self, detail: Any = None, *, retry_after: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class ServiceUnavailable(AppError):
    status_code = 503

    def __init__(self, detail: Any = None, *, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
