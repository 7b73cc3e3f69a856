"""Reading polygons from the GIS files a county has: Shapefile (a `.shp` with its sidecars,
or a `.zip` of them), GeoPackage, KML and CSV (a WKT column, or lon/lat columns).

The formats are read by GDAL through pyogrio, which ships GDAL in its wheel; nothing here
parses a format by hand. The file's own CRS (the `.prj`, the GeoPackage's srs) is honoured
and every shape comes out in WGS 84 lon/lat, through pyproj, for the whole layer at once.
GeoJSON keeps its own stricter reader in `geo.imports`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pyogrio.errors
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from geo import geometry
from geo.errors import N_, BadRequest, GridwalkError, InvalidGeometry

SUFFIXES = (".shp", ".zip", ".gpkg", ".kml", ".csv")
INVALID_FILE = "invalid_gis_file"
# CGCS2000 differs from WGS 84 by centimetres: taken as it is (DESIGN.md's data rules).
_AS_WGS84 = (4326, 4490)
# The column names GDAL's CSV driver tries, in this order, for a shape or a position.
_CSV_OPTIONS = {
    "GEOM_POSSIBLE_NAMES": "wkt,WKT,geometry,geom,the_geom,几何",
    "X_POSSIBLE_NAMES": "lon,lng,longitude,x,经度",
    "Y_POSSIBLE_NAMES": "lat,latitude,y,纬度",
    "KEEP_GEOM_COLUMNS": "NO",
}


@dataclass
class SourceFeature:
    """One feature of a GIS file: its fid (None: the format has no stable ids), its
    attributes, and its shape in WGS 84 lon/lat — or why the shape could not be read."""

    id: Any
    properties: dict[str, Any]
    geom: BaseGeometry | None
    problem: GridwalkError | None = None
    checked: bool = False  # geom passed geometry.as_multipolygon already


def read(path: Path, *, layer: str | None = None, encoding: str | None = None) -> list[SourceFeature]:
    """The features of one layer of `path`, in WGS 84. A file with several layers needs
    `layer`; a file with no CRS is taken as lon/lat only if its coordinates are."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise BadRequest(
            N_("cannot read %(suffix)s files: use GeoJSON, Shapefile (.shp or .zip), GeoPackage, KML or CSV"),
            code="unsupported_format", suffix=suffix or path.name[:40],
        )
    options = _CSV_OPTIONS if suffix == ".csv" else {}
    layer = _layer(path, layer)
    try:
        with _quiet_gdal():
            meta, _, wkbs, columns = pyogrio.raw.read(
            path, layer=layer, encoding=encoding, force_2d=True, datetime_as_string=True, **options
        )
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
            pyogrio.errors.FieldError, pyogrio.errors.GeometryError, UnicodeDecodeError) as exc:
        raise BadRequest(N_("the file cannot be read: %(reason)s"), code=INVALID_FILE,
                         reason=_reason(exc)) from None
    if wkbs is None or not len(wkbs) or all(w is None for w in wkbs):
        if meta.get("geometry_type") is None and suffix == ".csv":
            raise BadRequest(
                N_("the CSV file has no shapes: it needs a WKT column (wkt, geometry) "
                   "or lon and lat columns"), code=INVALID_FILE,
            )
        if wkbs is None:
            raise BadRequest(N_("the layer has no geometry column"), code=INVALID_FILE)
    shapes = shapely.from_wkb(np.asarray(wkbs, dtype=object), on_invalid="ignore")
    shapes = _to_wgs84(shapes, meta.get("crs"))
    passing = geometry.passing_multipolygons(shapes)
    names = [str(name) for name in meta["fields"]]
    rows = zip(*(column.tolist() for column in columns), strict=True) if names else ([] for _ in shapes)
    features = []
    for shape, passed, values in zip(shapes, passing, rows, strict=True):
        problem = None if shape is not None else InvalidGeometry(N_("geometry is missing or cannot be read"))
        properties = dict(zip(names, values, strict=True))
        if passed is not None:
            features.append(SourceFeature(None, properties, passed, checked=True))
        else:
            features.append(SourceFeature(None, properties, shape, problem))
    return features


def _layer(path: Path, layer: str | None) -> str | None:
    """The layer to read: the one named, or the file's only layer with shapes."""
    try:
        with _quiet_gdal():
            layers = pyogrio.list_layers(path)
    except (pyogrio.errors.DataSourceError, UnicodeDecodeError) as exc:
        raise BadRequest(N_("the file cannot be read: %(reason)s"), code=INVALID_FILE,
                         reason=_reason(exc)) from None
    names = [str(name) for name, _ in layers]
    if layer is not None:
        if layer not in names:
            raise BadRequest(N_("the file has no layer %(layer)s; its layers: %(layers)s"),
                             code="unknown_layer", layer=layer[:80], layers=", ".join(names)[:300])
        return layer
    spatial = [str(name) for name, kind in layers if kind is not None]
    if len(spatial) > 1:
        raise BadRequest(N_("the file holds several layers (%(layers)s): name one with --layer"),
                         code="several_layers", layers=", ".join(spatial)[:300])
    return spatial[0] if spatial else None


def _to_wgs84(shapes: np.ndarray, crs_text: str | None) -> np.ndarray:
    if crs_text is None:
        xy = shapely.get_coordinates(shapes)
        if len(xy) and not (np.abs(xy[:, 0]).max() <= 180 and np.abs(xy[:, 1]).max() <= 90):
            raise BadRequest(
                N_("the file names no coordinate reference system and its coordinates are not "
                   "longitude/latitude: add its .prj (or reproject it to WGS 84) and import it again"),
                code="unknown_crs",
            )
        return shapes
    try:
        crs = CRS.from_user_input(crs_text)
    except CRSError as exc:
        raise BadRequest(N_("unsupported coordinate reference system: %(crs)s"), code="unsupported_crs",
                         crs=str(exc)[:200]) from None
    if crs.to_epsg(min_confidence=90) in _AS_WGS84:
        return shapes
    transformer = Transformer.from_crs(crs, 4326, always_xy=True)

    def transform(xy: np.ndarray) -> np.ndarray:
        lon, lat = transformer.transform(xy[:, 0], xy[:, 1], errcheck=False)
        return np.column_stack([lon, lat])

    # One call for the whole layer; a position outside the projection's domain comes out
    # as infinity and is refused with its feature.
    return shapely.transform(shapes, transform)


@contextmanager
def _quiet_gdal() -> Iterator[None]:
    # GDAL's own warnings (a GeoPackage's odd application_id, a Shapefile's missing .cpg)
    # come as RuntimeWarnings; what matters to the user comes as errors or per-feature
    # rejections instead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _reason(exc: Exception) -> str:
    return str(exc).replace("\n", " ")[:200]
