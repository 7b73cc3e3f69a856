"""The geometry module on its own: GeoJSON checks, the shape checks before writing, CRS
names, Web Mercator and GCJ-02 conversions (against the real 宣恩县 boundary)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, shape

from geo import geometry
from geo.errors import InvalidGeometry
from tests.conftest import SHARED_DATA, box

XUANEN = SHARED_DATA / "xuanen-422825-gcj02.geojson"
COUNTY_SEAT_GCJ02 = (109.482819, 29.98867)
SQUARE = [[109.47, 29.98], [109.48, 29.98], [109.48, 29.99], [109.47, 29.99], [109.47, 29.98]]


def east_north_metres(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """How far b lies east and north of a, in metres (fine over a few kilometres)."""
    lat = math.radians((a[1] + b[1]) / 2)
    return (b[0] - a[0]) * 111_320 * math.cos(lat), (b[1] - a[1]) * 110_574


# --- GeoJSON in -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "words"),
    [
        (None, "geometry is missing"),
        ("POLYGON((0 0, 1 0, 1 1, 0 0))", "geometry is missing"),
        ({"type": "GeometryCollection", "geometries": []}, "unsupported geometry type: GeometryCollection"),
        ({"type": "Polygon"}, "not nested"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}, "fewer than four positions"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "not closed"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, "0"], [1, 1], [0, 0]]]}, "pair of finite numbers"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, True], [1, 1], [0, 0]]]}, "pair of finite numbers"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, math.nan], [1, 1], [0, 0]]]}, "pair of finite numbers"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 10**400], [1, 1], [0, 0]]]}, "pair of finite numbers"),
        ({"type": "Polygon", "coordinates": [[[0], [1, 0], [1, 1], [0]]]}, "pair of finite numbers"),
        ({"type": "MultiPolygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}, "pair of finite numbers"),
        ({"type": "Polygon", "coordinates": [[[0, 0, 1, 2], [1, 0, 1, 2], [1, 1, 1, 2], [0, 0, 1, 2]]]},
         "cannot be read"),
    ],
)
def test_from_geojson_refuses_what_geojson_forbids(obj: Any, words: str) -> None:
    with pytest.raises(InvalidGeometry, match=words) as caught:
        geometry.from_geojson(obj)
    assert caught.value.code == "invalid_geometry"


def test_from_geojson_reads_polygons_with_and_without_heights() -> None:
    flat = geometry.from_geojson({"type": "Polygon", "coordinates": [SQUARE]})
    assert isinstance(flat, Polygon) and flat.equals(box(109.47, 29.98, 109.48, 29.99))
    high = geometry.from_geojson({"type": "MultiPolygon", "coordinates": [[[p + [100.0] for p in SQUARE]]]})
    assert isinstance(high, MultiPolygon) and high.has_z


# --- checks before writing ------------------------------------------------------------------


def test_as_multipolygon_makes_a_2d_multipolygon() -> None:
    polygon = geometry.from_geojson({"type": "Polygon", "coordinates": [[p + [5.0] for p in SQUARE]]})
    checked = geometry.as_multipolygon(polygon)
    assert isinstance(checked, MultiPolygon) and not checked.has_z
    assert checked.equals(box(109.47, 29.98, 109.48, 29.99))


@pytest.mark.parametrize(
    ("geom", "words"),
    [
        (Polygon(), "geometry is empty"),
        (Point(109.47, 29.98), "expected a Polygon or MultiPolygon, got Point"),
        (shapely.from_wkt("LINESTRING (109.47 29.98, 109.48 29.99)"), "got LineString"),
        (shapely.from_wkt("POLYGON ((109.47 29.98, 109.48 29.99, 109.48 29.98, 109.47 29.99, 109.47 29.98))"),
         "not valid: Self-intersection"),
        (shapely.from_wkt("POLYGON ((29.98 109.47, 29.98 109.48, 29.99 109.48, 29.98 109.47))"),
         "swapped"),
        (shapely.from_wkt("POLYGON ((181 0, 182 0, 182 1, 181 0))"), "outside longitude"),
        (MultiPolygon([box(109.47, 29.98, 109.48, 29.99).geoms[0], box(109.475, 29.98, 109.485, 29.99).geoms[0]]),
         "not valid"),
    ],
)
def test_as_multipolygon_refuses_with_a_reason(geom: Any, words: str) -> None:
    with pytest.raises(InvalidGeometry, match=words):
        geometry.as_multipolygon(geom)


def test_shapes_survive_the_trip_through_wkb_elements() -> None:
    shape_ = box(109.47, 29.98, 109.48, 29.99)
    element = geometry.to_element(shape_)
    assert element.srid == 4326
    assert geometry.to_geometry(element).equals(shape_)
    assert geometry.to_geojson(shape_)["type"] == "MultiPolygon"


# --- coordinate reference systems -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("EPSG:4326", "wgs84"),
        ("urn:ogc:def:crs:OGC:1.3:CRS84", "wgs84"),
        ("urn:ogc:def:crs:EPSG::4490", "wgs84"),  # CGCS2000: centimetres from WGS 84
        ("EPSG:3857", "mercator"),
        ("urn:ogc:def:crs:EPSG::3857", "mercator"),
        ("EPSG:900913", "mercator"),
    ],
)
def test_crs_kind_knows_the_usual_names(name: str, kind: str) -> None:
    assert geometry.crs_kind({"type": "name", "properties": {"name": name}}) == kind


def test_crs_kind_takes_no_crs_as_wgs84_and_refuses_others() -> None:
    assert geometry.crs_kind(None) == "wgs84"
    with pytest.raises(InvalidGeometry, match="unsupported coordinate reference system: EPSG:2385"):
        geometry.crs_kind({"type": "name", "properties": {"name": "EPSG:2385"}})
    with pytest.raises(InvalidGeometry, match="unsupported coordinate reference system"):
        geometry.crs_kind("EPSG:4326")


def test_web_mercator_to_wgs84() -> None:
    r = 6378137.0
    lon, lat = COUNTY_SEAT_GCJ02
    x, y = r * math.radians(lon), r * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    back = geometry.web_mercator_to_wgs84(Point(x, y))
    assert back.x == pytest.approx(lon, abs=1e-9) and back.y == pytest.approx(lat, abs=1e-9)
    corner = geometry.web_mercator_to_wgs84(Point(20037508.342789244, 0))
    assert corner.x == pytest.approx(180) and corner.y == pytest.approx(0)


# --- GCJ-02 ---------------------------------------------------------------------------------


def test_gcj02_offset_at_the_county_seat() -> None:
    # A GCJ-02 position lies about 470 m east and 280 m south of the true one here.
    true = geometry.gcj02_to_wgs84(Point(*COUNTY_SEAT_GCJ02))
    east, north = east_north_metres((true.x, true.y), COUNTY_SEAT_GCJ02)
    assert 420 < east < 520 and -330 < north < -230
    assert 500 < math.hypot(east, north) < 600


def test_gcj02_round_trip_returns_within_2_m() -> None:
    lon, lat = np.meshgrid(np.linspace(109.2, 109.95, 9), np.linspace(29.55, 30.22, 9))
    points = shapely.points(lon.ravel(), lat.ravel())
    there = shapely.get_coordinates(geometry.wgs84_to_gcj02(shapely.multipoints(points)))
    back = shapely.get_coordinates(geometry.gcj02_to_wgs84(shapely.multipoints(shapely.points(there))))
    start = shapely.get_coordinates(points)
    for a, b, moved in zip(start, back, there, strict=True):
        assert math.hypot(*east_north_metres(tuple(a), tuple(b))) < 2
        assert math.hypot(*east_north_metres(tuple(a), tuple(moved))) > 400


def test_gcj02_leaves_positions_outside_china_alone() -> None:
    paris = Point(2.35, 48.85)
    assert geometry.gcj02_to_wgs84(paris).equals(paris)
    assert geometry.wgs84_to_gcj02(paris).equals(paris)


def test_converting_xuanen_moves_every_vertex_back_west_and_north() -> None:
    raw = shape(json.loads(XUANEN.read_bytes())["features"][0]["geometry"])
    converted = geometry.as_multipolygon(geometry.gcj02_to_wgs84(raw))
    for before, after in zip(shapely.get_coordinates(raw), shapely.get_coordinates(converted), strict=True):
        east, north = east_north_metres(tuple(before), tuple(after))
        assert east < 0 and north > 0
        assert 450 < math.hypot(east, north) < 650
