"""Buildings before grids: footprints that arrive before the grids wait in the innermost
area that holds them, and move into their grids (with who answers for them) when the grids
are imported; a redrawn grid takes its buildings with it."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo import imports, placement
from geo.models import Area, Assignment, Building, Unit
from geo.responsibility import lookup
from geo.scope import Scope
from tests.conftest import World, box

# A village in the test township with no community or grid drawn yet.
VILLAGE = box(109.54, 29.94, 109.56, 29.96)
HOUSES = {"H-1": box(109.545, 29.945, 109.5453, 29.9453), "H-2": box(109.555, 29.955, 109.5553, 29.9553)}


def collection(features: dict, **properties: str) -> list:
    return imports.read_features(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": key, "properties": {"name": key, **properties},
         "geometry": shape.__geo_interface__} for key, shape in features.items()
    ]}).encode())


def area_of(session: Session, source_id: str) -> Area:
    building = session.scalars(select(Building).where(Building.source_id == source_id)).one()
    return session.get(Area, building.area_id)


def test_buildings_wait_for_their_grid_and_then_move_in(session: Session, world: World) -> None:
    waiting = imports.import_buildings(session, collection(HOUSES))
    assert (waiting.created, waiting.waiting, waiting.rejected) == (2, 2, [])
    assert area_of(session, "H-1").id == world.township.id
    assert {b.source_id for b in session.scalars(placement.not_yet_in_a_grid(Scope.system()))} == {"H-1", "H-2"}

    community = imports.import_areas(session, collection({"V": VILLAGE}), level="community")
    assert community.moved == 2
    assert area_of(session, "H-1").code == "V"  # nearer, still no grid

    # Two grids drawn later: the west half and the east half of the village.
    grids = imports.import_areas(session, collection({
        "V-01": box(109.54, 29.94, 109.55, 29.96), "V-02": box(109.55, 29.94, 109.56, 29.96),
    }), level="grid")

    assert grids.moved == 2
    assert (area_of(session, "H-1").code, area_of(session, "H-2").code) == ("V-01", "V-02")
    assert placement.count_not_yet_in_a_grid(session, Scope.system()) == 0


def test_who_answers_for_a_building_follows_it_into_its_grid(session: Session, world: World) -> None:
    imports.import_buildings(session, collection(HOUSES))
    imports.import_areas(session, collection({"V": VILLAGE}), level="community")
    imports.import_areas(session, collection({"V-01": box(109.54, 29.94, 109.56, 29.96)}), level="grid")
    grid = session.scalars(select(Area).where(Area.code == "V-01")).one()
    unit = Unit(name="县林业局")
    session.add(unit)
    session.add(Assignment(kind="unit", area_id=grid.id, unit=unit, post="包保单位", duty="网格包保"))
    session.flush()

    # An officer taps the house on the map.
    detail = lookup(session, 109.54515, 29.94515, Scope.system())

    assert detail["building"]["source_id"] == "H-1"
    chain = [area["code"] for area in detail["areas"]]
    assert chain[:2] == ["V-01", "V"]
    grid_entry = next(area for area in detail["areas"] if area["code"] == "V-01")
    assert [a["unit"]["name"] for a in grid_entry["assignments"]] == ["县林业局"]


def test_a_redrawn_grid_takes_and_gives_back_its_buildings(session: Session, world: World) -> None:
    imports.import_buildings(session, collection(HOUSES))
    imports.import_areas(session, collection({"V": VILLAGE}), level="community")
    imports.import_areas(session, collection({"V-01": box(109.54, 29.94, 109.56, 29.96)}), level="grid")
    assert area_of(session, "H-2").code == "V-01"

    # Redrawn smaller: H-2 no longer stands in it and goes back to the community.
    redrawn = imports.import_areas(session, collection({"V-01": box(109.54, 29.94, 109.55, 29.96)}), level="grid")

    assert (redrawn.updated, redrawn.moved) == (1, 1)
    assert (area_of(session, "H-1").code, area_of(session, "H-2").code) == ("V-01", "V")


def test_buildings_that_keep_their_area_are_not_rewritten(session: Session, world: World) -> None:
    imports.import_buildings(session, collection(HOUSES))
    imports.import_areas(session, collection({"V": VILLAGE}), level="community")
    versions = dict(session.execute(select(Building.source_id, Building.version)).all())

    again = imports.import_areas(session, collection({"V": VILLAGE}), level="community")

    assert again.moved == 0
    assert dict(session.execute(select(Building.source_id, Building.version)).all()) == versions
