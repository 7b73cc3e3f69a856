"""Patrols, the issue list and its exports, Open311, issue categories, and two people
stepping on one issue at the very same time."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import threading

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from geo.models import Issue, Patrol
from tests.conftest import log_in_as


@pytest.fixture
def officer(app, role_users):  # type: ignore[no-untyped-def]
    client = app.test_client()
    client.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(client, "grid-user")
    return client


def report(client, **fields):  # type: ignore[no-untyped-def]
    body = {"lon": 109.4745, "lat": 29.9845, "category": "环境卫生", "description": "楼道堆放杂物"}
    body.update(fields)
    response = client.post("/api/v1/issues", json=body)
    assert response.status_code == 201, response.data
    return response.get_json()


# --- patrols ------------------------------------------------------------------------------


def test_a_patrol_records_its_route_its_issues_and_what_was_solved_on_the_spot(officer, world, session):
    started = officer.post("/api/v1/patrols", json={"area_id": world.grid_west.id, "title": "周三联合步巡",
                                                    "unit_ids": [world.unit.id, world.dept.id],
                                                    "person_ids": [world.cadre.id]})
    assert started.status_code == 201, started.data
    patrol = started.get_json()
    assert [u["name"] for u in patrol["units"]] == ["县住建局", "县城管执法局"] and patrol["ended_at"] is None

    solved = report(officer, patrol_id=patrol["id"])
    report(officer, patrol_id=patrol["id"], description="井盖缺失", category="道路设施")
    officer.post(f"/api/v1/issues/{solved['id']}/events", json={"kind": "resolve", "version": 1, "note": "当场清理"})

    # A phone's GPS: a wobbly walk along the street, hundreds of points.
    track = [[109.471 + i * 0.00001, 29.981 + (0.000004 if i % 2 else 0)] for i in range(600)]
    ended = officer.post(f"/api/v1/patrols/{patrol['id']}/end", json={"track": track}).get_json()
    assert ended["ended_at"] and ended["found"] == 2 and ended["solved_on_the_spot"] == 1
    assert ended["on_the_spot_rate"] == 0.5
    assert ended["track"]["type"] == "LineString" and 2 <= len(ended["track"]["coordinates"]) < 50  # simplified

    page = officer.get(f"/patrols/{patrol['id']}").get_data(as_text=True)
    assert "周三联合步巡" in page and "1 / 2" in page and "井盖缺失" in page and "L.polyline" in page
    late = report(officer)
    refused = officer.post("/api/v1/issues", json={"lon": 109.4745, "lat": 29.9845, "category": "绿化",
                                                   "patrol_id": patrol["id"]})
    assert refused.status_code == 409 and late["patrol_id"] is None


def test_only_the_starting_phone_records_the_route_anyone_may_end_it(app, officer, world, role_users):
    patrol = officer.post("/api/v1/patrols", json={"area_id": world.grid_west.id}).get_json()
    track = [[109.471, 29.981], [109.472, 29.981]]
    assert officer.post(f"/api/v1/patrols/{patrol['id']}/track", json={"track": track}).status_code == 200
    community = app.test_client()
    community.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(community, "community-user")
    other = community.post(f"/api/v1/patrols/{patrol['id']}/track", json={"track": [[109.475, 29.985], [109.476, 29.985]]})
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "not_your_patrol"
    ended = community.post(f"/api/v1/patrols/{patrol['id']}/end", json={})  # left running: ended for them
    assert ended.status_code == 200
    kept = [[round(c, 6) for c in point] for point in ended.get_json()["track"]["coordinates"]]
    assert kept == track  # the starter's route, untouched


@pytest.mark.parametrize(
    "body, status",
    [
        ({"area_id": "community"}, 400),  # a patrol walks a grid
        ({"area_id": "other_grid"}, 403),  # outside the grid member's area
        ({}, 400),
        ({"area_id": "grid_west", "unit_ids": [999999]}, 404),
        ({"area_id": "grid_west", "unit_ids": "abc"}, 400),
    ],
)
def test_a_bad_patrol_is_refused(officer, world, session, body, status):
    if isinstance(body.get("area_id"), str):
        body = {**body, "area_id": getattr(world, body["area_id"]).id}
    assert officer.post("/api/v1/patrols", json=body).status_code == status
    assert session.scalar(select(func.count()).select_from(Patrol)) == 0


@pytest.mark.parametrize("track", [[[109.47, 29.98]], [[1, 2, 3]] * 2, [["a", "b"], [1, 2]], "line",
                                   [[29.98, 109.47], [29.99, 109.48]], [[110.47, 29.98], [110.48, 29.98]]])
def test_a_bad_track_is_refused(officer, world, track):
    patrol = officer.post("/api/v1/patrols", json={"area_id": world.grid_west.id}).get_json()
    response = officer.post(f"/api/v1/patrols/{patrol['id']}/track", json={"track": track})
    assert response.status_code == 400


def test_a_patrol_is_offered_the_people_who_answer_for_its_grid(app, officer, world, role_users):
    people = officer.get(f"/api/v1/areas/{world.grid_west.id}/people").get_json()
    # The building's cadre and the household's party member; not the community's county
    # leader (above the grid), nobody with a phone number.
    assert [p["name"] for p in people] == ["李四", "张三"]  # by pinyin, as a phone's contacts
    assert people[0]["unit"] == world.unit.name and "phone" not in people[0]
    assert officer.get(f"/api/v1/areas/{world.community.id}/people").status_code == 403  # above their grid
    community = app.test_client()
    log_in_as(community, "community-user")
    everyone = community.get(f"/api/v1/areas/{world.community.id}/people").get_json()
    assert {p["name"] for p in everyone} == {"张三", "李四", "王五"}
    assert community.get(f"/api/v1/areas/{world.other_grid.id}/people").status_code == 403


def test_a_viewer_may_not_patrol(app, role_users, world):
    viewer = app.test_client()
    viewer.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(viewer, "viewer-user")
    assert viewer.post("/api/v1/patrols", json={"area_id": world.grid_west.id}).status_code == 403


# --- the issue list and its exports -------------------------------------------------------


def test_the_issue_list_filters_sorts_and_pages(officer, world, session):
    first = report(officer, description="第一个")
    report(officer, lon=109.485, lat=29.995, category="绿化", description="第二个")
    page = officer.get("/issues?category=绿化").get_data(as_text=True)
    assert "第二个" in page and "第一个" not in page
    ordered = officer.get("/issues?sort=id&order=asc").get_data(as_text=True)
    assert ordered.index("第一个") < ordered.index("第二个")
    session.execute(text("UPDATE issues SET deadline = current_date - 3 WHERE id = :i"), {"i": first["id"]})
    overdue = officer.get("/issues?overdue=1").get_data(as_text=True)
    assert "第一个" in overdue and "第二个" not in overdue and "gw-row-overdue" in overdue
    assert officer.get("/issues?since=not-a-date").status_code == 400
    assert officer.get("/issues?sort=password_hash").status_code == 400


def test_the_issue_list_offers_the_users_grids_by_name(app, role_users, world, officer):
    report(officer, description="西边的问题")
    report(officer, lon=109.485, lat=29.995, description="东边的问题")
    community = app.test_client()
    log_in_as(community, "community-user")
    page = community.get("/issues").get_data(as_text=True)
    assert f'<option value="{world.grid_east.id}">文澜二网格</option>' in page
    assert f'<option value="{world.community.id}">文澜社区（全部）</option>' in page
    assert "东门一网格" not in page  # another community's grid
    east = community.get(f"/issues?area_id={world.grid_east.id}").get_data(as_text=True)
    assert "东边的问题" in east and "西边的问题" not in east
    assert f'<option value="{world.grid_east.id}" selected>' in east
    # An area above theirs narrows nothing beyond their own, and is not offered by name.
    township = community.get(f"/issues?area_id={world.township.id}").get_data(as_text=True)
    assert "东边的问题" in township and f'<option value="{world.township.id}"' not in township


def test_exports_hold_the_filtered_issues_and_defuse_formulas(officer, world):
    report(officer, description="=HYPERLINK(\"http://evil\")")
    report(officer, lon=109.485, lat=29.995, category="绿化", description="第二个")
    response = officer.get("/issues.csv?category=环境卫生")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:4] == ["#", "上报时间", "类别", "状态"] and len(rows) == 2
    assert rows[1][4] == "'=HYPERLINK(\"http://evil\")"  # text, not a formula
    book = load_workbook(io.BytesIO(officer.get("/issues.xlsx").data))
    sheet = book.active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert len(values) == 3 and {values[1][2], values[2][2]} == {"环境卫生", "绿化"}


def test_lists_and_exports_hold_only_what_the_user_reads(app, role_users, world, officer):
    report(officer, lon=109.5005, lat=29.9905, description="东门的问题")  # reported by the grid member
    community = app.test_client()
    log_in_as(community, "community-user")
    assert "东门的问题" not in community.get("/issues").get_data(as_text=True)
    assert "东门的问题" not in community.get("/issues.csv").get_data(as_text=True)
    assert "东门的问题" in officer.get("/issues").get_data(as_text=True)  # their own report


# --- Open311 ------------------------------------------------------------------------------


def test_open311_services_and_requests(app, officer, world, session, role_users):
    from geo import accounts

    _, token = accounts.create_token(session, role_users["grid"])
    client = app.test_client()
    services = client.get(f"/open311/v2/services.json?api_key={token}").get_json()
    assert {s["service_code"] for s in services} >= {"环境卫生", "绿化"}
    assert all(s["type"] == "realtime" for s in services)

    created = client.post("/open311/v2/requests.json", data={
        "api_key": token, "service_code": "占道经营", "lat": "29.9845", "long": "109.4745",
        "description": "店外摆摊", "address_string": "文澜路1号"})
    assert created.status_code == 201
    [receipt] = created.get_json()
    assert receipt["service_notice"] == "县住建局"

    one = client.get(f"/open311/v2/requests/{receipt['service_request_id']}.json",
                     headers={"Authorization": f"Bearer {token}"}).get_json()
    assert one[0]["status"] == "open" and one[0]["service_code"] == "占道经营"
    assert one[0]["agency_responsible"] == "县住建局" and one[0]["address"] == "文澜路1号"

    issue = session.get(Issue, int(receipt["service_request_id"]))
    issue.status = "closed"
    session.flush()
    closed = client.get(f"/open311/v2/requests.json?api_key={token}&status=closed").get_json()
    assert [r["service_request_id"] for r in closed] == [receipt["service_request_id"]]
    assert client.get(f"/open311/v2/requests.json?api_key={token}&status=open").get_json() == []
    both = client.get(f"/open311/v2/requests.json?api_key={token}&status=open,closed").get_json()
    assert [r["service_request_id"] for r in both] == [receipt["service_request_id"]]


def test_open311_a_request_asked_for_by_id_is_found_however_old(app, officer, world, session, role_users):
    from geo import accounts

    _, token = accounts.create_token(session, role_users["grid"])
    client = app.test_client()
    created = client.post("/open311/v2/requests.json", data={
        "api_key": token, "service_code": "绿化", "lat": "29.9845", "long": "109.4745",
        "description": "树枝\r\n压线", "attribute[size]": "large"})
    assert created.status_code == 201, created.data
    request_id = created.get_json()[0]["service_request_id"]
    issue = session.get(Issue, int(request_id))
    issue.reported_at -= dt.timedelta(days=400)  # older than the list's default window
    session.flush()
    listed = client.get(f"/open311/v2/requests.json?api_key={token}&status=closed&service_request_id={request_id}")
    assert [r["service_request_id"] for r in listed.get_json()] == [request_id]
    assert client.get(f"/open311/v2/requests.json?api_key={token}").get_json() == []


def test_open311_names_a_missing_long_as_the_spec_does(app, session, role_users, world):
    from geo import accounts

    _, token = accounts.create_token(session, role_users["grid"])
    response = app.test_client().post("/open311/v2/requests.json",
                                      data={"api_key": token, "service_code": "绿化", "lat": "29.98"})
    assert response.status_code == 400 and "long" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    "data, status",
    [
        ({"service_code": "外星人", "lat": "29.98", "long": "109.47"}, 400),
        ({"service_code": "绿化", "lat": "abc", "long": "109.47"}, 400),
        ({"service_code": "绿化", "lat": "29.98", "long": "120.0"}, 400),
        ({"service_code": "绿化"}, 400),
        ({"lat": "29.98", "long": "109.47"}, 400),
    ],
)
def test_open311_refuses_bad_requests(app, session, role_users, world, data, status):
    from geo import accounts

    _, token = accounts.create_token(session, role_users["grid"])
    response = app.test_client().post("/open311/v2/requests.json", data={"api_key": token, **data})
    assert response.status_code == status and set(response.get_json()["error"]) == {"code", "message"}
    assert session.scalar(select(func.count()).select_from(Issue)) == 0


def test_open311_needs_a_key(client, world):
    assert client.get("/open311/v2/services.json").status_code == 401
    assert client.get("/open311/v2/services.json?api_key=gw_wrong").status_code == 401
    assert client.get("/open311/v2/services.xml").status_code == 404


# --- categories ---------------------------------------------------------------------------


def test_an_admin_keeps_the_category_list(app, role_users, world, officer):
    admin = app.test_client()
    token = log_in_as(admin, "admin-user")
    assert admin.post("/admin/categories/new", data={"csrf_token": token, "code": "噪音扰民", "name": "噪音扰民",
                                                     "position": "9", "active": "true"}).status_code == 302
    assert "噪音扰民" in [c["code"] for c in officer.get("/api/v1/categories").get_json()]
    report(officer, category="噪音扰民")
    listing = admin.get("/admin/categories").get_data(as_text=True)
    category_id = re.search(r'/admin/categories/(\d+)">噪音扰民', listing).group(1)
    retired = admin.post(f"/admin/categories/{category_id}", data={
        "csrf_token": token, "name": "噪音扰民", "position": "9", "active": "false", "version": "1"})
    assert retired.status_code == 302
    assert "噪音扰民" not in [c["code"] for c in officer.get("/api/v1/categories").get_json()]
    assert "噪音扰民" in officer.get("/issues").get_data(as_text=True)  # old issues keep their category


def test_a_retired_category_is_refused_for_new_reports(officer, world, session):
    session.execute(text("UPDATE issue_categories SET active = false WHERE code = '绿化'"))
    response = officer.post("/api/v1/issues", json={"lon": 109.4745, "lat": 29.9845, "category": "绿化"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "unknown_category"
    assert "绿化" not in [c["code"] for c in officer.get("/api/v1/categories").get_json()]


# --- two steps at the very same moment ----------------------------------------------------


def test_a_patrol_ended_twice_at_once_ends_once(committed_world):
    from webmap import create_app

    app = create_app({"DATABASE_URL": committed_world["url"], "SECRET_KEY": "x"})
    headers = {"Authorization": f"Bearer {committed_world['token']}"}
    with Session(committed_world["engine"]) as s:
        grid = s.scalar(text("SELECT id FROM areas WHERE code = 'T4228250101-01'"))
    patrol = app.test_client().post("/api/v1/patrols", headers=headers, json={"area_id": grid}).get_json()
    barrier = threading.Barrier(2)
    results: list[int] = []

    def end(track: list[list[float]]) -> None:
        client = app.test_client()
        barrier.wait()
        results.append(client.post(f"/api/v1/patrols/{patrol['id']}/end", headers=headers,
                                   json={"track": track}).status_code)

    tracks = ([[109.471, 29.981], [109.472, 29.981]], [[109.475, 29.985], [109.476, 29.986]])
    threads = [threading.Thread(target=end, args=(t,)) for t in tracks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409]


def test_two_concurrent_steps_on_one_issue_give_one_409(committed_world):
    from webmap import create_app

    engine = committed_world["engine"]
    app = create_app({"DATABASE_URL": committed_world["url"], "SECRET_KEY": "x"})
    headers = {"Authorization": f"Bearer {committed_world['token']}"}
    issue = app.test_client().post("/api/v1/issues", headers=headers, json={
        "lon": 109.4745, "lat": 29.9845, "category": "环境卫生", "description": "并发处理"}).get_json()
    barrier = threading.Barrier(2)
    results: list[int] = []

    def act(kind: str) -> None:
        body = {"kind": kind, "version": issue["version"], "note": "同时操作", "decision": "现场决定"}
        client = app.test_client()
        barrier.wait()
        results.append(client.post(f"/api/v1/issues/{issue['id']}/events", headers=headers, json=body).status_code)

    threads = [threading.Thread(target=act, args=(kind,)) for kind in ("meeting", "resolve")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 409]
    with Session(engine) as s:
        events = s.scalar(text("SELECT count(*) FROM issue_events WHERE issue_id = :i"), {"i": issue["id"]})
    assert events == 2  # reported, and the one step that won
