"""JSON API under /api/v1/: each view parses its parameters, calls one geo function and
serialises the answer. Every error leaves in the one shape (see webmap.errors)."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Any

from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, g, jsonify, request, session

from geo import (
    drawing,
    accountability,
    layers,
    accounts,
    assignments,
    audit,
    coverage,
    directory,
    features,
    offline,
    patrols,
    responsibility,
    visits,
)
from geo import issues as issues_domain
from geo.db import county_today
from geo.errors import N_, BadRequest, Forbidden, NotFound, Unauthorized, UnsupportedMediaType
from geo.models import Person, Unit, User
from geo.validate import DECIMAL, Fields
from webmap import db, exports
from webmap.auth import scope
from webmap.names import status_names
from webmap.openapi import spec as openapi_spec
from webmap.validate_form import uploaded_photos

bp = Blueprint("api", __name__, url_prefix="/api/v1")




@bp.before_request
def _authenticated() -> None:
    # Everything but the API's own description needs a login or a token.
    if request.endpoint != "api.openapi" and g.user is None:
        raise Unauthorized(N_("log in or send an API token"))


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(openapi_spec())


def _number(name: str, *, required: bool = True) -> float | None:
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        if required:
            raise BadRequest(N_("parameter %(name)s is required"), code="missing_parameter", name=name)
        return None
    # ASCII decimals only: float() would also take "１０９" or "1_0".
    if not DECIMAL.fullmatch(raw):
        raise BadRequest(N_("parameter %(name)s must be a number"), name=name)
    value = float(raw)
    if not math.isfinite(value):
        raise BadRequest(N_("parameter %(name)s must be a finite number"), name=name)
    return value


def _integer(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return None
    if not (raw.strip().isascii() and raw.strip().isdigit()) or len(raw.strip()) > 9:
        raise BadRequest(N_("parameter %(name)s must be a whole number"), name=name)
    return int(raw)


def _bbox(layer: str, *, required: bool) -> features.BBox | None:
    raw = request.args.get("bbox")
    if raw is None or raw.strip() == "":
        if required:
            raise BadRequest(N_("parameter %(name)s is required"), code="missing_parameter", name="bbox")
        return None
    parts = raw.split(",")
    if not all(DECIMAL.fullmatch(p) for p in parts):
        raise BadRequest(N_("bbox must be four numbers: minlon,minlat,maxlon,maxlat"))
    values = [float(p) for p in parts]
    if not all(math.isfinite(v) for v in values):
        raise BadRequest(N_("bbox must be four numbers: minlon,minlat,maxlon,maxlat"))
    return features.BBox.checked(values, layer)


def _geojson(text: str) -> Response:
    return Response(text, mimetype="application/geo+json")


@bp.get("/lookup")
def lookup() -> Any:
    lon, lat = _number("lon"), _number("lat")
    return jsonify(responsibility.lookup(db.read_session(), lon, lat, scope()))  # type: ignore[arg-type]


@bp.get("/buildings")
def buildings() -> Response:
    bbox = _bbox("buildings", required=True)
    limit = features.checked_limit(_integer("limit"))
    return _geojson(features.buildings(db.read_session(), bbox, scope(), limit))  # type: ignore[arg-type]


@bp.get("/buildings/<int:building_id>")
def building(building_id: int) -> Any:
    return jsonify(responsibility.building_card(db.read_session(), building_id, scope()))


@bp.get("/areas")
def areas() -> Response:
    bbox = _bbox("areas", required=False)
    limit = features.checked_limit(_integer("limit"))
    return _geojson(features.areas(db.read_session(), request.args.get("level") or None, bbox, scope(), limit))


@bp.get("/areas/<int:area_id>")
def area(area_id: int) -> Any:
    return jsonify(responsibility.area_card(db.read_session(), area_id, scope()))


@bp.get("/areas/<int:area_id>/people")
def area_people(area_id: int) -> Any:
    return jsonify(assignments.people_in(db.read_session(), scope(), area_id))


# The offline map: what a copy of an area would weigh, then the copy (geo.offline).


def _offline_limits() -> offline.Limits:
    config = current_app.config
    return offline.Limits(buildings=config["OFFLINE_MAX_BUILDINGS"], days=config["OFFLINE_DAYS"])


@bp.get("/offline/<int:area_id>")
def offline_plan(area_id: int) -> Any:
    return jsonify(offline.plan(db.read_session(), scope(), area_id, _offline_limits()))


@bp.get("/offline/<int:area_id>/copy")
def offline_copy(area_id: int) -> Any:
    response = jsonify(offline.copy(db.read_session(), scope(), area_id, _offline_limits()))
    response.headers["Cache-Control"] = "private, no-store"
    return response


# Drawing grids and compounds (administrators and officers, in their area).


@bp.post("/areas")
def draw_area() -> Any:
    area = drawing.create(db.session(), scope(), _body())
    return _created(drawing.area_data(area))


@bp.put("/areas/<int:area_id>/geometry")
def redraw_area(area_id: int) -> Any:
    area = drawing.redraw(db.session(), scope(), area_id, _body())
    return jsonify(drawing.area_data(area))


@bp.post("/areas/<int:area_id>/split")
def split_area(area_id: int) -> Any:
    kept, new = drawing.split_grid(db.session(), scope(), area_id, _body())
    return _created({"kept": drawing.area_data(kept), "new": drawing.area_data(new)})


@bp.post("/areas/merge")
def merge_areas() -> Any:
    area = drawing.merge(db.session(), scope(), _body())
    return jsonify(drawing.area_data(area))


@bp.post("/households/count")
def count_households() -> Any:
    return jsonify(drawing.households_within(db.session(), scope(), _body()))


def issue_filters() -> issues_domain.Filters:
    return issues_domain.Filters.read({k: v for k, v in request.args.items() if k in issues_domain.LIST_FIELDS})


@bp.get("/issues")
def issues() -> Response:
    bbox = _bbox("issues", required=False)
    limit = features.checked_limit(_integer("limit"))
    offset = _integer("offset") or 0
    return _geojson(features.issues(db.read_session(), bbox, scope(), issue_filters(), limit, offset))


# --- exports -------------------------------------------------------------------------------


@bp.get("/export/<layer>.<fmt>")
def export(layer: str, fmt: str) -> Response:
    """A layer or list as a file: what the map and the lists show the user, whole."""
    if layer not in layers.LAYERS:
        raise NotFound(N_("there is no layer called %(layer)s"), code="unknown_layer", layer=layer[:40])
    exports.check_format(fmt)
    return exports.download_table(export_table(layer), fmt)


def export_table(layer: str) -> layers.Table:
    session, user_scope = db.session(), scope()
    bbox = _bbox("export", required=False)
    if layer == "areas":
        return layers.areas(session, user_scope, request.args.get("level") or None, bbox)
    if layer == "buildings":
        return layers.buildings(session, user_scope, bbox)
    if layer == "issues":
        tz = ZoneInfo(current_app.config["TIMEZONE"])
        return layers.issues(session, user_scope, issue_filters(), bbox, tz, status_names())
    if layer == "coverage":
        since, until = _window()
        return layers.coverage(session, user_scope, request.args.get("level") or "grid", since, until, bbox,
                               _integer("area_id"))
    if layer == "people":
        return layers.people(session, user_scope)
    return layers.units(session)


def _body_and_files() -> tuple[Any, list[tuple[str, bytes]]]:
    """A write's fields and photos: JSON, or a multipart form with files named "photos"."""
    if request.mimetype != "multipart/form-data":
        return _body(), []
    return request.form.to_dict(), uploaded_photos()


@bp.post("/issues")
def report_issue() -> Any:
    body, files = _body_and_files()
    filed = issues_domain.report(db.session(), scope(), body, files)
    payload = issues_domain.detail(db.session(), scope(), filed.issue)
    return (jsonify(payload), 201) if filed.created else jsonify(payload)


@bp.get("/issues/nearby")
def nearby_issues() -> Any:
    lon, lat = _number("lon"), _number("lat")
    category = request.args.get("category") or None
    return jsonify(issues_domain.nearby(db.session(), scope(), lon, lat, category))  # type: ignore[arg-type]


@bp.get("/issues/<int:issue_id>")
def issue(issue_id: int) -> Any:
    found = issues_domain.one(db.session(), scope(), issue_id)
    return jsonify(issues_domain.detail(db.session(), scope(), found))


@bp.post("/issues/<int:issue_id>/events")
def issue_step(issue_id: int) -> Any:
    body, files = _body_and_files()
    event = issues_domain.step(db.session(), scope(), issue_id, body, files)
    found = issues_domain.one(db.session(), scope(), event.issue_id)
    return jsonify(issues_domain.detail(db.session(), scope(), found)), 201


@bp.get("/issues/<int:issue_id>/photos/<int:photo_id>")
def issue_photo(issue_id: int, photo_id: int) -> Response:
    return _photo(lambda display: issues_domain.photo(db.session(), scope(), issue_id, photo_id, display))


def _photo(fetch: Callable[[bool], tuple[str, bytes]]) -> Response:
    """A stored photo: the phone-sized copy, or with ?size=original the file as sent."""
    size = request.args.get("size", "display")
    if size not in ("display", "original"):
        raise BadRequest(N_("size must be display or original"))
    content_type, data = fetch(size == "display")
    response = Response(data, mimetype=content_type)
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@bp.get("/categories")
def categories() -> Any:
    return jsonify([{"code": c.code, "name": c.name} for c in issues_domain.categories(db.session())])


# --- writes and the directory -------------------------------------------------------------


def _body() -> Any:
    """The JSON object sent with a write."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(N_("send the body as application/json"))
    try:
        # NaN and Infinity are not JSON, though Python's parser takes them.
        data = json.loads(request.get_data(cache=True), parse_constant=_not_json)
    except (ValueError, RecursionError):  # RecursionError: nested thousands deep
        data = None
    if data is None:
        raise BadRequest(N_("the body is not valid JSON"), code="invalid_json")
    return data


def _not_json(constant: str) -> None:
    raise ValueError(constant)


def _page() -> int:
    page = _integer("page")
    if page is None:
        return 1
    if not 1 <= page <= 10000:
        raise BadRequest(N_("page must be between 1 and %(max)s"), max=10000)
    return page


def _created(payload: Any) -> tuple[Response, int]:
    return jsonify(payload), 201


@bp.get("/me")
def me() -> Any:
    return jsonify(directory.user_data(g.user))


def _not_by_token() -> None:
    # A leaked token must not let its holder mint more tokens, lock the owner out, or make
    # itself a login of its own (a new account, a password of its choosing).
    if g.via_token:
        raise Forbidden(N_("log in with your password to do this; an API token may not"), code="session_only")


@bp.post("/me/password")
def change_password() -> Any:
    _not_by_token()
    fields = Fields(_body(), ("current_password", "new_password"))
    accounts.change_password(
        db.session(), g.user,
        fields.text("current_password", max_length=1024, required=True),
        fields.text("new_password", max_length=1024, required=True),
        keep=None if g.via_token else session.get("login"),  # this login stays open
    )
    return jsonify({"changed": True})


def _token_data(token: Any) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "created_at": token.created_at.isoformat() if token.created_at else None,
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


@bp.get("/tokens")
def tokens() -> Any:
    return jsonify([_token_data(t) for t in accounts.tokens_of(db.session(), g.user)])


@bp.post("/tokens")
def create_token() -> Any:
    _not_by_token()
    fields = Fields(_body(), ("name",))
    row, token = accounts.create_token(db.session(), g.user, fields.text("name", max_length=100))
    return _created({**_token_data(row), "token": token})


@bp.delete("/tokens/<int:token_id>")
def revoke_token(token_id: int) -> Any:
    row = accounts.revoke_token(db.session(), token_id, g.user)
    return jsonify(_token_data(row))


# units


@bp.get("/units")
def units() -> Any:
    if request.args.get("all") in ("1", "true"):
        # Every unit, for choosing one (a county has a few hundred).
        return jsonify([directory.unit_data(u) for u in directory.all_units(db.session())])
    return jsonify([directory.unit_data(u) for u in directory.units(db.session(), request.args.get("q"), _page())])


@bp.get("/units/<int:unit_id>")
def unit(unit_id: int) -> Any:
    return jsonify(directory.unit_data(directory.get(db.session(), Unit, unit_id)))


@bp.post("/units")
def create_unit() -> Any:
    unit = directory.save_unit(db.session(), scope(), _body())
    return _created(directory.unit_data(unit))


@bp.patch("/units/<int:unit_id>")
def update_unit(unit_id: int) -> Any:
    unit = directory.save_unit(db.session(), scope(), _body(), unit_id)
    return jsonify(directory.unit_data(unit))


# people


@bp.get("/people")
def people() -> Any:
    found = directory.people(db.session(), request.args.get("q"), _integer("unit_id"), _page())
    return jsonify([directory.person_data(p, scope().sees_every_phone) for p in found])


@bp.get("/people/<int:person_id>")
def person(person_id: int) -> Any:
    found = directory.get(db.session(), Person, person_id)
    return jsonify(directory.person_data(found, scope().sees_every_phone))


@bp.post("/people")
def create_person() -> Any:
    found = directory.save_person(db.session(), scope(), _body())
    return _created(directory.person_data(found, True))


@bp.patch("/people/<int:person_id>")
def update_person(person_id: int) -> Any:
    found = directory.save_person(db.session(), scope(), _body(), person_id)
    return jsonify(directory.person_data(found, True))


# users


@bp.get("/users")
def users() -> Any:
    scope().require_admin()
    return jsonify([directory.user_data(u) for u in directory.users(db.session(), request.args.get("q"), _page())])


@bp.get("/users/<int:user_id>")
def user(user_id: int) -> Any:
    scope().require_admin()
    return jsonify(directory.user_data(directory.get(db.session(), User, user_id)))


@bp.post("/users")
def create_user() -> Any:
    _not_by_token()
    found = directory.save_user(db.session(), scope(), _body())
    return _created(directory.user_data(found))


@bp.patch("/users/<int:user_id>")
def update_user(user_id: int) -> Any:
    _not_by_token()
    found = directory.save_user(db.session(), scope(), _body(), user_id)
    return jsonify(directory.user_data(found))


# assignments


@bp.get("/assignments")
def assignments_list() -> Any:
    found = assignments.listing(
        db.session(), scope(),
        area_id=_integer("area_id"), building_id=_integer("building_id"),
        household_id=_integer("household_id"), person_id=_integer("person_id"),
        current_only=request.args.get("all") not in ("1", "true"), page=_page(),
    )
    return jsonify(assignments.data(db.session(), scope(), found))


@bp.get("/assignments/<int:assignment_id>")
def assignment(assignment_id: int) -> Any:
    found = assignments.one(db.session(), scope(), assignment_id)
    return jsonify(assignments.data(db.session(), scope(), [found])[0])


@bp.post("/assignments")
def create_assignment() -> Any:
    found = assignments.create(db.session(), scope(), _body())
    return _created(assignments.data(db.session(), scope(), [found])[0])


@bp.patch("/assignments/<int:assignment_id>")
def update_assignment(assignment_id: int) -> Any:
    found = assignments.update(db.session(), scope(), assignment_id, _body())
    return jsonify(assignments.data(db.session(), scope(), [found])[0])


@bp.post("/assignments/<int:assignment_id>/end")
def end_assignment(assignment_id: int) -> Any:
    found = assignments.end(db.session(), scope(), assignment_id, _body())
    return jsonify(assignments.data(db.session(), scope(), [found])[0])


# the audit log


@bp.get("/audit")
def audit_log() -> Any:
    scope().require_admin()
    entries = audit.entries(
        db.session(),
        username=request.args.get("user") or None,
        table_name=request.args.get("table") or None,
        action=request.args.get("action") or None,
        record_id=_integer("record_id"),
        since=_date("since"),
        until=_date("until"),
        page=_page(),
    )
    return jsonify([audit.entry_data(e) for e in entries])


def _date(name: str) -> Any:
    return Fields({name: request.args.get(name)}, (name,)).date(name)


# patrols


def _patrol_summary(p: Any) -> dict[str, Any]:
    return {"id": p.id, "title": p.title, "area_id": p.area_id, "started_at": p.started_at.isoformat(),
            "ended_at": p.ended_at.isoformat() if p.ended_at else None}


@bp.get("/patrols")
def patrols_list() -> Any:
    running = request.args.get("running") in ("1", "true")
    return jsonify([_patrol_summary(p) for p in patrols.recent(db.session(), scope(), running_only=running)])


@bp.post("/patrols")
def start_patrol() -> Any:
    patrol = patrols.start(db.session(), scope(), _body())
    return _created(patrols.detail(db.session(), scope(), patrols.one(db.session(), scope(), patrol.id)))


@bp.get("/patrols/<int:patrol_id>")
def patrol(patrol_id: int) -> Any:
    return jsonify(patrols.detail(db.session(), scope(), patrols.one(db.session(), scope(), patrol_id)))


@bp.post("/patrols/<int:patrol_id>/track")
def patrol_track(patrol_id: int) -> Any:
    patrols.record(db.session(), scope(), patrol_id, _body(), ending=False)
    return jsonify(patrols.detail(db.session(), scope(), patrols.one(db.session(), scope(), patrol_id)))


@bp.post("/patrols/<int:patrol_id>/end")
def end_patrol(patrol_id: int) -> Any:
    patrols.record(db.session(), scope(), patrol_id, _body(), ending=True)
    return jsonify(patrols.detail(db.session(), scope(), patrols.one(db.session(), scope(), patrol_id)))


# --- visits, coverage, wishes, accountability ---------------------------------------------


def _window() -> tuple[dt.date, dt.date]:
    args = Fields({k: request.args.get(k) for k in ("since", "until")}, ("since", "until"))
    return coverage.checked_window(args.date("since"), args.date("until"), county_today(db.session()))


@bp.get("/coverage")
def coverage_list() -> Any:
    since, until = _window()
    level = request.args.get("level") or "grid"
    bbox = _bbox("buildings" if level == "building" else "areas", required=False)
    found = coverage.coverage(db.session(), scope(), level, since, until, bbox=bbox, area_id=_integer("area_id"))
    return jsonify({"level": level, "since": since.isoformat(), "until": until.isoformat(), "places": found})


@bp.get("/coverage/weekly")
def coverage_weekly() -> Any:
    area_id = _integer("area_id")
    if area_id is None:
        raise BadRequest(N_("parameter %(name)s is required"), code="missing_parameter", name="area_id")
    weeks = _integer("weeks")
    weeks = 12 if weeks is None else weeks
    if not 1 <= weeks <= 104:
        raise BadRequest(N_("weeks must be between 1 and %(max)s"), max=104)
    return jsonify(coverage.weekly(db.session(), scope(), area_id, weeks, county_today(db.session())))


@bp.get("/not-visited")
def not_visited() -> Any:
    days = _integer("days")
    days = 30 if days is None else days
    if not 1 <= days <= 3650:
        raise BadRequest(N_("days must be between 1 and %(max)s"), max=3650)
    return jsonify(coverage.not_visited(db.session(), scope(), days, county_today(db.session()), person_id=_integer("person_id"),
                                        area_id=_integer("area_id")))


@bp.get("/buildings/<int:building_id>/households")
def building_households(building_id: int) -> Any:
    return jsonify(visits.households_of(db.session(), scope(), building_id))


@bp.post("/visits")
def record_visit() -> Any:
    recorded = visits.record(db.session(), scope(), _body())
    payload = visits.visit_data(recorded.visit)
    return _created(payload) if recorded.created else jsonify(payload)


@bp.get("/wishes")
def wishes_list() -> Any:
    args = Fields({k: v for k, v in request.args.items() if k in ("status", "overdue")}, ("status", "overdue"))
    status = args.choice("status", ("open", "claimed", "fulfilled", "withdrawn"))
    return jsonify(visits.wishes(db.session(), scope(), status=status, area_id=_integer("area_id"),
                                 overdue_only=args.boolean("overdue"), page=_page()))


@bp.post("/wishes/<int:wish_id>/<step>")
def wish_step(wish_id: int, step: str) -> Any:
    body, files = _body_and_files()
    wish = visits.wish_step(db.session(), scope(), wish_id, step, body, files)
    return jsonify({"id": wish.id, "status": wish.status, "version": wish.version})


@bp.get("/wishes/<int:wish_id>/photos/<int:photo_id>")
def wish_photo(wish_id: int, photo_id: int) -> Response:
    return _photo(lambda display: visits.wish_photo(db.session(), scope(), wish_id, photo_id, display))


def _year() -> int:
    year = _integer("year") or county_today(db.session()).year
    if not 2000 <= year <= 2100:
        raise BadRequest(N_("year must be between 2000 and 2100"))
    return year


@bp.get("/people/<int:person_id>/summary")
def person_summary(person_id: int) -> Any:
    return jsonify(accountability.summary(db.session(), scope(), person_id, _year()))


@bp.post("/people/<int:person_id>/registration")
def register_person(person_id: int) -> Any:
    person = accountability.register(db.session(), scope(), person_id, _body())
    return jsonify({"id": person.id, "registered_area_id": person.registered_area_id,
                    "registered_on": person.registered_on.isoformat() if person.registered_on else None,
                    "version": person.version})


@bp.get("/accountability/behind")
def behind() -> Any:
    group = request.args.get("group") or "unit"
    return jsonify(accountability.behind(db.session(), scope(), _year(), group=group))


@bp.get("/volunteers")
def volunteers() -> Any:
    return jsonify(accountability.ranking(db.session(), scope()))


@bp.post("/service-records")
def record_service() -> Any:
    record = accountability.record_service(db.session(), scope(), _body())
    return _created({"id": record.id, "person_id": record.person_id, "served_on": record.served_on.isoformat(),
                     "activity": record.activity, "hours": float(record.hours),
                     "verified_by": record.verified_by_id})
