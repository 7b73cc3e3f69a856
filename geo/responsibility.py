"""Who is responsible for a place: the building and every area at a point, innermost first,
each with its current assignments (包保: unit, person, post, duty, target).

A building's areas come from the area tree (its parent links), so a building is never
shown in one grid and routed to another; a point outside any building gets the areas
that cover it. Everything is read through the user's scope: records outside it are not
found, and phones are masked where the scope does not cover them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, func, literal, or_, select
from sqlalchemy.orm import Session, joinedload

from geo.errors import N_, NotFound
from geo.geometry import lonlat_point, sql_point, to_geojson, to_geometry
from geo.models import (
    AREA_DEPTH,
    AREA_LEVELS,
    Area,
    Assignment,
    Building,
    Household,
    Issue,
    Person,
    Visit,
)
from geo.scope import Scope, mask_phone
from geo.validate import storable_id

COVERAGE_WINDOW_DAYS = 30


def _point(lon: float, lat: float) -> Any:
    lonlat_point(lon, lat)
    return sql_point(lon, lat)


def current(today: dt.date | None = None) -> Any:
    """The SQL condition for an assignment in force on `today`: from valid_from, up to
    but not including valid_to (the day it was ended)."""
    day = literal(today) if today else func.current_date()
    return and_(
        Assignment.valid_from <= day,
        or_(Assignment.valid_to.is_(None), Assignment.valid_to > day),
    )


def building_at(session: Session, lon: float, lat: float, scope: Scope) -> Building | None:
    # On a shared wall the smaller footprint wins; ties go to the older record.
    point = _point(lon, lat)
    stmt = (
        select(Building)
        .where(func.ST_Covers(Building.geom, point), scope.reads(Building.area_id))
        .order_by(func.ST_Area(Building.geom), Building.id)
        .limit(1)
    )
    return session.scalars(stmt).first()


# Areas (or rows with an area's id, parent_id, code, name and level), innermost first, each
# with whether the user may see personal data (phones) in it.
Chain = list[tuple[Any, bool]]


def areas_covering(session: Session, lon: float, lat: float, scope: Scope) -> Chain:
    stmt = (
        select(Area, scope.personal(Area.id))
        .where(func.ST_Covers(Area.geom, _point(lon, lat)), scope.outlines(Area.id))
        .order_by(AREA_DEPTH.desc(), Area.id)
    )
    return [(area, personal) for area, personal in session.execute(stmt)]


def area_chain(session: Session, area_id: int, scope: Scope) -> Chain:
    """An area the user may see and all those above it, innermost first. Every area above
    a visible one is visible too (it is in the user's subtree or above their area), so the
    path needs no scope condition, and which areas show personal data follows from it."""
    areas = area_path(session, area_id)
    return list(zip(areas, scope.personal_along([area.id for area in areas])))


def _area_path_statement() -> Select[Any]:
    columns = (Area.id, Area.parent_id, Area.code, Area.name, Area.level)
    up = select(*columns).where(Area.id == bindparam("area_id")).cte(recursive=True)
    up = up.union_all(select(*columns).join(up, Area.id == up.c.parent_id))
    depth = case({level: rank for rank, level in enumerate(AREA_LEVELS)}, value=up.c.level)
    return select(up).order_by(depth.desc())


# Made once: SQLAlchemy's cache key of a recursive CTE costs milliseconds to work out, and a
# statement keeps its key (routing, every lookup and every issue's panel walk up the tree).
_AREA_PATH = _area_path_statement()


def area_path(session: Session, area_id: int) -> list[Any]:
    """(id, parent_id, code, name, level) of the area and those above it, innermost first:
    no polygons — for routing, for saying where something is and for the areas' cards. The
    walk up carries the columns, so each step is one index lookup (joining areas again
    afterwards made PostgreSQL scan them all)."""
    return list(session.execute(_AREA_PATH, {"area_id": area_id}))


def assignments_for(
    *, area_ids: Sequence[int] = (), building_ids: Sequence[int] = ()
) -> Select[tuple[Assignment]]:
    """Current assignments on any of the given areas or buildings."""
    targets = []
    if area_ids:
        targets.append(Assignment.area_id.in_(area_ids))
    if building_ids:
        targets.append(Assignment.building_id.in_(building_ids))
    return (
        select(Assignment)
        .options(joinedload(Assignment.unit), joinedload(Assignment.person))
        .where(or_(*targets) if targets else literal(False), current())
        .order_by(Assignment.kind, Assignment.id)
    )


def person_data(person: Person, personal: bool) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "title": person.title,
        "phone": person.phone if personal else mask_phone(person.phone),
    }


def assignment_data(a: Assignment, personal: bool) -> dict[str, Any]:
    """An assignment as the API shows it; `personal` says whether the phone may show."""
    return {
        "id": a.id,
        "kind": a.kind,
        "unit": {"id": a.unit.id, "name": a.unit.name} if a.unit else None,
        "person": person_data(a.person, personal) if a.person else None,
        "post": a.post,
        "duty": a.duty,
        "target": a.target,
        "valid_from": a.valid_from.isoformat(),
        "valid_to": a.valid_to.isoformat() if a.valid_to else None,
    }


def area_data(area: Area, assignments: list[Assignment], personal: bool) -> dict[str, Any]:
    return {
        "id": area.id,
        "code": area.code,
        "name": area.name,
        "level": area.level,
        "parent_id": area.parent_id,
        "assignments": [assignment_data(a, personal) for a in assignments],
    }


def _area_cards(session: Session, chain: Chain) -> list[dict[str, Any]]:
    """The areas' cards with their current assignments: one query."""
    by_area: dict[int, list[Assignment]] = defaultdict(list)
    for a in session.scalars(assignments_for(area_ids=[area.id for area, _ in chain])).unique():
        by_area[a.area_id].append(a)  # type: ignore[index]
    return [area_data(area, by_area[area.id], personal) for area, personal in chain]


def lookup(session: Session, lon: float, lat: float, scope: Scope) -> dict[str, Any]:
    """The building (if any) at a point and every area containing it, innermost first."""
    building = building_at(session, lon, lat, scope)
    if building is not None:
        card = building_cards(session, [building], scope)[0]
        return {"lon": lon, "lat": lat, "building": card, "areas": card["areas"]}
    cards = _area_cards(session, areas_covering(session, lon, lat, scope))
    return {"lon": lon, "lat": lat, "building": None, "areas": cards}


def _building(session: Session, building_id: int, scope: Scope) -> Building:
    found = (
        session.scalars(select(Building).where(Building.id == building_id, scope.reads(Building.area_id))).first()
        if storable_id(building_id)
        else None
    )
    if found is None:
        raise NotFound(N_("no building with id %(id)s"), id=building_id)
    return found


def building_card(session: Session, building_id: int, scope: Scope) -> dict[str, Any]:
    """A building with its areas, current assignments, households, visit coverage over the
    last 30 days and open issues: everything the building panel shows."""
    return building_cards(session, [_building(session, building_id, scope)], scope)[0]


def building_cards(session: Session, buildings: Sequence[Building], scope: Scope) -> list[dict[str, Any]]:
    """building_card for each of these buildings (already read through the scope): a fixed
    number of queries however many there are (the offline map's copy holds thousands), and
    each area's chain and cards read once."""
    ids = [b.id for b in buildings]
    if not ids:
        return []
    chains: dict[int | None, tuple[Chain, list[dict[str, Any]]]] = {}
    for area_id in dict.fromkeys(b.area_id for b in buildings):
        chain = area_chain(session, area_id, scope) if area_id else []
        chains[area_id] = (chain, _area_cards(session, chain))

    on_building: dict[int, list[Assignment]] = defaultdict(list)
    for a in session.scalars(assignments_for(building_ids=ids)).unique():
        on_building[a.building_id].append(a)  # type: ignore[index]

    # The same window as the coverage map's "last 30 days": today and the 29 days before.
    since = session.scalar(select(func.current_date() - (COVERAGE_WINDOW_DAYS - 1)))
    visited = (
        select(Visit.household_id)
        .where(Visit.household_id == Household.id, Visit.visited_on >= since)
        .exists()
    )
    counts = {row[0]: row[1:] for row in session.execute(
        select(
            Household.building_id,
            func.count(),
            func.count().filter(Household.active),
            func.count().filter(Household.active, visited),
        ).where(Household.building_id.in_(ids)).group_by(Household.building_id)
    )}

    # 下沉党员 responsible for households here, with how many households each holds.
    household_people: dict[int, list[tuple[Person, int]]] = defaultdict(list)
    for building_id, person, n in session.execute(
        select(Household.building_id, Person, func.count(func.distinct(Assignment.household_id)))
        .join(Assignment, Assignment.person_id == Person.id)
        .join(Household, Household.id == Assignment.household_id)
        .where(Household.building_id.in_(ids), current())
        .group_by(Household.building_id, Person.id)
        .order_by(Household.building_id, Person.id)
    ):
        household_people[building_id].append((person, n))

    open_issues: dict[int, list[Any]] = defaultdict(list)
    for i in session.execute(
        select(Issue.building_id, Issue.id, Issue.category, Issue.status, Issue.description, Issue.reported_at,
               Issue.deadline)
        .where(Issue.building_id.in_(ids), Issue.status != "closed")
        .order_by(Issue.reported_at.desc())
    ):
        open_issues[i.building_id].append(i)

    out = []
    for building in buildings:
        chain, cards = chains[building.area_id]
        # Phones show where the building's own area is in the user's scope (its chain's first).
        personal = bool(chain) and chain[0][0].id == building.area_id and chain[0][1]
        households, active, covered = counts.get(building.id, (0, 0, 0))
        out.append({
            "id": building.id,
            "source_id": building.source_id,
            "name": building.name,
            "address": building.address,
            "floors": building.floors,
            "use": building.use,
            "area_id": building.area_id,
            "geometry": to_geojson(to_geometry(building.geom)),
            "areas": cards,
            "assignments": [assignment_data(a, personal) for a in on_building[building.id]],
            "household_count": households,
            "active_household_count": active,
            "household_assignees": [
                {"person": person_data(person, personal), "households": n}
                for person, n in household_people[building.id]
            ],
            "coverage": {
                "since": since.isoformat(),
                "days": COVERAGE_WINDOW_DAYS,
                "visited": covered,
                "households": active,
                "share": round(covered / active, 4) if active else None,
            },
            "open_issues": [
                {
                    "id": i.id,
                    "category": i.category,
                    "status": i.status,
                    "description": i.description,
                    "reported_at": i.reported_at.isoformat(),
                    "deadline": i.deadline.isoformat() if i.deadline else None,
                }
                for i in open_issues[building.id]
            ],
        })
    return out


def area_outline(session: Session, area_id: int) -> dict[str, Any] | None:
    """An area's polygon as GeoJSON (for drawing one area, not a layer)."""
    element = session.scalar(select(Area.geom).where(Area.id == area_id))
    return to_geojson(to_geometry(element)) if element is not None else None


def area_bounds(session: Session, area_id: int) -> tuple[float, float, float, float] | None:
    """(min lon, min lat, max lon, max lat) of an area."""
    row = session.execute(
        select(func.ST_XMin(Area.geom), func.ST_YMin(Area.geom), func.ST_XMax(Area.geom), func.ST_YMax(Area.geom))
        .where(Area.id == area_id)
    ).first()
    return tuple(row) if row else None  # type: ignore[return-value]


def area_card(session: Session, area_id: int, scope: Scope) -> dict[str, Any]:
    area = (
        session.scalars(select(Area).where(Area.id == area_id, scope.outlines(Area.id))).first()
        if storable_id(area_id)
        else None
    )
    if area is None:
        raise NotFound(N_("no area with id %(id)s"), id=area_id)
    cards = _area_cards(session, area_chain(session, area.id, scope))
    card = cards[0]
    card["ancestors"] = cards[1:]
    return card
