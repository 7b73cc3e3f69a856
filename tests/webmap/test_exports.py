"""Layers and lists downloaded as GeoJSON, GeoPackage, CSV and XLSX: each file opens with a
real reader, holds what the user sees on screen and no more, masks what the screen masks
and defuses spreadsheet formulas."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
import shapely
from openpyxl import load_workbook
from shapely.geometry import MultiPolygon, Point

from geo.geometry import to_element
from geo.models import Building, Household, Issue
from tests.conftest import log_in_as

BBOX = "109.40,29.90,109.60,30.10"


def logged_in(app, username: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    log_in_as(client, username)
    return client


@pytest.fixture
def issues(session, world):  # type: ignore[no-untyped-def]
    def issue(lon: float, lat: float, area, description: str) -> Issue:  # type: ignore[no-untyped-def]
        found = Issue(category="环境卫生", description=description, geom=to_element(Point(lon, lat)), area_id=area.id)
        session.add(found)
        return found

    made = [
        issue(109.4745, 29.9845, world.compound, '=HYPERLINK("http://evil")'),
        issue(109.485, 29.995, world.grid_east, "东边的问题"),
        issue(109.5005, 29.9905, world.other_grid, "东门的问题"),
    ]
    session.flush()
    return made


def read_csv(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def read_xlsx(response) -> list[list[object]]:  # type: ignore[no-untyped-def]
    sheet = load_workbook(io.BytesIO(response.data), read_only=True).active
    return [[c.value for c in row] for row in sheet.iter_rows()]


def read_gpkg(response, tmp_path: Path):  # type: ignore[no-untyped-def]
    import pyogrio
    import pyogrio.raw

    path = tmp_path / "layer.gpkg"
    path.write_bytes(response.data)
    info = pyogrio.read_info(path)
    meta, _fids, geometries, fields = pyogrio.raw.read(path)
    return info, meta, geometries, dict(zip(meta["fields"], fields, strict=True))


def on_screen(client, layer: str) -> int:  # type: ignore[no-untyped-def]
    """How many features the map (or the coverage API) gives this user for the layer."""
    if layer == "coverage":
        return len(client.get("/api/v1/coverage?level=grid").get_json()["places"])
    if layer == "areas":
        return len(client.get("/api/v1/areas?level=grid").get_json()["features"])
    suffix = f"?bbox={BBOX}" if layer == "buildings" else ""
    return len(client.get(f"/api/v1/{layer}{suffix}").get_json()["features"])


LAYER_URLS = {
    "areas": "/api/v1/export/areas.{fmt}?level=grid",
    "buildings": "/api/v1/export/buildings.{fmt}",
    "issues": "/api/v1/export/issues.{fmt}",
    "coverage": "/api/v1/export/coverage.{fmt}?level=grid",
}


@pytest.mark.parametrize("username", ["admin-user", "community-user"])
@pytest.mark.parametrize("layer", sorted(LAYER_URLS))
def test_every_layer_opens_in_every_format_with_the_rows_on_screen(app, role_users, issues, tmp_path, layer,
                                                                   username):
    client = logged_in(app, username)
    expected = on_screen(client, layer)
    assert expected > 0
    url = LAYER_URLS[layer]

    geojson = client.get(url.format(fmt="geojson"))
    assert geojson.status_code == 200 and geojson.mimetype == "application/geo+json"
    assert re.fullmatch(rf"attachment; filename={layer}(-grid)?-\d{{4}}-\d\d-\d\d\.geojson",
                        geojson.headers["Content-Disposition"])
    collection = json.loads(geojson.data)
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == expected
    assert all(shapely.geometry.shape(f["geometry"]).is_valid for f in collection["features"])

    info, meta, geometries, fields = read_gpkg(client.get(url.format(fmt="gpkg")), tmp_path)
    assert info["features"] == expected == len(geometries) and meta["crs"] == "EPSG:4326"
    assert sorted(int(i) for i in fields["id"]) == sorted(f["id"] for f in collection["features"])
    first = next(f for f in collection["features"] if f["id"] == int(fields["id"][0]))
    assert shapely.from_wkb(geometries[0]).equals(shapely.geometry.shape(first["geometry"]))

    rows = read_csv(client.get(url.format(fmt="csv")))
    assert rows[0][0] == "#" and rows[0][-1] == "WKT" and len(rows) == expected + 1
    assert all(shapely.from_wkt(r[-1]).is_valid for r in rows[1:])

    sheet = read_xlsx(client.get(url.format(fmt="xlsx")))
    assert sheet[0][-4:] == ["WKT", "经度", "纬度", "说明"] and len(sheet) == expected + 1


def test_an_export_holds_nothing_outside_the_users_area(app, role_users, world, issues, tmp_path, session):
    session.add(Household(building=world.other_building, floor=1, room="101"))
    session.flush()
    client = logged_in(app, "community-user")
    buildings = json.loads(client.get("/api/v1/export/buildings.geojson").data)
    assert [f["properties"]["source_id"] for f in buildings["features"]] == ["B-1"]  # not 东门's
    text = client.get("/api/v1/export/issues.csv").get_data(as_text=True)
    assert "东边的问题" in text and "东门的问题" not in text
    _info, _meta, _geometries, fields = read_gpkg(client.get("/api/v1/export/coverage.gpkg?level=grid"), tmp_path)
    assert list(fields["name"]) == ["文澜一网格"]  # 东门's grid has households too, not theirs
    every = json.loads(logged_in(app, "admin-user").get("/api/v1/export/coverage.geojson?level=grid").data)
    assert {f["properties"]["name"] for f in every["features"]} == {"文澜一网格", "东门一网格"}
    areas = json.loads(client.get("/api/v1/export/areas.geojson").data)
    assert "东门社区" not in {f["properties"]["name"] for f in areas["features"]}
    assert "测试县" in {f["properties"]["name"] for f in areas["features"]}  # the outline above, as on the map


def test_a_viewers_export_has_no_phone_numbers(app, role_users, world):
    phones = ["13800001234", "13900005678", "13700009999", "13600002222"]
    county = logged_in(app, "county-user").get("/api/v1/export/people.csv").get_data(as_text=True)
    assert all(p in county for p in phones)
    viewer = logged_in(app, "viewer-user")
    for fmt in ("csv", "xlsx"):
        response = viewer.get(f"/api/v1/export/people.{fmt}")
        assert response.status_code == 200
        text = (response.get_data(as_text=True) if fmt == "csv"
                else json.dumps(read_xlsx(response), ensure_ascii=False))
        assert "张三" in text and "138****1234" in text
        assert not any(p in text for p in phones)


def test_spreadsheet_formulas_are_neutralised(app, role_users, issues):
    client = logged_in(app, "admin-user")
    rows = read_csv(client.get("/api/v1/export/issues.csv"))
    description = rows[0].index("问题描述")
    assert "'=HYPERLINK(\"http://evil\")" in [r[description] for r in rows[1:]]
    sheet = read_xlsx(client.get("/api/v1/export/issues.xlsx"))
    assert all(not (isinstance(v, str) and v.startswith("=")) for row in sheet for v in row)
    # The issue list's own download is the same file.
    listed = read_csv(client.get("/issues.csv"))
    assert listed[0] == rows[0] and "'=HYPERLINK(\"http://evil\")" in [r[description] for r in listed[1:]]
    assert json.loads(client.get("/issues.geojson").data)["features"]


def test_a_shape_too_long_for_a_cell_gives_its_centroid_and_says_so(app, role_users, world, session):
    # A round tower traced with thousands of points: its WKT is longer than a cell holds.
    ring = Point(109.4735, 29.9835).buffer(0.0004, quad_segs=300)
    session.add(Building(source_id="ROUND", name="圆楼", area=world.compound, geom=to_element(MultiPolygon([ring]))))
    session.flush()
    client = logged_in(app, "admin-user")
    sheet = read_xlsx(client.get("/api/v1/export/buildings.xlsx"))
    heading, rows = sheet[0], {row[1]: row for row in sheet[1:]}
    wkt, lon, lat, note = (heading.index(h) for h in ("WKT", "经度", "纬度", "说明"))
    assert rows["ROUND"][wkt] in (None, "") and "质心" in rows["ROUND"][note]
    assert rows["ROUND"][lon] == pytest.approx(109.4735, abs=1e-6)
    assert rows["ROUND"][lat] == pytest.approx(29.9835, abs=1e-6)
    assert rows["B-1"][wkt].startswith("MULTIPOLYGON") and rows["B-1"][note] in (None, "")
    csv_rows = read_csv(client.get("/api/v1/export/buildings.csv"))
    assert any(len(r[-1]) > 32767 for r in csv_rows[1:])  # CSV has the whole shape


@pytest.mark.parametrize(("url", "status", "code"), [
    ("/api/v1/export/rivers.geojson", 404, "unknown_layer"),
    ("/api/v1/export/buildings.shp", 400, "unknown_format"),
    ("/api/v1/export/people.geojson", 400, "no_geometry"),
    ("/api/v1/export/areas.csv?level=street", 400, "bad_request"),
    ("/api/v1/export/buildings.csv?bbox=1,2,3", 400, "bad_request"),
])
def test_bad_exports_answer_in_the_one_error_shape(app, role_users, url, status, code):
    response = logged_in(app, "admin-user").get(url)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code and response.get_json()["error"]["message"]


def test_exports_need_a_login_or_a_token(client, world):
    response = client.get("/api/v1/export/buildings.geojson")
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


def test_a_bbox_narrows_an_export(app, role_users, world, tmp_path):
    client = logged_in(app, "admin-user")
    west = json.loads(client.get("/api/v1/export/buildings.geojson?bbox=109.47,29.98,109.48,29.99").data)
    assert [f["properties"]["source_id"] for f in west["features"]] == ["B-1"]
    # Nothing there: still a file that opens, with no rows.
    info, _meta, geometries, _fields = read_gpkg(client.get("/api/v1/export/buildings.gpkg?bbox=100,20,100.1,20.1"),
                                                tmp_path)
    assert info["features"] == 0 and len(geometries) == 0
    assert read_xlsx(client.get("/api/v1/export/buildings.xlsx?bbox=100,20,100.1,20.1"))[1:] == []


def test_the_pages_link_their_downloads(app, role_users, world):
    client = logged_in(app, "admin-user")
    page = client.get("/issues").get_data(as_text=True)
    assert "/issues.gpkg" in page and "/issues.geojson" in page
    map_page = client.get("/").get_data(as_text=True)
    assert "下载" in map_page and "#downloads" in map_page  # the map page stays small: one link
    dashboard = client.get(f"/dashboard?area_id={world.community.id}").get_data(as_text=True)
    assert "/api/v1/export/areas.gpkg?level=grid" in dashboard and "/api/v1/export/buildings.xlsx" in dashboard
    link = re.search(r'href="(/api/v1/export/coverage\.csv\?[^"]+)"', dashboard)
    assert link and f"area_id={world.community.id}" in link.group(1)
    rows = read_csv(client.get(link.group(1).replace("&amp;", "&")))
    assert [r[1] for r in rows[1:]] == ["文澜一网格"]  # the community's grids that have households
