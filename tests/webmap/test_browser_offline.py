"""The offline map on a phone: a party member keeps their grid, is told what it weighs, then
with the network cut opens the map, sees the grid's outlines, taps a building and is
answered from the copy, and records a visit to a household listed from it. Back online the
copy is made again; a community too big for a phone is refused with the reason; logging out
removes the copy."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.webmap.test_browser import (  # noqa: F401 (fixtures)
    PHONE,
    browser,
    log_in,
    members_building,
    screenshots,
    serving,
    tap_at,
)
from tests.webmap.test_tilefile import make_mbtiles, png

BASEMAP_TILE = png((246, 236, 200))

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def grid_of_member(demo_url: str) -> dict[str, Any]:
    engine = create_engine(demo_url)
    with engine.connect() as conn:
        row = conn.execute(text("""
            SELECT g.id, g.name, g.parent_id AS community_id,
                   (SELECT count(*) FROM buildings b JOIN areas c ON c.id = b.area_id
                     WHERE b.area_id = g.id OR c.parent_id = g.id) AS buildings,
                   ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat,
                   ARRAY[ST_XMin(g.geom), ST_YMin(g.geom), ST_XMax(g.geom), ST_YMax(g.geom)] AS bounds
            FROM users u JOIN areas g ON g.id = u.area_id WHERE u.username = 'party'
        """)).mappings().one()
    engine.dispose()
    return dict(row)


def tiles_over(bounds: list[float], zooms: range) -> list[tuple[int, int, int]]:
    """The web-mercator tiles (z, x, y) over a lon/lat box."""
    def tile(lon: float, lat: float, z: int) -> tuple[int, int]:
        n = 2 ** z
        y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
        return int((lon + 180) / 360 * n), int(y)
    out = []
    for z in zooms:
        (x0, y0), (x1, y1) = tile(bounds[0], bounds[3], z), tile(bounds[2], bounds[1], z)
        out += [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    return out


@pytest.fixture(scope="module")
def offline_server(demo_url: str, grid_of_member: dict[str, Any], tmp_path_factory: Any) -> Iterator[str]:
    """The demo county served with the county's own basemap file over the member's grid,
    and a phone's limit that holds the grid, not its community."""
    from webmap import create_app

    basemap = make_mbtiles(tmp_path_factory.mktemp("basemap") / "county.mbtiles",
                           {t: BASEMAP_TILE for t in tiles_over(grid_of_member["bounds"], range(12, 19))})
    yield from serving(create_app({"DATABASE_URL": demo_url, "SECRET_KEY": "offline-test", "BASEMAPS": "county",
                                   "TILE_FILE": str(basemap), "OFFLINE_MAX_BUILDINGS": grid_of_member["buildings"]}))


def backdate(page: Any, field: str, seconds: float) -> None:
    """Set the kept copy's `field` (made_at, expires_at) to `seconds` ago, as time would."""
    page.evaluate("""([field, seconds]) => new Promise((resolve, reject) => {
        const open = indexedDB.open(Gridwalk.offline.DB_NAME);
        open.onsuccess = () => {
            const tx = open.result.transaction('copy', 'readwrite');
            const store = tx.objectStore('copy');
            store.get('mine').onsuccess = e => {
                const record = e.target.result;
                record.copy[field] = new Date(Date.now() - seconds * 1000).toISOString();
                store.put(record, 'mine');
            };
            tx.oncomplete = () => { open.result.close(); resolve(); };
            tx.onerror = reject;
        };
    })""", [field, seconds])


def area_panel(page: Any, level: str) -> Any:
    return page.locator(f"#gw-panel .gw-area.gw-level-{level}")


def test_a_grid_kept_on_the_phone_answers_with_the_network_cut(browser, offline_server, demo_url, grid_of_member,
                                                              members_building, screenshots):
    b = members_building
    # The community's secretary: the community is too big for a phone, and told so.
    context = browser.new_context(**PHONE, locale="zh-CN")
    page = context.new_page()
    log_in(page, offline_server, "community")
    tap_at(page, b["lon"], b["lat"], zoom=20, touch=True)
    community = area_panel(page, "community")
    community.locator(".gw-offline-keep").tap()
    refusal = community.locator(".gw-offline .gw-error")
    refusal.wait_for()
    assert "超过一部手机可离线保存" in refusal.inner_text() and "网格" in refusal.inner_text()
    page.screenshot(path=str(screenshots / "phone-offline-refused.png"))
    context.close()

    context = browser.new_context(**PHONE, locale="zh-CN")
    page = context.new_page()
    log_in(page, offline_server, "party")
    page.wait_for_function("() => !!navigator.serviceWorker.controller")
    tap_at(page, b["lon"], b["lat"], zoom=20, touch=True)
    # Only the member's own grid (and what is inside it) is offered, not the community above.
    grid = area_panel(page, "grid")
    grid.locator(".gw-offline-keep").wait_for()
    assert area_panel(page, "community").locator(".gw-offline-keep").count() == 0

    # The grid fits: its size is shown first, then it is kept.
    grid.locator(".gw-offline-keep").tap()
    plan = grid.locator(".gw-offline-plan")
    plan.wait_for()
    assert f"“{grid_of_member['name']}”的离线副本：{grid_of_member['buildings']} 栋楼" in plan.inner_text()
    assert "MB" in plan.inner_text()
    tiles = int(re.search(r"(\d+) 张底图瓦片", plan.inner_text()).group(1))  # type: ignore[union-attr]
    assert tiles >= len(tiles_over(grid_of_member["bounds"], range(13, 19)))
    page.screenshot(path=str(screenshots / "phone-offline-offer.png"))
    grid.locator(".gw-offline .gw-primary").tap()
    grid.locator(".gw-offline-date").wait_for(timeout=30000)
    assert "已离线保存" in grid.locator(".gw-offline-date").inner_text()
    assert page.evaluate("caches.open(Gridwalk.offline.TILES).then(c => c.keys()).then(k => k.length)") == tiles

    # The stairwell: no network, the map opened again from the phone.
    context.set_offline(True)
    page.reload()
    page.wait_for_function("() => window.Gridwalk && Gridwalk.map && Gridwalk.offline && Gridwalk.ctx")
    page.wait_for_function("() => document.getElementById('gw-hint').textContent.includes('离线副本')")
    # The basemap at a zoom never opened online comes from the kept tiles.
    page.evaluate(f"void Gridwalk.map.setView([{grid_of_member['lat']}, {grid_of_member['lon']}], 16, {{animate: false}})")
    page.wait_for_function("""() => {
        const tiles = [...document.querySelectorAll('.leaflet-tile-pane img.leaflet-tile')];
        return tiles.length > 0 && tiles.filter(t => t.src.includes('/tiles/basemap/16/'))
            .some(t => t.classList.contains('leaflet-tile-loaded') && t.naturalWidth === 256);
    }""")
    page.evaluate(f"void Gridwalk.map.setView([{b['lat']}, {b['lon']}], 20, {{animate: false}})")
    tap_at(page, b["lon"], b["lat"], zoom=20, touch=True, settle=False)
    card = page.locator(f"#gw-panel [data-building-id='{b['id']}']")
    card.wait_for()
    # Tiles beyond what was kept do not come; that is not called a failing basemap.
    assert "无法加载" not in page.locator("#gw-hint").inner_text()
    assert "来自" in page.locator("#gw-panel .gw-offline-note").inner_text()
    # The outlines drawn from the copy, the building among them.
    drawn = page.evaluate("""() => { const ids = new Set();
        Gridwalk.map.eachLayer(l => { if (l.feature && l.feature.properties.building) ids.add(l.feature.properties.building); });
        return ids.size; }""")
    assert drawn == grid_of_member["buildings"]
    page.evaluate(f"void Gridwalk.map.setView([{b['lat']}, {b['lon']}], 18, {{animate: false}})")
    page.evaluate(f"void Gridwalk.ctx.keepInSight(L.latLng({b['lat']}, {b['lon']}))")
    page.screenshot(path=str(screenshots / "phone-offline-building.png"))
    page.evaluate(f"void Gridwalk.map.setView([{b['lat']}, {b['lon']}], 20, {{animate: false}})")

    # A visit: the households come from the copy, the visit waits in the queue as before.
    note = f"离线副本走访 {uuid.uuid4().hex[:6]}"
    page.locator(".gw-visit-button").tap()
    chip = page.locator(".gw-chip.gw-chip-mine").first
    chip.wait_for()
    chip.tap()
    page.locator(".gw-visit-form textarea[name=note]").fill(note)
    page.locator(".gw-visit-form .gw-primary").tap()
    page.locator("#gw-panel .gw-ok").wait_for()
    assert page.locator("#gw-queue").inner_text() == "1 条待发送"

    # An issue's timeline, kept to read: no step is offered without the network.
    kept_issue = page.evaluate("Gridwalk.layers.issues.getLayers()[0].issueId")
    page.evaluate(f"Gridwalk.showIssue({kept_issue})")
    page.locator(f"#gw-panel .gw-issue-card[data-issue-id='{kept_issue}']").wait_for()
    assert page.locator("#gw-panel .gw-timeline li").count() >= 1
    assert page.locator("#gw-panel .gw-actions button").count() == 0

    # Meanwhile an issue is reported in the grid; the copy is an hour old when the signal returns.
    engine = create_engine(demo_url)
    description = f"副本刷新测试 {uuid.uuid4().hex[:6]}"
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO issues (category, description, status, geom, area_id, building_id, unit_id, source)
            SELECT '环境卫生', :d, 'reported', ST_PointOnSurface(b.geom), b.area_id, b.id, NULL, 'officer'
            FROM buildings b WHERE b.id = :b"""), {"d": description, "b": b["id"]})
    backdate(page, "made_at", 3600)
    page.reload()  # still offline: the backdated copy is read
    page.wait_for_function("() => window.Gridwalk && Gridwalk.ctx")
    context.set_offline(False)
    page.locator("#gw-queue").wait_for(state="hidden", timeout=20000)
    page.wait_for_function("""d => new Promise(resolve => {
        const open = indexedDB.open(Gridwalk.offline.DB_NAME);
        open.onsuccess = () => {
            open.result.transaction('copy').objectStore('copy').get('mine').onsuccess = e => {
                open.result.close();
                const copy = e.target.result.copy;
                resolve(Date.now() - new Date(copy.made_at) < 600e3
                    && copy.issues.features.some(f => f.properties.description === d));
            };
        };
    })""", arg=description, timeout=20000)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM visits WHERE note = :n"), {"n": note}).scalar() == 1
        conn.execute(text("DELETE FROM issues WHERE description = :d"), {"d": description})
        conn.commit()
    engine.dispose()

    # Logging out removes the copy from the phone.
    page.locator(".gw-menu-button").click()
    page.locator("form.gw-logout button").click()
    page.wait_for_url("**/login**")
    page.wait_for_function("""() => new Promise(resolve => {
        const open = indexedDB.open('gridwalk-offline');
        open.onupgradeneeded = () => {};
        open.onsuccess = () => {
            const db = open.result;
            if (!db.objectStoreNames.contains('copy')) { db.close(); resolve(true); return; }
            db.transaction('copy').objectStore('copy').count().onsuccess = e => { db.close(); resolve(e.target.result === 0); };
        };
    })""", timeout=10000)
    context.close()



READ_COPY = """() => new Promise(resolve => {
    const open = indexedDB.open('gridwalk-offline');
    open.onsuccess = () => {
        const db = open.result;
        if (!db.objectStoreNames.contains('copy')) { db.close(); resolve(null); return; }
        db.transaction('copy').objectStore('copy').get('mine').onsuccess = e => { db.close(); resolve(e.target.result || null); };
    };
})"""


def keep_compound(page: Any, b: dict[str, Any]) -> None:
    tap_at(page, b["lon"], b["lat"], zoom=20, touch=True)
    compound = area_panel(page, "compound")
    compound.locator(".gw-offline-keep").tap()
    compound.locator(".gw-offline .gw-primary").tap()
    compound.locator(".gw-offline-date").wait_for(timeout=30000)
    kept = page.evaluate(READ_COPY)
    assert kept["copy"]["area"]["level"] == "compound" and kept["copy"]["buildings"]


def test_an_ended_login_or_an_expired_copy_leaves_nothing_on_the_phone(browser, offline_server, members_building):
    b = members_building
    context = browser.new_context(**PHONE, locale="zh-CN")
    page = context.new_page()
    log_in(page, offline_server, "party")
    page.wait_for_function("() => !!navigator.serviceWorker.controller")
    keep_compound(page, b)

    # The login ends without the logout button (ended by an administrator, or timed out):
    # the map sends the phone to the login page, and the service worker removes the copy.
    context.clear_cookies()
    page.goto(f"{offline_server}/")
    page.wait_for_url("**/login**")
    page.wait_for_function(f"() => ({READ_COPY})().then(kept => kept === null)", timeout=10000)
    assert not [name for name in page.evaluate("caches.keys()") if "offline" in name or "pages" in name]

    log_in(page, offline_server, "party")
    keep_compound(page, b)

    # Its days are over (the phone was left in a drawer).
    backdate(page, "expires_at", 60)
    page.reload()
    page.wait_for_function("() => document.getElementById('gw-hint').textContent.includes('离线副本已过期，已删除')")
    assert page.evaluate(READ_COPY) is None
    assert page.evaluate("caches.open(Gridwalk.offline.TILES).then(c => c.keys()).then(k => k.length)") == 0
    context.close()
