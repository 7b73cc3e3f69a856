"""Errors the domain raises. Each carries its HTTP status, a stable code and a message;
the web layer renders every one of them in the single API error shape.

Messages are gettext message ids with %(name)s placeholders; the web layer translates them.
"""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:
    """Marks a message for translation without translating it here (geo knows no locale)."""
    return message


class GridwalkError(Exception):
    """`code` is the stable error code; every other keyword fills a %(name)s placeholder."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params
        if code is not None:
            self.code = code


class BadRequest(GridwalkError):
    pass


class InvalidGeometry(BadRequest):
    code = "invalid_geometry"


class Unauthorized(GridwalkError):
    status = 401
    code = "unauthorized"


class Forbidden(GridwalkError):
    status = 403
    code = "forbidden"


class NotFound(GridwalkError):
    status = 404
    code = "not_found"


class UnsupportedMediaType(GridwalkError):
    status = 415
    code = "unsupported_media_type"


class Conflict(GridwalkError):
    status = 409
    code = "conflict"


class TooManyRequests(GridwalkError):
    status = 429
    code = "too_many_requests"


class Unavailable(GridwalkError):
    """Something the answer needs cannot be had now (a file gone since the start)."""

    status = 503
    code = "unavailable"
