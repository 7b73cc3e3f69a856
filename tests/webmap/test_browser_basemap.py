"""Basemaps in their datum, in Chromium on a phone: a local tile server draws one demo
building's footprint in red where a GCJ-02 basemap (AMap, Tencent) has it, half a kilometre
from its WGS 84 position. On that basemap the map must draw the building on the red, a tap
on the red must find it, and a report placed there must be stored at its true position."""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
import shapely
from PIL import Image
from shapely import wkt
from sqlalchemy import create_engine, text

from geo.geometry import web_mercator_to_wgs84_xy, wgs84_to_gcj02, wgs84_to_gcj02_xy
from tests.webmap.test_browser import (  # noqa: F401 (fixtures)
    PHONE,
    browser,
    grid_building,
    issues_described,
    log_in,
    phone_at,
    screenshots,
    serving,
    tap_at,
)

pytestmark = pytest.mark.browser

WORLD = 20037508.342789244
RED = (230, 0, 0)


def footprint_tile(footprint: Any, z: int, x: int, y: int) -> bytes:
    """A 256-pixel PNG of tile z/x/y of a GCJ-02 basemap: white, the footprint red."""
    size = 2 * WORLD / 2 ** z
    centres = (np.arange(256) + 0.5) / 256 * size
    u, v = np.meshgrid(-WORLD + x * size + centres, WORLD - y * size - centres)
    lonlat = web_mercator_to_wgs84_xy(np.column_stack([u.ravel(), v.ravel()]))  # GCJ-02 positions
    inside = shapely.contains_xy(footprint, lonlat[:, 0], lonlat[:, 1]).reshape(256, 256)
    pixels = np.full((256, 256, 3), 255, dtype=np.uint8)
    pixels[inside] = RED
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def building_shape(demo_url: str, grid_building: dict[str, Any]) -> Any:
    engine = create_engine(demo_url)
    with engine.connect() as conn:
        shape = wkt.loads(conn.execute(text("SELECT ST_AsText(geom) FROM buildings WHERE id = :i"),
                                       {"i": grid_building["id"]}).scalar_one())
    engine.dispose()
    return shape


@pytest.fixture(scope="module")
def gcj_tiles(building_shape: Any) -> Iterator[str]:
    """The offset basemap: /{z}/{x}/{y}.png with the building where GCJ-02 puts it."""
    shifted = wgs84_to_gcj02(building_shape)
    shapely.prepare(shifted)

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            try:
                z, x, y = (int(part) for part in self.path.removesuffix(".png").strip("/").split("/"))
            except ValueError:
                self.send_error(404)
                return
            body = footprint_tile(shifted, z, x, y)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def basemap_server(demo_url: str, gcj_tiles: str) -> Iterator[str]:
    """Gridwalk offering the offset basemap first (datum GCJ-02) and OSM, which this machine
    cannot reach."""
    from webmap import create_app

    yield from serving(create_app({"DATABASE_URL": demo_url, "SECRET_KEY": "basemap-test", "BASEMAPS": "custom,osm",
                                   "TILE_URL": gcj_tiles + "/{z}/{x}/{y}.png", "TILE_DATUM": "gcj02",
                                   "TILE_ATTRIBUTION": "测试底图"}))


def pixels(page: Any) -> np.ndarray:
    """The map as the officer sees it, one entry per CSS pixel."""
    shot = page.locator(".folium-map").screenshot(scale="css", animations="disabled")
    return np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)


def red(image: np.ndarray) -> np.ndarray:
    return (image[..., 0] > 200) & (image[..., 1] < 80) & (image[..., 2] < 80)


def screen_point(page: Any, lon: float, lat: float) -> tuple[float, float]:
    p = page.evaluate(f"(() => {{ const p = Gridwalk.map.latLngToContainerPoint([{lat}, {lon}]);"
                      " return [p.x, p.y]; })()")
    return p[0], p[1]


def test_the_map_agrees_with_the_server_on_gcj02_to_the_millimetre(browser, basemap_server):
    context = browser.new_context(**PHONE, locale="zh-CN")
    page = context.new_page()
    log_in(page, basemap_server, "grid")
    rng = np.random.default_rng(7)
    points = np.column_stack([rng.uniform(73.5, 135, 200), rng.uniform(18, 53.5, 200)])
    got = np.array(page.evaluate(
        "pts => pts.map(p => { const g = Gridwalk.datum.toGcj(L.latLng(p[1], p[0]));"
        " const w = Gridwalk.datum.toWgs(g); return [g.lng, g.lat, w.lng, w.lat]; })", points.tolist()))
    assert np.abs(got[:, :2] - wgs84_to_gcj02_xy(points)).max() < 1e-8  # about a millimetre
    assert np.abs(got[:, 2:] - points).max() < 1e-8
    context.close()


def test_on_a_gcj02_basemap_the_building_sits_on_its_footprint_and_a_tap_finds_it(
        browser, basemap_server, demo_url, grid_building, screenshots):
    b = grid_building
    context, page = phone_at(browser, basemap_server, b)  # GPS at the building's true position
    assert page.evaluate("Gridwalk.map.options.crs.code") == "GCJ02"
    # The basemap alone: the red footprint is where the map puts the building's true position.
    page.evaluate("for (const k of ['communities', 'grids', 'compounds', 'buildings', 'issues'])"
                  " Gridwalk.map.removeLayer(Gridwalk.layers[k])")
    basemap = pixels(page)
    footprint = red(basemap)
    assert footprint.sum() > 200, "the offset basemap's footprint is not on screen"
    x, y = screen_point(page, b["lon"], b["lat"])
    assert footprint[round(y), round(x)], (x, y)
    # The buildings alone, the basemap made transparent (the frame stays GCJ-02): the drawn
    # building covers the footprint.
    page.evaluate("Gridwalk.map.addLayer(Gridwalk.layers.buildings); Gridwalk.basemaps.offered.custom.setOpacity(0);"
                  " Gridwalk.map.getContainer().style.background = '#fff'")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)
    drawn = pixels(page).sum(axis=2) < 740  # the buildings' grey over white
    assert drawn[footprint].mean() > 0.9
    rows, cols = np.nonzero(footprint)
    near = drawn[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    assert footprint[rows.min():rows.max() + 1, cols.min():cols.max() + 1][near].mean() > 0.8
    # Issue markers stay off: other tests file issues on this very building, and a tap on a
    # marker opens the issue rather than the building.
    page.evaluate("Gridwalk.basemaps.offered.custom.setOpacity(1);"
                  " for (const k of ['communities', 'grids', 'compounds']) Gridwalk.map.addLayer(Gridwalk.layers[k])")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(screenshots / "phone-gcj02-basemap.png"))

    # A tap in the middle of the red footprint asks for the building itself.
    middle = {"x": float(cols.mean()), "y": float(rows.mean())}
    tapped = page.evaluate(f"(() => {{ const l = Gridwalk.map.containerPointToLatLng([{middle['x']}, {middle['y']}]);"
                           " return [l.lng, l.lat]; })()")
    page.locator(".folium-map").tap(position=middle)
    page.locator(f"#gw-panel [data-building-id='{b['id']}']").wait_for()

    # A report placed there by a tap is stored at the building's true (WGS 84) position,
    # and routed to its unit.
    description = f"底图纠偏测试 {uuid.uuid4().hex[:6]}"
    page.locator("#gw-panel .gw-close").tap()
    page.locator("#gw-report").tap()
    form = page.locator("#gw-report-form")
    form.wait_for()
    page.wait_for_timeout(300)  # the map pans the GPS pin clear of the form
    tap_at(page, tapped[0], tapped[1], touch=True, settle=False)  # the footprint, wherever it now is
    form.locator("select[name=category]").select_option("安全隐患")
    form.locator("textarea[name=description]").fill(description)
    form.locator("button[type=submit]").tap()
    page.locator("#gw-panel .gw-issue-card").wait_for()
    [issue] = issues_described(demo_url, description)
    assert issue["building_id"] == b["id"] and issue["unit"] == b["unit"]
    context.close()


def test_a_basemap_that_cannot_load_says_so_and_the_map_goes_back_to_wgs84(
        browser, basemap_server, grid_building, screenshots):
    b = grid_building
    context = browser.new_context(**PHONE, locale="zh-CN")
    page = context.new_page()
    log_in(page, basemap_server, "grid")
    page.evaluate(f"void Gridwalk.map.setView([{b['lat']}, {b['lon']}], 18, {{animate: false}})")
    page.wait_for_load_state("networkidle")
    project = f"(() => {{ const p = Gridwalk.map.project([{b['lat']}, {b['lon']}], 18); return [p.x, p.y]; }})()"
    on_gcj = page.evaluate(project)
    page.locator(".leaflet-control-layers-toggle").tap()
    page.get_by_label("OpenStreetMap").check()
    hint = page.locator("#gw-hint")
    hint.wait_for()
    assert "底图“OpenStreetMap”无法加载" in hint.inner_text()
    assert page.evaluate("Gridwalk.map.options.crs.code") == "EPSG:3857"
    # The same position now lies half a kilometre away in the map's frame (a thousand
    # pixels at zoom 18), and the view stayed on it.
    on_wgs = page.evaluate(project)
    assert 800 < np.hypot(on_wgs[0] - on_gcj[0], on_wgs[1] - on_gcj[1]) < 1300
    page.screenshot(path=str(screenshots / "phone-basemap-failed.png"))
    page.evaluate("Gridwalk.map.removeLayer(Gridwalk.layers.issues)")  # a marker on the building would take the tap
    tap_at(page, b["lon"], b["lat"], zoom=18, touch=True)
    page.locator(f"#gw-panel [data-building-id='{b['id']}']").wait_for()
    # The choice is kept on the phone.
    page.reload()
    page.wait_for_function("() => window.Gridwalk && Gridwalk.map")
    assert page.evaluate("Gridwalk.map.options.crs.code") == "EPSG:3857"
    assert page.get_by_label("OpenStreetMap").is_checked()
    context.close()
