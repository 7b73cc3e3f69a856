"""Grids drawn on the map: inside their community, never over a neighbour, split along a
line, merged; buildings and who answers for them follow; every change audited."""

from __future__ import annotations

import json

import pytest
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo import drawing, geometry, imports
from geo.errors import BadRequest, Conflict, Forbidden
from geo.models import Area, Assignment, Building, Household, Unit
from geo.scope import Scope
from tests.conftest import World, box

ADMIN = Scope.system()
VILLAGE = box(109.54, 29.94, 109.56, 29.96)
HOUSES = {"H-west": box(109.545, 29.945, 109.5453, 29.9453), "H-east": box(109.555, 29.955, 109.5553, 29.9553)}


@pytest.fixture
def village(session: Session, world: World) -> Area:
    """A community with no grids yet, and two houses waiting in it (three households each)."""
    area = Area(code="V", name="新村", level="community", parent=world.township, geom=geometry.to_element(VILLAGE))
    session.add(area)
    session.flush()
    imports.import_buildings(session, imports.read_features(json.dumps([
        {"type": "Feature", "id": key, "properties": {}, "geometry": shape.__geo_interface__}
        for key, shape in HOUSES.items()]).encode()))
    for building in session.scalars(select(Building).where(Building.source_id.in_(HOUSES))):
        session.add_all(Household(building=building, unit_no="1", floor=1, room=str(n)) for n in range(3))
    session.flush()
    return area


def drawn(shape) -> dict:  # type: ignore[no-untyped-def]
    return shape.__geo_interface__


def held_by(session: Session, source_id: str) -> str:
    building = session.scalars(select(Building).where(Building.source_id == source_id)).one()
    return session.get(Area, building.area_id).code


def test_a_grid_drawn_in_a_community_takes_the_buildings_in_it(session: Session, village: Area) -> None:
    grid = drawing.create(session, ADMIN, {"parent_id": village.id, "name": "新村一网格",
                                           "geometry": drawn(box(109.54, 29.94, 109.55, 29.96))})

    assert (grid.code, grid.level, grid.parent_id) == ("V-01", "grid", village.id)
    assert held_by(session, "H-west") == "V-01" and held_by(session, "H-east") == "V"


def test_a_grid_reaching_out_of_its_community_is_refused(session: Session, village: Area) -> None:
    with pytest.raises(BadRequest) as refused:
        drawing.create(session, ADMIN, {"parent_id": village.id, "geometry": drawn(box(109.53, 29.94, 109.55, 29.96))})

    assert refused.value.code == "outside_parent"
    assert session.scalars(select(Area).where(Area.parent_id == village.id)).all() == []


def test_a_grid_over_its_neighbour_is_refused_but_a_sliver_is_trimmed(session: Session, village: Area) -> None:
    drawing.create(session, ADMIN, {"parent_id": village.id, "geometry": drawn(box(109.54, 29.94, 109.55, 29.96))})

    with pytest.raises(BadRequest, match="overlaps V-01 by 33%") as refused:
        drawing.create(session, ADMIN, {"parent_id": village.id, "geometry": drawn(box(109.545, 29.94, 109.56, 29.96))})
    assert refused.value.code == "overlaps_sibling"

    # Drawn by hand along the shared edge, about 10 m over it.
    east = drawing.create(session, ADMIN, {"parent_id": village.id,
                                           "geometry": drawn(box(109.5499, 29.94, 109.56, 29.96))})
    shape = geometry.to_geometry(east.geom)
    assert shapely.equals_exact(shapely.normalize(shape), shapely.normalize(
        geometry.as_multipolygon(box(109.55, 29.94, 109.56, 29.96))), tolerance=1e-9)


def test_a_split_grid_is_two_grids_covering_what_it_covered(session: Session, village: Area) -> None:
    grid = drawing.create(session, ADMIN, {"parent_id": village.id, "geometry": drawn(VILLAGE)})
    whole = geometry.to_geometry(grid.geom)
    unit = Unit(name="县水利局")
    session.add(unit)
    session.add(Assignment(kind="unit", area_id=grid.id, unit=unit, post="包保单位"))
    session.flush()

    # Across it from west to east, north of the middle: the south part is larger and keeps it.
    kept, new = drawing.split_grid(session, ADMIN, grid.id, {
        "version": grid.version, "name": "新村二网格",
        "line": {"type": "LineString", "coordinates": [[109.535, 29.952], [109.565, 29.952]]}})

    assert kept.id == grid.id and new.name == "新村二网格"
    union = shapely.union(geometry.to_geometry(kept.geom), geometry.to_geometry(new.geom))
    assert abs(union.area - whole.area) < 1e-12 and union.symmetric_difference(whole).area < 1e-12
    assert held_by(session, "H-west") == kept.code and held_by(session, "H-east") == new.code
    assert session.scalars(select(Assignment.area_id).where(Assignment.unit_id == unit.id)).all() == [kept.id]


def test_a_line_that_does_not_cross_the_grid_splits_nothing(session: Session, village: Area) -> None:
    grid = drawing.create(session, ADMIN, {"parent_id": village.id, "geometry": drawn(VILLAGE)})

    with pytest.raises(BadRequest) as refused:
        drawing.split_grid(session, ADMIN, grid.id, {"version": grid.version, "line": {
            "type": "LineString", "coordinates": [[109.545, 29.952], [109.55, 29.952]]}})

    assert refused.value.code == "split_not_in_two"
    assert session.scalars(select(Area.code).where(Area.parent_id == village.id)).all() == ["V-01"]


def test_merged_neighbours_are_one_grid_with_what_both_had(session: Session, world: World) -> None:
    unit = Unit(name="县交通局")
    session.add(unit)
    session.add(Assignment(kind="unit", area_id=world.grid_east.id, unit=unit, post="包保单位"))
    session.flush()
    east_id = world.grid_east.id

    merged = drawing.merge(session, ADMIN, {"ids": [world.grid_west.id, east_id],
                                            "versions": [world.grid_west.version, world.grid_east.version]})

    assert merged.id == world.grid_west.id
    assert abs(geometry.to_geometry(merged.geom).area - geometry.to_geometry(world.community.geom).area) < 1e-12
    assert session.get(Area, east_id) is None
    assert session.scalars(select(Assignment.area_id).where(Assignment.unit_id == unit.id)).all() == [merged.id]
    assert session.get(Area, world.compound.id).parent_id == merged.id


def test_grids_that_do_not_touch_do_not_merge(session: Session, village: Area) -> None:
    a = drawing.create(session, ADMIN, {"parent_id": village.id, "geometry": drawn(box(109.54, 29.94, 109.545, 29.96))})
    b = drawing.create(session, ADMIN, {"parent_id": village.id, "geometry": drawn(box(109.55, 29.94, 109.56, 29.96))})

    with pytest.raises(BadRequest) as refused:
        drawing.merge(session, ADMIN, {"ids": [a.id, b.id], "versions": [a.version, b.version]})

    assert refused.value.code == "not_neighbours"


def test_a_stale_version_is_a_conflict(session: Session, village: Area) -> None:
    grid = drawing.create(session, ADMIN, {"parent_id": village.id, "geometry": drawn(box(109.54, 29.94, 109.55, 29.96))})
    seen = grid.version
    drawing.redraw(session, ADMIN, grid.id, {"version": seen, "geometry": drawn(box(109.54, 29.94, 109.551, 29.96))})

    with pytest.raises(Conflict):
        drawing.redraw(session, ADMIN, grid.id, {"version": seen, "geometry": drawn(box(109.54, 29.94, 109.55, 29.96))})


def test_a_redrawn_grid_gives_back_what_it_no_longer_covers(session: Session, village: Area) -> None:
    grid = drawing.create(session, ADMIN, {"parent_id": village.id, "geometry": drawn(VILLAGE)})
    assert held_by(session, "H-east") == "V-01"

    drawing.redraw(session, ADMIN, grid.id, {"version": grid.version, "geometry": drawn(box(109.54, 29.94, 109.55, 29.96))})

    assert (held_by(session, "H-west"), held_by(session, "H-east")) == ("V-01", "V")


@pytest.mark.parametrize("role", ["grid", "viewer", "party"])
def test_who_may_not_draw(session: Session, village: Area, role: str) -> None:
    with pytest.raises(Forbidden):
        drawing.create(session, Scope(role=role, area_id=village.id),
                       {"parent_id": village.id, "geometry": drawn(VILLAGE)})


def test_a_community_officer_draws_only_in_their_community(session: Session, world: World, village: Area) -> None:
    officer = Scope(role="community", area_id=world.community.id)
    with pytest.raises(Forbidden):
        drawing.create(session, officer, {"parent_id": village.id, "geometry": drawn(VILLAGE)})


def test_households_are_counted_in_a_shape_being_drawn(session: Session, village: Area) -> None:
    assert drawing.households_within(session, ADMIN, {"geometry": drawn(box(109.54, 29.94, 109.55, 29.96))}) == {
        "buildings": 1, "households": 3}
    assert drawing.households_within(session, ADMIN, {"geometry": drawn(VILLAGE)}) == {"buildings": 2, "households": 6}
