"""The community pages: dashboard, micro-wishes, accountability, volunteers and a person's
page, with their CSV and XLSX downloads."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from geo.models import ServiceRecord, Visit, Wish, WishPhoto
from tests.conftest import log_in_as
from tests.webmap.test_issues import jpeg, post_form


def today(session) -> dt.date:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.current_date()))


def logged_in(app, username: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    client.csrf = log_in_as(client, username)
    return client


@pytest.fixture
def year_of_work(world, session):  # type: ignore[no-untyped-def]
    """李四 registered with 文澜社区, two of his four households visited this week, one
    open wish and a little volunteer service this year; 张三 (registered too) has done nothing."""
    day = today(session)
    world.member.registered_area_id = world.community.id
    world.cadre.registered_area_id = world.community.id
    session.add_all([
        Visit(household_id=world.households[0].id, person_id=world.member.id, visited_on=day, hours=Decimal(1),
              by_assignee=True),
        Visit(household_id=world.households[1].id, person_id=world.member.id, visited_on=day, hours=Decimal(1),
              by_assignee=True),
        # Long ago: not this window, and the household still counts as not visited for 30 days.
        Visit(household_id=world.households[2].id, person_id=world.member.id,
              visited_on=day - dt.timedelta(days=200), hours=Decimal(1), by_assignee=True),
    ])
    wish = Wish(household_id=world.households[3].id, title="=HYPERLINK(\"http://x\")修楼道灯", raised_on=day)
    session.add(wish)
    # Three short sessions this year; 120 hours the year before (one star all told).
    session.add_all(ServiceRecord(person_id=world.member.id, served_on=day, activity="义务巡逻", hours=Decimal(1))
                    for _ in range(3))
    session.add_all(ServiceRecord(person_id=world.member.id, served_on=dt.date(day.year - 1, 6, d + 1),
                                  activity="防汛值守", hours=Decimal(20)) for d in range(6))
    session.flush()
    return wish


def test_the_dashboard_shows_a_communitys_week(app, role_users, world, session, year_of_work):
    client = logged_in(app, "community-user")
    page = client.get("/dashboard").get_data(as_text=True)
    assert "文澜社区" in page
    # Two of six households this week: the tile and the latest bar of the 12-week chart.
    assert re.search(r"本周走访覆盖</span><strong>33%</strong>", page)
    assert page.count('<g class="gw-week">') == 12
    assert "33%</text>" in page
    # On a fixed 0–100 % scale: the week at a third stands a third of the chart's 140 high,
    # not the whole of it as the largest bar would on a scale that tops out at it.
    assert '>100%</text>' in page and '>50%</text>' in page
    assert re.search(r'<rect x="[\d.]+" y="[\d.]+" width="22" height="46.7"/>', page)
    # Behind: 张三 (nothing) and 李四 (2 visits + 3 service = 5 sessions < 8) both short.
    behind = page[page.index('id="behind"'):page.index('id="not-visited"')]
    assert "张三" in behind and "李四" in behind
    # Not visited for 30 days: the six minus the two seen this week; the one seen 200 days ago shows its date.
    lonely = page[page.index('id="not-visited"'):page.index('id="wishes"')]
    assert lonely.count('<tr><td class="gw-key"><a') == 4
    assert (today(session) - dt.timedelta(days=200)).isoformat() in lonely
    assert "修楼道灯" in page[page.index('id="wishes"'):]


def test_every_dashboard_table_downloads_as_csv_and_xlsx(app, role_users, world, session, year_of_work):
    client = logged_in(app, "community-user")
    response = client.get(f"/dashboard?area_id={world.community.id}&table=not_visited&format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert re.fullmatch(r"attachment; filename=not-visited-\d{4}-\d\d-\d\d\.csv", response.headers["Content-Disposition"])
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")  # Excel reads the Chinese as UTF-8
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == ["楼栋", "住户", "最近走访", "天数"] and len(rows) == 5
    wishes = client.get(f"/dashboard?area_id={world.community.id}&table=wishes&format=xlsx")
    sheet = load_workbook(io.BytesIO(wishes.data)).active
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0][0] == "心愿"
    # A cell that a spreadsheet would run as a formula is written as text.
    assert cells[1][0] == "'=HYPERLINK(\"http://x\")修楼道灯"
    behind = client.get(f"/dashboard?area_id={world.community.id}&table=behind&format=csv").get_data(as_text=True)
    assert "张三" in behind and "李四" in behind


def test_the_dashboard_keeps_to_the_users_area(app, role_users, world, session, year_of_work):
    client = logged_in(app, "community-user")
    assert client.get(f"/dashboard?area_id={world.other_community.id}").status_code == 404
    # The county above is on their map, but its figures are not theirs to see.
    assert client.get(f"/dashboard?area_id={world.county.id}").status_code == 404
    for bad in ("area_id=abc", "days=0", "format=pdf&table=behind", "area_id=99999999999"):
        response = client.get(f"/dashboard?{bad}")
        assert 400 <= response.status_code < 500 and 'class="gw-error"' in response.get_data(as_text=True), bad
    grid = logged_in(app, "grid-user")
    assert "文澜一网格" in grid.get("/dashboard").get_data(as_text=True)
    county = logged_in(app, "county-user")
    assert '<option value="%d">测试镇' % world.township.id in county.get("/dashboard").get_data(as_text=True)
    admin = logged_in(app, "admin-user")  # no area of their own: the first community
    assert admin.get("/dashboard").location.endswith(f"/dashboard?area_id={world.community.id}")


def test_a_wish_is_claimed_and_fulfilled_from_its_page(app, role_users, world, session, year_of_work):
    role_users["grid"].person_id = world.cadre.id
    session.flush()
    client = logged_in(app, "grid-user")
    page = client.get("/wishes?status=open").get_data(as_text=True)
    assert "修楼道灯" in page and 'name="promised_on"' in page
    wish = year_of_work
    promised = (today(session) + dt.timedelta(days=7)).isoformat()
    # A promise already past is refused with a message, and the wish stays open.
    past = (today(session) - dt.timedelta(days=1)).isoformat()
    refused = client.post(f"/wishes/{wish.id}/claim", data={"csrf_token": client.csrf, "version": wish.version,
                                                            "promised_on": past}, follow_redirects=True)
    assert 'class="gw-error"' in refused.get_data(as_text=True)
    session.refresh(wish)
    assert wish.status == "open"
    client.post(f"/wishes/{wish.id}/claim", data={"csrf_token": client.csrf, "version": wish.version,
                                                  "promised_on": promised})
    session.refresh(wish)
    assert (wish.status, wish.claimed_by_person_id, wish.promised_on.isoformat()) == ("claimed", world.cadre.id,
                                                                                     promised)
    # The form of a stale page (old version) changes nothing.
    stale = client.post(f"/wishes/{wish.id}/fulfil", data={"csrf_token": client.csrf, "version": wish.version - 1,
                                                           "note": "修好了"}, follow_redirects=True)
    assert 'class="gw-error"' in stale.get_data(as_text=True)
    # The fulfil form sends the note with a photo of the work.
    post_form(client, f"/wishes/{wish.id}/fulfil", {"csrf_token": client.csrf, "version": str(wish.version),
                                                    "note": "换了声控灯",
                                                    "photos": (io.BytesIO(jpeg(size=(800, 600))), "lamp.jpg")})
    session.refresh(wish)
    assert (wish.status, wish.note) == ("fulfilled", "换了声控灯")
    [photo_id] = session.scalars(select(WishPhoto.id).where(WishPhoto.wish_id == wish.id))
    shown = client.get("/wishes?status=fulfilled").get_data(as_text=True)
    assert f'<img src="/api/v1/wishes/{wish.id}/photos/{photo_id}"' in shown
    assert client.get(f"/api/v1/wishes/{wish.id}/photos/{photo_id}").mimetype == "image/jpeg"
    client.post(f"/wishes/{wish.id}/rate", data={"csrf_token": client.csrf, "version": wish.version, "rating": "5"})
    session.refresh(wish)
    assert wish.rating == 5
    assert "★★★★★" in client.get("/wishes?status=fulfilled").get_data(as_text=True)


def test_a_viewer_sees_wishes_but_no_buttons(app, role_users, world, session, year_of_work):
    page = logged_in(app, "viewer-user").get("/wishes").get_data(as_text=True)
    assert "修楼道灯" in page and "action=\"/wishes/" not in page


def test_accountability_lists_who_is_behind_by_unit_and_downloads(app, role_users, world, session, year_of_work):
    client = logged_in(app, "county-user")
    page = client.get(f"/accountability?year={today(session).year}").get_data(as_text=True)
    table = page[page.index("gw-behind-table"):]
    assert "张三" in table and "县住建局" in table
    by_community = client.get("/accountability?group=community").get_data(as_text=True)
    assert "文澜社区" in by_community[by_community.index("gw-behind-table"):]
    # Last year 李四 served 6 long sessions (< 8) and 张三 nothing: both behind.
    last_year = client.get(f"/accountability?year={today(session).year - 1}&format=xlsx")
    sheet = load_workbook(io.BytesIO(last_year.data)).active
    names = {row[1].value for row in sheet.iter_rows(min_row=2)}
    assert {"张三", "李四"} <= names
    assert client.get("/accountability?year=1800").status_code == 400


def test_volunteers_ranked_with_stars_and_a_persons_page(app, role_users, world, session, year_of_work):
    client = logged_in(app, "county-user")
    ranking = client.get("/volunteers").get_data(as_text=True)
    assert "李四" in ranking and 'aria-label="1 星"' in ranking  # 123 h: one star
    csv_rows = list(csv.reader(io.StringIO(client.get("/volunteers?format=csv").get_data(as_text=True)[1:])))
    assert csv_rows[1][0] == "李四" and csv_rows[1][3] == "1"
    person = client.get(f"/people/{world.member.id}").get_data(as_text=True)
    assert "累计志愿服务 123.0 小时" in person and "未达标" in person
    # Of his households, the one seen 200 days ago and the one never seen are where to go next.
    lonely = person[person.index('id="not-visited"'):]
    assert lonely.count("<tr><td><a") == 2


def test_an_officer_records_service_and_registration_on_the_persons_page(app, role_users, world, session):
    client = logged_in(app, "community-user")
    # An in-service party member registered nowhere yet: the community officer registers him.
    page = client.get(f"/people/{world.leader.id}").get_data(as_text=True)
    assert "尚未到社区报到" in page and 'name="area_id"' in page
    client.post(f"/people/{world.leader.id}/registration",
                data={"csrf_token": client.csrf, "area_id": world.community.id, "version": world.leader.version})
    session.refresh(world.leader)
    assert world.leader.registered_area_id == world.community.id
    assert "到 文澜社区 报到" in client.get(f"/people/{world.leader.id}").get_data(as_text=True)
    # Registered in another community and working there: not this officer's to see.
    world.other_cadre.registered_area_id = world.other_community.id
    session.flush()
    assert client.get(f"/people/{world.other_cadre.id}").status_code == 404
    # Hours are verified by a named person: an officer whose login is linked to nobody is
    # told so instead of being offered the form.
    assert "请管理员把您的登录账号关联到您本人" in client.get(f"/people/{world.member.id}").get_data(as_text=True)
    role_users["community"].person_id = world.cadre.id
    session.flush()
    assert 'name="activity"' in client.get(f"/people/{world.member.id}").get_data(as_text=True)
    done = client.post(f"/people/{world.member.id}/service",
                       data={"csrf_token": client.csrf, "activity": "清理楼道", "hours": "2.5",
                             "served_on": today(session).isoformat()}, follow_redirects=True)
    assert "清理楼道" in done.get_data(as_text=True)
    bad = client.post(f"/people/{world.member.id}/service",
                      data={"csrf_token": client.csrf, "activity": "清理楼道", "hours": "25"}, follow_redirects=True)
    assert 'class="gw-error"' in bad.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(ServiceRecord)) == 1
    party = logged_in(app, "party-user")
    assert party.post(f"/people/{world.member.id}/service",
                      data={"csrf_token": party.csrf, "activity": "自己记", "hours": "2"}).status_code in (302, 404)
    assert session.scalar(select(func.count()).select_from(ServiceRecord)) == 1


def test_downloads_hold_every_row_not_the_page(app, role_users, world, session):
    day = today(session)
    session.add_all(Wish(household_id=world.households[n % 6].id, title=f"心愿{n}", raised_on=day) for n in range(70))
    session.flush()
    client = logged_in(app, "community-user")
    assert client.get("/wishes").get_data(as_text=True).count('class="gw-wish-card') == 50
    rows = list(csv.reader(io.StringIO(client.get("/wishes?format=csv").get_data(as_text=True)[1:])))
    assert len(rows) == 71
    dashboard = client.get(f"/dashboard?area_id={world.community.id}&table=wishes&format=csv").get_data(as_text=True)
    assert len(list(csv.reader(io.StringIO(dashboard[1:])))) == 71


@pytest.mark.parametrize("path", ["/dashboard", "/wishes", "/accountability", "/volunteers", "/issues",
                                  "/admin/units", "/admin/audit"])
def test_odd_query_parameters_do_not_break_a_page(app, role_users, world, session, path):
    client = logged_in(app, "admin-user")
    for odd in ("endpoint=x", "fmt=pdf", "_method=POST", "_external=1", "_anchor=x", "values=1", "lang=xx", "page=1&page=2"):
        response = client.get(f"{path}?{odd}", follow_redirects=True)
        assert response.status_code in (200, 400), (path, odd, response.status_code)
        assert 'class="gw-error"' in response.get_data(as_text=True) or response.status_code == 200
