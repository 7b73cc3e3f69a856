"""The bell on a phone: an officer with something new sees its count on the folded menu,
finds it under 通知, and opening it marks it read."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.webmap.test_browser import PHONE, browser, live_server, log_in, screenshots  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def test_a_phone_shows_the_unread_count_on_the_menu_and_the_list_marks_it_read(browser, live_server, demo_url,
                                                                               screenshots):
    title = f"问题即将到期：环境卫生（测试 {uuid.uuid4().hex[:4]}）"
    engine = create_engine(demo_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO notifications (user_id, key, kind, title, body) "
                          "SELECT id, :k, 'due', :t, '问题的办理期限是明天。' FROM users WHERE username = 'grid'"),
                     {"k": f"test:{uuid.uuid4().hex}", "t": title})
    context = browser.new_context(**PHONE, locale="zh-CN")
    page = context.new_page()
    log_in(page, live_server, "grid")
    page.goto(f"{live_server}/issues")
    badge = page.locator(".gw-menu-button .gw-bell-count")
    assert badge.is_visible() and int(badge.inner_text()) >= 1
    bar = page.locator(".gw-bar").bounding_box()
    assert bar is not None and bar["height"] <= 64  # still one row with the count on the button
    page.locator(".gw-menu-button").tap()
    page.locator(".gw-bell").wait_for()
    page.screenshot(path=str(screenshots / "phone-bell.png"))
    page.locator(".gw-bell").tap()
    item = page.locator(".gw-notification", has_text=title)
    assert "gw-unread" in (item.get_attribute("class") or "")
    with page.expect_navigation():
        item.locator("button").tap()  # opens it: back on the list, now read
    assert "gw-unread" not in (page.locator(".gw-notification", has_text=title).get_attribute("class") or "")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT read_at IS NOT NULL FROM notifications WHERE title = :t"),
                            {"t": title}).scalar() is True
    engine.dispose()
    context.close()
