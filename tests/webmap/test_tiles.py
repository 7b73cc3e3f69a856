"""Vector tiles, decoded with mapbox-vector-tile as a map client would: what each tile
holds, whose tiles carry what, ETags, and the cache emptied exactly where a write lands."""

from __future__ import annotations

import math

import mapbox_vector_tile
import pytest
from sqlalchemy import func, select, text

from geo.models import Building, CachedTile
from geo.tiles import BUFFER, EXTENT
from tests.conftest import box, client_as


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def features(response, layer: str) -> list[dict]:  # type: ignore[type-arg]
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/vnd.mapbox-vector-tile"
    decoded = mapbox_vector_tile.decode(response.data)
    return decoded[layer]["features"] if layer in decoded else []


def ids_intersecting(session, table: str, z: int, x: int, y: int) -> set[int]:  # type: ignore[no-untyped-def]
    """What the tile must hold: the rows meeting the tile and its buffer, asked directly."""
    return set(session.scalars(text(
        f"SELECT id FROM {table} WHERE ST_Intersects(geom, ST_Transform(ST_TileEnvelope(:z, :x, :y, "
        "ST_MakeEnvelope(-20037508.342789244, -20037508.342789244, 20037508.342789244, 20037508.342789244, 3857), "
        ":margin), 4326))"), {"z": z, "x": x, "y": y, "margin": BUFFER / EXTENT}))


HERE = (109.4745, 29.9845)  # 贡水花园1栋, in 文澜一网格
THERE = (109.5005, 29.9905)  # 东门小学, in another community
STREET = 29.983  # a row of buildings south of them


@pytest.fixture
def buildings_around(session, world):  # type: ignore[no-untyped-def]
    """A street of buildings across tile edges at zoom 16, beside the world's two."""
    from geo.geometry import to_element

    for i in range(40):
        lon = 109.4705 + i * 0.00025
        session.add(Building(source_id=f"ST-{i}", name=f"街楼{i}", area=world.grid_west if lon < 109.48 else world.grid_east,
                             geom=to_element(box(lon, STREET, lon + 0.0001, STREET + 0.0001))))
    session.flush()


@pytest.mark.parametrize("z", [14, 16, 17])
def test_a_building_tile_holds_exactly_the_buildings_it_meets(app, session, world, role_users, buildings_around, z):
    county = client_as(app, "county")
    z, x0, y0 = tile_of(HERE[0], STREET, z)
    shown = 0
    for x in (x0 - 1, x0, x0 + 1):
        got = {f["id"] for f in features(county.get(f"/tiles/buildings/{z}/{x}/{y0}.mvt"), "buildings")}
        assert got == ids_intersecting(session, "buildings", z, x, y0)
        shown += len(got)
    assert shown >= 10
    z, x, y = tile_of(*HERE, z)
    first = features(county.get(f"/tiles/buildings/{z}/{x}/{y}.mvt"), "buildings")
    named = {f["id"]: f["properties"]["name"] for f in first}
    assert named[world.building.id] == "贡水花园1栋"
    assert first[0]["geometry"]["type"] == "Polygon"


def test_a_tile_shows_a_user_only_what_their_scope_reads_and_no_personal_data(app, session, world, role_users):
    from geo.models import Issue
    from geo.geometry import to_element
    from shapely.geometry import Point

    session.add_all([
        Issue(category="环境卫生", description="张三家门口堆放杂物 13800001234", geom=to_element(Point(*HERE)),
              area_id=world.compound.id),
        Issue(category="环境卫生", description="东门", geom=to_element(Point(*THERE)), area_id=world.other_grid.id),
    ])
    session.flush()
    z, x, y = tile_of(*HERE, 14)
    x2 = tile_of(*THERE, 14)[1]
    county, grid, viewer = (client_as(app, role) for role in ("county", "grid", "viewer"))
    assert {f["id"] for f in features(county.get(f"/tiles/buildings/{z}/{x2}/{y}.mvt"), "buildings")} == {
        world.other_building.id}
    # The grid member of 文澜一网格 reads its buildings and issues, not 东门's.
    assert features(grid.get(f"/tiles/buildings/{z}/{x2}/{y}.mvt"), "buildings") == []
    assert {f["id"] for f in features(grid.get(f"/tiles/buildings/{z}/{x}/{y}.mvt"), "buildings")} == {world.building.id}
    assert features(grid.get(f"/tiles/issues/{z}/{x2}/{y}.mvt"), "issues") == []
    for client in (county, grid, viewer):
        for f in features(client.get(f"/tiles/issues/{z}/{x}/{y}.mvt"), "issues"):
            assert set(f["properties"]) == {"category", "status", "overdue"}  # no description, no reporter
    mine = features(grid.get(f"/tiles/issues/{z}/{x}/{y}.mvt"), "issues")
    assert [f["properties"]["status"] for f in mine] == ["reported"]
    # Areas: a grid member sees the outlines above their grid and the grids beside it are not theirs.
    levels = {f["properties"]["level"] for f in features(grid.get(f"/tiles/areas/{z}/{x}/{y}.mvt"), "areas")}
    assert {"county", "township", "community", "grid", "compound"} >= levels >= {"community", "grid"}
    seen = {f["id"] for f in features(grid.get(f"/tiles/areas/{z}/{x}/{y}.mvt"), "areas")}
    assert world.grid_west.id in seen and world.grid_east.id not in seen
    only_grids = features(county.get(f"/tiles/areas/{z}/{x}/{y}.mvt?level=grid"), "areas")
    assert {f["properties"]["level"] for f in only_grids} == {"grid"}
    # Not logged in: no tiles at all.
    assert app.test_client().get(f"/tiles/buildings/{z}/{x}/{y}.mvt").status_code == 401


def test_a_tile_has_an_etag_and_a_phone_holding_it_is_told_304(app, world, role_users):
    county = client_as(app, "county")
    z, x, y = tile_of(*HERE, 16)
    first = county.get(f"/tiles/buildings/{z}/{x}/{y}.mvt")
    assert first.status_code == 200 and first.headers["ETag"] and "private" in first.headers["Cache-Control"]
    again = county.get(f"/tiles/buildings/{z}/{x}/{y}.mvt", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize("z", [14, 17, 19])
def test_a_gcj02_tile_draws_a_building_where_a_gcj02_basemap_has_it(app, session, world, role_users, z):
    """AMap's tile z/x/y shows the place whose GCJ-02 position lies there; ours at the same
    address must draw the building on that very footprint, to a tile pixel (16 units)."""
    import numpy as np
    import shapely

    from geo.geometry import to_geometry, wgs84_to_gcj02, wgs84_to_web_mercator_xy

    county = client_as(app, "county")
    true = to_geometry(world.building.geom)
    shifted = wgs84_to_gcj02(true)
    corner = shapely.get_coordinates(shifted)[0]  # at zoom 19 the building spans tiles: take a corner's
    _, x, y = tile_of(corner[0], corner[1], z)
    drawn = [f for f in features(county.get(f"/tiles/buildings/{z}/{x}/{y}.mvt?datum=gcj02"), "buildings")
             if f["id"] == world.building.id]
    assert len(drawn) == 1
    # Where the shifted outline falls in the tile, in tile units (y up, as decoded).
    size = 2 * 20037508.342789244 / 2 ** z
    west, south = -20037508.342789244 + x * size, 20037508.342789244 - (y + 1) * size
    expected = (wgs84_to_web_mercator_xy(shapely.get_coordinates(shifted)) - [west, south]) / size * EXTENT
    got = np.array(drawn[0]["geometry"]["coordinates"][0], dtype=float)
    inside = expected[np.all((expected > -BUFFER) & (expected < EXTENT + BUFFER), axis=1)]
    assert len(inside) >= 1
    for point in inside:
        assert np.min(np.hypot(*(got - point).T)) < 16, (point, got)
    # The same address in WGS 84 is half a kilometre from the building: it is not there.
    if z >= 17:
        plain = features(county.get(f"/tiles/buildings/{z}/{x}/{y}.mvt"), "buildings")
        assert world.building.id not in {f["id"] for f in plain}


def test_a_changed_building_empties_its_gcj02_tiles_too(app, session, world, role_users):
    from geo.geometry import to_element, to_geometry, wgs84_to_gcj02

    county = client_as(app, "county")
    shifted = wgs84_to_gcj02(to_geometry(world.building.geom)).centroid
    here = tile_of(shifted.x, shifted.y, 17)
    assert county.get("/tiles/buildings/{}/{}/{}.mvt?datum=gcj02".format(*here)).status_code == 200
    assert _cached(session, "buildings") == {here}
    world.building.geom = to_element(box(109.4741, 29.9841, 109.4751, 29.9851))
    session.flush()
    assert _cached(session, "buildings") == set()


def _cached(session, layer: str) -> set[tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return set(session.execute(select(CachedTile.z, CachedTile.x, CachedTile.y).where(CachedTile.layer == layer)).all())


def _warm(client, layer: str, z: int = 16) -> tuple[tuple[int, int, int], tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    """Tiles of the layer over HERE and over THERE, made and cached."""
    here, there = tile_of(*HERE, z), tile_of(*THERE, z)
    for t in (here, there):
        assert client.get("/tiles/{}/{}/{}/{}.mvt".format(layer, *t)).status_code == 200
    return here, there


def test_a_reported_issue_empties_the_issue_tiles_where_it_lies_and_no_others(app, session, world, role_users):
    county, grid = client_as(app, "county"), client_as(app, "grid")
    here, there = _warm(county, "issues")
    assert _cached(session, "issues") == {here, there}
    assert grid.post("/api/v1/issues", json={"lon": HERE[0], "lat": HERE[1], "category": "环境卫生"}).status_code == 201
    assert _cached(session, "issues") == {there}
    shown = features(county.get("/tiles/issues/{}/{}/{}.mvt".format(*here)), "issues")
    assert [f["properties"]["status"] for f in shown] == ["reported"]


def test_a_redrawn_grid_empties_the_area_tiles_of_its_old_and_new_outline(app, session, world, role_users):
    county, community = client_as(app, "county"), client_as(app, "community")
    z = 16
    east = world.grid_east
    old_corner = tile_of(109.4895, 29.9995, z)  # in the east grid's old outline only
    far = tile_of(109.55, 30.05, z)
    for t in (old_corner, far):
        assert county.get("/tiles/areas/{}/{}/{}.mvt".format(*t)).status_code == 200
    redrawn = community.put(f"/api/v1/areas/{east.id}/geometry", json={
        "version": east.version, "geometry": box(109.48, 29.98, 109.49, 29.995).__geo_interface__})
    assert redrawn.status_code == 200, redrawn.data
    assert _cached(session, "areas") == {far}
    ids = {f["id"] for f in features(county.get("/tiles/areas/{}/{}/{}.mvt".format(*old_corner)), "areas")}
    assert east.id not in ids and world.community.id in ids


def test_a_visit_empties_the_coverage_tile_of_its_building_and_changes_the_count(app, session, world, role_users):
    role_users["party"].person_id = world.member.id
    session.flush()
    county, member = client_as(app, "county"), client_as(app, "party")
    here, there = _warm(county, "coverage")
    before = features(county.get("/tiles/coverage/{}/{}/{}.mvt".format(*here)), "coverage")
    assert [(f["properties"]["households"], f["properties"]["visited"]) for f in before] == [(6, 0)]
    visit = member.post("/api/v1/visits", json={"household_id": world.households[0].id, "hours": 0.5})
    assert visit.status_code == 201
    assert _cached(session, "coverage") == {there}
    after = features(county.get("/tiles/coverage/{}/{}/{}.mvt".format(*here)), "coverage")
    assert [(f["properties"]["visited"], f["properties"]["share"]) for f in after] == [(1, pytest.approx(1 / 6, abs=1e-3))]


def test_a_changed_building_empties_its_building_and_coverage_tiles(app, session, world, role_users):
    from geo.geometry import to_element

    county = client_as(app, "county")
    here, there = _warm(county, "buildings")
    _warm(county, "coverage")
    world.building.geom = to_element(box(109.4741, 29.9841, 109.4751, 29.9851))
    session.flush()
    assert _cached(session, "buildings") == {there} and _cached(session, "coverage") == {there}
    session.add(Building(source_id="NEW-1", name="新楼", area=world.other_grid,
                         geom=to_element(box(109.5004, 29.9904, 109.5006, 29.9906))))
    session.flush()
    assert _cached(session, "buildings") == set()
    assert session.scalar(select(func.count()).select_from(CachedTile)) == 0


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/tiles/roads/16/1/1.mvt", 404, "no_such_layer"),
    ("/tiles/buildings/9/1/1.mvt", 400, "zoom_out_of_range"),
    ("/tiles/buildings/16/70000/1.mvt", 400, "no_such_tile"),
    ("/tiles/buildings/16/1/1.mvt?level=grid", 400, "bad_level"),
    ("/tiles/areas/16/1/1.mvt?level=planet", 400, "bad_level"),
    ("/tiles/buildings/16/1/1.mvt?datum=bd09", 400, "bad_datum"),
])
def test_a_bad_tile_address_is_refused_in_the_error_shape(app, session, world, role_users, path, status, code):
    response = client_as(app, "county").get(path)
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    assert session.scalar(select(func.count()).select_from(CachedTile)) == 0
