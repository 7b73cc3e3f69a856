"""One building, one code: the public page a building's sticker opens (no login, nothing
personal beyond the notice board), residents' reports into the workflow, the abuse guards,
and the sticker sheets."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import segno
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select

from geo.models import Issue, IssueEvent, ResidentReport
from tests.conftest import client_as

DESCRIPTION = "楼道里堆满了纸箱，堵住了消防通道"


def page_of(client, world):  # type: ignore[no-untyped-def]
    response = client.get(f"/q/{world.building.public_code}")
    assert response.status_code == 200, response.data
    return response.get_data(as_text=True)


def form_of(client, world, *, seconds_ago: float = 20, building_id: int | None = None, **fields):  # type: ignore[no-untyped-def]
    """The report form as a resident's phone sends it, opened `seconds_ago`."""
    page = page_of(client, world)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    opened = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=seconds_ago)).timestamp()
    token = URLSafeSerializer("test-secret", salt="resident-report").dumps(
        {"b": building_id or world.building.id, "t": opened})
    return {"csrf_token": csrf, "form_token": token, "category": "安全隐患", "description": DESCRIPTION, **fields}


def resident_issues(session) -> list[Issue]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return list(session.scalars(select(Issue).where(Issue.source == "resident")))


def test_the_code_opens_who_answers_for_the_building_without_a_login(app, session, world):
    page = page_of(app.test_client(), world)
    assert "贡水花园1栋" in page and "文澜社区 › 文澜一网格 › 贡水花园" in page
    for shown in ("县住建局", "张三", "楼栋长", "每周巡查楼栋安全", "王五", "县城管执法局"):
        assert shown in page, shown
    assert "旧楼栋长" not in page  # an ended assignment
    # A cadre's phone only when marked public; the unit's office line is public.
    assert "13800001234" not in page and "0718-1234567" in page
    world.cadre.phone_public = True
    session.flush()
    assert 'href="tel:13800001234"' in page_of(app.test_client(), world)
    # Nothing of the households or their party members.
    assert "李四" not in page and "101" not in page


@pytest.mark.parametrize("code", ["000000000000", "abc", "ZZZZZZZZZZZZ", "1%27%20OR%201=1"])
def test_a_forged_code_is_not_found_and_says_so_in_chinese(app, world, code):
    response = app.test_client().get(f"/q/{code}", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "没有与此二维码对应的楼栋" in response.get_data(as_text=True)


def test_a_residents_report_enters_the_workflow_routed_to_the_building(app, session, world, role_users):
    resident = app.test_client()
    response = resident.post(f"/q/{world.building.public_code}", data=form_of(resident, world))
    assert response.status_code == 303
    [issue] = resident_issues(session)
    assert (issue.building_id, issue.unit_id, issue.reported_by_id, issue.status) == (
        world.building.id, world.unit.id, None, "reported")
    event = session.scalar(select(IssueEvent).where(IssueEvent.issue_id == issue.id))
    assert event.kind == "reported" and event.user_id is None and event.data["source"] == "resident"
    # The resident sees it listed as theirs, by state, without its description.
    page = resident.get(response.headers["Location"]).get_data(as_text=True)
    assert f"编号 {issue.id}" in page and "居民反映" in page
    assert DESCRIPTION not in page.split("本楼问题办理情况")[1]
    # The grid's officer has it, in the usual workflow.
    officer = client_as(app, "grid")
    listed = officer.get("/api/v1/issues?status=open&bbox=109.47,29.98,109.48,29.99").get_json()
    assert issue.id in {f["id"] for f in listed["features"]}
    detail = officer.get(f"/api/v1/issues/{issue.id}").get_json()
    assert detail["description"] == DESCRIPTION and detail["source"] == "resident" and detail["reported_by"] is None
    step = officer.post(f"/api/v1/issues/{issue.id}/events", json={"kind": "comment", "note": "已安排现场查看",
                                                                   "version": detail["version"]})
    assert step.status_code == 201, step.data


@pytest.mark.parametrize(("change", "code"), [
    ({"seconds_ago": 0.5}, "too_quick"),
    ({"seconds_ago": 13 * 3600}, "form_expired"),
    ({"website": "http://spam.example"}, "refused"),
    ({"description": "坏了"}, "too_short"),
    ({"description": "x" * 501}, "too_long"),
    ({"category": "不存在"}, "unknown_category"),
    ({"form_token": "forged"}, "stale_form"),
])
def test_a_bad_report_is_refused_with_a_reason_and_stores_nothing(app, session, world, change, code):
    resident = app.test_client()
    seconds = change.pop("seconds_ago", 20)
    response = resident.post(f"/q/{world.building.public_code}", data=form_of(resident, world, seconds_ago=seconds,
                                                                            **change))
    assert response.status_code == 400, code
    assert 'class="gw-error"' in response.get_data(as_text=True)
    assert resident_issues(session) == []
    assert session.scalar(select(func.count()).select_from(ResidentReport)) == 0


def test_a_form_made_for_another_building_is_refused(app, session, world):
    resident = app.test_client()
    data = form_of(resident, world, building_id=world.other_building.id)
    assert resident.post(f"/q/{world.building.public_code}", data=data).status_code == 400
    assert resident_issues(session) == []


def test_a_spray_of_reports_is_cut_off_after_three_an_hour(app, session, world):
    resident = app.test_client()
    answers = [resident.post(f"/q/{world.building.public_code}", data=form_of(resident, world)).status_code
               for _ in range(5)]
    assert answers == [303, 303, 303, 429, 429]
    assert len(resident_issues(session)) == 3
    refused = resident.post(f"/q/{world.building.public_code}", data=form_of(resident, world))
    assert "请一小时后再提交" in refused.get_data(as_text=True)
    # Another address is another sender.
    neighbour = app.test_client()
    response = neighbour.post(f"/q/{world.building.public_code}", data=form_of(neighbour, world),
                              environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 303


def test_the_sticker_sheet_holds_every_buildings_code_and_is_for_its_area_only(app, session, world, role_users):
    community = client_as(app, "community", api=False)
    response = community.get(f"/areas/{world.community.id}/stickers")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.count('class="gw-sticker"') == 1 and "贡水花园1栋" in page
    url = f"http://localhost/q/{world.building.public_code}"
    assert segno.make(url, error="m").svg_inline(scale=4, border=2) in page  # the code encodes the page
    other = community.get(f"/areas/{world.other_community.id}/stickers")
    assert other.status_code == 403
    assert app.test_client().get(f"/areas/{world.community.id}/stickers").status_code in (302, 401)


def test_a_public_url_set_for_the_county_goes_on_the_stickers(app, world, role_users):
    app.config["PUBLIC_URL"] = "https://wg.xianfeng.gov.cn/"
    page = client_as(app, "community", api=False).get(f"/areas/{world.compound.id}/stickers").get_data(as_text=True)
    expected = segno.make(f"https://wg.xianfeng.gov.cn/q/{world.building.public_code}", error="m")
    assert expected.svg_inline(scale=4, border=2) in page


def test_an_administrator_marks_a_cadres_phone_public_and_the_building_page_shows_it(app, session, world, role_users):
    admin = client_as(app, "admin", api=False)
    form = admin.get(f"/admin/people/{world.cadre.id}").get_data(as_text=True)
    assert "电话对外公示" in form
    response = admin.post(f"/admin/people/{world.cadre.id}", data={
        "csrf_token": admin.csrf, "name": "张三", "unit_id": str(world.unit.id), "title": "副局长",
        "phone": "13800001234", "phone_public": "true", "is_party_member": "true", "version": str(world.cadre.version)})
    assert response.status_code in (302, 303), response.data
    assert 'href="tel:13800001234"' in page_of(app.test_client(), world)


def test_a_notice_boards_code_opens_its_area_with_its_buildings_to_report_at(app, session, world):
    client = app.test_client()
    response = client.get(f"/q/{world.grid_west.public_code}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "文澜一网格" in page and "本网格包保责任人" in page and "王五" in page
    assert f'href="/q/{world.building.public_code}#report"' in page
    assert "张三" not in page  # the building's own cadre is on the building's page
    # Counties and townships have no board: their code is no public page.
    assert client.get(f"/q/{world.township.public_code}").status_code == 404
    # Nothing is posted to an area's page.
    data = form_of(client, world)
    assert client.post(f"/q/{world.grid_west.public_code}", data=data).status_code == 400



def test_one_ipv6_network_is_one_sender_however_many_addresses_it_uses():
    from geo.residents import sender_network

    assert sender_network("2408:8207:1:2::aaaa") == sender_network("2408:8207:1:2:ffff::1") == "2408:8207:1:2::/64"
    assert sender_network("2408:8207:1:3::1") != sender_network("2408:8207:1:2::1")
    assert sender_network("::ffff:10.1.2.3") == sender_network("10.1.2.3") == "10.1.2.3"


def test_the_buildings_of_one_compound_take_at_most_so_many_reports_an_hour(app, session, world):
    import dataclasses

    from geo import residents

    app.config["TESTING"] = True
    small = dataclasses.replace(residents.LIMITS, per_area_hour=2)
    original, residents.LIMITS = residents.LIMITS, small
    try:
        answers = []
        for n in range(3):
            resident = app.test_client()
            answers.append(resident.post(f"/q/{world.building.public_code}", data=form_of(resident, world),
                                         environ_base={"REMOTE_ADDR": f"10.9.0.{n + 1}"}).status_code)
    finally:
        residents.LIMITS = original
    assert answers == [303, 303, 429]
