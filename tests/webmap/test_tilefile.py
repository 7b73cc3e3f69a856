"""A county's own basemap file (BASEMAPS=county, TILE_FILE): MBTiles and PMTiles served at
/tiles/basemap/{z}/{x}/{y} to logged-in users, and files that cannot work refused at start."""

from __future__ import annotations

import io
import json
import re
import sqlite3
from collections.abc import Mapping
from pathlib import Path

import pytest
from PIL import Image
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import write

from tests.conftest import client_as
from webmap import create_app
from webmap.basemaps import ConfigError


def png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), colour).save(out, "PNG")
    return out.getvalue()


def make_mbtiles(path: Path, tiles: Mapping[tuple[int, int, int], bytes], fmt: str = "png") -> Path:
    """An MBTiles file as GDAL or QGIS writes one: rows counted from the south (TMS)."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        db.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
        db.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "县级底图"), ("format", fmt)])
        db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                       [(z, x, 2 ** z - 1 - y, body) for (z, x, y), body in tiles.items()])
    return path


def make_pmtiles(path: Path, tiles: Mapping[tuple[int, int, int], bytes], tile_type: TileType = TileType.PNG) -> Path:
    with write(str(path)) as writer:
        for (z, x, y), body in sorted(tiles.items(), key=lambda item: zxy_to_tileid(*item[0])):
            writer.write_tile(zxy_to_tileid(z, x, y), body)
        writer.finalize({"tile_type": tile_type, "tile_compression": Compression.NONE, "min_lon_e7": -1800000000,
                         "min_lat_e7": -850000000, "max_lon_e7": 1800000000, "max_lat_e7": 850000000,
                         "center_zoom": 0, "center_lon_e7": 0, "center_lat_e7": 0}, {"name": "县级底图"})
    return path


TILES = {(16, 53703, 27120): png((200, 30, 30)), (17, 107406, 54240): png((30, 200, 30))}


@pytest.fixture(params=["mbtiles", "pmtiles"])
def county_file(request, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    maker = make_mbtiles if request.param == "mbtiles" else make_pmtiles
    return maker(tmp_path / f"county.{request.param}", TILES)


def county_app(database_url: str, tile_file: Path | str, **config):  # type: ignore[no-untyped-def]
    return create_app({"DATABASE_URL": database_url, "SECRET_KEY": "test-secret", "BASEMAPS": "county",
                       "TILE_FILE": str(tile_file), **config})


def test_the_county_file_is_served_tile_by_tile_to_officers(app, county_file, world, role_users):
    app.config.update(BASEMAPS="county", TILE_FILE=str(county_file))
    officer = client_as(app, "grid")
    for (z, x, y), body in TILES.items():
        response = officer.get(f"/tiles/basemap/{z}/{x}/{y}")
        assert response.status_code == 200 and response.mimetype == "image/png"
        assert response.data == body
    # Beyond the file's edge: a transparent tile, not an error (the map would say the basemap fails).
    beyond = officer.get("/tiles/basemap/16/53704/27120")
    assert beyond.status_code == 200 and Image.open(io.BytesIO(beyond.data)).getextrema()[3] == (0, 0)
    for nonsense in ("30/0/0", "3/8/0", "3/0/8"):
        response = officer.get(f"/tiles/basemap/{nonsense}")
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "no_such_tile"
    # Not for anyone off the street.
    assert app.test_client().get("/tiles/basemap/16/53703/27120").status_code == 401
    # The map offers it, drawn from this site, in the configured datum.
    page = officer.get("/").get_data(as_text=True)
    assert "/tiles/basemap/{z}/{x}/{y}" in page
    names = [json.loads(f'"{n}"') for n in re.findall(r'"gwName": "([^"]*)"', page)]
    assert names == ["县级底图"]


def test_a_gcj02_county_file_puts_the_map_in_gcj02(app, county_file, world, role_users):
    app.config.update(BASEMAPS="county", TILE_FILE=str(county_file), TILE_DATUM="gcj02")
    page = client_as(app, "grid").get("/").get_data(as_text=True)
    assert '"datum": "gcj02"' in page


def test_a_file_gone_while_running_answers_503_and_the_map_still_opens(app, tmp_path, world, role_users):
    path = make_mbtiles(tmp_path / "county.mbtiles", TILES)
    app.config.update(BASEMAPS="county", TILE_FILE=str(path))
    officer = client_as(app, "grid")
    assert officer.get("/tiles/basemap/16/53703/27120").data == TILES[(16, 53703, 27120)]
    path.unlink()  # a county replacing its file by hand
    gone = officer.get("/tiles/basemap/16/53703/27120")
    assert gone.status_code == 503 and gone.get_json()["error"]["code"] == "basemap_file_unavailable"
    assert officer.get("/").status_code == 200 and officer.get("/issues").status_code == 200
    # The new file is read as soon as it is there.
    make_mbtiles(path, {(16, 53703, 27120): png((1, 2, 3))})
    assert officer.get("/tiles/basemap/16/53703/27120").data == png((1, 2, 3))


def test_without_a_county_file_there_is_no_basemap_route(app, world, role_users):
    response = client_as(app, "grid").get("/tiles/basemap/16/53703/27120")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "no_basemap_file"


@pytest.mark.parametrize("problem, message", [
    ("missing", "cannot be read"),
    ("text", "neither an MBTiles nor a PMTiles"),
    ("vector_pmtiles", "vector or unknown tiles"),
    ("vector_mbtiles", "holds pbf tiles"),
    ("empty_mbtiles", "holds no tiles"),
    ("not_mbtiles", "not a readable MBTiles"),
])
def test_a_file_that_cannot_work_stops_the_app_and_says_why(database_url, tmp_path, problem, message):
    path = tmp_path / "county.file"
    if problem == "text":
        path.write_text("这不是瓦片文件")
    elif problem == "vector_pmtiles":
        make_pmtiles(path, TILES, TileType.MVT)
    elif problem == "vector_mbtiles":
        make_mbtiles(path, TILES, fmt="pbf")
    elif problem == "empty_mbtiles":
        make_mbtiles(path, {})
    elif problem == "not_mbtiles":
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE other (x)")
    with pytest.raises(ConfigError, match=message):
        county_app(database_url, path)
    with pytest.raises(ConfigError, match="TILE_FILE must name"):
        county_app(database_url, "")
