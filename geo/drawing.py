"""Grids and compounds drawn on the map: a new one, a redrawn outline, a grid split along a
line, two neighbours merged.

Every shape obeys the importer's rules (valid, inside its parent within 1 % or 20 m) and
may not overlap its siblings: a sliver along a neighbour's edge (at most SIBLING_SLIVER of
the new shape, what a hand on a phone draws along a shared edge) is trimmed off, more is
refused. Buildings follow by containment (geo.placement) and with them who answers for
them. Area changes go through the ORM, so the audit log keeps each outline before and
after: drawing the old outline again undoes a change.
"""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import LineString, MultiLineString, MultiPolygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import split
from sqlalchemy import func, select, true, update
from sqlalchemy.orm import Session

from geo import audit, geometry, imports, placement
from geo.directory import check_version, get
from geo.errors import N_, BadRequest, Conflict, GridwalkError, InvalidGeometry
from geo.models import AREA_DEPTH, Area, Base, Building, Household
from geo.scope import Scope
from geo.validate import Fields

# What may be drawn, under what.
DRAWN_UNDER = {"grid": "community", "compound": "grid"}
SIBLING_SLIVER = 0.02
DRAW_FIELDS = ("parent_id", "name", "code", "geometry")
REDRAW_FIELDS = ("geometry", "version")
SPLIT_FIELDS = ("line", "version", "name", "code")
MERGE_FIELDS = ("ids", "versions")


def _shape(fields: Fields, name: str) -> Any:
    if name not in fields or fields.data.get(name) is None:
        raise BadRequest(N_("%(field)s is required"), code="missing_field", field=name)
    try:
        return geometry.from_geojson(fields.data[name])
    except InvalidGeometry as error:
        raise BadRequest(error.message, code="invalid_geometry", **error.params) from None


def _polygon(fields: Fields) -> MultiPolygon:
    try:
        return geometry.as_multipolygon(_shape(fields, "geometry"))
    except InvalidGeometry as error:
        raise BadRequest(error.message, code="invalid_geometry", **error.params) from None


def _may_draw(session: Session, scope: Scope, parent: Area) -> None:
    scope.require_area(session, parent.id, manage=True)


def _children_level(parent: Area) -> str:
    for level, under in DRAWN_UNDER.items():
        if under == parent.level:
            return level
    raise BadRequest(N_("only grids (in a community) and compounds (in a grid) are drawn on the map"),
                     code="not_drawable")


def _trimmed(session: Session, shape: MultiPolygon, parent: Area, level: str, *, leave_out: tuple[int, ...] = ()) -> MultiPolygon:
    """`shape` checked against its parent and trimmed off its siblings (slivers only)."""
    imports.check_inside(imports.parent_shape(parent), shape)
    siblings = session.execute(
        select(Area.id, Area.name, Area.geom).where(
            Area.parent_id == parent.id, Area.level == level, Area.id.not_in(leave_out) if leave_out else true(),
            func.ST_Intersects(Area.geom, geometry.to_element(shape)),
        ).order_by(Area.id)
    ).all()
    result: BaseGeometry = shape
    for _, name, element in siblings:
        other = geometry.to_geometry(element)
        overlap = shape.intersection(other).area
        if overlap > SIBLING_SLIVER * shape.area:
            raise BadRequest(
                N_("it overlaps %(name)s by %(share)s%% of its area: grids of one community may not overlap"),
                code="overlaps_sibling", name=name, share=f"{overlap / shape.area * 100:.0f}",
            )
        result = result.difference(other)
    try:
        return geometry.as_multipolygon(shapely.make_valid(_polygons_of(result)))
    except InvalidGeometry as error:
        raise BadRequest(error.message, code="invalid_geometry", **error.params) from None


def _polygons_of(geom: BaseGeometry) -> BaseGeometry:
    # A difference can leave lines or points where two edges touched: only the area counts.
    parts = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type in ("Polygon", "MultiPolygon")]
    polys = [p for g in parts for p in getattr(g, "geoms", [g])]
    return MultiPolygon(polys) if polys else geom


def _next_code(session: Session, parent: Area) -> str:
    taken = set(session.scalars(select(Area.code).where(Area.code.like(f"{parent.code}-%"))))
    n = 1
    while f"{parent.code}-{n:02d}" in taken:
        n += 1
    return f"{parent.code}-{n:02d}"


def _place(session: Session, area_ids: list[int]) -> int:
    """Buildings (and the compounds of a grid) follow the areas by containment."""
    moved = placement.reattach_buildings(session, area_ids)
    if moved:
        audit.record(session, "update", "buildings", after={"moved_by_drawing": moved, "areas": sorted(area_ids)})
    return moved


def create(session: Session, scope: Scope, data: Any) -> Area:
    """A grid drawn in a community, or a compound drawn in a grid."""
    fields = Fields(data, DRAW_FIELDS)
    parent = get(session, Area, fields.integer("parent_id", required=True))
    _may_draw(session, scope, parent)
    level = _children_level(parent)
    shape = _trimmed(session, _polygon(fields), parent, level)
    code = fields.text("code", max_length=64) or _next_code(session, parent)
    if session.scalar(select(Area.id).where(Area.code == code)) is not None:
        raise Conflict(N_("code %(area_code)s is taken"), code="code_taken", area_code=code)
    area = Area(code=code, name=fields.name("name", max_length=200) or code, level=level,
                parent_id=parent.id, geom=geometry.to_element(shape))
    session.add(area)
    session.flush()
    _place(session, [area.id])
    return area


def redraw(session: Session, scope: Scope, area_id: int, data: Any) -> Area:
    """A new outline for a drawn-level area; its compounds must still fit in it."""
    fields = Fields(data, REDRAW_FIELDS)
    area = get(session, Area, area_id)
    if area.level not in DRAWN_UNDER or area.parent is None:
        raise BadRequest(N_("only grids and compounds are drawn on the map"), code="not_drawable")
    _may_draw(session, scope, area.parent)
    check_version(area, fields)
    shape = _trimmed(session, _polygon(fields), area.parent, area.level, leave_out=(area.id,))
    _children_fit(session, area, shape)
    area.geom = geometry.to_element(shape)
    session.flush()
    _place(session, [area.id])
    return area


def _children_fit(session: Session, area: Area, shape: MultiPolygon) -> None:
    outline = imports.parent_shape(area)
    outline.shape = shape
    shapely.prepare(shape)
    for child in session.scalars(select(Area).where(Area.parent_id == area.id)):
        try:
            imports.check_inside(outline, geometry.to_geometry(child.geom))
        except GridwalkError:
            raise BadRequest(N_("%(name)s, inside it, would no longer fit: redraw that first"),
                             code="child_outside", name=child.name) from None


def split_grid(session: Session, scope: Scope, area_id: int, data: Any) -> tuple[Area, Area]:
    """Two areas from one, along a line drawn across it from edge to edge. The larger part
    keeps the area (its code, name and responsibilities); the other is a new area. The
    compounds and buildings in the new part go with it."""
    fields = Fields(data, SPLIT_FIELDS)
    area = get(session, Area, area_id)
    if area.level not in DRAWN_UNDER or area.parent is None:
        raise BadRequest(N_("only grids and compounds are drawn on the map"), code="not_drawable")
    _may_draw(session, scope, area.parent)
    check_version(area, fields)
    line = _shape(fields, "line")
    if not isinstance(line, LineString | MultiLineString):
        raise BadRequest(N_("split along a line"), code="invalid_geometry")
    whole = geometry.to_geometry(area.geom)
    try:
        parts = sorted(split(whole, line).geoms, key=lambda g: -g.area)
    except (ValueError, shapely.errors.GEOSException):
        parts = []
    if len(parts) != 2:
        raise BadRequest(N_("the line must cross it from edge to edge once, cutting it in two"),
                         code="split_not_in_two", parts=len(parts))
    kept, cut = (geometry.as_multipolygon(p) for p in parts)
    code = fields.text("code", max_length=64) or _next_code(session, area.parent)
    if session.scalar(select(Area.id).where(Area.code == code)) is not None:
        raise Conflict(N_("code %(area_code)s is taken"), code="code_taken", area_code=code)
    area.geom = geometry.to_element(kept)
    new = Area(code=code, name=fields.name("name", max_length=200) or f"{area.name}（二）", level=area.level,
               parent_id=area.parent_id, geom=geometry.to_element(cut))
    session.add(new)
    session.flush()
    # Compounds of a split grid go where they stand.
    _reparent_children(session, area, new, cut)
    _place(session, [area.id, new.id])
    return area, new


def _reparent_children(session: Session, area: Area, new: Area, shape: MultiPolygon) -> None:
    for child in session.scalars(select(Area).where(
        Area.parent_id == area.id, func.ST_Covers(geometry.to_element(shape), func.ST_PointOnSurface(Area.geom))
    )):
        child.parent_id = new.id  # through the ORM: audited


def merge(session: Session, scope: Scope, data: Any) -> Area:
    """Two neighbouring areas of one parent become the first: the second's compounds,
    buildings, responsibilities, issues and users move to the first, and it is deleted."""
    fields = Fields(data, MERGE_FIELDS)
    ids, versions = fields.data.get("ids"), fields.data.get("versions")
    if not (isinstance(ids, list) and isinstance(versions, list) and len(ids) == len(versions) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in ids + versions)):
        raise BadRequest(N_("name the two areas to merge and the versions you saw: ids [a, b], versions [va, vb]"),
                         code="merge_needs_two")
    if ids[0] == ids[1]:
        raise BadRequest(N_("an area cannot be merged with itself"), code="merge_needs_two")
    first, second = (get(session, Area, i) for i in ids)
    for area, version in ((first, versions[0]), (second, versions[1])):
        check_version(area, Fields({"version": version}, ("version",)))
    if first.level not in DRAWN_UNDER or first.parent is None:
        raise BadRequest(N_("only grids and compounds are drawn on the map"), code="not_drawable")
    if (first.parent_id, first.level) != (second.parent_id, second.level):
        raise BadRequest(N_("only neighbours of one parent and level merge"), code="not_siblings")
    _may_draw(session, scope, first.parent)
    a, b = geometry.to_geometry(first.geom), geometry.to_geometry(second.geom)
    if a.distance(b) > 1 / imports.METRES_PER_DEGREE:  # a metre apart at most
        raise BadRequest(N_("%(first)s and %(second)s do not touch"), code="not_neighbours",
                         first=first.name, second=second.name)
    merged = geometry.as_multipolygon(_polygons_of(shapely.make_valid(shapely.union(a, b))))
    _repoint(session, second.id, first.id)
    first.geom = geometry.to_element(merged)
    session.flush()
    session.delete(second)
    session.flush()
    _place(session, [first.id])
    return first


def _repoint(session: Session, old: int, new: int) -> None:
    """Every reference to area `old` (children, buildings, responsibilities, issues, users,
    patrols …) now names `new`: found from the schema, so a new table is not forgotten."""
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "areas" and fk.column.name == "id":
                column = fk.parent
                result = session.execute(update(table).where(column == old).values({column.name: new}))
                if result.rowcount:  # type: ignore[attr-defined]
                    audit.record(session, "update", table.name,
                                 after={"merged_area": old, "into": new, "rows": result.rowcount})  # type: ignore[attr-defined]
    for obj in list(session.identity_map.values()):
        session.expire(obj)


def households_within(session: Session, scope: Scope, data: Any) -> dict[str, int]:
    """How many buildings and active households stand in a polygon being drawn."""
    fields = Fields(data, ("geometry",))
    shape = _polygon(fields)
    element = geometry.to_element(shape)
    inside = func.ST_Covers(element, func.ST_PointOnSurface(Building.geom))
    buildings = select(Building.id).where(Building.geom.op("&&")(element), inside, scope.reads(Building.area_id))
    count = session.scalar(select(func.count()).select_from(buildings.subquery())) or 0
    households = session.scalar(
        select(func.count()).select_from(Household).where(Household.building_id.in_(buildings), Household.active)
    ) or 0
    return {"buildings": count, "households": households}


def area_data(area: Area) -> dict[str, Any]:
    return {"id": area.id, "code": area.code, "name": area.name, "level": area.level,
            "parent_id": area.parent_id, "version": area.version,
            "geometry": geometry.to_geojson(geometry.to_geometry(area.geom))}

def drawing_context(session: Session, scope: Scope, parent_id: int) -> dict[str, Any]:
    """What the drawing page shows: the parent, the areas drawn in it so far with their
    households, and the level a new drawing makes."""
    parent = get(session, Area, parent_id)
    _may_draw(session, scope, parent)
    level = _children_level(parent)
    children = session.scalars(select(Area).where(Area.parent_id == parent.id, Area.level == level)
                               .order_by(Area.code)).all()
    counts = dict(session.execute(
        select(Building.area_id, func.count(Household.id))
        .join(Household, Household.building_id == Building.id)
        .where(Building.area_id.in_([c.id for c in children]), Household.active)
        .group_by(Building.area_id)
    ).all()) if children else {}
    # Households in a grid's compounds count for the grid too.
    for compound_parent, households in session.execute(
        select(Area.parent_id, func.count(Household.id))
        .join(Building, Building.area_id == Area.id).join(Household, Household.building_id == Building.id)
        .where(Area.parent_id.in_([c.id for c in children]), Household.active).group_by(Area.parent_id)
    ).all() if children else []:
        counts[compound_parent] = counts.get(compound_parent, 0) + households
    return {
        "parent": area_data(parent),
        "level": level,
        "children": [{**area_data(c), "households": counts.get(c.id, 0)} for c in children],
    }


def drawable_parents(session: Session, scope: Scope) -> list[Area]:
    """The communities (and grids) the user may draw in."""
    return list(session.scalars(
        select(Area).where(Area.level.in_(DRAWN_UNDER.values()), scope.reads(Area.id))
        .order_by(AREA_DEPTH, Area.code)
    ))
