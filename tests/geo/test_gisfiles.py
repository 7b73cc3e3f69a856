"""Polygons from the GIS files a county has: Shapefile (plain or zipped) in a projected CRS,
GeoPackage with several layers, KML and CSV. The files are written here by GDAL (pyogrio),
as a survey office's or contractor's tools would write them."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo import geometry, imports
from geo.errors import BadRequest
from geo.models import Area, Building
from tests.conftest import SHARED_DATA, World, box

XUANEN = SHARED_DATA / "xuanen-422825-gcj02.geojson"
# CGCS2000 / 3-degree Gauss-Kruger CM 108E: what a Chinese survey office hands out for 宣恩.
GAUSS_KRUGER_108 = 4545
# Two buildings in the test world's east grid, one in its compound, one in the township only.
FOOTPRINTS = {
    "F-1": box(109.485, 29.990, 109.4853, 29.9903),
    "F-2": box(109.4856, 29.990, 109.4859, 29.9903),
    "F-3": box(109.4745, 29.9845, 109.4748, 29.9848),
    "F-4": box(109.55, 29.95, 109.5503, 29.9503),
}


def projected(shapes: list, epsg: int = GAUSS_KRUGER_108) -> list:
    to_plane = Transformer.from_crs(4326, epsg, always_xy=True)
    return [shapely.transform(s, lambda xy: np.column_stack(to_plane.transform(xy[:, 0], xy[:, 1])))
            for s in shapes]


def write(path: Path, shapes: list, fields: dict[str, list], *, crs: str | None, layer: str | None = None,
          driver: str | None = None, append: bool = False, **options: str) -> Path:
    with warnings.catch_warnings():
        if crs is None:  # on purpose: GDAL warns that the file will have no projection
            warnings.simplefilter("ignore", UserWarning)
        _write(path, shapes, fields, crs=crs, layer=layer, driver=driver, append=append, **options)
    return path


def _write(path: Path, shapes: list, fields: dict[str, list], *, crs: str | None, layer: str | None,
           driver: str | None, append: bool, **options: str) -> None:
    pyogrio.raw.write(
        path, np.asarray(shapely.to_wkb(np.asarray(shapes, dtype=object)), dtype=object),
        [np.asarray(values, dtype=object) for values in fields.values()], list(fields),
        layer=layer, driver=driver, crs=crs, geometry_type="MultiPolygon", promote_to_multi=True,
        append=append, **options,
    )


def footprint_file(path: Path, *, crs: str | None = f"EPSG:{GAUSS_KRUGER_108}", **kwargs) -> Path:
    shapes = list(FOOTPRINTS.values())
    if crs is not None and crs != "EPSG:4326":
        shapes = projected(shapes)
    names = ["东区1栋", "东区2栋", "花园3栋", "镇上4栋"]
    return write(path, shapes, {"bid": list(FOOTPRINTS), "名称": names}, crs=crs, **kwargs)


def imported_shapes(session: Session) -> dict[str, object]:
    return {source_id: geometry.to_geometry(geom)
            for source_id, geom in session.execute(select(Building.source_id, Building.geom))
            if source_id in FOOTPRINTS}


def assert_same_places(session: Session, tolerance: float = 1e-7) -> None:
    got = imported_shapes(session)
    assert got.keys() == FOOTPRINTS.keys()
    for key, expected in FOOTPRINTS.items():
        # A Gauss-Kruger round trip is exact to well under a centimetre.
        assert shapely.hausdorff_distance(got[key], expected) < tolerance, key


def test_a_shapefile_in_gauss_kruger_lands_where_it_stands(session: Session, world: World, tmp_path: Path) -> None:
    path = footprint_file(tmp_path / "楼栋.shp", encoding="UTF-8")

    report = imports.import_buildings(session, imports.read_path(path), id_field="bid", name_field="名称")

    assert (report.created, report.rejected) == (4, [])
    assert_same_places(session)
    area_of = dict(session.execute(select(Building.source_id, Building.area_id)).all())
    assert area_of["F-1"] == area_of["F-2"] == world.grid_east.id
    assert area_of["F-3"] == world.compound.id
    names = set(session.scalars(select(Building.name).where(Building.source_id.in_(FOOTPRINTS))))
    assert names == {"东区1栋", "东区2栋", "花园3栋", "镇上4栋"}


def test_a_zipped_shapefile_reads_like_the_plain_one(session: Session, world: World, tmp_path: Path) -> None:
    shp = footprint_file(tmp_path / "buildings.shp", encoding="UTF-8")
    archive = tmp_path / "buildings.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for sidecar in tmp_path.glob("buildings.*"):
            if sidecar != archive:
                z.write(sidecar, sidecar.name)
    shp.unlink()

    report = imports.import_buildings(session, imports.read_path(archive), id_field="bid")

    assert report.created == 4
    assert_same_places(session)


def test_a_gbk_shapefile_without_cpg_reads_with_encoding(session: Session, world: World, tmp_path: Path) -> None:
    path = footprint_file(tmp_path / "gbk.shp", encoding="GBK")
    (tmp_path / "gbk.cpg").unlink(missing_ok=True)

    imports.import_buildings(session, imports.read_path(path, encoding="GBK"), id_field="bid", name_field="名称")

    assert session.scalar(select(Building.name).where(Building.source_id == "F-1")) == "东区1栋"


def test_a_projected_file_without_a_crs_is_refused_and_writes_nothing(
    session: Session, world: World, tmp_path: Path
) -> None:
    path = footprint_file(tmp_path / "noprj.shp", encoding="UTF-8")
    (tmp_path / "noprj.prj").unlink()
    before = session.scalar(select(func.count()).select_from(Building))

    with pytest.raises(BadRequest, match="names no coordinate reference system") as refused:
        imports.import_buildings(session, imports.read_path(path), id_field="bid")

    assert refused.value.code == "unknown_crs"
    assert session.scalar(select(func.count()).select_from(Building)) == before


def test_a_lonlat_file_without_a_crs_is_taken_as_wgs84(session: Session, world: World, tmp_path: Path) -> None:
    path = footprint_file(tmp_path / "lonlat.shp", crs=None, encoding="UTF-8")

    imports.import_buildings(session, imports.read_path(path), id_field="bid")

    assert_same_places(session)


def test_a_geopackage_with_two_layers_needs_the_layer_named(session: Session, world: World, tmp_path: Path) -> None:
    path = tmp_path / "county.gpkg"
    footprint_file(path, layer="buildings")
    write(path, projected([box(109.47, 29.98, 109.48, 30.00)]), {"code": ["G-1"]},
          crs=f"EPSG:{GAUSS_KRUGER_108}", layer="grids", append=True)

    with pytest.raises(BadRequest, match="several layers") as refused:
        imports.read_path(path)
    assert "buildings" in refused.value.params["layers"] and "grids" in refused.value.params["layers"]
    with pytest.raises(BadRequest, match="no layer roads"):
        imports.read_path(path, layer="roads")

    report = imports.import_buildings(session, imports.read_path(path, layer="buildings"), id_field="bid")

    assert report.created == 4
    assert_same_places(session)


def test_a_kml_from_google_earth_or_ovital_imports(session: Session, world: World, tmp_path: Path) -> None:
    path = tmp_path / "楼栋.kml"
    write(path, list(FOOTPRINTS.values()), {"Name": list(FOOTPRINTS)}, crs="EPSG:4326", driver="KML")

    report = imports.import_buildings(session, imports.read_path(path), id_field="Name")

    assert report.created == 4
    assert_same_places(session)


def test_a_csv_with_a_wkt_column_imports(session: Session, world: World, tmp_path: Path) -> None:
    path = tmp_path / "buildings.csv"
    rows = ["bid,name,wkt"] + [f'{key},楼{n},"{shape.wkt}"' for n, (key, shape) in enumerate(FOOTPRINTS.items())]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    report = imports.import_buildings(session, imports.read_path(path), id_field="bid")

    assert report.created == 4
    assert_same_places(session, tolerance=1e-9)


def test_a_csv_of_lonlat_points_reports_each_row_as_no_polygon(
    session: Session, world: World, tmp_path: Path
) -> None:
    path = tmp_path / "points.csv"
    path.write_text("code,经度,纬度\nP-1,109.485,29.990\nP-2,109.486,29.991\n", encoding="utf-8")

    report = imports.import_buildings(session, imports.read_path(path), id_field="code")

    assert report.created == 0
    assert [(r.label, r.reason) for r in report.rejected] == [
        ("P-1", "expected a Polygon or MultiPolygon, got Point"),
        ("P-2", "expected a Polygon or MultiPolygon, got Point"),
    ]


def test_a_csv_without_shapes_is_refused(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("姓名,电话\n张三,13800000000\n", encoding="utf-8")

    with pytest.raises(BadRequest, match="needs a WKT column"):
        imports.read_path(path)


def test_a_file_of_another_kind_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "楼栋.dwg"
    path.write_bytes(b"AC1032")

    with pytest.raises(BadRequest, match="cannot read .dwg files") as refused:
        imports.read_path(path)
    assert refused.value.code == "unsupported_format"


def test_a_broken_geopackage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.gpkg"
    path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)

    with pytest.raises(BadRequest, match="cannot be read") as refused:
        imports.read_path(path)
    assert refused.value.code == "invalid_gis_file"


def test_the_county_boundary_as_a_gcj02_shapefile_matches_its_geojson_import(session: Session, tmp_path: Path) -> None:
    # A survey office's Shapefile made from AMap's boundary: projected, and still in GCJ-02.
    document = json.loads(XUANEN.read_text(encoding="utf-8"))
    source = shape(document["features"][0]["geometry"])
    path = write(tmp_path / "宣恩县.shp", projected([source]), {"adcode": ["422825"], "name": ["宣恩县"]},
                 crs=f"EPSG:{GAUSS_KRUGER_108}", encoding="UTF-8")

    from_shapefile = imports.import_areas(session, imports.read_path(path), level="county",
                                          id_field="adcode", datum="gcj02")
    (county,) = session.scalars(select(Area).where(Area.code == "422825"))
    shp_shape = geometry.to_geometry(county.geom)
    imports.import_areas(session, imports.read_features(XUANEN.read_bytes()), level="county",
                         id_field="adcode", datum="gcj02")
    session.refresh(county)

    assert from_shapefile.created == 1 and county.name == "宣恩县"
    assert shapely.hausdorff_distance(shp_shape, geometry.to_geometry(county.geom)) < 1e-7
