"""Grid notice boards (网格公示牌): what one printed board of a grid or compound holds, its
map drawn from the database, and which boards a community's batch prints.

The board shows what the area's public page shows (geo.residents.area_card: the units and
cadres responsible, public phones only) and a map: the area's outline, its compounds and
its buildings, simplified to a tenth of a metre's worth at print size and laid out in
metres around the area's middle, ready to be drawn as SVG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.errors import N_, BadRequest
from geo.geometry import to_geometry
from geo.models import Area, Building
from geo.scope import subtree

BOARDS_MAX = 400  # pages in one batch
BUILDINGS_DRAWN = 3000
_METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class Shapes:
    """The map of a board, in metres east and north of the area's middle."""

    outline: Any
    compounds: list[Any]
    buildings: list[Any]


def boards_of(session: Session, area: Area) -> list[Area]:
    """The boards a request for `area` prints: a grid's or compound's own; for a community
    (or above), every grid and compound in it, grid by grid."""
    if area.level in ("grid", "compound"):
        return [area]
    found = list(session.scalars(
        select(Area).where(Area.id.in_(subtree(area.id)), Area.level.in_(("grid", "compound")))
        .order_by(Area.code, Area.id).limit(BOARDS_MAX + 1)))
    if len(found) > BOARDS_MAX:
        raise BadRequest(N_("more than %(n)s notice boards at once: print them township by township or "
                            "community by community"), code="too_many_boards", n=BOARDS_MAX)
    if not found:
        raise BadRequest(N_("%(name)s has no grids or compounds to make notice boards for"), code="no_boards",
                         name=area.name)
    return found


def shapes(session: Session, area: Area) -> Shapes:
    outline = to_geometry(area.geom)
    middle = outline.centroid
    scale = math.cos(math.radians(middle.y))

    def local(geom: Any) -> Any:
        return shapely.transform(geom, lambda xy: (xy - [middle.x, middle.y]) * [
            _METRES_PER_DEGREE * scale, _METRES_PER_DEGREE])

    # Simplified at a tenth of a millimetre of a board (a 180 mm map of the area's width).
    width = max(outline.bounds[2] - outline.bounds[0], outline.bounds[3] - outline.bounds[1])
    tolerance = width / 1800
    simplified = func.ST_SimplifyPreserveTopology
    compounds = [] if area.level == "compound" else [
        to_geometry(g) for g in session.scalars(select(simplified(Area.geom, tolerance)).where(
            Area.parent_id == area.id, Area.level == "compound"))]
    buildings = [to_geometry(g) for g in session.scalars(
        select(simplified(Building.geom, tolerance)).where(Building.area_id.in_(subtree(area.id)))
        .order_by(Building.id).limit(BUILDINGS_DRAWN))]
    return Shapes(local(outline.simplify(tolerance)), [local(c) for c in compounds], [local(b) for b in buildings])
