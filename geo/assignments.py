"""Managing responsibility (包保责任, 四包四定): who answers for an area, a building or a
household, fixed by post, duty and target, for a period.

History is kept: an assignment is ended (given a last day), never deleted, and an ended
assignment is not edited. Changing *who* is responsible means ending one assignment and
starting another; the post, duty and target of a current one may be corrected in place.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select, union
from sqlalchemy.orm import Session, aliased, joinedload

from geo.db import by_pinyin, county_today
from geo.directory import PAGE_SIZE, check_version, get
from geo.errors import N_, BadRequest, Conflict, Forbidden, NotFound
from geo.models import (
    ASSIGNMENT_KINDS,
    Area,
    Assignment,
    Building,
    Household,
    Person,
    Unit,
)
from geo.responsibility import assignment_data, current
from geo.scope import Scope, subtree
from geo.validate import Fields, storable_id

# What each of the four layers (四包) may be responsible for.
KIND_TARGETS = {
    "standing_committee": {"community"},
    "department": {"community"},
    "unit": {"grid", "compound", "building"},
    "party_member": {"household", "building"},
}
# The county's own layers of responsibility: a county leader and a department per community.
COUNTY_DECIDES = frozenset({"standing_committee", "department"})
FIELDS = (
    "kind", "area_id", "building_id", "household_id", "unit_id", "person_id",
    "post", "duty", "target", "valid_from", "valid_to",
)
TEXT_LIMITS = {"post": 200, "duty": 2000, "target": 2000}

_HouseholdBuilding = aliased(Building)


def _target_area() -> Any:
    """The area an assignment's target lies in, for scope checks in SQL."""
    return func.coalesce(Assignment.area_id, Building.area_id, _HouseholdBuilding.area_id)


def _with_targets(stmt: Select[Any]) -> Select[Any]:
    return (
        stmt.outerjoin(Building, Building.id == Assignment.building_id)
        .outerjoin(Household, Household.id == Assignment.household_id)
        .outerjoin(_HouseholdBuilding, _HouseholdBuilding.id == Household.building_id)
    )


def people_in(session: Session, scope: Scope, area_id: int, limit: int = 300) -> list[dict[str, Any]]:
    """The people who currently answer for something in the area (itself, an area under
    it, a building or a household there), by name: whom a patrol of it takes along. Names
    and posts only, no phones. Three indexed branches (areas, buildings, households), so
    the cost follows the area, not the county."""
    area = get(session, Area, area_id)
    scope.require_area(session, area.id)
    areas = subtree(area.id)
    buildings = select(Building.id).where(Building.area_id.in_(areas))
    in_force = current(county_today(session))
    held = union(
        select(Assignment.person_id).where(in_force, Assignment.area_id.in_(areas)),
        select(Assignment.person_id).where(in_force, Assignment.building_id.in_(buildings)),
        select(Assignment.person_id).where(in_force, Assignment.household_id.in_(
            select(Household.id).where(Household.building_id.in_(buildings)))),
    ).subquery("held")
    rows = session.execute(
        select(Person.id, Person.name, Person.title, Unit.name.label("unit"))
        .outerjoin(Unit, Unit.id == Person.unit_id)
        .where(Person.id.in_(select(held.c.person_id)))
        .order_by(by_pinyin(session, Person.name), Person.id)
        .limit(limit)
    ).all()
    return [{"id": r.id, "name": r.name, "title": r.title, "unit": r.unit} for r in rows]


def data(session: Session, scope: Scope, items: list[Assignment]) -> list[dict[str, Any]]:
    """Assignments as the API shows them, phones masked outside the user's reach."""
    areas = {a.id: area for a, area in _areas_of(session, items)}
    personal = scope.personal_areas(session, [x for x in areas.values() if x is not None])
    today = county_today(session)
    out = []
    for a in items:
        # A phone is shown for the work it reaches the person for: an assignment not in force
        # (ended, or not begun) shows it to the county only.
        in_force = a.valid_from <= today and (a.valid_to is None or a.valid_to > today)
        row = assignment_data(a, areas.get(a.id) in personal and (in_force or scope.county_wide))
        row["on"] = _target_ref(a)
        row["version"] = a.version
        out.append(row)
    return out


def _areas_of(session: Session, items: list[Assignment]) -> list[tuple[Assignment, int | None]]:
    if not items:
        return []
    rows = dict(session.execute(
        _with_targets(select(Assignment.id, _target_area())).where(Assignment.id.in_([a.id for a in items]))
    ).all())
    return [(a, rows.get(a.id)) for a in items]


def target_name(session: Session, a: Assignment) -> str:
    """What the assignment is for, as a person reads it: an area's or building's name, or
    a household's address in its building."""
    if a.area_id is not None:
        area = session.get(Area, a.area_id)
        return area.name if area else ""
    if a.building_id is not None:
        building = session.get(Building, a.building_id)
        return (building.name or building.address) if building else ""
    household = session.get(Household, a.household_id)
    if household is None:
        return ""
    return f"{household.building.name} {household.unit_no}-{household.floor}-{household.room}"


def _target_ref(a: Assignment) -> dict[str, Any]:
    if a.area_id is not None:
        return {"type": "area", "id": a.area_id}
    if a.building_id is not None:
        return {"type": "building", "id": a.building_id}
    return {"type": "household", "id": a.household_id}


def listing(
    session: Session,
    scope: Scope,
    *,
    area_id: int | None = None,
    building_id: int | None = None,
    household_id: int | None = None,
    person_id: int | None = None,
    current_only: bool = True,
    page: int = 1,
) -> list[Assignment]:
    stmt = _with_targets(select(Assignment)).options(
        joinedload(Assignment.unit), joinedload(Assignment.person)
    ).where(scope.reads(_target_area()))
    for column, value in (
        (Assignment.area_id, area_id),
        (Assignment.building_id, building_id),
        (Assignment.household_id, household_id),
        (Assignment.person_id, person_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if current_only:
        stmt = stmt.where(current())
    stmt = stmt.order_by(Assignment.valid_from.desc(), Assignment.id.desc())
    return list(session.scalars(stmt.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).unique())


def one(session: Session, scope: Scope, assignment_id: int) -> Assignment:
    found = None
    if storable_id(assignment_id):
        stmt = _with_targets(select(Assignment)).where(
            Assignment.id == assignment_id, scope.reads(_target_area())
        )
        found = session.scalars(stmt).first()
    if found is None:
        raise NotFound(N_("no assignment with id %(id)s"), id=assignment_id)
    return found


def _target(session: Session, fields: Fields, kind: str) -> tuple[dict[str, int], int | None]:
    """The one target named in the body, checked against the kind; returns the column to
    set and the area the target lies in."""
    given = {name: fields.integer(name) for name in ("area_id", "building_id", "household_id")}
    named = {k: v for k, v in given.items() if v is not None}
    if len(named) != 1:
        raise BadRequest(
            N_("name exactly one of area_id, building_id or household_id"), code="one_target"
        )
    (column, target_id), = named.items()
    if column == "area_id":
        area = get(session, Area, target_id)
        level, area_id = area.level, area.id
    elif column == "building_id":
        building = get(session, Building, target_id)
        level, area_id = "building", building.area_id
    else:
        household = get(session, Household, target_id)
        level, area_id = "household", household.building.area_id
    if level not in KIND_TARGETS[kind]:
        raise BadRequest(
            N_("a %(assignment_kind)s assignment is for a %(target_levels)s, not a %(target_level)s"),
            code="wrong_target", assignment_kind=kind, target_levels=sorted(KIND_TARGETS[kind]), target_level=level,
        )
    return {column: target_id}, area_id


def create(session: Session, scope: Scope, body: Any) -> Assignment:
    fields = Fields(body, FIELDS)
    kind = fields.choice("kind", ASSIGNMENT_KINDS, required=True) or ""
    if kind in COUNTY_DECIDES and not scope.county_wide:
        raise Forbidden(N_("the county decides who answers for a community (%(assignment_kind)s)"),
                        assignment_kind=kind)
    target, area_id = _target(session, fields, kind)
    scope.require_area(session, area_id, manage=True)
    unit_id, person_id = fields.integer("unit_id"), fields.integer("person_id")
    if unit_id is None and person_id is None:
        raise BadRequest(N_("name a responsible unit_id or person_id (or both)"), code="nobody")
    unit = get(session, Unit, unit_id) if unit_id else None
    person = get(session, Person, person_id) if person_id else None
    valid_from = fields.date("valid_from") or county_today(session)
    valid_to = fields.date("valid_to")
    if valid_to is not None and valid_to < valid_from:
        raise BadRequest(N_("valid_to must not be before valid_from"), code="dates_reversed")
    if valid_to is not None and valid_to <= county_today(session) and not scope.county_wide:
        # History that never stood on the map: only the county records it (a migration of
        # old records); an area officer ends a current assignment instead.
        raise BadRequest(N_("this assignment would have ended already; only the county records past ones"),
                         code="already_ended")
    assignment = Assignment(
        kind=kind, unit=unit, person=person, valid_from=valid_from, valid_to=valid_to,
        **target,
        **{name: fields.text(name, max_length=limit, multiline=name != "post")
           for name, limit in TEXT_LIMITS.items()},
    )
    session.add(assignment)
    session.flush()
    return assignment


def _editable(session: Session, scope: Scope, assignment_id: int, fields: Fields) -> Assignment:
    assignment = one(session, scope, assignment_id)
    if assignment.kind in COUNTY_DECIDES and not scope.county_wide:
        raise Forbidden(N_("the county decides who answers for a community (%(assignment_kind)s)"),
                        assignment_kind=assignment.kind)
    (_, area_id), = _areas_of(session, [assignment])
    scope.require_area(session, area_id, manage=True)
    check_version(assignment, fields)
    if assignment.valid_to is not None and assignment.valid_to <= county_today(session):
        raise Conflict(N_("this assignment has ended and is kept as history; start a new one"),
                       code="assignment_ended")
    return assignment


def update(session: Session, scope: Scope, assignment_id: int, body: Any) -> Assignment:
    """Correct the post, duty or target of a current assignment."""
    fields = Fields(body, (*TEXT_LIMITS, "version"))
    assignment = _editable(session, scope, assignment_id, fields)
    for name, limit in TEXT_LIMITS.items():
        if name in fields:
            setattr(assignment, name, fields.text(name, max_length=limit, multiline=name != "post"))
    session.flush()
    return assignment


def end(session: Session, scope: Scope, assignment_id: int, body: Any) -> Assignment:
    """End an assignment on `valid_to` (default: today), the first day it no longer
    holds; it stays as history."""
    fields = Fields(body, ("valid_to", "version"))
    assignment = _editable(session, scope, assignment_id, fields)
    if assignment.valid_to is not None:
        raise Conflict(N_("this assignment already has an end date"), code="assignment_ended")
    valid_to = fields.date("valid_to") or county_today(session)
    if valid_to < assignment.valid_from:
        raise BadRequest(N_("valid_to must not be before valid_from"), code="dates_reversed")
    assignment.valid_to = valid_to
    session.flush()
    return assignment
