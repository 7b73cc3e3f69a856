"""One building, one code (一楼一码): what a resident sees after scanning a building's sticker,
and the problems they report there.

A building's public code (buildings.public_code, 48 random bits) is all a sticker carries: a
building's number would let anyone walk the county's list. The public card holds what the
grid notice board shows and nothing more: the building's name and address, the places above
it, the units and cadres responsible with their posts and duties, a cadre's phone only where
it is marked public (people.phone_public) and units' office lines; the problems reported
there by category, state and date, never their descriptions or reporters.

A resident's report enters the normal workflow as an issue with source "resident", no
reporting user, at the building's point, routed like any other. Abuse is held off without a
captcha: a hidden field a person never fills, a form that must have stood open a few seconds
and is signed for one building, and limits per sender (a keyed hash of the address, kept a
day) and per building, counted in the database so every app process applies the same ones.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from geo import notify
from geo.errors import N_, BadRequest, NotFound, TooManyRequests
from geo.geometry import sql_point, to_geometry
from geo.issues import OPEN, active_category, categories
from geo.models import Area, Building, Issue, IssueEvent, ResidentReport
from geo.responsibility import area_path, assignments_for
from geo.routing import route
from geo.scope import subtree
from geo.validate import Fields

CODE = re.compile(r"[0-9a-f]{12}")
DESCRIPTION_MIN, DESCRIPTION_MAX = 5, 500
SHOWN_DAYS = 90  # closed problems stay listed this long
BOARDED = ("community", "grid", "compound")  # the areas with a notice board and a public page
BUILDINGS_LISTED = 500


@dataclass(frozen=True)
class Limits:
    per_sender_hour: int = 3
    per_sender_day: int = 10
    per_building_day: int = 20
    per_area_hour: int = 30  # reports from the buildings of one compound or grid
    min_seconds: float = 3.0  # a form sent sooner was not filled in by a person
    max_age: dt.timedelta = dt.timedelta(hours=12)


LIMITS = Limits()


def place_for(session: Session, code: str) -> Building | Area:
    """The building (a sticker) or the area (a notice board) a code names; a code that names
    neither is simply not found."""
    found: Building | Area | None = None
    if CODE.fullmatch(code):
        found = session.scalar(select(Building).where(Building.public_code == code)) or session.scalar(
            select(Area).where(Area.public_code == code, Area.level.in_(BOARDED)))
    if found is None:
        raise NotFound(N_("no building has this code: check the sticker, or ask the community"),
                       code="no_such_code")
    return found


def responsible(session: Session, path: list[Any], building: Building | None = None) -> list[dict[str, Any]]:
    """Who answers for the building (if any) and the areas of `path` (innermost first), in
    that order: only what a notice board may show."""
    found = session.scalars(assignments_for(area_ids=[a.id for a in path],
                                            building_ids=[building.id] if building else [])).unique()
    rank = {("area", a.id): i + 1 for i, a in enumerate(path)}
    where = {a.id: {"level": a.level, "name": a.name} for a in path}

    def place(a: Any) -> tuple[str, int]:
        return ("building", a.building_id) if a.building_id else ("area", a.area_id)

    return [{
        "where": {"level": "building", "name": building.name} if a.building_id and building else where[a.area_id],
        "kind": a.kind,
        "unit": a.unit.name if a.unit else None,
        "unit_phone": a.unit.phone if a.unit and a.unit.phone else None,
        "person": a.person.name if a.person else None,
        "title": a.person.title if a.person else None,
        "phone": a.person.phone if a.person and a.person.phone_public and a.person.phone else None,
        "post": a.post,
        "duty": a.duty,
    } for a in sorted(found, key=lambda a: (rank.get(place(a), 0), a.kind, a.id))]


def _issues(session: Session, where: Any, today: dt.date) -> list[dict[str, Any]]:
    since = today - dt.timedelta(days=SHOWN_DAYS)
    names = {c.code: c.name for c in categories(session, active_only=False)}
    rows = session.execute(
        select(Issue.id, Issue.category, Issue.status, Issue.source, Issue.reported_at)
        .where(where, or_(Issue.status.in_(OPEN), func.date(Issue.reported_at) >= since))
        .order_by(Issue.reported_at.desc()).limit(30)
    ).all()
    return [{"id": i.id, "category": names.get(i.category, i.category), "status": i.status,
             "resident": i.source == "resident", "reported_on": i.reported_at.date().isoformat()} for i in rows]


def public_card(session: Session, building: Building, today: dt.date) -> dict[str, Any]:
    path = area_path(session, building.area_id) if building.area_id else []
    return {
        "name": building.name or building.address,
        "address": building.address,
        "places": [{"level": a.level, "name": a.name} for a in reversed(path) if a.level != "county"],
        "responsible": responsible(session, path, building),
        "issues": _issues(session, Issue.building_id == building.id, today),
    }


def area_card(session: Session, area: Area, today: dt.date) -> dict[str, Any]:
    """A grid's or compound's public page (its notice board's code): who answers for it, its
    buildings (each leads to its own page, where a problem is reported), its problems."""
    path = area_path(session, area.id)
    buildings = session.execute(
        select(Building.name, Building.address, Building.public_code)
        .where(Building.area_id.in_(subtree(area.id))).order_by(Building.name, Building.id).limit(BUILDINGS_LISTED)
    ).all()
    return {
        "name": area.name,
        "level": area.level,
        "places": [{"level": a.level, "name": a.name} for a in reversed(path[1:]) if a.level != "county"],
        "responsible": responsible(session, path),
        "buildings": [{"name": b.name or b.address, "code": b.public_code} for b in buildings],
        "issues": _issues(session, Issue.area_id.in_(subtree(area.id)), today),
    }


def stale_form() -> BadRequest:
    return BadRequest(N_("this form did not come from this building's page: scan the code again"),
                      code="stale_form")


def sender_network(address: str) -> str:
    """Whom the limits count as one sender: an IPv4 address, or an IPv6 /64 (one home's or
    one phone's network: any host in it would otherwise be a new sender)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def sender_key(secret: str, address: str) -> str:
    """Who sent a report, as far as counting needs: the same address gives the same key
    under this app's secret, and the key gives back no address."""
    return hmac.new(secret.encode(), address.encode(), hashlib.sha256).hexdigest()[:32]


def report(session: Session, building: Building, body: Any, *, sender: str, now: dt.datetime,
           opened_at: dt.datetime, limits: Limits | None = None) -> Issue:
    """File a resident's report at the building. `opened_at` is when the signed form was
    made (the caller checked its signature); everything refused is refused before a write."""
    limits = limits or LIMITS
    fields = Fields(body, ("category", "description", "website"))
    if fields.text("website", max_length=200):
        raise BadRequest(N_("this report could not be accepted"), code="refused")  # a bot filled the trap
    age = now - opened_at
    if age.total_seconds() < limits.min_seconds:
        raise BadRequest(N_("that was quick: read the form through, then send it again"), code="too_quick")
    if age > limits.max_age:
        raise BadRequest(N_("this form has expired: scan the code again"), code="form_expired")
    category = active_category(session, fields.text("category", max_length=32, required=True))
    description = fields.text("description", max_length=DESCRIPTION_MAX, multiline=True, required=True)
    if len(description.strip()) < DESCRIPTION_MIN:
        raise BadRequest(N_("say in a few words what the problem is (at least %(n)s characters)"),
                         code="too_short", n=DESCRIPTION_MIN)
    _check_limits(session, building, sender, now, limits)

    point = to_geometry(session.scalar(select(func.ST_PointOnSurface(Building.geom)).where(Building.id == building.id)))
    routing = route(session, point.x, point.y)
    issue = Issue(category=category.code, description=description, status="reported", source="resident",
                  geom=sql_point(point.x, point.y), building_id=building.id,
                  area_id=routing.area_id, unit_id=routing.unit_id)
    session.add(issue)
    session.flush()
    event = IssueEvent(
        issue_id=issue.id, kind="reported", unit_id=routing.unit_id, note=description, geom=issue.geom,
        data={"source": "resident", "routing": {"building_id": building.id, "area_ids": routing.area_ids,
                                                "unit_id": routing.unit_id, "person_ids": routing.person_ids}},
    )
    session.add_all([event, ResidentReport(sender=sender, building_id=building.id, at=now)])
    session.flush()
    notify.issue_event(session, event, issue)
    return issue


def _check_limits(session: Session, building: Building, sender: str, now: dt.datetime, limits: Limits) -> None:
    day = now - dt.timedelta(days=1)
    session.execute(delete(ResidentReport).where(ResidentReport.at < day))  # kept a day, no longer
    # One sender at a time: two reports sent at once are counted one after the other.
    session.execute(select(func.pg_advisory_xact_lock(func.hashtext("resident:" + sender))))
    sent = session.execute(
        select(func.count().filter(ResidentReport.at >= now - dt.timedelta(hours=1)), func.count())
        .where(ResidentReport.sender == sender, ResidentReport.at >= day)
    ).one()
    if sent[0] >= limits.per_sender_hour or sent[1] >= limits.per_sender_day:
        raise TooManyRequests(N_("you have sent several reports already: thank you. Please wait an hour, "
                                 "or call the numbers above"), code="rate_limited")
    # Per building, and per area in an hour (an area's page lists its buildings' codes), the
    # counts taken under the area's lock, so senders at once cannot pass them together.
    session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"resident-area:{building.area_id}"))))
    here = session.scalar(select(func.count()).where(ResidentReport.building_id == building.id,
                                                     ResidentReport.at >= day))
    around = session.scalar(select(func.count()).select_from(ResidentReport).join(
        Building, Building.id == ResidentReport.building_id).where(
        Building.area_id == building.area_id, ResidentReport.at >= now - dt.timedelta(hours=1)))
    if here >= limits.per_building_day or around >= limits.per_area_hour:
        raise TooManyRequests(N_("many reports came from this building today: the community has been told. "
                                 "Please call the numbers above"), code="building_rate_limited")
