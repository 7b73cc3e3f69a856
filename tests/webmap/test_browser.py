"""The map in a real browser: Debian's Chromium driven by Playwright against a live server
on the committed demo county."""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from tests.conftest import DEMO_PASSWORD, county_today
from tests.webmap.test_issues import jpeg

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium phones home at start; this machine has
# no way out, and the page must not need one either.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture(scope="module")
def live_server(demo_url: str) -> Iterator[str]:
    from webmap import create_app

    yield from serving(create_app({"DATABASE_URL": demo_url, "SECRET_KEY": "browser-test"}))


def serving(app: Any) -> Iterator[str]:
    """The app served on a free local port for as long as the generator runs; its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
    app.extensions["gridwalk.sessions"].kw["bind"].dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: $GRIDWALK_SCREENSHOTS if set (to look at them), else a temp dir."""
    target = Path(os.environ.get("GRIDWALK_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture(scope="module")
def responsible_building(demo_url: str) -> dict[str, Any]:
    """A demo building with a current unit assignment naming a person, read from the database."""
    engine = create_engine(demo_url)
    with engine.connect() as conn:
        row = conn.execute(text("""
            SELECT b.id, ST_X(p.pt) AS lon, ST_Y(p.pt) AS lat, pe.name AS person, pe.phone, u.name AS unit
            FROM buildings b
            CROSS JOIN LATERAL (SELECT ST_PointOnSurface(b.geom) AS pt) p
            JOIN assignments a ON a.building_id = b.id
            JOIN people pe ON pe.id = a.person_id
            JOIN units u ON u.id = a.unit_id
            WHERE a.valid_from <= current_date AND (a.valid_to IS NULL OR a.valid_to > current_date)
            ORDER BY b.id LIMIT 1
        """)).mappings().one()
    engine.dispose()
    return dict(row)


def log_in(page: Any, base: str, username: str = "admin") -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{base}/")
    assert "/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(".folium-map")
    page.wait_for_load_state("load")
    assert not errors, errors
    page.wait_for_function("() => window.Gridwalk && window.Gridwalk.map")


def tap_at(page: Any, lon: float, lat: float, zoom: int = 18, touch: bool = False, settle: bool = True) -> None:
    """Centre the map on a position, wait for the layers, then tap or click it."""
    if settle:
        page.evaluate(f"void Gridwalk.map.setView([{lat}, {lon}], {zoom}, {{animate: false}})")
        page.wait_for_load_state("networkidle")
    point = page.evaluate(f"(() => {{ const p = Gridwalk.map.latLngToContainerPoint([{lat}, {lon}]);"
                          " return {x: p.x, y: p.y}; })()")
    target = page.locator(".folium-map")
    if touch:
        target.tap(position=point)
    else:
        target.click(position=point)


def test_clicking_a_building_shows_who_is_responsible_for_it(browser, live_server, responsible_building, screenshots):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    log_in(page, live_server)
    b = responsible_building
    tap_at(page, b["lon"], b["lat"])
    panel = page.locator("#gw-panel")
    panel.locator(f"[data-building-id='{b['id']}']").wait_for()
    assert panel.is_visible()
    assert b["person"] in panel.inner_text()
    assert b["unit"] in panel.inner_text()
    call = panel.locator("a[href^='tel:']", has_text=b["phone"]).first
    assert call.get_attribute("href") == "tel:" + b["phone"]
    # The buildings layer drew footprints from the API around the building.
    assert page.evaluate("document.querySelectorAll('.leaflet-overlay-pane canvas').length") >= 1
    page.screenshot(path=str(screenshots / "desktop-building.png"))
    context.close()


def test_a_masked_phone_is_not_a_link_that_would_call_a_stranger(browser, live_server, responsible_building):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    log_in(page, live_server, "viewer")
    b = responsible_building
    tap_at(page, b["lon"], b["lat"])
    panel = page.locator("#gw-panel")
    panel.locator(f"[data-building-id='{b['id']}']").wait_for()
    masked = b["phone"][:3] + "****" + b["phone"][-4:]
    assert masked in panel.inner_text()
    assert b["phone"] not in panel.inner_text()
    assert panel.locator("a[href^='tel:']").count() == 0
    context.close()


def test_overdue_issues_stand_out_even_inside_a_cluster(browser, live_server, demo_url, screenshots):
    engine = create_engine(demo_url)
    with engine.connect() as conn:
        overdue = conn.execute(text(
            "SELECT count(*) FROM issues WHERE deadline < current_date AND status IN ('reported', 'meeting', 'referred')"
        )).scalar()
    engine.dispose()
    assert overdue > 0  # the demo county has some
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    log_in(page, live_server, "county")
    page.evaluate("void Gridwalk.map.setView([29.99, 109.478], 14, {animate: false})")
    page.wait_for_load_state("networkidle")
    page.locator(".gw-cluster-overdue").first.wait_for()
    page.screenshot(path=str(screenshots / "phone-clusters-overdue.png"))
    context.close()


def test_the_map_page_requests_nothing_outside_this_server(browser, live_server, responsible_building):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    log_in(page, live_server)
    b = responsible_building
    tap_at(page, b["lon"], b["lat"])
    page.locator("#gw-panel [data-building-id]").wait_for()
    page.evaluate("void Gridwalk.map.setZoom(13)")
    page.wait_for_load_state("networkidle")
    context.close()
    served = urlsplit(live_server).netloc
    assert hosts - {served} <= {""}, hosts  # "" is data: URIs inside vendored CSS


def test_on_a_phone_a_tap_opens_the_panel_in_chinese(browser, live_server, responsible_building, screenshots):
    context = browser.new_context(**PHONE, locale="zh-CN")
    page = context.new_page()
    log_in(page, live_server)
    b = responsible_building
    tap_at(page, b["lon"], b["lat"], touch=True)
    panel = page.locator("#gw-panel")
    panel.locator(f"[data-building-id='{b['id']}']").wait_for()
    text = panel.inner_text()
    assert b["person"] in text and "住户" in text and "网格" in text
    box = panel.bounding_box()
    assert box is not None and box["width"] <= 390 and box["y"] + box["height"] <= 844 + 1
    # The tapped building stays in sight above the bottom sheet.
    tapped = page.evaluate(f"(() => {{ const p = Gridwalk.map.latLngToContainerPoint([{b['lat']}, {b['lon']}]);"
                           " const m = Gridwalk.map.getContainer().getBoundingClientRect();"
                           " return p.y + m.top; })()")
    assert 44 < tapped < box["y"], (tapped, box)
    # Everything the officer needs fits: no horizontal scrolling on the page.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(screenshots / "phone-building.png"))
    context.close()


def test_clicking_a_grid_outside_buildings_shows_its_responsible_people(browser, live_server, demo_url, screenshots):
    engine = create_engine(demo_url)
    with engine.connect() as conn:
        # A point of a grid that lies in no building and no compound, with a current assignment.
        row = conn.execute(text("""
            SELECT g.id, g.name, ST_X(pt) AS lon, ST_Y(pt) AS lat, COALESCE(pe.name, u.name) AS who
            FROM areas g
            JOIN assignments a ON a.area_id = g.id
            LEFT JOIN people pe ON pe.id = a.person_id
            LEFT JOIN units u ON u.id = a.unit_id
            CROSS JOIN LATERAL (
                SELECT (ST_DumpPoints(ST_GeneratePoints(g.geom, 200, 7))).geom AS pt
            ) pts
            WHERE g.level = 'grid'
              AND a.valid_from <= current_date AND (a.valid_to IS NULL OR a.valid_to > current_date)
              AND NOT EXISTS (SELECT 1 FROM buildings b WHERE ST_DWithin(b.geom, pt, 0.00005))
              AND NOT EXISTS (SELECT 1 FROM areas c WHERE c.level = 'compound' AND ST_Covers(c.geom, pt))
            ORDER BY g.id LIMIT 1
        """)).mappings().one()
    engine.dispose()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    log_in(page, live_server)
    tap_at(page, row["lon"], row["lat"])
    section = page.locator(f"#gw-panel [data-area-id='{row['id']}']")
    section.wait_for()
    assert row["name"] in section.inner_text() and row["who"] in section.inner_text()
    # The grid's officers print its buildings' QR stickers from here.
    assert section.locator("a", has_text="打印楼栋二维码").get_attribute("href") == f"/areas/{row['id']}/stickers"
    assert section.locator("a", has_text="公示牌").get_attribute("href") == f"/areas/{row['id']}/notice-board.pdf"
    assert page.locator("#gw-panel [data-building-id]").count() == 0
    page.screenshot(path=str(screenshots / "desktop-grid.png"))
    context.close()


def test_a_name_written_as_html_shows_as_text_and_runs_nothing(browser, live_server, responsible_building, demo_url):
    evil = "<img src=x onerror=alert(1)>"
    engine = create_engine(demo_url)
    b = responsible_building
    with engine.begin() as conn:
        conn.execute(text("UPDATE people SET name = :evil WHERE name = :name"), {"evil": evil, "name": b["person"]})
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        log_in(page, live_server)
        tap_at(page, b["lon"], b["lat"])
        panel = page.locator("#gw-panel")
        panel.locator(f"[data-building-id='{b['id']}']").wait_for()
        assert evil in panel.inner_text()
        assert panel.locator("img").count() == 0
        page.wait_for_timeout(300)
        assert dialogs == []
        context.close()
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE people SET name = :name WHERE name = :evil"), {"evil": evil, "name": b["person"]})
        engine.dispose()


# --- field work on a phone ----------------------------------------------------------------


@pytest.fixture(scope="module")
def grid_building(demo_url: str) -> dict[str, Any]:
    """A building in the demo grid member's grid, its routing read from the database."""
    from sqlalchemy.orm import Session

    from geo.db import make_engine
    from geo.routing import route

    engine = make_engine(demo_url)
    with engine.connect() as conn:
        row = conn.execute(text("""
            SELECT b.id, ST_X(p.pt) AS lon, ST_Y(p.pt) AS lat
            FROM buildings b
            CROSS JOIN LATERAL (SELECT ST_PointOnSurface(b.geom) AS pt) p
            JOIN users u ON u.username = 'grid'
            WHERE b.area_id IN (WITH RECURSIVE t AS (SELECT id FROM areas WHERE id = u.area_id
                                UNION ALL SELECT a.id FROM areas a JOIN t ON a.parent_id = t.id) SELECT id FROM t)
            ORDER BY b.id LIMIT 1
        """)).mappings().one()
    with Session(engine) as s:
        routing = route(s, row["lon"], row["lat"])
        unit = s.execute(text("SELECT name FROM units WHERE id = :i"), {"i": routing.unit_id}).scalar()
    engine.dispose()
    return {**row, "unit": unit}


def phone_at(browser, live_server: str, place: dict[str, Any], zoom: int = 18):  # type: ignore[no-untyped-def]
    """The grid member logged in on a phone standing at `place`, the map centred there."""
    context = browser.new_context(**PHONE, locale="zh-CN", permissions=["geolocation"],
                                  geolocation={"longitude": place["lon"], "latitude": place["lat"]})
    page = context.new_page()
    log_in(page, live_server, "grid")
    page.evaluate(f"void Gridwalk.map.setView([{place['lat']}, {place['lon']}], {zoom}, {{animate: false}})")
    page.wait_for_load_state("networkidle")
    return context, page


def issues_described(demo_url: str, description: str) -> list[dict[str, Any]]:
    engine = create_engine(demo_url)
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT i.id, i.building_id, u.name AS unit FROM issues i LEFT JOIN units u ON u.id = i.unit_id
            WHERE i.description = :d
        """), {"d": description}).mappings().all()
    engine.dispose()
    return [dict(r) for r in rows]


def test_a_report_made_offline_lands_once_when_the_network_returns(browser, live_server, demo_url, grid_building,
                                                                   screenshots):
    b = grid_building
    description = f"离线上报测试 {uuid.uuid4().hex[:6]}"
    context, page = phone_at(browser, live_server, b)

    context.set_offline(True)
    page.locator("#gw-report").tap()
    form = page.locator("#gw-report-form")
    form.wait_for()
    tap_at(page, b["lon"], b["lat"], zoom=18, touch=True, settle=False)  # the pin goes where the officer taps
    form.locator("select[name=category]").select_option("安全隐患")
    form.locator("textarea[name=description]").fill(description)
    form.locator("button[type=submit]").tap()
    page.locator("#gw-panel .gw-ok").wait_for()
    assert "联网后将自动上报" in page.locator("#gw-panel").inner_text()
    assert page.locator("#gw-queue").inner_text() == "1 条待发送"
    page.screenshot(path=str(screenshots / "phone-offline-queued.png"))
    assert issues_described(demo_url, description) == []

    context.set_offline(False)  # the browser says "online" and the queue goes out
    page.locator("#gw-queue").wait_for(state="hidden", timeout=20000)
    [issue] = issues_described(demo_url, description)
    assert issue["building_id"] == b["id"] and issue["unit"] == b["unit"]
    page.wait_for_function(f"() => Gridwalk.layers.issues.getLayers().some(m => m.issueId === {issue['id']})")
    # Sent again (a retry after a lost answer) it is still one issue.
    assert page.evaluate("Gridwalk.field.queue.all().then(r => r.length)") == 0
    assert len(issues_described(demo_url, description)) == 1
    context.close()


def test_a_report_the_server_refuses_waits_for_the_officer_not_the_bin(browser, live_server, demo_url,
                                                                      grid_building, screenshots):
    b = grid_building
    description = f"被拒上报测试 {uuid.uuid4().hex[:6]}"
    engine = create_engine(demo_url)
    context, page = phone_at(browser, live_server, b)
    context.set_offline(True)
    page.locator("#gw-report").tap()
    form = page.locator("#gw-report-form")
    form.wait_for()
    form.locator("select[name=category]").select_option("绿化")
    form.locator("textarea[name=description]").fill(description)
    form.locator("button[type=submit]").tap()
    page.locator("#gw-panel .gw-ok").wait_for()
    try:
        with engine.begin() as conn:  # meanwhile the county retires the category
            conn.execute(text("UPDATE issue_categories SET active = false WHERE code = '绿化'"))
        context.set_offline(False)
        page.wait_for_function("() => document.getElementById('gw-queue').textContent.includes('需要处理')")
        page.locator("#gw-queue").tap()
        refused = page.locator(".gw-queue-list li.gw-refused")
        refused.wait_for()
        assert description in refused.inner_text() and "未知的问题类别" in refused.inner_text()
        page.screenshot(path=str(screenshots / "phone-refused-report.png"))
        assert issues_described(demo_url, description) == []
        with engine.begin() as conn:  # the category is back; the officer sends it again
            conn.execute(text("UPDATE issue_categories SET active = true WHERE code = '绿化'"))
        refused.get_by_role("button", name="重新发送").tap()
        page.locator("#gw-queue").wait_for(state="hidden")
        assert len(issues_described(demo_url, description)) == 1
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE issue_categories SET active = true WHERE code = '绿化'"))
        engine.dispose()
        context.close()


def test_an_officer_walks_an_issue_through_its_workflow_on_a_phone(browser, live_server, demo_url, grid_building,
                                                                  screenshots):
    b = grid_building
    context, page = phone_at(browser, live_server, b)
    description = f"工作流测试 {uuid.uuid4().hex[:6]}"
    page.locator("#gw-report").tap()
    form = page.locator("#gw-report-form")
    form.wait_for()
    form.locator("select[name=category]").select_option("环境卫生")
    form.locator("textarea[name=description]").fill(description)
    form.locator("button[type=submit]").tap()
    card = page.locator("#gw-panel .gw-issue-card")
    card.wait_for()
    panel = page.locator("#gw-panel")
    assert description in panel.inner_text() and b["unit"] in panel.inner_text()  # who it went to

    panel.get_by_role("button", name="召开现场会").tap()
    step = panel.locator("form.gw-step-form")
    step.locator("textarea[name=decision]").fill("当场清理，社区督办")
    step.locator("input[name=deadline]").fill("2099-12-31")
    step.locator("button[type=submit]").tap()
    panel.locator(".gw-badge.gw-status-meeting").first.wait_for()

    panel.get_by_role("button", name="标记已解决").tap()
    step = panel.locator("form.gw-step-form")
    step.locator("textarea[name=note]").fill("已清理完毕")
    # A phone photo: its EXIF says when, and where (about 20 m east of the issue).
    photo = jpeg(gps=(b["lon"] + 0.0002, b["lat"]), taken="2026:11:20 09:30:00", size=(800, 600))
    step.locator("input[type=file]").set_input_files(files=[{
        "name": "after.jpg", "mimeType": "image/jpeg", "buffer": photo}])
    step.locator("button[type=submit]").tap()
    panel.locator(".gw-badge.gw-status-resolved").first.wait_for()
    panel.locator(".gw-timeline img").first.wait_for()
    caption = panel.locator(".gw-timeline figcaption").first.inner_text()
    assert "拍摄于 11-20 09:30" in caption and "距问题" in caption, caption
    panel.locator(".gw-timeline figure").first.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "phone-issue-photo.png"))

    # The one who did the work does not check it: the community officer does.
    assert panel.get_by_role("button", name="核查办结").count() == 0
    issue_id = panel.locator(".gw-issue-card").get_attribute("data-issue-id")
    checker_context = browser.new_context(**PHONE, locale="zh-CN")
    checker = checker_context.new_page()
    log_in(checker, live_server, "community")
    checker.goto(f"{live_server}/issues")  # from the issue list, the link to the map
    checker.goto(f"{live_server}/#issue={issue_id}")
    checker.wait_for_function("() => window.Gridwalk && window.Gridwalk.map")
    checker_panel = checker.locator("#gw-panel")
    checker_panel.get_by_role("button", name="核查办结").tap()
    checker_panel.locator("form.gw-step-form button[type=submit]").tap()
    checker_panel.locator(".gw-badge.gw-status-closed").first.wait_for()
    checker_context.close()
    page.evaluate(f"Gridwalk.showIssue({issue_id})")
    panel.locator(".gw-badge.gw-status-closed").first.wait_for()
    timeline = panel.locator(".gw-timeline").inner_text()
    for label in ("发现上报", "现场会", "已解决", "核查办结", "当场清理，社区督办", "已清理完毕"):
        assert label in timeline
    page.wait_for_load_state("networkidle")
    # The issue stays in sight above the panel.
    y = page.evaluate(f"Gridwalk.map.latLngToContainerPoint([{b['lat']}, {b['lon']}]).y")
    assert 0 < y < panel.bounding_box()["y"]
    page.screenshot(path=str(screenshots / "phone-issue-closed.png"))
    context.close()


def test_a_patrol_on_a_phone_records_its_route_and_its_issues(browser, live_server, demo_url, grid_building,
                                                            screenshots):
    b = grid_building
    context, page = phone_at(browser, live_server, b, zoom=17)
    page.locator("#gw-patrol").tap()
    start = page.locator("form.gw-patrol-form")
    start.wait_for()
    start.locator("select[name=unit_ids] option").nth(1).wait_for(state="attached")
    start.locator("select[name=unit_ids]").select_option(index=[0, 1])
    # The grid's cadres and party members are offered by name; the officer ticks who walks.
    start.locator("input[name=person_ids]").nth(1).wait_for(state="attached")
    for box in start.locator("input[name=person_ids]:not(:checked)").all()[:2]:
        box.check()
    ticked = start.locator("input[name=person_ids]:checked").count()
    page.screenshot(path=str(screenshots / "phone-patrol-start.png"))
    start.locator("button[type=submit]").tap()
    page.locator("#gw-panel .gw-ok").wait_for()
    assert page.locator("#gw-patrol").inner_text() == "结束步巡"

    for step in range(1, 6):  # walking east along the street
        context.set_geolocation({"longitude": b["lon"] + step * 0.0002, "latitude": b["lat"]})
        page.wait_for_timeout(150)
    description = f"步巡发现 {uuid.uuid4().hex[:6]}"
    page.locator("#gw-report").tap()
    form = page.locator("#gw-report-form")
    form.wait_for()
    form.locator(".gw-fix-ok").wait_for()  # the phone's position is in
    assert form.locator("input[name=on_patrol]").is_checked()
    form.locator("select[name=category]").select_option("环境卫生")
    form.locator("textarea[name=description]").fill(description)
    form.locator("button[type=submit]").tap()
    page.locator("#gw-panel .gw-issue-card").wait_for()

    page.locator("#gw-patrol").tap()  # end: the patrol's page opens
    page.wait_for_url("**/patrols/*")
    page.wait_for_load_state("networkidle")
    text_ = page.locator(".gw-patrol-panel").inner_text()
    engine = create_engine(demo_url)
    with engine.connect() as conn:
        # The issue is where the walk was when it was reported (the end of the route).
        metres = conn.execute(text("""
            SELECT ST_Distance(i.geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography)
            FROM issues i WHERE i.description = :d"""), {"d": description, "lon": b["lon"] + 0.001, "lat": b["lat"]}
        ).scalar()
    engine.dispose()
    assert metres < 5
    assert description in text_ and "现场解决" in text_
    assert page.locator("path.leaflet-interactive").count() >= 1 or page.locator("canvas").count() >= 1
    page.screenshot(path=str(screenshots / "phone-patrol.png"))
    engine = create_engine(demo_url)
    with engine.connect() as conn:
        row = conn.execute(text("""
            SELECT p.ended_at IS NOT NULL AS ended, ST_NPoints(p.track) AS points,
                   (SELECT count(*) FROM patrol_units u WHERE u.patrol_id = p.id) AS units,
                   (SELECT count(*) FROM patrol_members m WHERE m.patrol_id = p.id) AS members
            FROM issues i JOIN patrols p ON p.id = i.patrol_id WHERE i.description = :d
        """), {"d": description}).mappings().one()
    engine.dispose()
    assert row["ended"] and row["points"] >= 2 and row["units"] == 2
    assert ticked >= 2 and row["members"] == ticked
    context.close()


# --- household visits and coverage --------------------------------------------------------


@pytest.fixture(scope="module")
def members_building(demo_url: str) -> dict[str, Any]:
    """A building where the demo party member holds households, and a point in it to tap
    clear of any issue marker: of all their buildings, the point farthest from an issue (the
    field tests report issues at buildings, and a marker is 18 px across)."""
    engine = create_engine(demo_url)
    with engine.connect() as conn:
        row = conn.execute(text("""
            WITH b AS (
                SELECT DISTINCT b.id, b.geom, u.person_id
                FROM users u
                JOIN assignments a ON a.person_id = u.person_id AND a.household_id IS NOT NULL
                JOIN households h ON h.id = a.household_id
                JOIN buildings b ON b.id = h.building_id
                WHERE u.username = 'party' AND h.active
            )
            SELECT b.id, b.person_id, ST_X(p.pt) AS lon, ST_Y(p.pt) AS lat
            FROM b CROSS JOIN LATERAL (
                SELECT (ST_Dump(ST_GeneratePoints(ST_Buffer(b.geom, -0.00001), 40, 7))).geom AS pt) p
            ORDER BY (SELECT min(ST_Distance(i.geom, p.pt)) FROM issues i) DESC NULLS FIRST
            LIMIT 1
        """)).mappings().one()
    engine.dispose()
    return dict(row)


def building_coverage(demo_url: str, building_id: int, days: int) -> tuple[int, int]:
    """(visited, households) for a building over the last `days` days, counted by hand."""
    engine = create_engine(demo_url)
    with engine.connect() as conn:
        visited, total = conn.execute(text("""
            SELECT count(*) FILTER (WHERE EXISTS (
                       SELECT 1 FROM visits v WHERE v.household_id = h.id
                       AND v.visited_on > (now() AT TIME ZONE 'Asia/Shanghai')::date - :days)),
                   count(*)
            FROM households h WHERE h.building_id = :b AND h.active
        """), {"b": building_id, "days": days}).one()
    engine.dispose()
    return visited, total


def test_a_party_member_records_a_visit_in_three_taps_on_a_phone(browser, live_server, demo_url, members_building,
                                                                   screenshots):
    b = members_building
    context = browser.new_context(**PHONE, locale="zh-CN")
    page = context.new_page()
    log_in(page, live_server, "party")
    tap_at(page, b["lon"], b["lat"], zoom=20, touch=True)  # close up: the field tests left markers in it
    page.locator(f"#gw-panel [data-building-id='{b['id']}']").wait_for()
    engine = create_engine(demo_url)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM visits WHERE person_id = :p"), {"p": b["person_id"]}).scalar()

    page.locator(".gw-visit-button").tap()                        # 1: record a visit
    chip = page.locator(".gw-chip.gw-chip-mine").first              # the member's own households come first
    chip.wait_for()
    address = chip.locator(".gw-chip-address").inner_text()
    page.screenshot(path=str(screenshots / "phone-visit-form.png"))
    chip.tap()                                                      # 2: the household
    page.locator(".gw-visit-form .gw-primary").tap()                # 3: save
    done = page.locator("#gw-panel .gw-ok")
    done.wait_for()
    assert "已记录走访" in done.inner_text() and address in done.inner_text()
    with engine.connect() as conn:
        visit = conn.execute(text("""
            SELECT v.visited_on = (now() AT TIME ZONE 'Asia/Shanghai')::date AS today, v.by_assignee, v.hours,
                   h.unit_no || '-' || h.floor || '-' || h.room AS address,
                   (SELECT count(*) FROM visits WHERE person_id = :p) AS n
            FROM visits v JOIN households h ON h.id = v.household_id
            WHERE v.person_id = :p ORDER BY v.id DESC LIMIT 1
        """), {"p": b["person_id"]}).mappings().one()
    engine.dispose()
    assert visit["n"] == before + 1
    assert visit["today"] and visit["by_assignee"] and float(visit["hours"]) == 0.5 and visit["address"] == address
    page.screenshot(path=str(screenshots / "phone-visit-recorded.png"))
    context.close()


def test_a_visit_recorded_in_a_dead_spot_lands_once_when_the_network_returns(browser, live_server, demo_url,
                                                                             members_building, screenshots):
    b = members_building
    note = f"楼道里没信号 {uuid.uuid4().hex[:6]}"
    context = browser.new_context(**PHONE, locale="zh-CN")
    page = context.new_page()
    log_in(page, live_server, "party")
    tap_at(page, b["lon"], b["lat"], zoom=20, touch=True)
    page.locator(f"#gw-panel [data-building-id='{b['id']}']").wait_for()
    page.locator(".gw-visit-button").tap()
    chip = page.locator(".gw-chip.gw-chip-mine").first
    chip.wait_for()

    context.set_offline(True)  # the stairwell
    chip.tap()
    page.locator(".gw-visit-form textarea[name=note]").fill(note)
    page.locator(".gw-visit-form .gw-primary").tap()
    page.locator("#gw-panel .gw-ok").wait_for()
    assert "已保存在本机" in page.locator("#gw-panel").inner_text()
    assert page.locator("#gw-queue").inner_text() == "1 条待发送"
    page.screenshot(path=str(screenshots / "phone-visit-offline.png"))
    engine = create_engine(demo_url)
    count = text("SELECT count(*) FROM visits WHERE note = :n AND person_id = :p")
    with engine.connect() as conn:
        assert conn.execute(count, {"n": note, "p": b["person_id"]}).scalar() == 0

    # Another login's visit left on this shared phone waits for that login: sent now, it
    # would be stored as this member's work.
    foreign = f"别人的走访 {uuid.uuid4().hex[:6]}"
    page.evaluate("""note => Gridwalk.field.queue.put({kind: "visit", client_id: "foreign-" + Date.now(),
        user_id: -1, saved_at: Date.now(), title: "x", body: {household_id: 1, hours: 1, note: note}})""", foreign)
    context.set_offline(False)
    page.locator("#gw-queue").wait_for(state="hidden", timeout=20000)
    assert page.evaluate("Gridwalk.field.queue.all().then(r => r.map(x => x.user_id))") == [-1]
    with engine.connect() as conn:
        assert conn.execute(count, {"n": note, "p": b["person_id"]}).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM visits WHERE note = :n"), {"n": foreign}).scalar() == 0
    engine.dispose()
    context.close()


def test_the_coverage_layer_colours_the_map_and_answers_a_tap(browser, live_server, demo_url, members_building,
                                                              screenshots):
    b = members_building
    context = browser.new_context(**PHONE, locale="zh-CN")
    page = context.new_page()
    log_in(page, live_server, "party")
    page.evaluate(f"void Gridwalk.map.setView([{b['lat']}, {b['lon']}], 18, {{animate: false}})")
    page.wait_for_load_state("networkidle")
    # Switched on from the layer control, like any other layer.
    page.locator(".leaflet-control-layers-toggle").tap()
    with page.expect_response(lambda r: "/api/v1/coverage?level=building" in r.url) as answer:
        page.locator(".leaflet-control-layers-overlays label", has_text="走访覆盖").tap()
    assert answer.value.status == 200
    box = page.locator("#gw-coverage")
    box.wait_for()
    assert "按楼栋" in box.inner_text() and "≥ 80%" in box.inner_text()
    page.locator(".folium-map").tap(position={"x": 10, "y": 400})  # close the layer list
    page.locator(".leaflet-control-layers-expanded").wait_for(state="detached")
    # That tap asks what is there too; its answer may move the map (the sheet keeps the spot
    # in sight), so the building is tapped after it.
    page.wait_for_function("""() => { const p = document.querySelector('#gw-panel');
        return !p.hidden && !p.querySelector('.gw-panel-body').innerText.includes('加载中'); }""")
    # A person's next tap comes after a pause: two taps on the map within Leaflet's 200 ms
    # double-tap window, wherever they land, are a double tap and zoom the map in (a second
    # `networkidle` wait returns at once, so it left no pause here).
    page.wait_for_timeout(400)
    tap_at(page, b["lon"], b["lat"], touch=True, settle=False)
    card = page.locator("#gw-panel .gw-coverage-card")
    card.wait_for()
    visited, total = building_coverage(demo_url, b["id"], 30)
    assert f"已走访 {visited} / {total} 户" in card.inner_text()
    # The building's responsible people follow in the same panel, its own 30-day figure agreeing.
    page.locator(f"#gw-panel [data-building-id='{b['id']}']").wait_for()
    assert f"{visited}/{total}" in page.locator("#gw-panel .gw-building .gw-coverage").inner_text()
    page.screenshot(path=str(screenshots / "phone-coverage.png"))
    assert page.evaluate("Gridwalk.map.getZoom()") == 18, "the taps zoomed the map"
    # Another window asks again, for the week from the county's Monday.
    today = county_today()
    monday = today - dt.timedelta(days=today.weekday())
    with page.expect_response(lambda r: "/api/v1/coverage?level=building" in r.url
                              and f"since={monday}&until={today}" in r.url) as week:
        page.locator("#gw-coverage select[name=window]").select_option("week")
    assert week.value.status == 200
    page.wait_for_function("() => document.querySelector('#gw-coverage .gw-coverage-level').textContent === '按楼栋'")
    # Zoomed out, the grids are coloured instead. Leaflet drops a zoom asked for while one
    # is still animating: say so at once rather than wait for a redraw that cannot come.
    assert page.evaluate("(Gridwalk.map.setZoom(14, {animate: false}), Gridwalk.map.getZoom())") == 14
    # What the user sees, once both the grids and their figures are in (a slow machine may
    # take a while): the box says "by grid", and every shape of the layer (drawn on a
    # canvas, so read from Leaflet) is a grid outline filled with a share's colour.
    page.wait_for_function("""() => {
        const note = document.querySelector('#gw-coverage .gw-coverage-level').textContent;
        if (!note.startsWith('按网格')) return false;
        const shapes = [];
        Gridwalk.layers.coverage.eachLayer(g => g.eachLayer(s => shapes.push(s.options)));
        const shares = ['#c0392b', '#e67e22', '#f4d03f', '#27ae60'];
        return shapes.length > 0 && shapes.every(o => o.weight === 1.5)
            && shapes.some(o => shares.includes(o.fillColor));
    }""")
    page.screenshot(path=str(screenshots / "phone-coverage-grids.png"))
    context.close()


def test_the_map_opens_without_a_network_once_it_has_been_opened(browser, live_server, screenshots):
    """A dead spot: the kept map page and its scripts open, the report button works; after
    logging out the page is no longer kept on the phone."""
    context = browser.new_context(**PHONE, locale="zh-CN")
    page = context.new_page()
    log_in(page, live_server, "grid")
    # The first open already keeps the page and its scripts: wait until both are in the cache
    # (going offline while the worker still fetches them left the test racing it).
    kept = page.evaluate("""async () => {
        const script = document.querySelector("script[src*='gridwalk-field.js']").src;
        for (let i = 0; i < 300; i++) {
            if (await caches.match('/') && await caches.match(script)) return true;
            await new Promise(resolve => setTimeout(resolve, 50));
        }
        return false;
    }""")
    assert kept
    page.wait_for_function("() => !!navigator.serviceWorker.controller")

    context.set_offline(True)
    page.reload()
    page.wait_for_selector(".folium-map")
    page.wait_for_function("() => window.Gridwalk && Gridwalk.map && typeof L !== 'undefined'")
    page.locator("#gw-report").tap()
    page.locator("#gw-report-form select[name=category]").wait_for()  # known categories, no network
    page.screenshot(path=str(screenshots / "phone-map-offline.png"))

    context.set_offline(False)
    page.locator("#gw-report-form .gw-secondary").tap()  # cancel
    page.locator(".gw-menu-button").click()
    page.locator("form.gw-logout button").click()
    page.wait_for_url("**/login**")
    context.set_offline(True)
    with pytest.raises(Exception, match="ERR_"):
        page.goto(f"{live_server}/")
    context.close()
