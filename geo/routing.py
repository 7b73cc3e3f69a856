"""Routing a reported problem by where it is: the building (if any), then the compound,
grid, community and township holding the point; the responsible unit is the nearest one
the assignments name, the cadres those who answer for the building up to its grid."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from geo.errors import N_, BadRequest
from geo.geometry import sql_point
from geo.models import AREA_DEPTH, Area, Assignment, Building
from geo.responsibility import area_path, current

# When several assignments answer for the same place, the unit of the nearer layer
# (包保单位 before 大党委部门 before 县领导) is the one that acts.
_KIND_ORDER = {"unit": 0, "department": 1, "standing_committee": 2, "party_member": 3}


@dataclass
class Routing:
    building_id: int | None
    area_id: int  # the innermost area: compound, else grid, …
    area_ids: list[int]  # innermost first, up to the county
    unit_id: int | None
    person_ids: list[int] = field(default_factory=list)


def route(session: Session, lon: float, lat: float) -> Routing:
    """Whom a problem at (lon, lat) goes to. Routing does not depend on who reports it.
    Four small indexed queries, reading ids only (no geometry comes back)."""
    point = sql_point(lon, lat)
    building = session.execute(
        select(Building.id, Building.area_id)
        .where(func.ST_Covers(Building.geom, point), Building.area_id.is_not(None))
        .order_by(func.ST_Area(Building.geom), Building.id).limit(1)
    ).first()
    # On a line shared by two grids both cover the point: the older one takes it.
    start = building.area_id if building else session.scalar(
        select(Area.id).where(func.ST_Covers(Area.geom, point)).order_by(AREA_DEPTH.desc(), Area.id).limit(1)
    )
    if start is None:
        raise BadRequest(N_("this place is outside the county's mapped areas"), code="outside_county")
    chain = area_path(session, start)  # innermost first
    targets = [Assignment.area_id.in_([a.id for a in chain])]
    if building:
        targets.append(Assignment.building_id == building.id)
    found = session.execute(
        select(Assignment.id, Assignment.kind, Assignment.area_id, Assignment.building_id, Assignment.unit_id,
               Assignment.person_id).where(or_(*targets), current())
    ).all()

    at: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for a in found:
        at[("building", a.building_id) if a.building_id else ("area", a.area_id)].append(a)
    places = ([("building", building.id)] if building else []) + [("area", a.id) for a in chain]

    unit_id = None
    for place in places:
        with_unit = sorted((a for a in at[place] if a.unit_id), key=lambda a: (_KIND_ORDER[a.kind], a.id))
        if with_unit:
            unit_id = with_unit[0].unit_id
            break

    # The cadres on the spot: who answers for the building, its compound and its grid.
    near = places[: _through_grid(places, [a.level for a in chain])]
    chosen = [a for place in near for a in sorted(at[place], key=lambda a: (_KIND_ORDER[a.kind], a.id))
              if a.person_id and a.kind != "party_member"]
    return Routing(
        building_id=building.id if building else None,
        area_id=chain[0].id,
        area_ids=[a.id for a in chain],
        unit_id=unit_id,
        person_ids=list(dict.fromkeys(a.person_id for a in chosen)),
    )


def _through_grid(places: list[tuple[str, int]], levels: list[str]) -> int:
    """How many of the places, innermost first, reach down to the grid (or all if none)."""
    offset = len(places) - len(levels)
    for i, level in enumerate(levels):
        if level == "grid":
            return offset + i + 1
    return len(places)
