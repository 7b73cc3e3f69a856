"""Open311 GeoReport v2 (JSON) over our issues: services are the issue categories,
requests are issues, open or closed. Authentication as for the API (a token as
`api_key`, a bearer token, or a session); errors keep the project's one error shape."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for

from geo import issues as issues_domain
from geo.errors import N_, BadRequest, Unauthorized
from geo.models import Unit
from geo.validate import Fields
from webmap import db
from webmap.auth import scope

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
MAX_REQUESTS = 1000
DEFAULT_DAYS = 90


@bp.before_request
def _authenticated() -> None:
    if g.user is None:
        raise Unauthorized(N_("log in or send an API token"))


@bp.get("/services.json")
def services() -> Response:
    return jsonify([
        {"service_code": c.code, "service_name": c.name, "description": c.name, "metadata": False,
         "type": "realtime", "keywords": "", "group": "步巡"}
        for c in issues_domain.categories(db.session())
    ])


def _when(fields: Fields, name: str) -> dt.datetime | None:
    raw = fields.text(name, max_length=40)
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(N_("%(field)s must be an ISO 8601 date and time"), field=name) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _status(fields: Fields) -> bool | None:
    """The status filter: open, closed, or both as the spec's comma list (no filter)."""
    raw = fields.text("status", max_length=40)
    wanted = {part.strip() for part in raw.split(",") if part.strip()}
    if wanted - {"open", "closed"}:
        raise BadRequest(N_("%(field)s must be one of %(choices)s"), field="status", choices="open, closed")
    return None if len(wanted) != 1 else wanted == {"closed"}


def _requests(ids: list[int] | None, fields: Fields | None) -> list[dict[str, Any]]:
    """Issues as Open311 service requests (status open or closed)."""
    criteria: dict[str, Any] = {}
    if fields is not None:
        criteria = {
            "category": fields.text("service_code", max_length=32) or None,
            "closed": _status(fields),
            "start": _when(fields, "start_date"),
            "end": _when(fields, "end_date"),
        }
        if criteria["start"] is None and criteria["end"] is None:
            criteria["start"] = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=DEFAULT_DAYS)
    out = []
    for r in issues_domain.service_requests(db.session(), scope(), ids=ids, limit=MAX_REQUESTS, **criteria):
        photo = r.pop("photo_id")
        out.append({
            "service_request_id": str(r["id"]),
            "status": "closed" if r["status"] == "closed" else "open",
            "status_notes": r["last_note"],
            "service_name": r["category"],
            "service_code": r["category"],
            "description": r["description"],
            "agency_responsible": r["unit"],
            "service_notice": "",
            "requested_datetime": r["reported_at"].isoformat(),
            "updated_datetime": r["updated_at"].isoformat(),
            "expected_datetime": r["deadline"].isoformat() if r["deadline"] else None,
            "address": r["address"],
            "lat": r["lat"],
            "long": r["lon"],
            "media_url": url_for("api.issue_photo", issue_id=r["id"], photo_id=photo, _external=True)
            if photo else None,
        })
    return out


@bp.get("/requests.json")
def requests_list() -> Response:
    args = {k: v for k, v in request.args.items() if k != "api_key"}
    fields = Fields(args, ("service_request_id", "service_code", "start_date", "end_date", "status", "jurisdiction_id"))
    raw_ids = fields.text("service_request_id", max_length=2000)
    if raw_ids:
        # The spec: with service_request_id, every other parameter is ignored.
        ids = [Fields({"id": part}, ("id",)).integer("id", required=True) or 0 for part in raw_ids.split(",")]
        return jsonify(_requests(ids, None))
    return jsonify(_requests(None, fields))


@bp.get("/requests/<int:request_id>.json")
def request_one(request_id: int) -> Response:
    issues_domain.one(db.session(), scope(), request_id)  # 404 unless it exists and may be read
    return jsonify(_requests([request_id], None))


@bp.post("/requests.json")
def create_request() -> tuple[Response, int]:
    # What the spec lets a client send that we do not keep (who is reporting is the token's
    # user; no service has attributes) is accepted and left aside.
    form = {k: v for k, v in request.form.items()
            if k not in ("api_key", "jurisdiction_id", "address_string", "email", "first_name", "last_name",
                         "phone", "device_id", "account_id", "address_id", "media_url")
            and not k.startswith("attribute[")}
    fields = Fields(form, ("service_code", "lat", "long", "description"))
    body = {"category": fields.text("service_code", max_length=32, required=True),
            # Named as the spec names them when missing; the domain checks the numbers.
            "lat": fields.text("lat", max_length=40, required=True),
            "lon": fields.text("long", max_length=40, required=True),
            "description": fields.text("description", max_length=issues_domain.DESCRIPTION_MAX, multiline=True)}
    filed = issues_domain.report(db.session(), scope(), body)
    unit = db.session().get(Unit, filed.issue.unit_id) if filed.issue.unit_id else None
    return jsonify([{"service_request_id": str(filed.issue.id),
                     "service_notice": unit.name if unit else "", "account_id": None}]), 201
