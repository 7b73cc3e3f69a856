"""Configured basemaps: what the map page offers, in which datum, what its CSP lets it load,
and settings that cannot work refused before the app serves anything."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from webmap import create_app
from webmap.basemaps import ConfigError

KEY = "0123456789abcdef0123456789abcdef"


def tile_layers(page: str) -> list[dict]:  # type: ignore[type-arg]
    """The basemaps' options as the page hands them to Leaflet."""
    found = re.findall(r"L\.tileLayer\(\s*\"([^\"]+)\",\s*(\{.*?\})\s*\)", page, flags=re.S)
    return [dict(json.loads(re.sub(r",\s*}", "}", options)), url=url) for url, options in found]


def test_the_layer_control_offers_the_configured_basemaps_each_in_its_datum(logged_in, world, app):
    app.config.update(BASEMAPS="amap,tianditu,tencent,osm", TIANDITU_KEY=KEY)
    response = logged_in.get("/")
    page = response.get_data(as_text=True)
    layers = tile_layers(page)
    assert [(layer["basemap"], layer["datum"]) for layer in layers] == [
        ("amap", "gcj02"), ("tianditu", "wgs84"), ("tencent", "gcj02"), ("osm", "wgs84")]
    amap, tianditu, tencent, _ = layers
    assert "autonavi.com" in amap["url"] and amap["gwName"] == "高德地图"
    # Tianditu's key goes into its tiles and its place names, drawn over it.
    assert f"tk={KEY}" in tianditu["url"] and "LAYER=cva" in tianditu["labels"] and f"tk={KEY}" in tianditu["labels"]
    assert "{-y}" in tencent["url"]  # Tencent counts its rows from the south
    assert "无底图" in page or json.dumps("无底图") in page  # and one may turn the basemap off
    csp = response.headers["Content-Security-Policy"]
    for host in ("https://*.is.autonavi.com", "https://*.tianditu.gov.cn", "https://*.map.gtimg.com",
                 "https://tile.openstreetmap.org"):
        assert host in csp, host


def test_a_county_tile_server_in_gcj02_is_offered_in_gcj02(logged_in, world, app):
    app.config.update(TILE_URL="https://tiles.example.cn/{z}/{x}/{y}.png", TILE_DATUM="gcj02")
    [layer] = tile_layers(logged_in.get("/").get_data(as_text=True))
    assert layer["url"] == "https://tiles.example.cn/{z}/{x}/{y}.png" and layer["datum"] == "gcj02"


@pytest.mark.parametrize(("settings", "said"), [
    ({"BASEMAPS": "amap,google"}, "no basemap called google"),
    ({"BASEMAPS": "tianditu"}, "TIANDITU_KEY must be the 32 hexadecimal digits"),
    ({"BASEMAPS": "tianditu-imagery", "TIANDITU_KEY": "not-a-key"}, "TIANDITU_KEY must be"),
    ({"BASEMAPS": "custom"}, "TILE_URL must be an http(s) URL"),
    ({"TILE_URL": "ftp://tiles.example.cn/{z}/{x}/{y}.png"}, "TILE_URL must be an http(s) URL"),
    ({"TILE_URL": "https://tiles.example.cn/{z}/{x}/{y}.png", "TILE_DATUM": "bd09"}, "TILE_DATUM is one of"),
])
def test_basemap_settings_that_cannot_work_stop_the_app_and_say_which(database_url, settings, said):
    with pytest.raises(ConfigError, match=re.escape(said)):
        create_app({"DATABASE_URL": database_url, "SECRET_KEY": "x", **settings})


def test_gridwalk_serve_refuses_a_wrong_tianditu_key_in_one_line(database_url, monkeypatch):
    from webmap.cli import main

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("BASEMAPS", "tianditu")
    monkeypatch.setenv("TIANDITU_KEY", "12345")
    result = CliRunner().invoke(main, ["serve", "--port", "1"])
    assert result.exit_code != 0
    assert "TIANDITU_KEY must be the 32 hexadecimal digits" in result.output
    assert "Traceback" not in result.output
