"""Drawing grids in a real browser: an administrator taps the corners of a new grid on the
map, watches the household count, saves it, and splits it along a drawn line; the houses
inside answer with their new grid."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from geo import accounts, geometry, imports
from geo.db import make_engine
from geo.models import Area, Building, Household
from tests.conftest import PASSWORD, box, build_world, create_database, drop_database
from tests.webmap.test_browser import PHONE, browser  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser

VILLAGE = box(109.54, 29.94, 109.56, 29.96)
HOUSES = {"H-west": (109.545, 29.945), "H-east": (109.555, 29.955)}


@pytest.fixture(scope="module")
def village_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A world of its own, with a community still without grids and two houses of 200
    households each waiting in it; served on a real port."""
    from webmap import create_app

    name = f"gridwalk_draw_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    engine = make_engine(url)
    with Session(engine) as s:
        world = build_world(s)
        village = Area(code="V", name="新村", level="community", parent=world.township, geom=geometry.to_element(VILLAGE))
        s.add(village)
        s.flush()
        imports.import_buildings(s, [
            {"type": "Feature", "id": key, "properties": {"name": key},
             "geometry": box(lon, lat, lon + 0.0004, lat + 0.0004).__geo_interface__}
            for key, (lon, lat) in HOUSES.items()])
        for building in s.scalars(select(Building).where(Building.source_id.in_(HOUSES))):
            s.add_all(Household(building=building, unit_no=1, floor=n // 10 + 1, room=str(n)) for n in range(200))
        accounts.create_user(s, "draw-admin", PASSWORD, "admin")
        s.commit()
        village_id = village.id
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "browser-draw-test"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"base": f"http://127.0.0.1:{server.server_port}", "engine": engine, "village": village_id}
    server.shutdown()
    thread.join()
    app.extensions["gridwalk.sessions"].kw["bind"].dispose()
    engine.dispose()
    drop_database(name)


def tap(page: Any, lon: float, lat: float) -> None:
    x, y = page.evaluate(
        f"() => {{ const p = GridwalkDraw.map.latLngToContainerPoint([{lat}, {lon}]); return [p.x, p.y]; }}")
    page.locator("#gw-draw-map").click(position={"x": x, "y": y})


def grids(server: dict[str, Any]) -> dict[str, Any]:
    with Session(server["engine"]) as s:
        return {a.code: geometry.to_geometry(a.geom)
                for a in s.scalars(select(Area).where(Area.parent_id == server["village"]))}


def test_an_administrator_draws_a_grid_and_splits_it(browser, village_server, tmp_path: Path) -> None:  # noqa: F811
    base = village_server["base"]
    context = browser.new_context(**PHONE, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "draw-admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/admin/draw/{village_server['village']}")
    page.wait_for_function("() => window.GridwalkDraw && GridwalkDraw.map")

    # The whole village as one grid: four corners, then the first again to close it.
    page.get_by_role("button", name="绘制新的网格").click()
    corners = [(109.5405, 29.9405), (109.5595, 29.9405), (109.5595, 29.9595), (109.5405, 29.9595)]
    for lon, lat in corners:
        tap(page, lon, lat)
    count = page.locator(".gw-draw-count")
    page.wait_for_function("() => document.querySelector('.gw-draw-count').textContent.includes('400')")
    tap(page, *corners[0])
    page.locator(".gw-draw-save input[name=name]").fill("新村一网格")
    assert "400 户" in count.inner_text() and "gw-good" in count.get_attribute("class")
    page.screenshot(path=str(tmp_path / "drawing.png"))
    page.locator(".gw-draw-save button[type=submit]").click()
    page.wait_for_selector(".gw-draw-label")
    assert "新村一网格 · 400 户" in page.locator(".gw-draw-label").first.inner_text()
    assert list(grids(village_server)) == ["V-01"]
    looked_up = page.request.get(f"{base}/api/v1/lookup?lon=109.5452&lat=29.9452").json()
    assert looked_up["building"]["source_id"] == "H-west" and looked_up["areas"][0]["code"] == "V-01"

    # Chosen by a tap, then split west from east along a line drawn across it.
    tap(page, 109.55, 29.95)
    page.get_by_role("button", name="沿线拆分").click()
    tap(page, 109.55, 29.9401)
    tap(page, 109.55, 29.9599)
    tap(page, 109.55, 29.9599)
    page.wait_for_function("() => document.querySelectorAll('.gw-draw-label').length === 2")
    labels = sorted(page.locator(".gw-draw-label").all_inner_texts())
    assert labels == ["新村一网格 · 200 户", "新村一网格（二） · 200 户"]
    assert sorted(grids(village_server)) == ["V-01", "V-02"]
    assert page.locator(".gw-draw-save").is_hidden()  # nothing waits to be named
    page.screenshot(path=str(tmp_path / "split.png"))
    assert not errors, errors
    context.close()
