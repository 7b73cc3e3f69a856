"""One error shape for the whole API: {"error": {"code", "message"}} with a 4xx/5xx status,
rendered here from the domain's typed errors and from HTTP errors. Pages get the same
message on an HTML page."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, InternalServerError

from geo.errors import N_, BadRequest, GridwalkError
from webmap.i18n import message

# Stable codes and messages for HTTP errors raised by Flask/werkzeug itself.
_HTTP = {
    400: ("bad_request", N_("The request could not be understood.")),
    401: ("unauthorized", N_("Please log in.")),
    403: ("forbidden", N_("You may not do this.")),
    404: ("not_found", N_("There is nothing at this address.")),
    405: ("method_not_allowed", N_("This address does not accept that method.")),
    409: ("conflict", N_("Someone else changed this first; reload and try again.")),
    413: ("too_large", N_("The request is too large.")),
    415: ("unsupported_media_type", N_("This kind of content is not accepted here.")),
    429: ("too_many_requests", N_("Too many requests; wait a moment and try again.")),
}


def wants_json() -> bool:
    if request.path.startswith("/ogc/"):  # OGC API: JSON unless a browser page was asked for
        chosen = request.args.get("f")
        if chosen is None:
            best = request.accept_mimetypes.best_match(["application/json", "application/geo+json", "text/html"])
            return best != "text/html"
        return chosen != "html"
    return (request.path.startswith(("/api/", "/open311/", "/tiles/"))
            or request.accept_mimetypes.best == "application/json")


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
    if status >= 500:
        return error_response(status, "server_error", gettext("Something went wrong on our side; it has been logged."))
    code, text = _HTTP.get(status, ("error", N_("The request could not be understood.")))
    return error_response(status, code, gettext(text))


def _unexpected(error: Exception) -> Response | tuple[str, int]:
    return error_response(500, "internal_error", gettext("Something went wrong on our side; it has been logged."))


def _stale(_error: Exception) -> Response | tuple[str, int]:
    # Two writers raced on the same version: the second one learns it here.
    return error_response(409, "version_conflict", gettext(_HTTP[409][1]))


def _refuse_nul() -> None:
    # PostgreSQL stores no NUL character; refused here once rather than failing deep down.
    values = [*request.args.values(), *request.args.keys()]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values += [*request.form.values(), *request.form.keys()]
    if any("\x00" in value for value in values):
        raise BadRequest(N_("the request contains a NUL character"), code="nul_character")


def _integrity(_error: Exception) -> Response | tuple[str, int]:
    # A uniqueness race lost to another writer between our check and our write.
    return error_response(409, "conflict", gettext(_HTTP[409][1]))


# PostgreSQL's codes for a transaction that lost a race and may simply be tried again.
_RETRYABLE = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def _database(error: Exception) -> Response | tuple[str, int]:
    """The database refused or could not be reached: a restart, a failover, a full pool. Nothing
    was written (the request's transaction is rolled back); the pool's pre-ping replaces the
    dead connections, so trying again once the database is back succeeds."""
    if getattr(getattr(error, "orig", None), "pgcode", None) in _RETRYABLE:
        return error_response(409, "conflict", gettext(_HTTP[409][1]))
    response = error_response(503, "database_unavailable",
                              gettext("The database cannot be reached just now; nothing was saved. Try again in a moment."))
    if isinstance(response, tuple):
        body, status = response
        return body, status, {"Retry-After": "5"}  # type: ignore[return-value]
    response.headers["Retry-After"] = "5"
    return response


def init_app(app: Flask) -> None:
    app.before_request(_refuse_nul)
    app.register_error_handler(GridwalkError, _domain)
    app.register_error_handler(StaleDataError, _stale)
    app.register_error_handler(IntegrityError, _integrity)
    for error in (OperationalError, InterfaceError, PoolTimeout):
        app.register_error_handler(error, _database)
    app.register_error_handler(HTTPException, _http)
    app.register_error_handler(InternalServerError, _unexpected)
