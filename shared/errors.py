"""Typed errors. Services subclass them (``TicketNotWaiting(Conflict)``); the HTTP layer maps each to
its status and a clear message."""

from __future__ import annotations

from typing import Any


class HallnetError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class BadRequest(HallnetError):
    status, code = 400, "bad_request"


class Unauthorized(HallnetError):
    status, code = 401, "unauthorized"


class Forbidden(HallnetError):
    status, code = 403, "forbidden"


class NotFound(HallnetError):
    status, code = 404, "not_found"


class Conflict(HallnetError):
    status, code = 409, "conflict"


class Unprocessable(HallnetError):
    status, code = 422, "unprocessable"


class TooManyRequests(HallnetError):
    status, code = 429, "too_many_requests"


class DomainError(HallnetError):
    """Base of a service's rule errors. Each rule's error also names its kind for the HTTP status
    (``class CaseNotInState(errors.Conflict, MattersError)``); its ``code``, the JSON answer's ``error``, is the
    class's own name (``CaseNotInState``)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.code = cls.__name__
