"""The one place where geometry changes form: GeoJSON ⇄ shapely ⇄ WKB, the checks a shape
must pass before it is stored, and datum conversions (GCJ-02, Web Mercator) into WGS 84.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from geoalchemy2.elements import WKBElement
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func

from geo.errors import N_, InvalidGeometry

SRID = 4326

# The datums we accept, by the names a GeoJSON "crs" member may carry. CGCS2000 (EPSG:4490)
# differs from WGS 84 by centimetres, so it is taken as it is.
_WGS84_NAMES = {"4326", "crs84", "4490", "wgs84"}
_MERCATOR_NAMES = {"3857", "900913", "102100", "102113", "3785"}

_GEOJSON_TYPES = {
    "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
}


# --- GeoJSON in -------------------------------------------------------------------------


def from_geojson(obj: Any) -> BaseGeometry:
    """A shapely geometry from a GeoJSON geometry object, refusing what GeoJSON forbids
    (unclosed rings, rings of fewer than four positions, non-numeric positions)."""
    if not isinstance(obj, dict):
        raise InvalidGeometry(N_("geometry is missing or not a GeoJSON object"))
    kind = obj.get("type")
    if kind not in _GEOJSON_TYPES:
        raise InvalidGeometry(N_("unsupported geometry type: %(type)s"), type=str(kind)[:40])
    coords = obj.get("coordinates")
    depth = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2,
             "Polygon": 2, "MultiPolygon": 3}[kind]
    _check_positions(coords, depth)
    if kind == "Polygon":
        _check_rings(coords)
    elif kind == "MultiPolygon":
        for polygon in coords:
            _check_rings(polygon)
    try:
        return shape(obj)
    except (ValueError, TypeError, shapely.errors.ShapelyError) as exc:
        raise InvalidGeometry(N_("geometry cannot be read: %(reason)s"), reason=str(exc)[:200]) from exc


def _check_positions(coords: Any, depth: int) -> None:
    if depth == 0:
        if (
            not isinstance(coords, list | tuple)
            or len(coords) < 2
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords)
            or not all(_finite(c) for c in coords)
        ):
            raise InvalidGeometry(N_("a position is not a pair of finite numbers"))
        return
    if not isinstance(coords, list | tuple):
        raise InvalidGeometry(N_("coordinates are not nested as the geometry type requires"))
    for item in coords:
        _check_positions(item, depth - 1)


def _finite(number: float) -> bool:
    # JSON integers are unbounded; one too large for a float is no position either.
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def _check_rings(rings: list[Any]) -> None:
    for ring in rings:
        if len(ring) < 4:
            raise InvalidGeometry(N_("a polygon ring has fewer than four positions"))
        if list(ring[0][:2]) != list(ring[-1][:2]):
            raise InvalidGeometry(N_("a polygon ring is not closed"))


def crs_kind(crs: Any) -> str:
    """'wgs84' or 'mercator' for a GeoJSON "crs" member (absent means WGS 84)."""
    if crs is None:
        return "wgs84"
    name = ""
    if isinstance(crs, dict):
        name = str((crs.get("properties") or {}).get("name", ""))
    tail = name.replace("::", ":").rsplit(":", 1)[-1].strip().lower()
    if tail in _WGS84_NAMES:
        return "wgs84"
    if tail in _MERCATOR_NAMES:
        return "mercator"
    raise InvalidGeometry(N_("unsupported coordinate reference system: %(crs)s"), crs=name[:80])


# --- checks before writing ----------------------------------------------------------------


def check_lonlat(geom: BaseGeometry) -> None:
    xy = shapely.get_coordinates(geom)
    if len(xy) and not np.isfinite(xy).all():
        raise InvalidGeometry(N_("a position is not a pair of finite numbers"))
    if len(xy) and (np.abs(xy[:, 0]).max() > 180 or np.abs(xy[:, 1]).max() > 90):
        raise InvalidGeometry(
            N_("coordinates are outside longitude −180…180 / latitude −90…90 "
               "(are longitude and latitude swapped?)")
        )


def as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    """A 2-D, non-empty, valid MultiPolygon in lon/lat, or InvalidGeometry saying why not."""
    if geom.is_empty:
        raise InvalidGeometry(N_("geometry is empty"))
    geom = shapely.force_2d(geom)
    if isinstance(geom, Polygon):
        geom = MultiPolygon([geom])
    if not isinstance(geom, MultiPolygon):
        raise InvalidGeometry(N_("expected a Polygon or MultiPolygon, got %(type)s"), type=geom.geom_type)
    check_lonlat(geom)
    if not geom.is_valid:
        raise InvalidGeometry(
            N_("geometry is not valid: %(reason)s"), reason=shapely.is_valid_reason(geom)
        )
    if geom.area == 0:
        raise InvalidGeometry(N_("polygon has no area"))
    return geom


def passing_multipolygons(shapes: np.ndarray) -> np.ndarray:
    """as_multipolygon for a whole array at once: the MultiPolygon for each shape that passes
    every check, None for the others (as_multipolygon on those says why). Thousands of
    shapes cost about what one does one by one."""
    shapes = np.asarray(shapes, dtype=object)
    result = np.full(len(shapes), None, dtype=object)
    if not len(shapes):
        return result
    present = ~shapely.is_missing(shapes)
    kinds = shapely.get_type_id(shapes)
    polygonal = present & np.isin(kinds, (3, 6)) & ~shapely.is_empty(shapes) & ~shapely.has_z(shapes)
    candidates = np.flatnonzero(polygonal)
    if not len(candidates):
        return result
    subset = shapes[candidates]
    xy, owner = shapely.get_coordinates(subset, return_index=True)
    bad = np.zeros(len(subset), dtype=bool)
    outside = ~np.isfinite(xy).all(axis=1) | (np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90)
    bad[owner[outside]] = True
    good = ~bad
    good[good] = shapely.is_valid(subset[good]) & (shapely.area(subset[good]) > 0)
    chosen = subset[good]
    single = shapely.get_type_id(chosen) == 3
    chosen[single] = shapely.multipolygons(chosen[single].reshape(-1, 1))
    result[candidates[good]] = chosen
    return result


def lonlat_point(lon: float, lat: float) -> Point:
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidGeometry(N_("lon and lat must be finite numbers"))
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidGeometry(N_("lon must be within −180…180 and lat within −90…90"))
    return Point(lon, lat)


# --- to and from the database -------------------------------------------------------------


def sql_point(lon: Any, lat: Any) -> Any:
    """A WGS 84 point in SQL, from numbers or from columns (the one way queries make one)."""
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), SRID)


def to_element(geom: BaseGeometry) -> WKBElement:
    return from_shape(geom, srid=SRID)


def to_hex_ewkb(geoms: Any) -> list[str]:
    """Hex EWKB with SRID 4326 for many shapes at once: the text COPY hands to PostGIS
    (to_element would build one object per shape)."""
    array = shapely.set_srid(np.asarray(geoms, dtype=object), SRID)
    return list(shapely.to_wkb(array, hex=True, include_srid=True))


def to_geometry(element: WKBElement) -> BaseGeometry:
    return to_shape(element)


def to_geojson(geom: BaseGeometry) -> dict[str, Any]:
    return mapping(geom)


# --- datums -------------------------------------------------------------------------------

_MERCATOR_R = 6378137.0  # EPSG:3857's sphere
_A = 6378245.0  # Krasovsky 1940 semi-major axis, as GCJ-02 uses it
_EE = 0.00669342162296594323


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    # GCJ-02 only shifts positions in mainland China's rough bounding box.
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    common = (20 * np.sin(6 * x * np.pi) + 20 * np.sin(2 * x * np.pi)) * 2 / 3
    dlat = (-100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + common
            + (20 * np.sin(y * np.pi) + 40 * np.sin(y / 3 * np.pi)) * 2 / 3
            + (160 * np.sin(y / 12 * np.pi) + 320 * np.sin(y * np.pi / 30)) * 2 / 3)
    dlon = (300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + common
            + (20 * np.sin(x * np.pi) + 40 * np.sin(x / 3 * np.pi)) * 2 / 3
            + (150 * np.sin(x / 12 * np.pi) + 300 * np.sin(x / 30 * np.pi)) * 2 / 3)
    rad = lat / 180 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180 / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = dlon * 180 / (_A / sqrt_magic * np.cos(rad) * np.pi)
    inside = _in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def wgs84_to_gcj02_xy(xy: np.ndarray) -> np.ndarray:
    """Longitude/latitude rows (n × 2) from WGS 84 to GCJ-02."""
    dlon, dlat = _gcj_offset(xy[:, 0], xy[:, 1])
    return np.column_stack([xy[:, 0] + dlon, xy[:, 1] + dlat])


def gcj02_to_wgs84_xy(xy: np.ndarray) -> np.ndarray:
    """Longitude/latitude rows (n × 2) from GCJ-02 back to WGS 84."""
    # No closed form: solve wgs_to_gcj(w) = g by fixed-point iteration (converges to
    # well under a millimetre in a few steps, since the offset varies slowly).
    guess = xy.copy()
    for _ in range(10):
        error = wgs84_to_gcj02_xy(guess) - xy
        guess -= error
        if len(error) == 0 or np.abs(error).max() < 1e-10:
            break
    return guess


def web_mercator_to_wgs84_xy(xy: np.ndarray) -> np.ndarray:
    r = _MERCATOR_R
    lon = np.degrees(xy[:, 0] / r)
    lat = np.degrees(2 * np.arctan(np.exp(xy[:, 1] / r)) - np.pi / 2)
    return np.column_stack([lon, lat])


def wgs84_to_web_mercator_xy(xy: np.ndarray) -> np.ndarray:
    lon = np.radians(xy[:, 0]) * _MERCATOR_R
    lat = np.log(np.tan(np.pi / 4 + np.radians(xy[:, 1]) / 2)) * _MERCATOR_R
    return np.column_stack([lon, lat])


def wgs84_to_gcj02(geom: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geom, wgs84_to_gcj02_xy)


def gcj02_to_wgs84(geom: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geom, gcj02_to_wgs84_xy)


def web_mercator_to_wgs84(geom: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geom, web_mercator_to_wgs84_xy)
