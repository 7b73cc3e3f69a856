"""Party members' accountability and volunteers' stars.

Each year a party member owes at least 8 sessions and 40 hours of community work: visits,
patrols walked, wishes fulfilled and volunteer service all count. Volunteers earn 1 to 5
stars at 100 / 300 / 600 / 1000 / 1500 cumulative service hours (none below 100).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Numeric, Select, cast, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from geo.db import county_today
from geo.directory import check_version, get
from geo.errors import N_, BadRequest, Forbidden, NotFound
from geo.models import (
    Area,
    Assignment,
    Building,
    Household,
    Patrol,
    Person,
    ServiceRecord,
    Unit,
    Visit,
    Wish,
    patrol_members,
)
from geo.responsibility import current
from geo.scope import Scope, subtree
from geo.validate import Fields, storable_id

MIN_SESSIONS = 8
MIN_HOURS = Decimal(40)
STAR_HOURS = (Decimal(100), Decimal(300), Decimal(600), Decimal(1000), Decimal(1500))
# A fulfilled wish counts as a session of this many hours (the work is not timed).
WISH_HOURS = Decimal(2)
# A patrol left running (forgotten at the end of the walk) counts as a working day at most.
PATROL_MAX_HOURS = 8
# Who records (and so verifies) volunteer service, and who records registrations.
RECORDERS = frozenset({"admin", "county", "township", "community", "grid"})
REGISTRARS = frozenset({"admin", "county", "township", "community"})
# Roles that see their own accountability record only (a viewer has none).
OWN_RECORD_ONLY = frozenset({"party", "viewer"})


def stars(hours: Decimal | float) -> int:
    """0 to 5: how many of the thresholds the cumulative hours have reached."""
    total = Decimal(str(hours))
    return sum(1 for threshold in STAR_HOURS if total >= threshold)


def hours(value: Any) -> Decimal:
    """A count of hours as entered: more than 0 and at most 24, to the hundredth (what the
    database keeps), checked after rounding so 0.004 h is refused rather than stored as 0."""
    rounded = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if not 0 < rounded <= 24:
        raise BadRequest(N_("hours must be more than 0 and at most 24"), code="bad_hours")
    return rounded


def _work(year: int) -> Any:
    """(person_id, kind, hours) for every piece of community work in the year. Date ranges
    rather than extract(year), so the date indexes serve."""
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    visits = select(Visit.person_id, literal("visit").label("kind"), cast(Visit.hours, Numeric).label("hours")).where(
        Visit.visited_on.between(first, last))
    walked = func.least(func.extract("epoch", Patrol.ended_at - Patrol.started_at) / 3600, PATROL_MAX_HOURS)
    patrols = (
        select(patrol_members.c.person_id, literal("patrol").label("kind"), cast(walked, Numeric).label("hours"))
        .join(Patrol, Patrol.id == patrol_members.c.patrol_id)
        .where(Patrol.ended_at.is_not(None), func.date(Patrol.started_at).between(first, last))
    )
    wishes = select(Wish.claimed_by_person_id, literal("wish").label("kind"), literal(WISH_HOURS, Numeric)).where(
        Wish.status == "fulfilled", Wish.claimed_by_person_id.is_not(None), Wish.fulfilled_on.between(first, last))
    service = select(ServiceRecord.person_id, literal("service").label("kind"),
                     cast(ServiceRecord.hours, Numeric)).where(ServiceRecord.served_on.between(first, last))
    return union_all(visits, patrols, wishes, service).subquery("work")


def _people_under(area_id: int, *, party_only: bool = True) -> Select[Any]:
    """The people an area answers for: those registered (在职党员报到) with it or below it,
    and those holding a current responsibility there (a building, a household, an area)."""
    area = subtree(area_id)
    buildings = select(Building.id).where(Building.area_id.in_(area))
    held = select(Assignment.person_id).where(
        current(), Assignment.person_id.is_not(None),
        or_(Assignment.area_id.in_(area), Assignment.building_id.in_(buildings),
            Assignment.household_id.in_(select(Household.id).where(Household.building_id.in_(buildings)))),
    )
    stmt = select(Person.id).where(or_(Person.registered_area_id.in_(area), Person.id.in_(held)))
    return stmt.where(Person.is_party_member) if party_only else stmt


def _people_in(scope: Scope, *, party_only: bool = True, honours: bool = False) -> Select[Any]:
    """The people a user answers for: everyone for county-wide roles, else those of the
    user's area (see _people_under); a party member or a viewer answers for themself only.
    The volunteers' honour board (`honours`) is everyone's to read, in the user's area."""
    if scope.role in OWN_RECORD_ONLY and not honours:
        return select(Person.id).where(Person.id == scope.person_id)
    if scope.county_wide:
        stmt = select(Person.id)
        return stmt.where(Person.is_party_member) if party_only else stmt
    return _people_under(scope.area_id or 0, party_only=party_only)


def person_in_scope(session: Session, scope: Scope, person_id: int, *, registering: bool = False) -> Person:
    """The person, if the user answers for them (or it is the user themself); for a
    registration, also a party member not yet registered anywhere. Else 404."""
    person = session.get(Person, person_id) if storable_id(person_id) else None
    if person is not None and not (
        (scope.county_wide and scope.role not in OWN_RECORD_ONLY) or scope.person_id == person.id
        or (registering and person.is_party_member and person.registered_area_id is None)
        or session.scalar(select(Person.id).where(Person.id == person.id,
                                                  Person.id.in_(_people_in(scope, party_only=False))))
    ):
        person = None
    if person is None:
        raise NotFound(N_("no person with id %(id)s"), id=person_id)
    return person


def summary(session: Session, scope: Scope, person_id: int, year: int) -> dict[str, Any]:
    """One party member's year: sessions and hours by kind, against 8 sessions / 40 hours;
    their cumulative volunteer hours and stars; where they registered."""
    person = person_in_scope(session, scope, person_id, registering=scope.role in REGISTRARS)
    work = _work(year)
    rows = session.execute(
        select(work.c.kind, func.count(), func.coalesce(func.sum(work.c.hours), 0))
        .where(work.c.person_id == person_id).group_by(work.c.kind)
    ).all()
    # Compared exactly; rounded only for display.
    sessions = sum(n for _, n, _ in rows)
    total = sum((Decimal(h) for _, _, h in rows), Decimal(0))
    by_kind = {kind: {"sessions": n, "hours": _shown(h)} for kind, n, h in rows}
    served = session.scalar(select(func.coalesce(func.sum(ServiceRecord.hours), 0))
                            .where(ServiceRecord.person_id == person_id)) or Decimal(0)
    registered = session.get(Area, person.registered_area_id) if person.registered_area_id else None
    return {
        "person": {"id": person.id, "name": person.name, "title": person.title,
                   "unit": person.unit.name if person.unit else None},
        "year": year,
        "by_kind": {k: by_kind.get(k, {"sessions": 0, "hours": 0.0}) for k in ("visit", "patrol", "wish", "service")},
        "sessions": sessions,
        "hours": _shown(total),
        "required": {"sessions": MIN_SESSIONS, "hours": float(MIN_HOURS)},
        "behind": sessions < MIN_SESSIONS or total < MIN_HOURS,
        "service_hours_total": _shown(served),
        "stars": stars(served),
        "registered": {"area": registered.name if registered else None,
                       "on": person.registered_on.isoformat() if person.registered_on else None},
    }


def _shown(value: Any) -> float:
    """Hours for display: to the hundredth, as stored (99.96 must not read as 100)."""
    return float(Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def behind(session: Session, scope: Scope, year: int, *, group: str = "unit", area_id: int | None = None,
           limit: int = 500) -> list[dict[str, Any]]:
    """Party members short of 8 sessions or 40 hours in the year, by unit or by the
    community they registered with (only those `area_id` answers for, if given); fewest
    hours first."""
    if group not in ("unit", "community"):
        raise BadRequest(N_("group must be unit or community"))
    work = _work(year)
    totals = (select(work.c.person_id, func.count().label("sessions"), func.sum(work.c.hours).label("hours"))
              .group_by(work.c.person_id).subquery("totals"))
    group_name = Unit.name if group == "unit" else Area.name
    stmt = (
        select(Person.id, Person.name, Person.title, group_name.label("group"),
               func.coalesce(totals.c.sessions, 0).label("sessions"),
               func.coalesce(totals.c.hours, 0).label("hours"))
        .outerjoin(totals, totals.c.person_id == Person.id)
        .where(Person.id.in_(_people_in(scope)),
               (func.coalesce(totals.c.sessions, 0) < MIN_SESSIONS) | (func.coalesce(totals.c.hours, 0) < MIN_HOURS))
    )
    stmt = stmt.outerjoin(Unit, Unit.id == Person.unit_id) if group == "unit" else stmt.outerjoin(
        Area, Area.id == Person.registered_area_id)
    if area_id is not None:
        stmt = stmt.where(Person.id.in_(_people_under(area_id)))
    rows = session.execute(stmt.order_by("group", "hours", Person.id).limit(limit)).all()
    return [{"id": r.id, "name": r.name, "title": r.title, "group": r.group or "", "sessions": r.sessions,
             "hours": _shown(r.hours)} for r in rows]


def ranking(session: Session, scope: Scope, limit: int = 100) -> list[dict[str, Any]]:
    """Volunteers by cumulative service hours, with their stars."""
    total = func.sum(ServiceRecord.hours).label("hours")
    rows = session.execute(
        select(Person.id, Person.name, Unit.name.label("unit"), total)
        .join(ServiceRecord, ServiceRecord.person_id == Person.id)
        .outerjoin(Unit, Unit.id == Person.unit_id)
        .where(Person.id.in_(_people_in(scope, party_only=False, honours=True)))
        .group_by(Person.id, Person.name, Unit.name)
        .order_by(total.desc(), Person.id).limit(limit)
    ).all()
    return [{"id": r.id, "name": r.name, "unit": r.unit or "", "hours": _shown(r.hours), "stars": stars(r.hours)}
            for r in rows]


def record_service(session: Session, scope: Scope, body: Any) -> ServiceRecord:
    """Volunteer hours, recorded (and verified) by an officer."""
    if scope.role not in RECORDERS:
        raise Forbidden(N_("your role may not record volunteer service"))
    fields = Fields(body, ("person_id", "served_on", "activity", "hours"))
    person = person_in_scope(session, scope, fields.integer("person_id", required=True) or 0)
    if scope.person_id is None:  # hours are verified by a named person
        raise Forbidden(N_("link your login to a person to verify volunteer hours"), code="no_person")
    if person.id == scope.person_id:
        raise Forbidden(N_("someone else must verify your own service hours"), code="own_service")
    today = county_today(session)
    served_on = fields.date("served_on") or today
    if served_on > today:
        raise BadRequest(N_("service cannot be in the future"), code="future_service")
    record = ServiceRecord(person_id=person.id, served_on=served_on,
                           hours=hours(fields.number("hours", required=True) or 0),
                           activity=fields.text("activity", max_length=200, required=True),
                           verified_by_id=scope.person_id)
    session.add(record)
    session.flush()
    return record


def register(session: Session, scope: Scope, person_id: int, body: Any) -> Person:
    """在职党员报到: an in-service party member registers with a community."""
    if scope.role not in REGISTRARS:
        raise Forbidden(N_("your role may not record registrations"))
    person = person_in_scope(session, scope, person_id, registering=True)
    if not person.is_party_member:
        raise BadRequest(N_("only party members register with a community"), code="not_a_party_member")
    fields = Fields(body, ("area_id", "registered_on", "version"))
    check_version(person, fields)
    area = get(session, Area, fields.integer("area_id", required=True) or 0)
    if area.level != "community":
        raise BadRequest(N_("party members register with a community"), code="not_a_community")
    scope.require_area(session, area.id)
    person.registered_area_id = area.id
    person.registered_on = fields.date("registered_on") or county_today(session)
    session.flush()
    return person
