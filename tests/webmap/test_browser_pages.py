"""Every page on a 390×844 phone, in Chinese and in English: nothing runs off the right
edge, the bar is one row with its links folded into a menu, lists are cards or scroll in
their own box, filters fold behind one button, and every control is a 44 px target.
Debian's Chromium against the demo county."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import DEMO_PASSWORD
from tests.webmap.test_browser import PHONE, browser, live_server, screenshots  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

WIDTH = PHONE["viewport"]["width"]
LOCALES = {"zh": "zh-CN", "en": "en-US"}

# What a page measures of itself: its width, its bar, its controls too small for a thumb and
# its table cells squeezed so narrow that words stand one character per line.
MEASURE = """() => {
  const seen = el => el.checkVisibility({ visibilityProperty: true, opacityProperty: true }) &&
    el.getBoundingClientRect().width > 0;
  const name = el => (el.tagName + ' ' + (el.getAttribute('name') || el.innerText || el.value || '')).trim().slice(0, 40);
  const controls = 'button, select, textarea, summary, input:not([type=hidden]):not([type=checkbox]):not([type=radio]),' +
    ' .gw-button, .gw-pager a, .gw-nav a, .gw-key a, .gw-drop-menu a, label.gw-check, .leaflet-control a';
  const small = [];
  for (const el of document.querySelectorAll(controls)) {
    if (!seen(el) || el.closest('.leaflet-control-attribution')) continue;
    const r = el.getBoundingClientRect();
    if (r.height < 44 || (el.matches('button, summary, .gw-button, .leaflet-control a') && r.width < 44)) {
      small.push(name(el) + ' ' + Math.round(r.width) + '×' + Math.round(r.height));
    }
  }
  const squeezed = [];
  for (const cell of document.querySelectorAll('td, th')) {
    const words = cell.innerText.trim();
    if (seen(cell) && words.length >= 4 && cell.getBoundingClientRect().width < 48) squeezed.push(words.slice(0, 20));
  }
  const bar = document.querySelector('.gw-bar');
  return {
    width: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
    bar: bar ? Math.round(bar.getBoundingClientRect().height) : null,
    lang: document.documentElement.lang,
    small: small, squeezed: squeezed,
  };
}"""


@pytest.fixture(scope="module")
def ids(demo_url: str) -> dict[str, int]:
    """One record of each kind from the demo county, for the detail pages."""
    engine = create_engine(demo_url)
    with engine.connect() as conn:
        found = conn.execute(text("""
            SELECT (SELECT min(person_id) FROM assignments) AS person, (SELECT min(id) FROM patrols) AS patrol,
                   (SELECT min(id) FROM users) AS user, (SELECT min(id) FROM units) AS unit,
                   (SELECT min(id) FROM assignments) AS assignment, (SELECT min(id) FROM issue_categories) AS category,
                   (SELECT min(id) FROM areas WHERE level = 'community') AS community
        """)).mappings().one()
    engine.dispose()
    return dict(found)


def pages(ids: dict[str, int]) -> list[str]:
    return [
        "/dashboard", "/issues", "/issues?status=open&overdue=1", "/wishes", "/accountability", "/volunteers",
        f"/people/{ids['person']}", f"/patrols/{ids['patrol']}", "/account/",
        "/admin/", "/admin/users", "/admin/users/new", f"/admin/users/{ids['user']}",
        "/admin/units", f"/admin/units/{ids['unit']}", "/admin/people", f"/admin/people/{ids['person']}",
        "/admin/assignments", "/admin/assignments/new", f"/admin/assignments/{ids['assignment']}",
        "/admin/categories", f"/admin/categories/{ids['category']}", "/admin/audit", "/admin/buildings/waiting",
        "/admin/import", "/admin/draw", f"/admin/draw/{ids['community']}",
        "/ogc/?f=html", "/ogc/collections?f=html", "/ogc/collections/buildings/items?f=html&limit=5",
        "/no-such-page",
    ]


@pytest.fixture(scope="module", params=sorted(LOCALES))
def phone(request, browser, live_server) -> Iterator[tuple[Any, str]]:  # noqa: F811
    """A logged-in administrator's phone in one language (who sees every page)."""
    lang = request.param
    context = browser.new_context(**PHONE, locale=LOCALES[lang])
    page = context.new_page()
    page.goto(f"{live_server}/login?lang={lang}")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(".folium-map")
    yield page, lang
    context.close()


def look(page: Any, url: str) -> dict[str, Any]:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return page.evaluate(MEASURE)


def shot(page: Any, folder: Path, lang: str, path: str) -> None:
    name = path.strip("/").split("?")[0].replace("/", "-") or "map"
    page.screenshot(path=str(folder / f"phone-page-{lang}-{name}.png"))


def test_every_page_fits_a_phone_in_either_language(phone, live_server, ids, screenshots):  # noqa: F811
    page, lang = phone
    faults = []
    for path in ["/", *pages(ids)]:
        seen = look(page, live_server + path)
        shot(page, screenshots, lang, path)
        if seen["width"] > WIDTH:
            faults.append(f"{path}: {seen['width']} px wide")
        if seen["bar"] is not None and seen["bar"] > 56:
            faults.append(f"{path}: the bar is {seen['bar']} px high")
        if seen["lang"] != LOCALES[lang].replace("-US", ""):
            faults.append(f"{path}: in {seen['lang']}")
        faults += [f"{path}: {c} is too small to tap" for c in seen["small"]]
        faults += [f"{path}: '{c}' squeezed into a narrow column" for c in seen["squeezed"]]
    # The login page too, as a stranger sees it.
    stranger = page.context.browser.new_context(**PHONE, locale=LOCALES[lang])
    login = stranger.new_page()
    seen = look(login, f"{live_server}/login?lang={lang}")
    shot(login, screenshots, lang, "/login")
    stranger.close()
    if seen["width"] > WIDTH or seen["small"]:
        faults.append(f"/login: {seen}")
    assert not faults, "\n".join(faults)


def test_the_bar_folds_its_links_into_one_menu_on_a_phone(phone, live_server, screenshots):  # noqa: F811
    page, lang = phone
    look(page, f"{live_server}/issues")
    nav = page.locator("#gw-nav")
    button = page.locator(".gw-menu-button")
    assert not nav.is_visible() and button.get_attribute("aria-expanded") == "false"
    button.tap()
    assert nav.is_visible() and button.get_attribute("aria-expanded") == "true"
    links = nav.locator("a")
    assert links.count() >= 8  # seven pages, the account and the other language
    for i in range(links.count()):
        box = links.nth(i).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH and box["height"] >= 44, links.nth(i).inner_text()
    current = nav.locator("[aria-current=page]")
    assert current.inner_text() == {"zh": "问题", "en": "Issues"}[lang]
    assert nav.locator("form.gw-logout button").is_visible()
    page.screenshot(path=str(screenshots / f"phone-menu-{lang}.png"))
    # A tap outside closes it; so does Escape after opening it again.
    assert nav.bounding_box()["y"] + nav.bounding_box()["height"] < 800
    page.touchscreen.tap(WIDTH // 2, 800)
    assert not nav.is_visible()
    button.tap()
    page.keyboard.press("Escape")
    assert not nav.is_visible()
    # From the menu to another page.
    button.tap()
    nav.get_by_role("link", name={"zh": "看板", "en": "Dashboard"}[lang]).tap()
    page.wait_for_url("**/dashboard*")


def test_the_map_page_has_the_same_menu(phone, live_server):  # noqa: F811
    page, lang = phone
    page.goto(f"{live_server}/")
    page.wait_for_function("() => window.Gridwalk && window.Gridwalk.map")
    page.locator(".gw-menu-button").tap()
    page.locator("#gw-nav").get_by_role("link", name={"zh": "微心愿", "en": "Micro-wishes"}[lang]).tap()
    page.wait_for_url("**/wishes")


def test_on_a_wide_screen_the_links_stand_in_the_bar(browser, live_server):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    page.goto(f"{live_server}/login?lang=en")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(".folium-map")
    look(page, f"{live_server}/issues")
    assert not page.locator(".gw-menu-button").is_visible()
    bar = page.locator(".gw-bar").bounding_box()
    assert bar["height"] <= 56
    for link in page.locator("#gw-nav a").all():
        box = link.bounding_box()
        assert link.is_visible() and box["y"] >= bar["y"] and box["y"] + box["height"] <= bar["y"] + bar["height"]
    # The filters stand open where there is room; the list is a table with its headings.
    assert page.locator(".gw-filters select[name=status]").is_visible()
    assert page.locator(".gw-issue-table thead").is_visible()
    context.close()


def test_on_a_phone_the_issue_filters_fold_behind_one_button_that_counts_them(phone, live_server, screenshots):  # noqa: F811
    page, lang = phone
    look(page, f"{live_server}/issues")
    status = page.locator(".gw-filters select[name=status]")
    fold = page.locator("details.gw-fold > summary")
    assert not status.is_visible()
    assert fold.locator(".gw-fold-count").count() == 0
    # The first card is the first issue, in the order asked for (now: by number, ascending).
    fold.tap()
    status.select_option("open")
    page.locator(".gw-filters select[name=sort]").select_option("id")
    page.locator(".gw-filters select[name=order]").select_option("asc")
    page.screenshot(path=str(screenshots / f"phone-issue-filters-{lang}.png"))
    with page.expect_navigation():
        page.locator(".gw-filters button[type=submit]").tap()
    assert "status=open" in page.url
    assert fold.locator(".gw-fold-count").inner_text() == "1"
    assert not status.is_visible()  # folded again, saying one filter is in force
    numbers = [int(n) for n in page.locator(".gw-issue-table .gw-key a").all_inner_texts()]
    assert numbers and numbers == sorted(numbers)
    # A card names each value: the column's heading stands above it.
    card = page.locator(".gw-issue-table tbody tr").first
    labels = card.evaluate("tr => [...tr.cells].filter(td => td.checkVisibility())"
                           ".map(td => getComputedStyle(td, '::before').content)")
    assert f'"{ {"zh": "上报时间", "en": "Reported at"}[lang] }"' in labels
    assert card.bounding_box()["width"] <= WIDTH
    page.screenshot(path=str(screenshots / f"phone-issue-cards-{lang}.png"))


def test_a_report_waits_for_a_chosen_category_and_the_hint_keeps_off_the_pin(phone, live_server, screenshots):  # noqa: F811
    page, lang = phone
    page.goto(f"{live_server}/")
    page.wait_for_function("() => window.Gridwalk && window.Gridwalk.map")
    # Zoomed out, where the map says to zoom in for buildings.
    page.evaluate("void Gridwalk.map.setView([29.987, 109.472], 13, {animate: false})")
    page.wait_for_load_state("networkidle")
    hint = page.locator("#gw-hint")
    hint.wait_for()
    page.locator("#gw-report").tap()
    form = page.locator("#gw-report-form")
    form.wait_for()
    category = form.locator("select[name=category]")
    assert category.input_value() == ""  # nothing chosen for the officer
    assert category.locator("option:checked").inner_text() == {"zh": "请选择类别", "en": "Choose a category"}[lang]
    form.locator("textarea[name=description]").fill("没有选类别的上报")
    form.locator("button[type=submit]").tap()
    assert not category.evaluate("s => s.checkValidity()")
    assert form.is_visible() and page.locator("#gw-panel .gw-issue-card").count() == 0  # not sent
    # The hint stands clear of the pin the officer is placing.
    pin = page.locator(".leaflet-marker-icon.gw-pin")
    assert hint.is_visible() and pin.is_visible()
    a, b = hint.bounding_box(), pin.bounding_box()
    gap = max(b["y"] - (a["y"] + a["height"]), a["y"] - (b["y"] + b["height"]),
              b["x"] - (a["x"] + a["width"]), a["x"] - (b["x"] + b["width"]))
    page.screenshot(path=str(screenshots / f"phone-report-{lang}.png"))
    assert gap >= 24, (a, b)  # a thumb's width between them, not a hair
    form.locator(".gw-secondary").tap()  # cancel
