"""Household visits (走访) and the residents' small requests (微心愿) they bring up.

A party member records their own visits; officers record visits in their area. A visit
by someone who holds no assignment for the household is accepted but marked (by_assignee
false), so coverage counts it and accountability can see it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo import notify
from geo import photos as photo_files
from geo.accountability import hours, person_in_scope
from geo.db import county_today
from geo.directory import check_version, get
from geo.errors import N_, BadRequest, Conflict, Forbidden, NotFound
from geo.models import (
    Assignment,
    Building,
    Household,
    Person,
    Unit,
    Visit,
    Wish,
    WishPhoto,
)
from geo.responsibility import current
from geo.scope import Scope, mask_name, mask_phone, subtree
from geo.validate import Fields, storable_id

VISIT_FIELDS = ("household_id", "person_id", "visited_on", "hours", "note", "needs", "wish_title",
                "wish_description", "client_id")
OFFICERS = frozenset({"admin", "county", "township", "community", "grid"})
RECORDERS = OFFICERS | {"party"}
PAGE_SIZE = 50


def _household(session: Session, scope: Scope, household_id: int, *, person_id: int | None = None) -> Household:
    """A household the user may record a visit to: in their area, or (a party member)
    one they hold."""
    stmt = select(Household).join(Building, Building.id == Household.building_id).where(Household.id == household_id)
    condition = scope.reads(Building.area_id)
    if person_id is not None:
        holds = exists().where(Assignment.household_id == Household.id, Assignment.person_id == person_id, current())
        condition = or_(condition, holds)
    found = session.scalars(stmt.where(condition)).first() if storable_id(household_id) else None
    if found is None:
        raise NotFound(N_("no household with id %(id)s"), id=household_id)
    return found


def households_of(session: Session, scope: Scope, building_id: int) -> list[dict[str, Any]]:
    """The households of a building for choosing one: address, residents, and the head's
    name and phone where the user's area covers them (masked elsewhere). A viewer, who
    sees no personal data and visits no one, is not shown a building's homes."""
    if scope.role == "viewer":
        raise Forbidden(N_("your role does not see households"))
    building = session.get(Building, building_id) if storable_id(building_id) else None
    held_by_me = set()
    if scope.person_id is not None:
        held_by_me = set(session.scalars(select(Assignment.household_id).where(
            Assignment.person_id == scope.person_id, current(), Assignment.household_id.is_not(None))))
    if building is None:
        raise NotFound(N_("no building with id %(id)s"), id=building_id)
    readable = building.area_id in scope.personal_areas(session, [building.area_id]) if building.area_id else False
    rows = session.scalars(
        select(Household).where(Household.building_id == building.id)
        .order_by(Household.unit_no, Household.floor, Household.room)
    ).all()
    if not readable and not held_by_me.intersection(h.id for h in rows):
        if not session.scalar(select(Building.id).where(Building.id == building.id, scope.reads(Building.area_id))):
            raise NotFound(N_("no building with id %(id)s"), id=building_id)
    out = []
    for h in rows:
        personal = readable or h.id in held_by_me
        out.append({
            "id": h.id, "unit_no": h.unit_no, "floor": h.floor, "room": h.room,
            "address": f"{h.unit_no}-{h.floor}-{h.room}", "residents": h.residents, "active": h.active,
            "head_name": h.head_name if personal else mask_name(h.head_name),
            "phone": h.phone if personal else mask_phone(h.phone),
            "mine": h.id in held_by_me,
        })
    return out


@dataclass(frozen=True)
class Recorded:
    visit: Visit
    created: bool


def record(session: Session, scope: Scope, body: Any) -> Recorded:
    """Record a visit (and, if the household raised one, a micro-wish). With a client_id
    this login already used, the visit stored then is returned (created False) and nothing
    is written: a phone's offline queue may send it again."""
    fields = Fields(body, VISIT_FIELDS)
    client_id = fields.client_id()
    if scope.role == "party":
        if scope.person_id is None:
            raise Forbidden(N_("your login is not linked to a person; ask an administrator"), code="no_person")
        person_id = fields.integer("person_id") or scope.person_id
        if person_id != scope.person_id:
            raise Forbidden(N_("a party member records their own visits"), code="own_visits")
    elif scope.role in OFFICERS:
        person_id = fields.integer("person_id") or scope.person_id
        if person_id is None:
            raise BadRequest(N_("%(field)s is required"), code="missing_field", field="person_id")
        person_in_scope(session, scope, person_id)  # someone the officer answers for
    else:
        raise Forbidden(N_("your role may not record visits"))
    if client_id is not None:
        earlier = _earlier(session, scope, client_id, person_id, fields)
        if earlier is not None:
            return Recorded(earlier, created=False)
    household = _household(session, scope, fields.integer("household_id", required=True) or 0,
                           person_id=person_id if scope.role == "party" else None)
    if not household.active:
        raise Conflict(N_("this household has moved away"), code="household_inactive")
    today = county_today(session)
    visited_on = fields.date("visited_on") or today
    if visited_on > today:
        raise BadRequest(N_("a visit cannot be in the future"), code="future_visit")
    if visited_on < today - dt.timedelta(days=366):
        raise BadRequest(N_("a visit more than a year ago is not recorded here"), code="too_old")
    spent = hours(fields.number("hours", required=True) or 0)
    by_assignee = bool(session.scalar(select(
        exists().where(Assignment.person_id == person_id, current(),
                       or_(Assignment.household_id == household.id, Assignment.building_id == household.building_id))
    )))
    visit = Visit(household_id=household.id, person_id=person_id, visited_on=visited_on,
                  hours=spent, note=fields.text("note", max_length=4000, multiline=True),
                  needs=fields.text("needs", max_length=4000, multiline=True), by_assignee=by_assignee,
                  recorded_by_id=scope.user_id, client_id=client_id)
    try:
        with session.begin_nested():
            session.add(visit)
            session.flush()
    except IntegrityError:
        # The same visit arrived twice at once; the other request stored it first.
        earlier = _earlier(session, scope, client_id, person_id, fields) if client_id else None
        if earlier is None:
            raise
        return Recorded(earlier, created=False)
    title = fields.text("wish_title", max_length=200)
    if title:
        session.add(Wish(household_id=household.id, title=title, raised_on=visited_on,
                         description=fields.text("wish_description", max_length=4000, multiline=True)))
    session.flush()
    return Recorded(visit, created=True)


def _earlier(session: Session, scope: Scope, client_id: str, person_id: int, fields: Fields) -> Visit | None:
    """This login's visit with that client_id, if any. A retry is the same visit; the same
    id for another household, visitor or day is a mistake worth saying, not a visit to
    drop quietly."""
    earlier = session.scalars(
        select(Visit).where(Visit.recorded_by_id == scope.user_id, Visit.client_id == client_id)
    ).first() if scope.user_id is not None else None
    if earlier is None:
        return None
    day = fields.date("visited_on")
    if (earlier.household_id != fields.integer("household_id", required=True) or earlier.person_id != person_id
            or (day is not None and day != earlier.visited_on)):
        raise Conflict(N_("this client_id was used for a different visit"), code="client_id_reused")
    return earlier


def visit_data(visit: Visit) -> dict[str, Any]:
    return {"id": visit.id, "household_id": visit.household_id, "person_id": visit.person_id,
            "visited_on": visit.visited_on.isoformat(), "hours": float(visit.hours), "note": visit.note,
            "needs": visit.needs, "by_assignee": visit.by_assignee, "client_id": visit.client_id}


# --- micro-wishes -------------------------------------------------------------------------

WISH_STEPS = {
    "claim": ({"open"}, "claimed"),
    "fulfil": ({"claimed"}, "fulfilled"),
    "withdraw": ({"open", "claimed"}, "withdrawn"),
    "rate": ({"fulfilled"}, None),
}


def wishes(session: Session, scope: Scope, *, status: str | None = None, area_id: int | None = None,
           overdue_only: bool = False, page: int = 1, page_size: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """Wishes in the user's area (by community and grid), newest first; a claimed wish past
    its promised date is flagged."""
    today = county_today(session)
    stmt = (
        select(Wish, Building.name.label("building"), Household.unit_no, Household.floor, Household.room,
               Building.area_id, Person.name.label("claimer"), Unit.name.label("claimer_unit"),
               scope.personal(Building.area_id).label("personal"))
        .join(Household, Household.id == Wish.household_id)
        .join(Building, Building.id == Household.building_id)
        .outerjoin(Person, Person.id == Wish.claimed_by_person_id)
        .outerjoin(Unit, Unit.id == Wish.claimed_by_unit_id)
        .where(scope.reads(Building.area_id))
    )
    if status:
        stmt = stmt.where(Wish.status == status)
    if area_id is not None:
        stmt = stmt.where(Building.area_id.in_(subtree(area_id)))
    if overdue_only:
        stmt = stmt.where(Wish.status == "claimed", Wish.promised_on < today)
    rows = session.execute(stmt.order_by(Wish.raised_on.desc(), Wish.id.desc())
                           .limit(page_size).offset((page - 1) * page_size)).all()
    photos: dict[int, list[int]] = {}
    for wish_id, photo_id in session.execute(
        select(WishPhoto.wish_id, WishPhoto.id).where(WishPhoto.wish_id.in_([r.Wish.id for r in rows]))
        .order_by(WishPhoto.id)
    ):
        photos.setdefault(wish_id, []).append(photo_id)
    # A wish is a resident's own words about their home: who may not see personal data (a
    # viewer) reads what was asked and how it went, not the words, the flat or the photos.
    return [
        {"id": r.Wish.id, "title": r.Wish.title, "description": r.Wish.description if r.personal else None,
         "status": r.Wish.status, "raised_on": r.Wish.raised_on.isoformat(), "building": r.building,
         "address": f"{r.unit_no}-{r.floor}-{r.room}" if r.personal else None, "area_id": r.area_id,
         "claimed_by": r.claimer or r.claimer_unit, "claimed_on": _iso(r.Wish.claimed_on),
         "promised_on": _iso(r.Wish.promised_on), "fulfilled_on": _iso(r.Wish.fulfilled_on),
         "note": r.Wish.note if r.personal else None, "rating": r.Wish.rating, "version": r.Wish.version,
         "photo_ids": photos.get(r.Wish.id, []) if r.personal else [],
         "late": r.Wish.status == "claimed" and r.Wish.promised_on is not None and r.Wish.promised_on < today}
        for r in rows
    ]


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def wish_step(session: Session, scope: Scope, wish_id: int, step: str, body: Any,
              files: Sequence[tuple[str, bytes]] = ()) -> Wish:
    """Claim (认领), fulfil, withdraw or rate a wish, as the version the user saw. A wish is
    fulfilled with a note, photos (`files`: name and bytes), or both."""
    if step not in WISH_STEPS:
        raise NotFound(N_("no such step: %(step)s"), step=step[:20])
    wish = _wish(session, scope, wish_id)
    if scope.role == "viewer":
        raise Forbidden(N_("your role may not change wishes"))
    if files and step != "fulfil":
        raise BadRequest(N_("photos are sent when a wish is fulfilled"), code="unexpected_photos")
    pictures = photo_files.read_photos(files)
    fields = Fields(body, ("version", "note", "rating", "promised_on", "unit_id"))
    check_version(wish, fields)
    sources, target = WISH_STEPS[step]
    if wish.status not in sources:
        raise Conflict(N_("a wish that is %(wish_status)s cannot take the step %(wish_step)s"),
                       code="step_not_allowed", wish_status=wish.status, wish_step=step)
    today = county_today(session)
    if step == "claim":
        unit_id = fields.integer("unit_id")
        if unit_id is None and scope.person_id is None:
            raise BadRequest(N_("claim it for a unit_id, or link your login to a person"), code="nobody")
        wish.claimed_by_person_id = scope.person_id if unit_id is None else None
        wish.claimed_by_unit_id = get(session, Unit, unit_id).id if unit_id else None
        wish.claimed_on = today
        promised = fields.date("promised_on", required=True)
        if promised is not None and promised < today:
            raise BadRequest(N_("the promised date has already passed"), code="deadline_passed")
        wish.promised_on = promised
    elif step == "fulfil":
        wish.fulfilled_on = today
        wish.note = fields.text("note", max_length=4000, multiline=True, required=not pictures)
        session.add_all(WishPhoto(wish_id=wish.id, **p.columns()) for p in pictures)
    elif step == "withdraw":
        wish.note = fields.text("note", max_length=4000, multiline=True, required=True)
    elif step == "rate":
        wish.rating = fields.integer("rating", required=True, minimum=1, maximum=5)
    if target is not None:
        wish.status = target
    session.flush()
    if step == "claim":
        notify.wish_claimed(session, wish)
    return wish


def _wish(session: Session, scope: Scope, wish_id: int) -> Wish:
    wish = session.scalars(
        select(Wish).join(Household, Household.id == Wish.household_id)
        .join(Building, Building.id == Household.building_id)
        .where(Wish.id == wish_id, scope.reads(Building.area_id))
    ).first() if storable_id(wish_id) else None
    if wish is None:
        raise NotFound(N_("no wish with id %(id)s"), id=wish_id)
    return wish


def wish_photo(session: Session, scope: Scope, wish_id: int, photo_id: int, display: bool) -> tuple[str, bytes]:
    """A photo of a fulfilled wish, if the user may read the wish and its personal data."""
    wish = _wish(session, scope, wish_id)
    if scope.role == "viewer":
        raise NotFound(N_("no photo with id %(id)s"), id=photo_id)
    return photo_files.stored(session, WishPhoto, WishPhoto.wish_id == wish.id, photo_id, display)


def wish_counts(session: Session, scope: Scope, area_id: int, since: dt.date) -> dict[str, int]:
    """Wishes raised since `since` under an area, by state."""
    rows = session.execute(
        select(Wish.status, func.count()).join(Household, Household.id == Wish.household_id)
        .join(Building, Building.id == Household.building_id)
        .where(Building.area_id.in_(subtree(area_id)), scope.reads(Building.area_id), Wish.raised_on >= since)
        .group_by(Wish.status)
    ).all()
    counts = {status: 0 for status in ("open", "claimed", "fulfilled", "withdrawn")}
    counts.update(dict(rows))
    return counts
