"""Tables as downloads: CSV (with a byte-order mark, so Excel reads the Chinese as UTF-8)
or XLSX; and a layer (a table whose rows have geometries) also as GeoJSON or GeoPackage.
Cells that a spreadsheet would run as formulas are written as text. Files are named with
the county's date: issues-2025-03-01.gpkg.

Geometry in a spreadsheet: CSV has it whole as a WKT column. An XLSX cell holds at most
32,767 characters, so XLSX gives every row its centroid (lon, lat) beside the WKT, and a
shape whose WKT is longer than a cell leaves the WKT cell empty with a note saying so
(the GeoPackage or GeoJSON has the shape).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from flask import Response, current_app
from flask_babel import gettext

from geo.errors import N_, BadRequest
from geo.layers import Table

FORMATS = ("csv", "xlsx")
LAYER_FORMATS = ("geojson", "gpkg", "csv", "xlsx")
XLSX_CELL_LIMIT = 32767
_MIMETYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
}
_OGR_GEOMETRY = {"MultiPolygon": "MultiPolygon", "Point": "Point"}


def safe_cell(value: Any) -> Any:
    # A cell starting with = + - @ would run as a formula in a spreadsheet (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def filename(name: str, fmt: str) -> str:
    today = dt.datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).date()
    return f"{name}-{today.isoformat()}.{fmt}"


def _attachment(body: bytes | str, name: str, fmt: str) -> Response:
    response = Response(body, mimetype=_MIMETYPES[fmt])
    response.headers["Content-Disposition"] = f"attachment; filename={filename(name, fmt)}"
    return response


def _csv(headings: Sequence[str], cells: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(headings)
    writer.writerows(cells)
    return out.getvalue()


def _xlsx(title: str, headings: Sequence[str], cells: Iterable[Sequence[Any]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append(list(headings))
    for row in cells:
        sheet.append(list(row))
    data = io.BytesIO()
    book.save(data)
    return data.getvalue()


def download(name: str, title: str, headings: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str) -> Response:
    """The table as `name`-DATE.csv or .xlsx (sheet `title`), rows read one at a time."""
    if fmt not in FORMATS:
        raise BadRequest(N_("format must be csv or xlsx"), code="unknown_format")
    cells = ([safe_cell(v) for v in row] for row in rows)
    if fmt == "csv":
        return _attachment(_csv(headings, cells), name, fmt)
    return _attachment(_xlsx(title, headings, cells), name, fmt)


# --- layers -----------------------------------------------------------------------------------


def check_format(fmt: str) -> None:
    if fmt not in LAYER_FORMATS:
        raise BadRequest(N_("format must be one of %(formats)s"), code="unknown_format",
                         formats=", ".join(LAYER_FORMATS))


def download_table(table: Table, fmt: str) -> Response:
    """A layer or list in one of LAYER_FORMATS (a list without geometry: CSV or XLSX)."""
    check_format(fmt)
    if fmt in FORMATS:
        # In a spreadsheet a yes/no reads as the list page shows it.
        table = _readable_flags(table)
    if table.geometry_type is None:
        if fmt not in FORMATS:
            raise BadRequest(N_("this list has no geometry: download it as csv or xlsx"), code="no_geometry")
        return download(table.name, gettext(table.title), _headings(table), table.rows, fmt)
    shapes = shapely.from_wkb(np.array(table.geometries, dtype=object))
    if fmt == "geojson":
        return _attachment(_geojson(table, shapes), table.name, fmt)
    if fmt == "gpkg":
        return _attachment(_gpkg(table), table.name, fmt)
    wkt = shapely.to_wkt(shapes, rounding_precision=-1, trim=True)
    if fmt == "csv":
        cells = ([*(safe_cell(v) for v in row), w] for row, w in zip(table.rows, wkt, strict=True))
        return _attachment(_csv([*_headings(table), "WKT"], cells), table.name, fmt)
    return _attachment(_xlsx(gettext(table.title), [*_headings(table), "WKT", gettext("Longitude"),
                                                    gettext("Latitude"), gettext("Note")],
                             _xlsx_rows(table, shapes, wkt)), table.name, fmt)


def _readable_flags(table: Table) -> Table:
    flags = [i for i, c in enumerate(table.columns) if c.kind == "bool"]
    if not flags:
        return table
    yes = gettext("yes")
    rows = [tuple((yes if v else "") if i in flags else v for i, v in enumerate(row)) for row in table.rows]
    return replace(table, rows=rows)


def _headings(table: Table) -> list[str]:
    return [gettext(c.heading) if c.heading != "#" else "#" for c in table.columns]


def _xlsx_rows(table: Table, shapes: Any, wkt: Any) -> Iterable[list[Any]]:
    centroids = shapely.centroid(shapes)
    lons, lats = shapely.get_x(centroids), shapely.get_y(centroids)
    too_long = gettext("The shape is too long for a spreadsheet cell: its centroid is given; "
                       "the GeoPackage or GeoJSON download has the shape.")
    for row, w, lon, lat in zip(table.rows, wkt, lons, lats, strict=True):
        cells = [safe_cell(v) for v in row]
        lonlat = [round(float(lon), 7), round(float(lat), 7)] if np.isfinite(lon) else ["", ""]
        if w is None:
            yield [*cells, "", "", "", ""]
        elif len(w) > XLSX_CELL_LIMIT:
            yield [*cells, "", *lonlat, too_long]
        else:
            yield [*cells, w, *lonlat, ""]


def _geojson(table: Table, shapes: Any) -> str:
    keys = [c.key for c in table.columns]
    geometries = shapely.to_geojson(shapes)
    features = []
    for row, geometry in zip(table.rows, geometries, strict=True):
        properties = json.dumps(dict(zip(keys, row, strict=True)), ensure_ascii=False, default=str)
        features.append('{"type":"Feature","id":%s,"geometry":%s,"properties":%s}'
                        % (json.dumps(row[0]), geometry if geometry is not None else "null", properties))
    return '{"type":"FeatureCollection","name":%s,"features":[%s]}' % (json.dumps(table.name), ",".join(features))


def _field(values: list[Any], kind: str) -> tuple[np.ndarray, np.ndarray | None]:
    """One column as GDAL takes it: a typed array and, where values are missing, a mask."""
    missing = np.array([v is None for v in values], dtype=bool)
    mask = missing if missing.any() else None
    if kind == "int":
        return np.array([0 if v is None else v for v in values], dtype=np.int64), mask
    if kind == "float":
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64), None
    if kind == "bool":
        return np.array([bool(v) for v in values], dtype=bool), mask
    return np.array(["" if v is None else str(v) for v in values], dtype=object), mask


def _gpkg(table: Table) -> bytes:
    """A GeoPackage written by GDAL (through pyogrio) to a temporary file, then read back."""
    import pyogrio.raw

    data, masks = [], []
    for i, column in enumerate(table.columns):
        values, mask = _field([row[i] for row in table.rows], column.kind)
        data.append(values)
        masks.append(mask)
    with tempfile.TemporaryDirectory(prefix="gridwalk-export-") as folder:
        path = os.path.join(folder, f"{table.name}.gpkg")
        pyogrio.raw.write(
            path, np.array(table.geometries, dtype=object), data, [c.key for c in table.columns],
            field_mask=masks, layer=table.name, driver="GPKG",
            geometry_type=_OGR_GEOMETRY[table.geometry_type or ""], crs="EPSG:4326", encoding="UTF-8",
        )
        with open(path, "rb") as written:
            return written.read()
