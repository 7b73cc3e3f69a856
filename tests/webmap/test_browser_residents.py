"""One building, one code in Chromium: a resident's phone scans a demo building's sticker,
reads who answers for it in Chinese, reports a problem and sees it listed; an officer prints
a compound's sticker sheet."""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.webmap.test_browser import (  # noqa: F401 (fixtures)
    PHONE,
    browser,
    live_server,
    log_in,
    screenshots,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def coded_building(demo_url: str) -> dict[str, Any]:
    """A demo building with someone responsible for it, its sticker's code and compound."""
    engine = create_engine(demo_url)
    with engine.connect() as conn:
        row = conn.execute(text("""
            SELECT b.id, b.name, b.public_code, b.area_id, a.name AS compound, pe.name AS person
            FROM buildings b JOIN areas a ON a.id = b.area_id AND a.level = 'compound'
            JOIN assignments s ON s.building_id = b.id JOIN people pe ON pe.id = s.person_id
            WHERE s.valid_to IS NULL ORDER BY b.id LIMIT 1
        """)).mappings().one()
        buildings = conn.execute(text("SELECT count(*) FROM buildings WHERE area_id = :a"),
                                 {"a": row["area_id"]}).scalar_one()
    engine.dispose()
    return {**row, "buildings": buildings}


def test_a_resident_scans_a_building_reads_who_answers_and_reports_a_problem(
        browser, live_server, demo_url, coded_building, screenshots):
    b = coded_building
    context = browser.new_context(**PHONE, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server}/q/{b['public_code']}")  # no login
    assert "/login" not in page.url
    body = page.locator("main").inner_text()
    assert b["name"] in body and b["person"] in body and "本楼包保责任人" in body
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(screenshots / "phone-building-code.png"), full_page=True)

    description = f"楼道灯坏了 {uuid.uuid4().hex[:6]}"
    page.select_option("select[name=category]", "安全隐患")
    page.fill("textarea[name=description]", description)
    page.wait_for_timeout(3100)  # a person takes a few seconds; a form sent sooner is refused
    page.get_by_role("button", name="提交").tap()
    page.locator(".gw-ok").wait_for()
    assert "已转给上面的责任人" in page.locator(".gw-ok").inner_text()
    mine = page.locator(".gw-public-issues .gw-mine")
    assert "居民反映" in mine.inner_text() and "安全隐患" in mine.inner_text()
    assert description not in page.locator(".gw-public-issues").inner_text()  # no descriptions in public
    page.screenshot(path=str(screenshots / "phone-building-code-sent.png"), full_page=True)
    engine = create_engine(demo_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT building_id, source, reported_by_id, unit_id FROM issues"
                                   " WHERE description = :d"), {"d": description}).mappings().all()
    engine.dispose()
    assert [(s["building_id"], s["source"], s["reported_by_id"]) for s in stored] == [(b["id"], "resident", None)]
    assert stored[0]["unit_id"] is not None

    # Sent again at once, the same form is refused as too quick; nothing else is stored.
    page.select_option("select[name=category]", "安全隐患")
    page.fill("textarea[name=description]", description + " 又一次")
    page.get_by_role("button", name="提交").tap()
    page.locator(".gw-error").wait_for()
    assert "提交太快了" in page.locator(".gw-error").inner_text()

    page.goto(f"{live_server}/q/0123456789ab")
    assert "没有与此二维码对应的楼栋" in page.locator("body").inner_text()
    assert not errors, errors
    context.close()


def test_an_officer_prints_a_compounds_sticker_sheet_on_a4(browser, live_server, coded_building, screenshots):
    b = coded_building
    context = browser.new_context(viewport={"width": 1000, "height": 1300}, locale="zh-CN")
    page = context.new_page()
    log_in(page, live_server)
    page.goto(f"{live_server}/areas/{b['area_id']}/stickers")
    stickers = page.locator(".gw-sticker")
    assert stickers.count() == b["buildings"]
    assert stickers.first.locator("svg").count() == 1 and "扫码查看包保责任人" in stickers.first.inner_text()
    page.screenshot(path=str(screenshots / "stickers.png"))
    pdf = page.pdf(format="A4", print_background=True)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages == math.ceil(b["buildings"] / 12), (pages, b["buildings"])
    (screenshots / "stickers.pdf").write_bytes(pdf)
    context.close()


def test_a_demo_grids_notice_board_downloads_from_its_panel_link(browser, live_server, coded_building, tmp_path,
                                                                  screenshots):
    import subprocess

    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    log_in(page, live_server)
    with page.expect_download() as download:
        # What the link in the compound's panel does.
        page.evaluate(f"() => {{ const a = document.createElement('a');"
                      f" a.href = '/areas/{coded_building['area_id']}/notice-board.pdf'; document.body.append(a); a.click(); }}")
    pdf = tmp_path / "board.pdf"
    download.value.save_as(pdf)
    assert download.value.suggested_filename.endswith(".pdf")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "网格公示牌" in text and coded_building["compound"] in text and coded_building["person"] in text
    subprocess.run(["pdftoppm", "-png", "-r", "70", "-singlefile", str(pdf), str(screenshots / "notice-board-demo")],
                   check=True)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Pages:\s+1\n", info), info  # one board, one page
    context.close()
