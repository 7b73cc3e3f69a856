"""Where a building belongs: the innermost area holding it, found by containment.

A county often has its building footprints (from OSM or a mapping contractor) before it has
drawn its grids. A building is therefore stored under the smallest area that holds its
representative point — a compound, a grid, or, until those exist, its community, township
or the county — and listed as "not yet in a grid". Whenever areas are imported or drawn,
the buildings under them are placed again, so the area tree stays the one source of truth.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, aliased

from geo.models import AREA_DEPTH, Area, Building
from geo.scope import Scope

# A building held by one of these is in its final place; under any other level it waits
# for its grid.
PLACED_LEVELS = ("grid", "compound")


def innermost_area(point: Any) -> Any:
    """The id of the innermost area covering `point` (a SQL point in SRID 4326): the deepest
    level, then the smallest, then the oldest. A scalar subquery, one GiST lookup."""
    return (
        select(Area.id)
        .where(func.ST_Covers(Area.geom, point))
        .order_by(AREA_DEPTH.desc(), func.ST_Area(Area.geom), Area.id)
        .limit(1)
        .scalar_subquery()
    )


def reattach_buildings(session: Session, area_ids: Iterable[int]) -> int:
    """Place again every building that these (new, redrawn or deleted-from) areas may
    concern: those held by one of them and those standing in one of them. Returns how many
    buildings changed area. One UPDATE; buildings that keep their area are not touched.

    Call it after the areas are flushed, with their ids (for a deleted area, before the
    delete and with the area's children already gone, its buildings move up to its parent).
    """
    ids = sorted(set(area_ids))
    if not ids:
        return 0
    session.flush()
    other = aliased(Building)  # the candidates, apart from the row being updated
    changed = select(Area.geom).where(Area.id.in_(ids)).subquery()
    concerned = select(other.id).where(other.area_id.in_(ids)).union(
        select(other.id).join(changed, func.ST_Covers(changed.c.geom, func.ST_PointOnSurface(other.geom)))
    )
    target = innermost_area(func.ST_PointOnSurface(Building.geom))
    result = session.execute(
        update(Building)
        .where(Building.id.in_(concerned), Building.area_id.is_distinct_from(target))
        .values(area_id=target, version=Building.version + 1)
        .execution_options(synchronize_session=False)
    )
    moved = result.rowcount or 0  # type: ignore[attr-defined]
    if moved:
        # Buildings this session holds would otherwise keep their old area and version.
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Building):
                session.expire(obj)
    return moved


def not_yet_in_a_grid(scope: Scope) -> Select[tuple[Building]]:
    """Buildings still waiting for a grid (held by a community, township or county), in
    the user's scope, oldest first."""
    return (
        select(Building)
        .join(Area, Area.id == Building.area_id)
        .where(Area.level.not_in(PLACED_LEVELS), scope.reads(Building.area_id))
        .order_by(Building.id)
    )


def count_not_yet_in_a_grid(session: Session, scope: Scope) -> int:
    return session.scalar(select(func.count()).select_from(not_yet_in_a_grid(scope).subquery())) or 0
