"""Who is responsible for a place: the building and every area at a point, innermost first,
each with its current assignments (包保: unit, person, post, duty, target).

A building's areas come from the area tree (its parent links), so a building is never
shown in one grid and routed to another; a point outside any building gets the areas
that cover it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, func, literal, or_, select
from sqlalchemy.orm import Session, joinedload

from geo.errors import N_, NotFound
from geo.geometry import SRID, lonlat_point, to_geojson, to_geometry
from geo.models import AREA_DEPTH, Area, Assignment, Building, Household, Issue, Person, Visit


COVERAGE_WINDOW_DAYS = 30


def _point(lon: float, lat: float) -> Any:
    lonlat_point(lon, lat)
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), SRID)


def current(today: dt.date | None = None) -> Any:
    """The SQL condition for an assignment in force on `today`."""
    day = literal(today) if today else func.current_date()
    return and_(
        Assignment.valid_from <= day,
        or_(Assignment.valid_to.is_(None), Assignment.valid_to >= day),
    )


def building_at(session: Session, lon: float, lat: float) -> Building | None:
    # On a shared wall the smaller footprint wins; ties go to the older record.
    point = _point(lon, lat)
    stmt = (
        select(Building)
        .where(func.ST_Covers(Building.geom, point))
        .order_by(func.ST_Area(Building.geom), Building.id)
        .limit(1)
    )
    return session.scalars(stmt).first()


def areas_covering(session: Session, lon: float, lat: float) -> list[Area]:
    stmt = (
        select(Area)
        .where(func.ST_Covers(Area.geom, _point(lon, lat)))
        .order_by(AREA_DEPTH.desc(), Area.id)
    )
    return list(session.scalars(stmt))


def area_chain(session: Session, area_id: int) -> list[Area]:
    """The area and its ancestors, innermost first."""
    chain = select(Area.id, Area.parent_id).where(Area.id == area_id).cte(recursive=True)
    chain = chain.union_all(select(Area.id, Area.parent_id).join(chain, Area.id == chain.c.parent_id))
    stmt = select(Area).join(chain, Area.id == chain.c.id).order_by(AREA_DEPTH.desc())
    return list(session.scalars(stmt))


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


def assignment_data(a: Assignment) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind,
        "unit": {"id": a.unit.id, "name": a.unit.name} if a.unit else None,
        "person": (
            {"id": a.person.id, "name": a.person.name, "title": a.person.title, "phone": a.person.phone}
            if a.person
            else None
        ),
        "post": a.post,
        "duty": a.duty,
        "target": a.target,
        "valid_from": a.valid_from.isoformat(),
        "valid_to": a.valid_to.isoformat() if a.valid_to else None,
    }


def area_data(area: Area, assignments: list[Assignment]) -> dict[str, Any]:
    return {
        "id": area.id,
        "code": area.code,
        "name": area.name,
        "level": area.level,
        "parent_id": area.parent_id,
        "assignments": [assignment_data(a) for a in assignments],
    }


def _areas_with_assignments(session: Session, areas: list[Area]) -> list[dict[str, Any]]:
    by_area: dict[int, list[Assignment]] = defaultdict(list)
    for a in session.scalars(assignments_for(area_ids=[x.id for x in areas])).unique():
        by_area[a.area_id].append(a)  # type: ignore[index]
    return [area_data(area, by_area[area.id]) for area in areas]


def lookup(session: Session, lon: float, lat: float) -> dict[str, Any]:
    """The building (if any) at a point and every area containing it, innermost first."""
    building = building_at(session, lon, lat)
    if building is not None:
        areas = area_chain(session, building.area_id) if building.area_id else []
    else:
        areas = areas_covering(session, lon, lat)
    return {
        "lon": lon,
        "lat": lat,
        "building": building_card(session, building) if building is not None else None,
        "areas": _areas_with_assignments(session, areas),
    }


def building_card(session: Session, building: Building | int) -> dict[str, Any]:
    """A building with its areas, current assignments, households, visit coverage over the
    last 30 days and open issues: everything the building panel shows."""
    if isinstance(building, int):
        found = session.get(Building, building) if 0 < building < 2**31 else None
        if found is None:
            raise NotFound(N_("no building with id %(id)s"), id=building)
        building = found
    assignments = session.scalars(assignments_for(building_ids=[building.id])).unique().all()
    chain = area_chain(session, building.area_id) if building.area_id else []

    since = dt.date.today() - dt.timedelta(days=COVERAGE_WINDOW_DAYS)
    visited = (
        select(Visit.household_id)
        .where(Visit.household_id == Household.id, Visit.visited_on >= since)
        .exists()
    )
    households, active, covered = session.execute(
        select(
            func.count(),
            func.count().filter(Household.active),
            func.count().filter(Household.active, visited),
        ).where(Household.building_id == building.id)
    ).one()

    # 下沉党员 responsible for households here, with how many households each holds.
    household_people = session.execute(
        select(Assignment.person_id, func.count(func.distinct(Assignment.household_id)))
        .join(Household, Household.id == Assignment.household_id)
        .where(Household.building_id == building.id, current(), Assignment.person_id.is_not(None))
        .group_by(Assignment.person_id)
    ).all()
    people = {
        p.id: p
        for p in session.scalars(select(Person).where(Person.id.in_([pid for pid, _ in household_people])))
    }

    open_issues = session.execute(
        select(Issue.id, Issue.category, Issue.status, Issue.description, Issue.reported_at, Issue.deadline)
        .where(Issue.building_id == building.id, Issue.status != "closed")
        .order_by(Issue.reported_at.desc())
    ).all()

    return {
        "id": building.id,
        "source_id": building.source_id,
        "name": building.name,
        "address": building.address,
        "floors": building.floors,
        "use": building.use,
        "area_id": building.area_id,
        "geometry": to_geojson(to_geometry(building.geom)),
        "areas": _areas_with_assignments(session, chain),
        "assignments": [assignment_data(a) for a in assignments],
        "household_count": households,
        "active_household_count": active,
        "household_assignees": [
            {
                "person": {"id": pid, "name": people[pid].name, "title": people[pid].title,
                           "phone": people[pid].phone},
                "households": n,
            }
            for pid, n in household_people
            if pid in people
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
            for i in open_issues
        ],
    }


def area_card(session: Session, area_id: int) -> dict[str, Any]:
    area = session.get(Area, area_id) if 0 < area_id < 2**31 else None
    if area is None:
        raise NotFound(N_("no area with id %(id)s"), id=area_id)
    chain = area_chain(session, area.id)
    cards = _areas_with_assignments(session, chain)
    card = cards[0]
    card["ancestors"] = cards[1:]
    return card
