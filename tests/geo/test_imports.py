"""GeoJSON imports of areas and buildings, against real PostGIS: the real 宣恩县 boundary in
GCJ-02, re-imports, the Enshi prefecture file, broken inputs from tests/data/, and
buildings placed in the test world's compound and grids."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo import geometry, imports
from geo.errors import BadRequest
from geo.models import Area, Building
from tests.conftest import SHARED_DATA, TEST_DATA, World, box

XUANEN = SHARED_DATA / "xuanen-422825-gcj02.geojson"
ENSHI = SHARED_DATA / "enshi-422800-gcj02.geojson"
COUNTY_SEAT_GCJ02 = (109.482819, 29.98867)


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two lon/lat positions."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(h))


def areas_with_code(session: Session, code: str) -> list[Area]:
    return list(session.scalars(select(Area).where(Area.code == code)))


def stored_shape(session: Session, code: str) -> MultiPolygon:
    (area,) = areas_with_code(session, code)
    return geometry.to_geometry(area.geom)


def import_xuanen(session: Session, path: Any = XUANEN) -> imports.ImportReport:
    return imports.import_areas(
        session, imports.read_features(path.read_bytes()), level="county", id_field="adcode", datum="gcj02"
    )


def collection(*features: dict[str, Any], **members: Any) -> bytes:
    return json.dumps({"type": "FeatureCollection", **members, "features": list(features)}).encode()


def feature(geom: Any, fid: Any = None, **properties: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "Feature", "properties": properties, "geometry": geometry.to_geojson(geom)}
    if fid is not None:
        out["id"] = fid
    return out


# --- the real reference data --------------------------------------------------------------


def test_xuanen_county_from_gcj02_is_moved_back_to_wgs84(session: Session) -> None:
    report = import_xuanen(session)

    assert (report.created, report.updated, report.rejected) == (1, 0, [])
    assert report.seconds > 0
    raw = shape(json.loads(XUANEN.read_bytes())["features"][0]["geometry"])
    (area,) = areas_with_code(session, "422825")
    assert (area.name, area.level, area.parent_id) == ("宣恩县", "county", None)
    assert area.properties["center"] == list(COUNTY_SEAT_GCJ02)
    assert area.properties["acroutes"] == [100000, 420000, 422800]
    stored = geometry.to_geometry(area.geom)
    assert stored.geom_type == "MultiPolygon" and not stored.has_z
    assert session.scalar(select(func.ST_SRID(Area.geom)).where(Area.id == area.id)) == 4326

    # Every vertex moved back by about 550 m, towards the west and the north.
    before, after = shapely.get_coordinates(raw), shapely.get_coordinates(stored)
    assert before.shape == after.shape
    for i in range(0, len(before), 25):
        assert 450 < metres(tuple(before[i]), tuple(after[i])) < 650
        assert after[i][0] < before[i][0] and after[i][1] > before[i][1]

    # The county seat's true position lies inside the converted county.
    seat = geometry.gcj02_to_wgs84(Point(*COUNTY_SEAT_GCJ02))
    assert session.scalar(
        select(func.ST_Covers(Area.geom, geometry.to_element(seat))).where(Area.id == area.id)
    )


def test_importing_the_same_file_twice_updates_the_area(session: Session) -> None:
    import_xuanen(session)
    first = stored_shape(session, "422825")

    report = import_xuanen(session)

    assert (report.created, report.updated, report.rejected) == (0, 1, [])
    assert len(areas_with_code(session, "422825")) == 1
    assert stored_shape(session, "422825").equals(first)
    (area,) = areas_with_code(session, "422825")
    assert area.version == 2


def test_enshi_prefecture_file_gives_eight_counties_and_the_same_xuanen(session: Session) -> None:
    report = import_xuanen(session, ENSHI)

    assert (report.created, report.updated, report.rejected) == (8, 0, [])
    codes = set(session.scalars(select(Area.code).where(Area.code.like("4228%"))))
    assert codes == {"422801", "422802", "422822", "422823", "422825", "422826", "422827", "422828"}
    from_prefecture = stored_shape(session, "422825")

    # The single-county file is the same county: it updates it rather than adding a second.
    report = import_xuanen(session)
    assert (report.created, report.updated) == (0, 1)
    from_county = stored_shape(session, "422825")

    # The prefecture file draws the outline with fewer vertices (280 against 624), so the
    # two agree within a tolerance: under 0.5 % of the area differs, no edge is 300 m off.
    assert from_county.symmetric_difference(from_prefecture).area / from_county.area < 0.005
    lon, lat = from_county.hausdorff_distance(from_prefecture), 30.0
    assert metres((109.5, lat), (109.5 + lon, lat)) < 300


# --- reading files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ((TEST_DATA / "not-json.geojson").read_bytes(), "not valid JSON"),
        ((TEST_DATA / "not-geojson.json").read_bytes(), "not GeoJSON"),
        (b"\xff\xfe\x00\x00garbage", "not UTF-8"),
        ("名称".encode("gbk"), "not UTF-8"),
        (b'{"type": "Polygon", "coordinates": []}', "holds a Polygon, not features"),
        (b'{"type": "Topology", "objects": {}}', "holds a Topology"),
        (b'{"type": "FeatureCollection", "features": {}}', "no list of features"),
        (b'[{"type": "Feature", "geometry": null}, 42]', "item #2"),
        (b'{"type": "FeatureCollection", "features": [{"type": "Polygon"}]}', "item #1"),
        (b"[[[[" * 20000, "not valid JSON"),
    ],
)
def test_a_file_that_is_not_geojson_features_is_refused(data: bytes, words: str) -> None:
    with pytest.raises(BadRequest, match=words) as caught:
        imports.read_features(data)
    assert caught.value.code == "invalid_geojson"


def test_read_features_accepts_a_collection_a_list_a_feature_and_a_bom() -> None:
    one = feature(box(109.47, 29.98, 109.48, 29.99), "a")
    assert len(imports.read_features(collection(one, one))) == 2
    assert len(imports.read_features(json.dumps([one]).encode())) == 1
    assert imports.read_features(b"\xef\xbb\xbf" + json.dumps(one).encode())[0]["id"] == "a"
    assert imports.read_features(collection()) == []


def test_the_collections_crs_is_carried_to_each_feature() -> None:
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}
    own = {"type": "name", "properties": {"name": "EPSG:4326"}}
    features = imports.read_features(collection(
        feature(box(0, 0, 1, 1), "a"), {**feature(box(0, 0, 1, 1), "b"), "crs": own}, crs=crs
    ))
    assert [f["crs"] for f in features] == [crs, own]


def test_an_unknown_crs_refuses_the_file() -> None:
    xian80 = {"type": "name", "properties": {"name": "EPSG:2385"}}
    with pytest.raises(BadRequest, match="unsupported coordinate reference system: EPSG:2385") as caught:
        imports.read_features(collection(feature(box(0, 0, 1, 1), "a"), crs=xian80))
    assert caught.value.code == "unsupported_crs"
    with pytest.raises(BadRequest, match="EPSG:2385"):
        imports.read_features(json.dumps({**feature(box(0, 0, 1, 1), "a"), "crs": xian80}).encode())


def test_web_mercator_input_is_transformed_and_cgcs2000_taken_as_is(session: Session, world: World) -> None:
    wgs = box(109.481, 29.991, 109.483, 29.993)
    mercator = shapely.transform(wgs, to_mercator)
    data = collection(feature(mercator, "M-1"), crs={"type": "name", "properties": {"name": "EPSG:3857"}})
    report = imports.import_areas(session, imports.read_features(data), level="grid")
    assert report.created == 1, report.rejected
    assert stored_shape(session, "M-1").equals_exact(wgs, 1e-9)

    data = collection(feature(wgs, "C-1"), crs={"type": "name", "properties": {"name": "EPSG:4490"}})
    assert imports.import_areas(session, imports.read_features(data), level="grid").created == 1
    assert stored_shape(session, "C-1").equals(wgs)


def to_mercator(xy: np.ndarray) -> np.ndarray:
    r = 6378137.0
    return np.column_stack([r * np.radians(xy[:, 0]), r * np.log(np.tan(np.pi / 4 + np.radians(xy[:, 1]) / 2))])


# --- broken inputs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "bad_code", "words"),
    [
        ("bowtie.geojson", "G-bowtie", "not valid: Self-intersection"),
        ("empty-geometry.geojson", "G-empty", "geometry is empty"),
        ("unclosed-ring.geojson", "G-unclosed", "ring is not closed"),
        ("swapped-latlon.geojson", "G-swapped", "are longitude and latitude swapped?"),
        ("point.geojson", "G-point", "expected a Polygon or MultiPolygon, got Point"),
    ],
)
def test_a_broken_feature_is_rejected_and_the_good_one_kept(
    session: Session, world: World, file: str, bad_code: str, words: str
) -> None:
    features = imports.read_features((TEST_DATA / file).read_bytes())

    report = imports.import_areas(session, features, level="grid", id_field="code")

    assert report.created == 1
    assert [r.label for r in report.rejected] == [bad_code]
    assert words in report.rejected[0].reason
    (good,) = areas_with_code(session, "G-ok")
    assert (good.name, good.parent_id) == ("好网格", world.community.id)
    assert areas_with_code(session, bad_code) == []


def test_a_3d_polygon_is_accepted_without_its_heights(session: Session, world: World) -> None:
    features = imports.read_features((TEST_DATA / "polygon-3d.geojson").read_bytes())

    report = imports.import_areas(session, features, level="grid", id_field="code")

    assert (report.created, report.rejected) == (2, [])
    stored = stored_shape(session, "G-3d")
    assert not stored.has_z
    assert stored.equals(box(109.472, 29.982, 109.478, 29.988))
    assert session.scalar(select(func.ST_NDims(Area.geom)).where(Area.code == "G-3d")) == 2


def test_an_area_outside_its_parent_is_rejected_within_a_tolerance(session: Session, world: World) -> None:
    features = imports.read_features((TEST_DATA / "outside-parent.geojson").read_bytes())

    report = imports.import_areas(session, features, level="grid", id_field="code")

    reasons = {r.label: r.reason for r in report.rejected}
    assert set(reasons) == {"G-straddle", "G-far"}
    assert reasons["G-straddle"] == (
        "25.0% of it lies outside its parent T4228250101, reaching more than 20 m beyond its edge "
        "(tolerated: 1% of it, or a 20 m strip)"
    )
    assert reasons["G-far"].startswith("no community area covers it")
    # 0.5 % over the community's edge is within the 1 % tolerance; 10 % of a small grid is
    # outside, but only a strip about 10 m wide, within the 20 m tolerance.
    assert report.created == 3
    for code in ("G-ok", "G-overhang", "G-sliver"):
        assert [a.parent_id for a in areas_with_code(session, code)] == [world.community.id]
    assert areas_with_code(session, "G-straddle") == areas_with_code(session, "G-far") == []


def test_a_named_parent_is_used_and_checked(session: Session, world: World) -> None:
    features = imports.read_features((TEST_DATA / "outside-parent.geojson").read_bytes())

    report = imports.import_areas(
        session, features, level="compound", parent_code=world.community.code, id_field="code"
    )

    reasons = {r.label: r.reason for r in report.rejected}
    assert set(reasons) == {"G-straddle", "G-far"}
    assert "100.0% of it lies outside its parent" in reasons["G-far"]
    kept = session.scalars(select(Area).where(Area.code.like("G-%"))).all()
    assert {a.code for a in kept} == {"G-ok", "G-overhang", "G-sliver"}
    assert {(a.level, a.parent_id) for a in kept} == {("compound", world.community.id)}


@pytest.mark.parametrize(
    ("level", "parent", "words", "code"),
    [
        ("grid", "NO-SUCH-AREA", "no area with code NO-SUCH-AREA", "unknown_parent"),
        ("grid", "T4228250101-02", "is a grid; a grid area cannot sit inside it", "wrong_parent_level"),
        ("county", "T422825", "a county has no parent", "unexpected_parent"),
        ("district", None, "unknown area level district", "unknown_level"),
    ],
)
def test_a_wrong_parent_or_level_refuses_the_whole_import(
    session: Session, world: World, level: str, parent: str | None, words: str, code: str
) -> None:
    features = imports.read_features((TEST_DATA / "bowtie.geojson").read_bytes())
    with pytest.raises(BadRequest, match=words) as caught:
        imports.import_areas(session, features, level=level, parent_code=parent, id_field="code")
    assert caught.value.code == code
    assert areas_with_code(session, "G-ok") == []


def test_ids_names_and_properties(session: Session, world: World) -> None:
    inside = box(109.481, 29.991, 109.482, 29.992)
    features = [
        feature(inside, "F-1", name="一网格", note=float("nan"), nested={"k": ["v\x00", 1.5]}),
        feature(inside, 42.0),  # a whole number: code "42"; no name: the code is the name
        feature(inside),  # no id at all
        feature(inside, "F-1", name="重复"),  # the same id again
        feature(inside, True),
        feature(inside, "x" * 65),
        {"type": "Feature", "id": "F-9", "properties": ["a"], "geometry": geometry.to_geojson(inside)},
        {"type": "Feature", "id": "F-10", "properties": {}, "geometry": None},
        {"type": "Polygon", "coordinates": []},
    ]

    report = imports.import_areas(session, features, level="grid", progress=None)

    assert report.created == 2
    assert [(r.label, r.reason) for r in report.rejected] == [
        ("#3", 'no id: the feature has no "id" (name the id property with --id-field)'),
        ("F-1", "its id is used again in this file (first by feature #1); only the first is imported"),
        ("#5", "its id is not a string or a whole number"),
        ("#6", "its id is longer than 64 characters"),
        ("#7", "its properties are not a JSON object"),
        ("F-10", "geometry is missing or not a GeoJSON object"),
        ("#9", "not a GeoJSON Feature"),
    ]
    (first,) = areas_with_code(session, "F-1")
    assert first.name == "一网格"
    assert first.properties == {"name": "一网格", "note": None, "nested": {"k": ["v", 1.5]}}
    assert [a.name for a in areas_with_code(session, "42")] == ["42"]


def test_id_field_property_is_required_when_named(session: Session, world: World) -> None:
    features = [feature(box(109.481, 29.991, 109.482, 29.992), "feature-id", name="无编号")]
    report = imports.import_areas(session, features, level="grid", id_field="code")
    assert [(r.label, r.reason) for r in report.rejected] == [
        ("#1", "no id: property code is missing or empty")
    ]


def test_a_code_of_another_level_is_not_taken_over(session: Session, world: World) -> None:
    features = [feature(box(109.481, 29.991, 109.482, 29.992), world.grid_east.code)]
    report = imports.import_areas(session, features, level="compound")
    assert report.accepted == 0
    assert report.rejected[0].reason == f"code {world.grid_east.code} already belongs to a grid area"


def test_progress_is_reported_up_to_the_total(
    session: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    calls: list[tuple[int, int]] = []
    features = [feature(box(109.481, 29.991, 109.482, 29.992), f"P-{i}") for i in range(5)]

    report = imports.import_areas(session, features, level="grid", progress=lambda d, t: calls.append((d, t)))

    assert report.created == 5
    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_an_unknown_datum_is_refused(session: Session) -> None:
    with pytest.raises(BadRequest, match="unknown datum bd09"):
        imports.import_buildings(session, [], datum="bd09")


# --- buildings ----------------------------------------------------------------------------


def test_buildings_join_the_innermost_area_under_them(session: Session, world: World) -> None:
    features = [
        feature(box(109.4745, 29.9845, 109.4755, 29.9855), "B-compound", name="花园2栋"),
        feature(box(109.485, 29.990, 109.486, 29.991), "B-east", name="东区1栋"),
        feature(box(109.4799, 29.993, 109.4815, 29.994), "B-edge"),  # 10 m over the grid line
        feature(box(109.4795, 29.995, 109.4815, 29.996), "B-across"),  # a quarter of it over the line
        feature(box(109.55, 29.95, 109.551, 29.951), "B-township"),  # in no grid yet
        feature(box(109.70, 29.95, 109.701, 29.951), "B-outside"),
    ]

    report = imports.import_buildings(session, imports.read_features(collection(*features)))

    assert (report.created, report.updated) == (4, 0)
    assert report.waiting == 1
    reasons = {r.label: r.reason for r in report.rejected}
    assert reasons.keys() == {"B-across", "B-outside"}
    assert reasons["B-outside"] == "it lies outside the county: no area holds it"
    assert reasons["B-across"].startswith("25.0% of it lies outside its parent T4228250101-02")
    area_of = dict(session.execute(select(Building.source_id, Building.area_id)).all())
    assert area_of["B-compound"] == world.compound.id
    assert area_of["B-east"] == world.grid_east.id
    assert area_of["B-edge"] == world.grid_east.id
    # Held by the innermost area there is, until its grid is drawn.
    assert session.get(Area, area_of["B-township"]).level in ("township", "community")
    named = session.scalars(select(Building).where(Building.source_id == "B-compound")).one()
    assert named.name == "花园2栋" and named.properties == {"name": "花园2栋"}


def test_buildings_without_ids_are_not_doubled_by_a_second_import(session: Session, world: World) -> None:
    first_file = collection(
        feature(box(109.4760, 29.9860, 109.4761, 29.9861), None, name="无编号1栋"),
        feature(box(109.4762, 29.9860, 109.4763, 29.9861), None, name="无编号2栋"),
        feature(box(109.4760, 29.9860, 109.4761, 29.9861), None, name="重复"),
    )
    # Surveyed again: the first drawn a little wider (about 2 m), the second as before, a third new.
    redrawn = collection(
        feature(box(109.47598, 29.9860, 109.4761, 29.9861), None, name="无编号1栋（重测）"),
        feature(box(109.4762, 29.9860, 109.4763, 29.9861), None, name="无编号2栋"),
        feature(box(109.4766, 29.9860, 109.4767, 29.9861), None, name="无编号3栋"),
    )
    before = session.scalar(select(func.count()).select_from(Building))

    first = imports.import_buildings(session, imports.read_features(first_file), datum="gcj02")
    again = imports.import_buildings(session, imports.read_features(first_file), datum="gcj02")
    redraw = imports.import_buildings(session, imports.read_features(redrawn), datum="gcj02")

    assert (first.created, first.updated) == (2, 0)
    assert (again.created, again.updated) == (0, 2)
    assert [(r.label, r.reason) for r in again.rejected] == [
        ("#3", "the same footprint appears again in this file (first as feature #1); only the first is imported")
    ]
    assert (redraw.created, redraw.updated) == (1, 2)
    names = set(session.scalars(select(Building.name).where(Building.source_id.is_(None),
                                                             Building.name.like("无编号%"))))
    assert names == {"无编号1栋（重测）", "无编号2栋", "无编号3栋"}  # no synthetic ids stored either
    assert session.scalar(select(func.count()).select_from(Building)) == before + 3


def test_reimporting_buildings_updates_them(session: Session, world: World) -> None:
    moved = box(109.485, 29.995, 109.486, 29.996)  # from the compound into the east grid
    data = collection(feature(moved, None, bid="B-1", name="贡水花园1栋（新）", floors=7))
    version = world.building.version
    before = session.scalar(select(func.count()).select_from(Building))

    report = imports.import_buildings(session, imports.read_features(data), id_field="bid")

    assert (report.created, report.updated, report.rejected) == (0, 1, [])
    assert session.scalar(select(func.count()).select_from(Building)) == before
    building = world.building  # the object the session already held sees the update
    assert building.name == "贡水花园1栋（新）"
    assert building.area_id == world.grid_east.id
    assert building.version == version + 1
    assert building.properties == {"bid": "B-1", "name": "贡水花园1栋（新）", "floors": 7}
    assert geometry.to_geometry(building.geom).equals(moved)
    assert len(building.households) == 6  # its households stay with it

    again = imports.import_buildings(session, imports.read_features(data), id_field="bid")
    assert (again.created, again.updated) == (0, 1)


def test_buildings_in_gcj02_land_where_they_truly_are(session: Session, world: World) -> None:
    true = box(109.4745, 29.9845, 109.4755, 29.9855)
    shifted = geometry.wgs84_to_gcj02(true)
    assert not geometry.to_geometry(world.compound.geom).covers(shifted)  # 550 m off

    report = imports.import_buildings(session, [feature(shifted, "B-gcj")], datum="gcj02")

    assert report.created == 1
    building = session.scalars(select(Building).where(Building.source_id == "B-gcj")).one()
    assert building.area_id == world.compound.id
    assert geometry.to_geometry(building.geom).equals_exact(true, 1e-7)


def test_rejections_come_back_in_file_order_across_chunks(
    session: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "CHUNK_SIZE", 3)
    outside = box(109.70, 29.95, 109.701, 29.951)
    inside = box(109.485, 29.990, 109.486, 29.991)
    features = [
        feature(outside, "X-1"), feature(Point(109.5, 29.9), "X-2"), feature(inside, "I-1"),
        feature(outside, "X-4"), feature(inside, "I-2"), feature(Point(109.5, 29.9), "X-6"),
    ]
    report = imports.import_buildings(session, features)
    assert report.created == 2
    assert [r.label for r in report.rejected] == ["X-1", "X-2", "X-4", "X-6"]


def test_postgis_has_the_last_word_on_validity(session: Session) -> None:
    # Shapely and PostGIS may run different GEOS versions; what PostGIS refuses is rejected
    # alone rather than failing the whole file at the table's CHECK constraint.
    good = geometry.to_element(box(109.47, 29.98, 109.48, 29.99)).data
    bowtie = geometry.to_element(shapely.from_wkt(
        "MULTIPOLYGON (((109.47 29.98, 109.48 29.99, 109.48 29.98, 109.47 29.99, 109.47 29.98)))"
    )).data
    invalid = imports._invalid_in_postgis(session, [bytes(good), bytes(bowtie), bytes(good)])
    assert list(invalid) == [1]
    assert invalid[1].startswith("Self-intersection")
