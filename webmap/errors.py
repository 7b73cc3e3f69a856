"""One error shape for the whole API: {"error": {"code", "message"}} with a 4xx/5xx status,
rendered here from the domain's typed errors and from HTTP errors. Pages get the same
message on an HTML page."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext
from werkzeug.exceptions import HTTPException, InternalServerError

from geo.errors import GridwalkError
from webmap.i18n import message

# Stable codes for HTTP errors raised by Flask/werkzeug itself.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_response(status: int, code: str, text: str) -> Response | tuple[str, int]:
    if wants_json():
        response = jsonify({"error": {"code": code, "message": text}})
        response.status_code = status
        return response
    return render_template("error.html", status=status, code=code, message=text), status


def _domain(error: GridwalkError) -> Response | tuple[str, int]:
    return error_response(error.status, error.code, message(error))


def _http(error: HTTPException) -> Response | tuple[str, int]:
    status = error.code or 500
    return error_response(status, _HTTP_CODES.get(status, "error"), gettext(error.name))


def _unexpected(error: InternalServerError) -> Response | tuple[str, int]:
    return error_response(500, "internal_error", gettext("Something went wrong on our side; it has been logged."))


def init_app(app: Flask) -> None:
    app.register_error_handler(GridwalkError, _domain)
    app.register_error_handler(HTTPException, _http)
    app.register_error_handler(InternalServerError, _unexpected)
