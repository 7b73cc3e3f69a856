"""Field issues (问题) and their workflow: 发现 reported → 现场会 on-site meeting → 解决
resolved → 核查 verified and closed; or 转办 referred to another unit, and 重新打开 reopened.

An issue is routed by where it is (geo.routing) when it is reported, and the routing is
kept with its first event, so the record says who it went to even after assignments
change. Every step is an event: who, when, where, a note and what was decided. A step
the current state does not allow, or one taken on a version of the issue someone else
has changed since, is refused with Conflict (409).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from geoalchemy2 import Geography
from sqlalchemy import Select, and_, case, cast, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from geo import notify
from geo import photos as photo_files
from geo.db import county_today
from geo.directory import check_version, get
from geo.errors import N_, BadRequest, Conflict, Forbidden, NotFound
from geo.geometry import SRID, lonlat_point, sql_point, to_element, to_geometry
from geo.models import (
    ISSUE_STATUSES,
    Area,
    Building,
    Issue,
    IssueCategory,
    IssueEvent,
    IssuePhoto,
    Patrol,
    Person,
    Unit,
    User,
)
from geo.responsibility import area_path
from geo.routing import route
from geo.scope import Scope, mask_phone, subtree
from geo.validate import Fields, normalised, storable_id

DESCRIPTION_MAX = 4000
NOTE_MAX = 4000
# How far beyond the county's edge a step's position may lie (degrees, about 500 m).
STEP_POINT_SLACK = 0.005
OPEN = ("reported", "meeting", "referred", "resolved")
# Who works issues (in their area); party members report and comment.
WORKERS = frozenset({"admin", "county", "township", "community", "grid"})
REPORTERS = WORKERS | {"party"}

# Each step: the states it may be taken from, and the state it leads to (None: unchanged).
STEPS: dict[str, tuple[frozenset[str], str | None]] = {
    "meeting": (frozenset({"reported", "meeting", "referred"}), "meeting"),
    "resolve": (frozenset({"reported", "meeting", "referred"}), "resolved"),
    "verify": (frozenset({"resolved"}), "closed"),
    "refer": (frozenset({"reported", "meeting", "referred"}), "referred"),
    "reopen": (frozenset({"resolved", "closed"}), "reported"),
    "comment": (frozenset(ISSUE_STATUSES), None),
}
EVENT_FIELDS = ("kind", "version", "note", "decision", "unit_id", "deadline", "attending_unit_ids",
                "attending_person_ids", "lon", "lat")
# A report's patrol must have walked near where the problem is.
NEAR_PATROL_METRES = 2000


# --- reading ------------------------------------------------------------------------------


def readable(scope: Scope) -> Any:
    """Issues the user may read: those in their area, and those they reported."""
    if scope.user_id is None:
        return scope.reads(Issue.area_id)
    return or_(scope.reads(Issue.area_id), Issue.reported_by_id == scope.user_id)


def one(session: Session, scope: Scope, issue_id: int) -> Issue:
    found = None
    if storable_id(issue_id):
        found = session.scalars(select(Issue).where(Issue.id == issue_id, readable(scope))).first()
    if found is None:
        raise NotFound(N_("no issue with id %(id)s"), id=issue_id)
    return found


def categories(session: Session, active_only: bool = True) -> list[IssueCategory]:
    stmt = select(IssueCategory).order_by(IssueCategory.position, IssueCategory.id)
    if active_only:
        stmt = stmt.where(IssueCategory.active)
    return list(session.scalars(stmt))


def save_category(session: Session, scope: Scope, data: Any, category_id: int | None = None) -> IssueCategory:
    """Add a category or change one (administrators). A category in use is retired with
    active false rather than deleted, so old issues keep their name."""
    scope.require_admin()
    fields = Fields(data, ("code", "name", "position", "active", "version"))
    if category_id is None:
        code = fields.name("code", max_length=32, required=True)
        if session.scalar(select(IssueCategory.id).where(IssueCategory.code == code)):
            raise Conflict(N_("there is already a category %(code_name)s"), code_name=code)
        category = IssueCategory(code=code, name=fields.name("name", max_length=100) or code)
        session.add(category)
    else:
        category = get(session, IssueCategory, category_id)
        check_version(category, fields)
        if "code" in fields and fields.text("code", max_length=32) != category.code:
            raise BadRequest(N_("a category's code cannot be changed; retire it and add another"),
                             code="read_only_field")
        if "name" in fields:
            category.name = fields.name("name", max_length=100, required=True)
    if "position" in fields:
        category.position = fields.integer("position", minimum=0, maximum=999) or 0
    if "active" in fields:
        category.active = fields.boolean("active", default=True)
    session.flush()
    return category


def active_category(session: Session, code: str) -> IssueCategory:
    found = session.scalar(select(IssueCategory).where(IssueCategory.code == code, IssueCategory.active))
    if found is None:
        raise BadRequest(N_("unknown category: %(category)s"), code="unknown_category", category=code[:40])
    return found


# States in which the responsible unit still has work to do: past the deadline in one of
# these an issue is overdue (a resolved one waits for the check, not for the unit).
WORKING = ("reported", "meeting", "referred")


def overdue() -> Any:
    return and_(Issue.deadline < func.current_date(), Issue.status.in_(WORKING))


def detail(session: Session, scope: Scope, issue: Issue) -> dict[str, Any]:
    """The issue with its routing, timeline and photos, as the issue panel shows it."""
    point = to_geometry(issue.geom)
    events = session.scalars(
        select(IssueEvent).where(IssueEvent.issue_id == issue.id).order_by(IssueEvent.at, IssueEvent.id)
    ).all()
    photos = session.execute(
        select(IssuePhoto.id, IssuePhoto.event_id, IssuePhoto.taken_at,
               func.ST_X(IssuePhoto.geom).label("lon"), func.ST_Y(IssuePhoto.geom).label("lat"),
               # How far from the issue the photo was taken (from its EXIF position), in metres.
               func.round(func.ST_Distance(cast(IssuePhoto.geom, Geography(srid=SRID)),
                                           cast(Issue.geom, Geography(srid=SRID)))).label("metres"))
        .join(Issue, Issue.id == IssuePhoto.issue_id)
        .where(IssuePhoto.issue_id == issue.id).order_by(IssuePhoto.id)
    ).all()
    # The issue's area and all those above it: names for the panel, and (with the user's
    # scope) whether its phones show and whether the user works there, with no more queries.
    path = area_path(session, issue.area_id) if issue.area_id else []
    up = [a.id for a in path]
    names = _names(session, events, issue, path)
    personal = bool(up) and scope.personal_along(up)[0]
    category = session.scalar(select(IssueCategory.name).where(IssueCategory.code == issue.category))
    return {
        "id": issue.id,
        "client_id": issue.client_id,
        "category": issue.category,
        "category_name": category or issue.category,
        "description": issue.description,
        "status": issue.status,
        "lon": point.x,
        "lat": point.y,
        "building": names["building"],
        "areas": names["areas"],
        "unit": names["units"].get(issue.unit_id),
        "patrol_id": issue.patrol_id,
        "reported_at": issue.reported_at.isoformat(),
        "reported_by": names["users"].get(issue.reported_by_id),
        "source": issue.source,  # "resident": sent at the building's QR code, by nobody logged in
        "deadline": issue.deadline.isoformat() if issue.deadline else None,
        "overdue": bool(issue.deadline and issue.deadline < county_today(session) and issue.status in WORKING),
        "closed_at": issue.closed_at.isoformat() if issue.closed_at else None,
        "routed_to": _routed_to(session, events, personal),
        "events": [_event_data(e, names, photos, personal) for e in events],
        "photos": [{"id": p.id, "event_id": p.event_id, "taken_at": p.taken_at.isoformat() if p.taken_at else None,
                    "lon": p.lon, "lat": p.lat, "metres": int(p.metres) if p.metres is not None else None}
                   for p in photos],
        "version": issue.version,
        "allowed": allowed_steps(session, scope, issue, bool(up) and scope.reads_along(up)),
    }


def _names(session: Session, events: Sequence[IssueEvent], issue: Issue, path: Sequence[Any]) -> dict[str, Any]:
    unit_ids = {issue.unit_id, *(e.unit_id for e in events)}
    user_ids = {issue.reported_by_id, *(e.user_id for e in events)}
    for e in events:
        unit_ids |= set(e.data.get("attending_unit_ids", []))
    units = {u.id: {"id": u.id, "name": u.name}
             for u in session.scalars(select(Unit).where(Unit.id.in_([i for i in unit_ids if i])))}
    # A login that is a person is shown by the person's name (滕飞 (grid)), else by its name.
    users = {u.id: f"{u.person.name} ({u.username})" if u.person else u.username
             for u in session.scalars(select(User).options(joinedload(User.person))
                                      .where(User.id.in_([i for i in user_ids if i])))}
    person_ids = [e.person_id for e in events if e.person_id and not e.user_id]
    people = {p.id: p.name for p in session.scalars(select(Person).where(Person.id.in_(person_ids)))}
    building = None
    if issue.building_id:
        b = session.get(Building, issue.building_id)
        building = {"id": b.id, "name": b.name, "address": b.address} if b else None
    areas = [{"id": a.id, "name": a.name, "level": a.level} for a in path]
    return {"units": units, "users": users, "people": people, "building": building, "areas": areas}


def _routed_to(session: Session, events: Sequence[IssueEvent], personal: bool) -> dict[str, Any] | None:
    reported = next((e for e in events if e.kind == "reported"), None)
    if reported is None or "routing" not in reported.data:
        return None
    routing = reported.data["routing"]
    people = session.scalars(select(Person).options(joinedload(Person.unit))
                             .where(Person.id.in_(routing.get("person_ids", [])))).all()
    order = {pid: i for i, pid in enumerate(routing.get("person_ids", []))}
    unit = session.get(Unit, routing["unit_id"]) if routing.get("unit_id") else None
    return {
        "unit": {"id": unit.id, "name": unit.name} if unit else None,
        "people": [
            {"id": p.id, "name": p.name, "title": p.title, "phone": p.phone if personal else mask_phone(p.phone),
             "unit": p.unit.name if p.unit else None}
            for p in sorted(people, key=lambda p: order[p.id])
        ],
    }


def _event_data(e: IssueEvent, names: dict[str, Any], photos: Sequence[Any], personal: bool) -> dict[str, Any]:
    data = {k: v for k, v in e.data.items() if k != "routing"}
    if "attending_unit_ids" in data:
        data["attending_units"] = [names["units"].get(i, {"id": i, "name": ""}) for i in data["attending_unit_ids"]]
    point = to_geometry(e.geom) if e.geom is not None else None
    return {
        "id": e.id,
        "kind": e.kind,
        "at": e.at.isoformat(),
        # Who took the step: the login, or (for records that came without one) the person.
        "by": names["users"].get(e.user_id) or names["people"].get(e.person_id),
        "unit": names["units"].get(e.unit_id),
        "note": e.note,
        "data": data,
        "lon": point.x if point else None,
        "lat": point.y if point else None,
        "photo_ids": [p.id for p in photos if p.event_id == e.id],
    }


def allowed_steps(session: Session, scope: Scope, issue: Issue, in_scope: bool) -> list[str]:
    """The steps this user may take on the issue now (for the buttons the panel shows);
    `in_scope`: the issue's area is in the user's scope."""
    kinds = [k for k, (sources, _) in STEPS.items() if issue.status in sources]
    works_here = scope.role in WORKERS and (scope.county_wide or in_scope)
    if works_here:
        if "verify" in kinds and _resolved_by(session, issue) == scope.user_id:
            kinds.remove("verify")
        return kinds
    return ["comment"] if scope.role in REPORTERS else []


def _resolved_by(session: Session, issue: Issue) -> int | None:
    """Who marked the issue resolved last (they do not verify their own work)."""
    return session.scalar(
        select(IssueEvent.user_id).where(IssueEvent.issue_id == issue.id, IssueEvent.kind == "resolve")
        .order_by(IssueEvent.at.desc(), IssueEvent.id.desc()).limit(1)
    )


# --- reporting ----------------------------------------------------------------------------


@dataclass
class Report:
    issue: Issue
    created: bool


def _point(fields: Fields) -> tuple[float, float]:
    lon = fields.number("lon", required=True) or 0.0
    lat = fields.number("lat", required=True) or 0.0
    lonlat_point(lon, lat)
    return lon, lat


def _step_point(session: Session, fields: Fields) -> Any:
    """Where a step was taken, if the phone said: in the county (or at most about 500 m
    beyond its edge, for a poor fix), else it is no place this county's work happens."""
    if "lon" not in fields and "lat" not in fields:
        return None
    lon, lat = _point(fields)
    point = sql_point(lon, lat)
    if not session.scalar(select(func.count()).where(Area.level == "county",
                                                      func.ST_DWithin(Area.geom, point, STEP_POINT_SLACK))):
        raise BadRequest(N_("this place is outside the county's mapped areas"), code="outside_county")
    return to_element(lonlat_point(lon, lat))


def report(
    session: Session, scope: Scope, body: Any, files: Sequence[tuple[str, bytes]] = ()
) -> Report:
    """File an issue, routed by its location. With a client_id already used by this user,
    the first issue is returned (created False) and nothing is written: retries from a
    phone's offline queue land once."""
    if scope.role not in REPORTERS or scope.user_id is None:
        raise Forbidden(N_("your role may not report issues"))
    fields = Fields(body, ("lon", "lat", "category", "description", "client_id", "patrol_id"))
    client_id = fields.client_id()
    if client_id is not None:
        earlier = _earlier(session, scope, client_id, body)
        if earlier is not None:
            return Report(earlier, created=False)
    lon, lat = _point(fields)
    category = active_category(session, fields.text("category", max_length=32, required=True))
    description = fields.text("description", max_length=DESCRIPTION_MAX, multiline=True)
    patrol_id = fields.integer("patrol_id")
    if patrol_id is not None:
        _check_patrol(session, scope, patrol_id, lon, lat)
    pictures = photo_files.read_photos(files)
    routing = route(session, lon, lat)

    geom = to_element(lonlat_point(lon, lat))
    issue = Issue(
        client_id=client_id, category=category.code, description=description, status="reported", geom=geom,
        building_id=routing.building_id, area_id=routing.area_id, unit_id=routing.unit_id,
        reported_by_id=scope.user_id, patrol_id=patrol_id,
    )
    try:
        with session.begin_nested():
            session.add(issue)
            session.flush()
    except IntegrityError:
        # The same report arrived twice at once; the other request stored it first.
        earlier = _earlier(session, scope, client_id, body) if client_id else None
        if earlier is None:
            raise
        return Report(earlier, created=False)
    event = IssueEvent(
        issue_id=issue.id, kind="reported", user_id=scope.user_id, unit_id=routing.unit_id, note=description,
        geom=geom,
        data={"routing": {"building_id": routing.building_id, "area_ids": routing.area_ids,
                          "unit_id": routing.unit_id, "person_ids": routing.person_ids}},
    )
    session.add(event)
    session.flush()
    _store_photos(session, issue, event, pictures)
    notify.issue_event(session, event, issue)
    return Report(issue, created=True)


def _check_patrol(session: Session, scope: Scope, patrol_id: int, lon: float, lat: float) -> None:
    """A report joins a patrol the reporter may see, still under way, near the place."""
    patrol = session.scalars(
        select(Patrol).where(Patrol.id == patrol_id, scope.reads(Patrol.area_id))
    ).first() if storable_id(patrol_id) else None
    if patrol is None:
        raise NotFound(N_("no patrol with id %(id)s"), id=patrol_id)
    if patrol.ended_at is not None:
        raise Conflict(N_("that patrol has ended"), code="patrol_ended")
    point = sql_point(lon, lat)
    near = session.scalar(
        select(func.ST_DWithin(cast(Area.geom, Geography(srid=SRID)), cast(point, Geography(srid=SRID)),
                               NEAR_PATROL_METRES)).where(Area.id == patrol.area_id)
    )
    if not near:
        raise BadRequest(N_("this place is far from that patrol's grid"), code="patrol_elsewhere")


def _earlier(session: Session, scope: Scope, client_id: str, body: Any) -> Issue | None:
    """The reporter's issue with this client_id, if any. A retry is the same report; the
    same id with other content is a mistake worth saying, not a report to drop quietly."""
    earlier = session.scalars(
        select(Issue).where(Issue.client_id == client_id, Issue.reported_by_id == scope.user_id)
    ).first()
    if earlier is not None and not _same_report(earlier, body):
        raise Conflict(N_("this client_id was used for a different report"), code="client_id_reused")
    return earlier


def _same_report(issue: Issue, body: Any) -> bool:
    point = to_geometry(issue.geom)
    try:
        lon, lat = float(body.get("lon")), float(body.get("lat"))
    except (TypeError, ValueError):
        return False
    description = normalised(str(body.get("description") or ""), multiline=True)  # as it was stored
    # Within about a metre: a position may come back from a float round trip.
    return (body.get("category") == issue.category and description == issue.description
            and abs(lon - point.x) < 1e-5 and abs(lat - point.y) < 1e-5)


def _store_photos(session: Session, issue: Issue, event: IssueEvent, pictures: list[photo_files.Photo]) -> None:
    for p in pictures:
        session.add(IssuePhoto(
            issue_id=issue.id, event_id=event.id, geom=to_element(lonlat_point(*p.lonlat)) if p.lonlat else None,
            **p.columns(),
        ))
    session.flush()


def nearby(session: Session, scope: Scope, lon: float, lat: float, category: str | None,
           metres: float = 50) -> list[dict[str, Any]]:
    """Open issues (of the category, if given) within `metres`: "is it one of these?"."""
    lonlat_point(lon, lat)
    point = sql_point(lon, lat)
    metres_away = func.ST_Distance(cast(Issue.geom, Geography(srid=SRID)), cast(point, Geography(srid=SRID)))
    stmt = (
        select(Issue.id, Issue.category, Issue.status, Issue.description, Issue.reported_at, metres_away.label("d"))
        # A box in degrees first, so the GiST index finds the few candidates (a degree of
        # longitude shrinks with the latitude); then the distance in metres on the sphere.
        .where(Issue.geom.op("&&")(func.ST_Expand(point, metres / (111_000 * max(math.cos(math.radians(lat)), 0.01)))),
               metres_away <= metres,
               Issue.status.in_(OPEN), readable(scope))
        .order_by("d").limit(10)
    )
    if category:
        stmt = stmt.where(Issue.category == category)
    return [
        {"id": r.id, "category": r.category, "status": r.status, "description": r.description[:200],
         "reported_at": r.reported_at.isoformat(), "metres": round(r.d, 1)}
        for r in session.execute(stmt)
    ]


# --- steps --------------------------------------------------------------------------------


def _existing(session: Session, model: Any, ids: list[int]) -> list[int]:
    """The ids, each checked to name a record (one query for all)."""
    found = set(session.scalars(select(model.id).where(model.id.in_(ids)))) if ids else set()
    for i in ids:
        if i not in found:
            get(session, model, i)  # raises NotFound with the record's kind
    return list(dict.fromkeys(ids))


def step(
    session: Session, scope: Scope, issue_id: int, body: Any, files: Sequence[tuple[str, bytes]] = ()
) -> IssueEvent:
    """Take one step of the workflow (or comment), as the version the user saw."""
    issue = one(session, scope, issue_id)
    fields = Fields(body, EVENT_FIELDS)
    kind = fields.choice("kind", tuple(STEPS), required=True) or ""
    if scope.role not in WORKERS and not (kind == "comment" and scope.role in REPORTERS):
        raise Forbidden(N_("your role may not do this to an issue"))
    if kind != "comment" and scope.role in WORKERS and not scope.county_wide:
        scope.require_area(session, issue.area_id)
    if kind == "comment":
        # A comment changes nothing about the issue, so it neither needs nor moves its
        # version: a resident's note never makes an officer's step fail.
        return _comment(session, scope, issue, fields, files)
    check_version(issue, fields)
    if kind == "verify" and _resolved_by(session, issue) == scope.user_id:
        raise Forbidden(N_("someone other than who resolved it checks the work"), code="own_work")
    sources, target = STEPS[kind]
    if issue.status not in sources:
        raise Conflict(
            N_("an issue that is %(issue_status)s cannot take the step %(issue_step)s (possible now: %(issue_steps)s)"),
            code="step_not_allowed", issue_status=issue.status, issue_step=kind,
            issue_steps=[k for k, (sources, _) in STEPS.items() if issue.status in sources and k != "comment"],
        )
    # Nothing is written until the step is whole: one UPDATE of the issue, one version on.
    with session.no_autoflush:
        note = fields.text("note", max_length=NOTE_MAX, multiline=True)
        data: dict[str, Any] = {}
        unit_id = None
        if kind == "meeting":
            decision = fields.text("decision", max_length=NOTE_MAX, multiline=True, required=True)
            data = {"decision": decision,
                    "attending_unit_ids": _existing(session, Unit, fields.ids("attending_unit_ids", most=50)),
                    "attending_person_ids": _existing(session, Person, fields.ids("attending_person_ids", most=50))}
            unit_id = fields.integer("unit_id")
            deadline = fields.date("deadline")
            if deadline is not None:
                if deadline < county_today(session):
                    raise BadRequest(N_("the deadline has already passed"), code="deadline_passed")
                issue.deadline = deadline
                data["deadline"] = deadline.isoformat()
        elif kind == "refer":
            unit_id = fields.integer("unit_id", required=True)
            if unit_id == issue.unit_id:
                raise BadRequest(N_("refer the issue to another unit than the one holding it"), code="same_unit")
            if not note:
                raise BadRequest(N_("%(field)s is required"), code="missing_field", field="note")
        elif kind in ("resolve", "reopen") and not note and not files:
            raise BadRequest(N_("%(field)s is required"), code="missing_field", field="note")
        if kind in ("refer", "reopen"):
            # A new unit or a second round needs its own deadline: the old one is not theirs.
            deadline = fields.date("deadline")
            if deadline is not None and deadline < county_today(session):
                raise BadRequest(N_("the deadline has already passed"), code="deadline_passed")
            issue.deadline = deadline
            if deadline is not None:
                data["deadline"] = deadline.isoformat()
        if unit_id is not None:
            issue.unit_id = get(session, Unit, unit_id).id
        pictures = photo_files.read_photos(files)
        where = _step_point(session, fields)
        if target is not None:
            issue.status = target
            issue.closed_at = func.now() if target == "closed" else None
        event = IssueEvent(issue_id=issue.id, kind=kind, user_id=scope.user_id, unit_id=unit_id or issue.unit_id,
                           note=note, data=data, geom=where)
    session.add(event)
    # The issue's row changes with every step (its version too), so two people stepping at
    # once cannot both pass: the second flush finds the version moved on.
    issue.updated_at = func.now()
    session.flush()
    _store_photos(session, issue, event, pictures)
    notify.issue_event(session, event, issue)
    return event


def _comment(session: Session, scope: Scope, issue: Issue, fields: Fields,
             files: Sequence[tuple[str, bytes]]) -> IssueEvent:
    note = fields.text("note", max_length=NOTE_MAX, multiline=True)
    if not note and not files:
        raise BadRequest(N_("%(field)s is required"), code="missing_field", field="note")
    pictures = photo_files.read_photos(files)
    where = _step_point(session, fields)
    event = IssueEvent(issue_id=issue.id, kind="comment", user_id=scope.user_id, unit_id=issue.unit_id,
                       note=note, geom=where)
    session.add(event)
    session.flush()
    _store_photos(session, issue, event, pictures)
    return event


def photo(session: Session, scope: Scope, issue_id: int, photo_id: int, display: bool) -> tuple[str, bytes]:
    """A photo's bytes and type, if the user may read its issue."""
    issue = one(session, scope, issue_id)
    return photo_files.stored(session, IssuePhoto, IssuePhoto.issue_id == issue.id, photo_id, display)


# --- lists and exports --------------------------------------------------------------------

SORTS = {"reported_at": Issue.reported_at, "deadline": Issue.deadline, "status": Issue.status,
         "category": Issue.category, "id": Issue.id}
# The map's order: overdue first, then the nearest deadline, then the newest, so that a
# layer cut at its limit drops the least pressing issues, never an overdue one.
URGENCY = "urgency"
LIST_FIELDS = ("status", "category", "unit_id", "area_id", "since", "until", "overdue", "sort", "order",
               "page", "q", "lang")


@dataclass
class Filters:
    statuses: tuple[str, ...] = ()
    category: str | None = None
    unit_id: int | None = None
    area_id: int | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    overdue_only: bool = False
    sort: str = "reported_at"
    descending: bool = True

    @classmethod
    def read(cls, args: Any) -> Filters:
        fields = Fields(args, LIST_FIELDS)
        raw = fields.text("status", max_length=200)
        statuses = tuple(s for s in raw.split(",") if s) if raw else ()
        unknown = set(statuses) - set(ISSUE_STATUSES) - {"open"}
        if unknown:
            raise BadRequest(N_("status must be 'open' or one of %(statuses)s"), statuses=", ".join(ISSUE_STATUSES))
        since, until = fields.date("since"), fields.date("until")
        if since and until and until < since:
            raise BadRequest(N_("until must not be before since"), code="dates_reversed")
        return cls(
            statuses=statuses,
            category=fields.text("category", max_length=32) or None,
            unit_id=fields.integer("unit_id"),
            area_id=fields.integer("area_id"),
            since=since,
            until=until,
            overdue_only=fields.boolean("overdue"),
            sort=fields.choice("sort", (*SORTS, URGENCY)) or "reported_at",
            descending=(fields.choice("order", ("asc", "desc")) or "desc") == "desc",
        )

    def apply(self, stmt: Select[Any]) -> Select[Any]:
        wanted = set(self.statuses)
        if "open" in wanted:
            wanted = (wanted - {"open"}) | set(OPEN)
        if wanted:
            stmt = stmt.where(Issue.status.in_(sorted(wanted)))
        if self.category:
            stmt = stmt.where(Issue.category == self.category)
        if self.unit_id is not None:
            stmt = stmt.where(Issue.unit_id == self.unit_id)
        if self.area_id is not None:
            stmt = stmt.where(Issue.area_id.in_(subtree(self.area_id)))
        if self.since is not None:
            stmt = stmt.where(Issue.reported_at >= self.since)
        if self.until is not None:
            stmt = stmt.where(Issue.reported_at < self.until + dt.timedelta(days=1))
        if self.overdue_only:
            stmt = stmt.where(overdue())
        if self.sort == URGENCY:
            return stmt.order_by(func.coalesce(overdue(), False).desc(), Issue.deadline.asc().nulls_last(),
                                 Issue.reported_at.desc(), Issue.id.desc())
        column = SORTS[self.sort]
        order = column.desc().nulls_last() if self.descending else column.asc().nulls_last()
        return stmt.order_by(order, Issue.id.desc())


def rows(session: Session, scope: Scope, filters: Filters, *, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    """Issues as table rows (for the list page)."""
    return list(each_row(session, scope, filters, limit=limit, offset=offset))


def each_row(session: Session, scope: Scope, filters: Filters, *, limit: int, offset: int = 0,
             with_geometry: bool = False, within: Any = None) -> Iterator[dict[str, Any]]:
    """Issues as table rows, one at a time, fetched in batches: an export of tens of
    thousands never sits in memory at once. With `with_geometry` each row has its point as
    WKB ("wkb"); `within` (an envelope) keeps the issues inside it."""
    stmt = (
        select(Issue, Unit.name.label("unit"), Area.name.label("area"), Building.name.label("building"),
               IssueCategory.name.label("category_name"),
               # As the timeline shows them: the person's name and the login, or the login.
               func.coalesce(Person.name + " (" + User.username + ")", User.username).label("reporter"),
               case((overdue(), True), else_=False).label("is_overdue"))
        .outerjoin(Unit, Unit.id == Issue.unit_id)
        .outerjoin(Area, Area.id == Issue.area_id)
        .outerjoin(Building, Building.id == Issue.building_id)
        .outerjoin(IssueCategory, IssueCategory.code == Issue.category)
        .outerjoin(User, User.id == Issue.reported_by_id)
        .outerjoin(Person, Person.id == User.person_id)
        .where(readable(scope))
    )
    if with_geometry:
        stmt = stmt.add_columns(func.ST_AsBinary(Issue.geom).label("wkb"))
    if within is not None:
        stmt = stmt.where(Issue.geom.op("&&")(within), func.ST_Intersects(Issue.geom, within))
    stmt = filters.apply(stmt).limit(limit).offset(offset).execution_options(yield_per=1000)
    for r in session.execute(stmt):
        issue = r.Issue
        yield {
            "id": issue.id,
            "reported_at": issue.reported_at,
            "category": r.category_name or issue.category,
            "status": issue.status,
            "description": issue.description,
            "area": r.area or "",
            "building": r.building or "",
            "unit": r.unit or "",
            "deadline": issue.deadline,
            "overdue": r.is_overdue,
            "closed_at": issue.closed_at,
            "reporter": r.reporter or "",
            **({"wkb": r.wkb} if with_geometry else {}),
        }


def count(session: Session, scope: Scope, filters: Filters) -> int:
    stmt = filters.apply(select(Issue.id).where(readable(scope))).order_by(None)
    return session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def service_requests(
    session: Session,
    scope: Scope,
    *,
    ids: list[int] | None = None,
    category: str | None = None,
    closed: bool | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Issues with what an Open311 client shows of them: unit, address, position, the
    latest note and the first photo. Newest first; a fixed number of queries."""
    stmt = (
        select(Issue, Unit.name.label("unit"), Building.address.label("address"),
               func.ST_X(Issue.geom).label("lon"), func.ST_Y(Issue.geom).label("lat"))
        .outerjoin(Unit, Unit.id == Issue.unit_id)
        .outerjoin(Building, Building.id == Issue.building_id)
        .where(readable(scope))
    )
    if ids is not None:
        stmt = stmt.where(Issue.id.in_(ids))
    if category:
        stmt = stmt.where(Issue.category == category)
    if closed is not None:
        stmt = stmt.where((Issue.status == "closed") if closed else (Issue.status != "closed"))
    if start is not None:
        stmt = stmt.where(Issue.reported_at >= start)
    if end is not None:
        stmt = stmt.where(Issue.reported_at <= end)
    found = session.execute(stmt.order_by(Issue.reported_at.desc(), Issue.id.desc()).limit(limit)).all()
    issue_ids = [r.Issue.id for r in found]
    latest = select(IssueEvent.issue_id, func.max(IssueEvent.id).label("id")).where(
        IssueEvent.issue_id.in_(issue_ids)).group_by(IssueEvent.issue_id).subquery()
    notes = dict(session.execute(select(IssueEvent.issue_id, IssueEvent.note).join(latest, latest.c.id == IssueEvent.id)).all())
    photos = dict(session.execute(
        select(IssuePhoto.issue_id, func.min(IssuePhoto.id)).where(IssuePhoto.issue_id.in_(issue_ids))
        .group_by(IssuePhoto.issue_id)
    ).all())
    return [
        {"id": r.Issue.id, "status": r.Issue.status, "category": r.Issue.category,
         "description": r.Issue.description, "unit": r.unit or "", "address": r.address or "",
         "reported_at": r.Issue.reported_at, "updated_at": r.Issue.updated_at, "deadline": r.Issue.deadline,
         "lon": r.lon, "lat": r.lat, "last_note": notes.get(r.Issue.id, ""), "photo_id": photos.get(r.Issue.id)}
        for r in found
    ]
