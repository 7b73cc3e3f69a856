"""Routing a reported problem by where it is: the building (if any), then the compound,
grid, community and township holding the point; the responsible unit is the nearest one
the assignments name, the cadres those who answer for the building up to its grid."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from geo.errors import N_, BadRequest
from geo.models import Area, Assignment
from geo.responsibility import area_chain, areas_covering, assignments_for, building_at
from geo.scope import Scope

# When several assignments answer for the same place, the unit of the nearer layer
# (包保单位 before 大党委部门 before 县领导) is the one that acts.
_KIND_ORDER = {"unit": 0, "department": 1, "standing_committee": 2, "party_member": 3}
_SYSTEM = Scope.system()


@dataclass
class Routing:
    building_id: int | None
    area_id: int  # the innermost area: compound, else grid, …
    area_ids: list[int]  # innermost first, up to the county
    unit_id: int | None
    person_ids: list[int] = field(default_factory=list)
    assignment_ids: list[int] = field(default_factory=list)


def route(session: Session, lon: float, lat: float) -> Routing:
    """Whom a problem at (lon, lat) goes to. Routing does not depend on who reports it."""
    building = building_at(session, lon, lat, _SYSTEM)
    if building is not None and building.area_id is not None:
        chain = area_chain(session, building.area_id, _SYSTEM)
    else:
        building = None
        covering = areas_covering(session, lon, lat, _SYSTEM)
        # On a line shared by two grids both cover the point: the first (deterministically,
        # the older) takes it, with its own chain.
        chain = area_chain(session, covering[0].id, _SYSTEM) if covering else []
    if not chain:
        raise BadRequest(N_("this place is outside the county's mapped areas"), code="outside_county")

    found = session.scalars(
        assignments_for(area_ids=[a.id for a in chain], building_ids=[building.id] if building else [])
    ).unique().all()
    at: dict[tuple[str, int], list[Assignment]] = defaultdict(list)
    for a in found:
        key = ("building", a.building_id) if a.building_id else ("area", a.area_id)
        at[key].append(a)  # type: ignore[index]
    places: list[tuple[str, int]] = ([("building", building.id)] if building else []) + [("area", a.id) for a in chain]

    unit_id = None
    for place in places:
        with_unit = sorted((a for a in at[place] if a.unit_id), key=lambda a: (_KIND_ORDER[a.kind], a.id))
        if with_unit:
            unit_id = with_unit[0].unit_id
            break

    # The cadres on the spot: who answers for the building, its compound and its grid.
    near = places[: _through_grid(places, chain)]
    chosen = [a for place in near for a in sorted(at[place], key=lambda a: (_KIND_ORDER[a.kind], a.id))
              if a.person_id and a.kind != "party_member"]
    person_ids = list(dict.fromkeys(a.person_id for a in chosen if a.person_id))
    return Routing(
        building_id=building.id if building else None,
        area_id=chain[0].id,
        area_ids=[a.id for a in chain],
        unit_id=unit_id,
        person_ids=person_ids,
        assignment_ids=[a.id for a in chosen],
    )


def _through_grid(places: list[tuple[str, int]], chain: list[Area]) -> int:
    """How many of the places, innermost first, reach down to the grid (or all if none)."""
    offset = len(places) - len(chain)
    for i, area in enumerate(chain):
        if area.level == "grid":
            return offset + i + 1
    return len(places)
