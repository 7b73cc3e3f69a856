"""Open311 GeoReport v2 (JSON) over our issues: services are the issue categories,
requests are issues, open or closed. Authentication as for the API (a token as
`api_key`, a bearer token, or a session); errors keep the project's one error shape."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for
from sqlalchemy import func, select

from geo import issues as issues_domain
from geo.errors import N_, BadRequest, Unauthorized
from geo.models import Building, Issue, IssueEvent, IssuePhoto, Unit
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


def _requests(ids: list[int] | None, fields: Fields | None) -> list[dict[str, Any]]:
    stmt = (
        select(Issue, Unit.name.label("unit"), Building.address.label("address"),
               func.ST_X(Issue.geom).label("lon"), func.ST_Y(Issue.geom).label("lat"))
        .outerjoin(Unit, Unit.id == Issue.unit_id)
        .outerjoin(Building, Building.id == Issue.building_id)
        .where(issues_domain.readable(scope()))
    )
    if ids is not None:
        stmt = stmt.where(Issue.id.in_(ids))
    elif fields is not None:
        code = fields.text("service_code", max_length=32)
        if code:
            stmt = stmt.where(Issue.category == code)
        status = fields.choice("status", ("open", "closed"))
        if status == "open":
            stmt = stmt.where(Issue.status != "closed")
        elif status == "closed":
            stmt = stmt.where(Issue.status == "closed")
        start, end = _when(fields, "start_date"), _when(fields, "end_date")
        if start is None and end is None:
            start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=DEFAULT_DAYS)
        if start is not None:
            stmt = stmt.where(Issue.reported_at >= start)
        if end is not None:
            stmt = stmt.where(Issue.reported_at <= end)
    rows = db.session().execute(stmt.order_by(Issue.reported_at.desc()).limit(MAX_REQUESTS)).all()
    issue_ids = [r.Issue.id for r in rows]
    notes = dict(db.session().execute(
        select(IssueEvent.issue_id, func.max(IssueEvent.id)).where(IssueEvent.issue_id.in_(issue_ids))
        .group_by(IssueEvent.issue_id)
    ).all())
    last_note = dict(db.session().execute(
        select(IssueEvent.issue_id, IssueEvent.note).where(IssueEvent.id.in_(list(notes.values())))
    ).all())
    first_photo = dict(db.session().execute(
        select(IssuePhoto.issue_id, func.min(IssuePhoto.id)).where(IssuePhoto.issue_id.in_(issue_ids))
        .group_by(IssuePhoto.issue_id)
    ).all())
    out = []
    for r in rows:
        issue = r.Issue
        photo = first_photo.get(issue.id)
        out.append({
            "service_request_id": str(issue.id),
            "status": "closed" if issue.status == "closed" else "open",
            "status_notes": last_note.get(issue.id, ""),
            "service_name": issue.category,
            "service_code": issue.category,
            "description": issue.description,
            "agency_responsible": r.unit or "",
            "service_notice": "",
            "requested_datetime": issue.reported_at.isoformat(),
            "updated_datetime": issue.updated_at.isoformat(),
            "expected_datetime": issue.deadline.isoformat() if issue.deadline else None,
            "address": r.address or "",
            "lat": r.lat,
            "long": r.lon,
            "media_url": url_for("api.issue_photo", issue_id=issue.id, photo_id=photo, _external=True)
            if photo else None,
        })
    return out


@bp.get("/requests.json")
def requests_list() -> Response:
    args = {k: v for k, v in request.args.items() if k != "api_key"}
    fields = Fields(args, ("service_request_id", "service_code", "start_date", "end_date", "status", "jurisdiction_id"))
    raw_ids = fields.text("service_request_id", max_length=2000)
    ids = None
    if raw_ids:
        ids = [Fields({"id": part}, ("id",)).integer("id", required=True) or 0 for part in raw_ids.split(",")]
    return jsonify(_requests(ids, fields))


@bp.get("/requests/<int:request_id>.json")
def request_one(request_id: int) -> Response:
    issues_domain.one(db.session(), scope(), request_id)  # 404 unless it exists and may be read
    return jsonify(_requests([request_id], None))


@bp.post("/requests.json")
def create_request() -> tuple[Response, int]:
    form = {k: v for k, v in request.form.items()
            if k not in ("api_key", "jurisdiction_id", "address_string", "email", "first_name", "last_name",
                         "phone", "device_id", "account_id", "address_id", "media_url")}
    fields = Fields(form, ("service_code", "lat", "long", "description"))
    body = {"category": fields.text("service_code", max_length=32, required=True),
            "lat": form.get("lat"), "lon": form.get("long"),
            "description": fields.text("description", max_length=issues_domain.DESCRIPTION_MAX, multiline=True)}
    filed = issues_domain.report(db.session(), scope(), body)
    db.session().commit()
    unit = db.session().get(Unit, filed.issue.unit_id) if filed.issue.unit_id else None
    return jsonify([{"service_request_id": str(filed.issue.id),
                     "service_notice": unit.name if unit else "", "account_id": None}]), 201
