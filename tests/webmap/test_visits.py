"""Household visits, micro-wishes, coverage, accountability and volunteers through the API."""

from __future__ import annotations

import datetime as dt
import io
import threading
import uuid
from decimal import Decimal

import pytest
from PIL import Image
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from geo import accountability, accounts
from geo.models import (
    Assignment,
    Household,
    Patrol,
    ServiceRecord,
    Visit,
    Wish,
    WishPhoto,
)
from tests.conftest import PASSWORD, log_in_as
from tests.webmap.test_issues import jpeg, post_form


@pytest.fixture
def member(app, role_users, world, session):  # type: ignore[no-untyped-def]
    """The party member 李四 (holds four households of 贡水花园1栋), logged in."""
    role_users["party"].person_id = world.member.id
    session.flush()
    client = app.test_client()
    client.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(client, "party-user")
    return client


def today(session) -> dt.date:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.current_date()))


def test_a_party_member_records_a_visit_in_three_taps(member, world, session):
    households = member.get(f"/api/v1/buildings/{world.building.id}/households").get_json()
    assert [h["address"] for h in households][:2] == ["1-1-101", "1-1-102"]
    assert [h["mine"] for h in households] == [True] * 4 + [False] * 2
    visit = member.post("/api/v1/visits", json={"household_id": households[0]["id"], "hours": 0.5})
    assert visit.status_code == 201, visit.data
    v = visit.get_json()
    assert v["by_assignee"] is True and v["visited_on"] == today(session).isoformat() and v["hours"] == 0.5
    card = member.get(f"/api/v1/buildings/{world.building.id}").get_json()
    assert card["coverage"]["visited"] == 1


def test_a_visit_by_someone_not_assigned_is_accepted_but_marked(member, world):
    other = world.households[5]  # in the member's grid, not theirs
    v = member.post("/api/v1/visits", json={"household_id": other.id, "hours": 1}).get_json()
    assert v["by_assignee"] is False


def test_a_visit_sent_again_from_the_offline_queue_is_stored_once(app, member, world, session):
    body = {"household_id": world.households[0].id, "hours": 0.5, "client_id": str(uuid.uuid4()),
            "wish_title": "装扶手"}
    first = member.post("/api/v1/visits", json=body)
    again = member.post("/api/v1/visits", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert session.scalar(select(func.count()).select_from(Visit)) == 1
    assert session.scalar(select(func.count()).select_from(Wish)) == 1  # the wish is not raised twice
    # The same id for another household is a mistake, said as such.
    other = member.post("/api/v1/visits", json={**body, "household_id": world.households[1].id})
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "client_id_reused"
    assert member.post("/api/v1/visits", json={**body, "client_id": "short"}).status_code == 400
    # Ids are per login: an officer's visit with the same id is another visit.
    officer = app.test_client()
    officer.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(officer, "grid-user")
    theirs = officer.post("/api/v1/visits", json={**body, "person_id": world.member.id})
    assert theirs.status_code == 201
    # … and the officer's id again for someone else's visit is refused, not merged.
    other_person = officer.post("/api/v1/visits", json={**body, "person_id": world.cadre.id})
    assert other_person.status_code == 409 and other_person.get_json()["error"]["code"] == "client_id_reused"
    no_household = {k: v for k, v in body.items() if k != "household_id"}
    assert officer.post("/api/v1/visits", json=no_household).get_json()["error"]["code"] == "missing_field"
    assert session.scalar(select(func.count()).select_from(Visit)) == 2


def test_two_concurrent_sends_of_one_visit_store_one_row(committed_world):
    """The queue and a tap on 'send again' at once, each on its own connection: one visit."""
    from webmap import create_app

    engine = committed_world["engine"]
    app = create_app({"DATABASE_URL": committed_world["url"], "SECRET_KEY": "x"})
    with Session(engine) as s:
        member_id, household_id = s.execute(text(
            "SELECT a.person_id, a.household_id FROM assignments a JOIN people p ON p.id = a.person_id "
            "WHERE p.name = '李四' AND a.household_id IS NOT NULL LIMIT 1")).one()
    client_id = str(uuid.uuid4())
    results: list[int] = []
    barrier = threading.Barrier(2)

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/v1/visits", headers={"Authorization": f"Bearer {committed_world['token']}"},
                               json={"household_id": household_id, "person_id": member_id, "hours": 1,
                                     "client_id": client_id})
        results.append(response.status_code)

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Visit).where(Visit.client_id == client_id)) == 1
    assert sorted(results) == [200, 201]


@pytest.mark.parametrize(
    "changes, status, code",
    [
        ({"visited_on": "tomorrow"}, 400, "future_visit"),
        ({"hours": 0}, 400, "bad_hours"),
        ({"hours": -1}, 400, "bad_hours"),
        ({"hours": 24.5}, 400, "bad_hours"),
        ({"hours": "lots"}, 400, "bad_request"),
        ({"household_id": 999999}, 404, "not_found"),
        ({"household_id": None}, 400, "missing_field"),
        ({"visited_on": "2026-02-30"}, 400, "bad_request"),
        ({"visited_on": "1999-01-01"}, 400, "too_old"),
        ({"note": "x" * 4001}, 400, "bad_request"),
    ],
)
def test_a_bad_visit_is_refused_and_nothing_is_stored(member, world, session, changes, status, code):
    if changes.get("visited_on") == "tomorrow":
        changes = {"visited_on": (today(session) + dt.timedelta(days=1)).isoformat()}
    body = {"household_id": world.households[0].id, "hours": 1, **changes}
    response = member.post("/api/v1/visits", json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    assert session.scalar(select(func.count()).select_from(Visit)) == 0


def test_visits_keep_to_the_visitor_and_their_households(member, world, session):
    assert member.post("/api/v1/visits", json={"household_id": world.households[0].id, "hours": 1,
                                               "person_id": world.cadre.id}).status_code == 403
    far = Household(building=world.other_building, unit_no=1, floor=1, room="101")
    session.add(far)
    session.flush()
    assert member.post("/api/v1/visits", json={"household_id": far.id, "hours": 1}).status_code == 404
    world.households[1].active = False
    session.flush()
    moved = member.post("/api/v1/visits", json={"household_id": world.households[1].id, "hours": 1})
    assert moved.status_code == 409


def test_residents_names_show_only_where_the_user_works(app, role_users, world, session, member):
    world.households[0].head_name, world.households[0].phone = "陈大妈", "13312345678"
    session.flush()
    mine = member.get(f"/api/v1/buildings/{world.building.id}/households").get_json()[0]
    assert (mine["head_name"], mine["phone"]) == ("陈大妈", "13312345678")
    viewer = app.test_client()
    log_in_as(viewer, "viewer-user")
    refused = viewer.get(f"/api/v1/buildings/{world.building.id}/households")  # no homes at all for a viewer
    assert refused.status_code == 403 and "陈大妈" not in refused.get_data(as_text=True)


def test_a_wish_from_open_to_fulfilled_and_rated(member, world, session):
    member.post("/api/v1/visits", json={"household_id": world.households[0].id, "hours": 1,
                                        "wish_title": "楼道灯坏了", "wish_description": "三楼声控灯不亮"})
    [wish] = member.get("/api/v1/wishes?status=open").get_json()
    assert wish["title"] == "楼道灯坏了" and wish["address"] == "1-1-101"
    promised = (today(session) + dt.timedelta(days=7)).isoformat()
    claim = member.post(f"/api/v1/wishes/{wish['id']}/claim", json={"version": 1, "promised_on": promised})
    assert claim.get_json()["status"] == "claimed"
    assert member.post(f"/api/v1/wishes/{wish['id']}/rate", json={"version": 2, "rating": 5}).status_code == 409
    done = member.post(f"/api/v1/wishes/{wish['id']}/fulfil", json={"version": 2, "note": "已更换灯泡"})
    assert done.get_json()["status"] == "fulfilled"
    assert member.post(f"/api/v1/wishes/{wish['id']}/rate", json={"version": 3, "rating": 6}).status_code == 400
    assert member.post(f"/api/v1/wishes/{wish['id']}/rate", json={"version": 3, "rating": 5}).status_code == 200
    stored = session.get(Wish, wish["id"])
    session.refresh(stored)
    assert (stored.claimed_by_person_id, stored.rating, stored.note) == (world.member.id, 5, "已更换灯泡")


def claimed_wish(member, world, session) -> int:  # type: ignore[no-untyped-def]
    wish = Wish(household_id=world.households[0].id, title="轮椅", status="claimed",
                claimed_by_person_id=world.member.id, promised_on=today(session) + dt.timedelta(days=3))
    session.add(wish)
    session.flush()
    return wish.id


def test_a_wish_is_fulfilled_with_a_photo_everyone_in_the_area_sees(app, member, world, session):
    wish_id = claimed_wish(member, world, session)
    original = jpeg(size=(3000, 2000))
    done = post_form(member, f"/api/v1/wishes/{wish_id}/fulfil", {"version": "1", "photos": [(io.BytesIO(original), "wheelchair.jpg")]})
    assert done.status_code == 200, done.data  # a photo alone is enough; no note needed
    [wish] = member.get("/api/v1/wishes?status=fulfilled").get_json()
    assert wish["note"] == "" and len(wish["photo_ids"]) == 1
    url = f"/api/v1/wishes/{wish_id}/photos/{wish['photo_ids'][0]}"
    small = member.get(url)
    assert small.mimetype == "image/jpeg" and max(Image.open(io.BytesIO(small.data)).size) == 1280
    assert member.get(url + "?size=original").data == original
    # 东门社区's officer does not read 文澜's wishes, nor their photos.
    accounts.create_user(session, "dongmen-user", PASSWORD, "community", world.other_community.code)
    session.flush()
    outsider = app.test_client()
    log_in_as(outsider, "dongmen-user")
    assert outsider.get(url).status_code == 404
    assert member.get(f"/api/v1/wishes/{wish_id}/photos/999999").status_code == 404


def test_a_viewer_reads_how_wishes_go_but_not_the_residents_words_home_or_photos(app, member, world, session,
                                                                                  role_users):
    wish_id = claimed_wish(member, world, session)
    session.get(Wish, wish_id).description = "走访时由王秀英提出，家住二楼"
    session.flush()
    version = str(session.get(Wish, wish_id).version)
    post_form(member, f"/api/v1/wishes/{wish_id}/fulfil", {"version": version, "note": "已送到王秀英家",
                                                           "photos": [(io.BytesIO(jpeg(size=(64, 48))), "a.jpg")]})
    [seen] = member.get("/api/v1/wishes").get_json()
    photo = f"/api/v1/wishes/{wish_id}/photos/{seen['photo_ids'][0]}"
    viewer = app.test_client()
    log_in_as(viewer, "viewer-user")
    [wish] = viewer.get("/api/v1/wishes").get_json()
    assert wish["title"] == "轮椅" and wish["status"] == "fulfilled"
    assert wish["description"] is None and wish["note"] is None and wish["address"] is None
    assert wish["photo_ids"] == [] and viewer.get(photo).status_code == 404
    for page in (viewer.get("/wishes"), viewer.get("/wishes?format=csv")):
        assert "王秀英" not in page.get_data(as_text=True) and "None" not in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "step, form, code",
    [
        ("fulfil", {"version": "1", "photos": [(io.BytesIO(b"GIF89a not really"), "fake.jpg")]}, "invalid_photo"),
        ("fulfil", {"version": "1", "note": "好了", "photos": [(io.BytesIO(jpeg(size=(64, 48))), f"{n}.jpg") for n in range(4)]},
         "too_many_photos"),
        ("fulfil", {"version": "1"}, "missing_field"),  # neither a note nor a photo
        ("withdraw", {"version": "1", "note": "搬走了", "photos": [(io.BytesIO(jpeg(size=(64, 48))), "a.jpg")]}, "unexpected_photos"),
    ],
)
def test_a_bad_wish_photo_changes_nothing(member, world, session, step, form, code):
    wish_id = claimed_wish(member, world, session)
    response = post_form(member, f"/api/v1/wishes/{wish_id}/{step}", form)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code
    wish = session.get(Wish, wish_id)
    session.refresh(wish)
    assert (wish.status, wish.version) == ("claimed", 1)
    assert session.scalar(select(func.count()).select_from(WishPhoto)) == 0


def test_a_claimed_wish_past_its_promise_is_flagged(member, world, session):
    session.add(Wish(household_id=world.households[0].id, title="修水管", status="claimed",
                     claimed_by_person_id=world.member.id, promised_on=today(session) - dt.timedelta(days=2)))
    session.flush()
    [late] = member.get("/api/v1/wishes?overdue=1").get_json()
    assert late["late"] is True and late["title"] == "修水管"


def test_coverage_by_level_and_window(member, world, session):
    session.add(Visit(household_id=world.households[0].id, person_id=world.member.id, hours=1,
                      visited_on=today(session)))
    session.flush()
    grids = member.get("/api/v1/coverage?level=grid").get_json()
    assert [(p["name"], p["households"], p["visited"]) for p in grids["places"]] == [("文澜一网格", 6, 1)]
    assert member.get("/api/v1/coverage?level=building").status_code == 400  # which buildings?
    buildings = member.get(f"/api/v1/coverage?level=building&area_id={world.grid_west.id}").get_json()
    assert [p["share"] for p in buildings["places"]] == [round(1 / 6, 4)]
    assert member.get("/api/v1/coverage?level=planet").status_code == 400
    assert member.get("/api/v1/coverage?since=2026-12-01&until=2026-11-01").status_code == 400
    old = member.get("/api/v1/coverage?level=grid&since=2020-01-01&until=2020-01-31").get_json()
    assert old["places"][0]["visited"] == 0


def test_the_list_of_where_nobody_has_been(member, world, session):
    session.add(Visit(household_id=world.households[0].id, person_id=world.member.id, hours=1,
                      visited_on=today(session)))
    session.flush()
    mine = member.get(f"/api/v1/not-visited?days=30&person_id={world.member.id}").get_json()
    assert [r["address"] for r in mine] == ["1-1-102", "1-2-201", "1-2-202"]
    assert member.get("/api/v1/not-visited?days=0").status_code == 400


@pytest.mark.parametrize("hours, stars", [(0, 0), (99.5, 0), (100, 1), (299.99, 1), (300, 2), (600, 3),
                                          (999, 3), (1000, 4), (1499.5, 4), (1500, 5), (4000, 5)])
def test_stars_start_exactly_at_their_hours(hours, stars):
    assert accountability.stars(Decimal(str(hours))) == stars


def test_a_members_year_against_8_sessions_and_40_hours(app, member, world, session, role_users):
    year = today(session).year
    for n in range(3):
        member.post("/api/v1/visits", json={"household_id": world.households[n].id, "hours": 2,
                                            "visited_on": f"{year}-01-0{n + 2}"})
    session.add_all(ServiceRecord(person_id=world.member.id, served_on=dt.date(year, 3, d), activity="义务巡逻",
                                  hours=Decimal(8)) for d in range(1, 4))
    session.add_all(ServiceRecord(person_id=world.member.id, served_on=dt.date(year - 1, 5, d), activity="往年服务",
                                  hours=Decimal(20)) for d in range(1, 5))
    session.flush()
    summary = member.get(f"/api/v1/people/{world.member.id}/summary?year={year}").get_json()
    assert summary["by_kind"]["visit"] == {"sessions": 3, "hours": 6.0}
    assert summary["by_kind"]["service"] == {"sessions": 3, "hours": 24.0}
    assert (summary["sessions"], summary["hours"], summary["behind"]) == (6, 30.0, True)
    assert (summary["service_hours_total"], summary["stars"]) == (104.0, 1)
    county = app.test_client()
    log_in_as(county, "county-user")
    behind = county.get(f"/api/v1/accountability/behind?year={year}").get_json()
    assert "李四" in [r["name"] for r in behind]
    assert county.get("/api/v1/volunteers").get_json()[0]["name"] == "李四"
    assert member.get(f"/api/v1/people/{world.member.id}/summary?year=1800").status_code == 400


def test_a_party_member_sees_their_own_record_and_a_viewer_nobodys(app, member, world, session, role_users):
    year = today(session).year
    assert member.get(f"/api/v1/people/{world.member.id}/summary?year={year}").status_code == 200
    assert member.get(f"/api/v1/people/{world.cadre.id}/summary?year={year}").status_code == 404  # a colleague
    assert [r["name"] for r in member.get(f"/api/v1/accountability/behind?year={year}").get_json()] == ["李四"]
    assert member.get(f"/api/v1/not-visited?days=30&person_id={world.cadre.id}").status_code == 404
    held = {h.id for h in world.households[:4]}  # 李四's; the other two are a colleague's to visit
    assert {r["household_id"] for r in member.get("/api/v1/not-visited?days=30").get_json()} == held
    viewer = app.test_client()
    log_in_as(viewer, "viewer-user")
    assert viewer.get(f"/api/v1/people/{world.member.id}/summary?year={year}").status_code == 404
    assert viewer.get(f"/api/v1/accountability/behind?year={year}").get_json() == []
    lonely = viewer.get("/api/v1/not-visited?days=30").get_json()
    assert lonely and all(r["address"] is None and r["household_id"] is None for r in lonely)  # buildings, not flats
    assert viewer.get(f"/api/v1/buildings/{world.building.id}/households").status_code == 403
    county = app.test_client()
    log_in_as(county, "county-user")
    assert all(r["address"] for r in county.get("/api/v1/not-visited?days=30").get_json())


def test_registration_with_a_community_and_who_sees_whose_summary(app, role_users, world, session):
    community = app.test_client()
    community.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(community, "community-user")
    # 李四 holds households in the community: its officers answer for him, registered or not.
    assert community.get(f"/api/v1/people/{world.member.id}/summary").status_code == 200
    registered = community.post(f"/api/v1/people/{world.member.id}/registration",
                                json={"area_id": world.community.id, "version": world.member.version})
    assert registered.status_code == 200, registered.data
    assert community.get(f"/api/v1/people/{world.member.id}/summary").get_json()["registered"]["area"] == "文澜社区"
    # 赵六 works and is registered in 东门社区: another community's officer neither sees his
    # year nor can move his registration (nor credit him with hours).
    world.other_cadre.registered_area_id = world.other_community.id
    session.flush()
    assert community.get(f"/api/v1/people/{world.other_cadre.id}/summary").status_code == 404
    moved = community.post(f"/api/v1/people/{world.other_cadre.id}/registration",
                           json={"area_id": world.community.id, "version": world.other_cadre.version})
    assert moved.status_code == 404
    assert community.post("/api/v1/service-records", json={"person_id": world.other_cadre.id, "activity": "代记",
                                                           "hours": 24}).status_code == 404
    session.refresh(world.other_cadre)
    assert world.other_cadre.registered_area_id == world.other_community.id
    # 张三, a party member registered nowhere yet, may be registered here — but only with a community.
    elsewhere = community.post(f"/api/v1/people/{world.cadre.id}/registration",
                               json={"area_id": world.other_community.id, "version": world.cadre.version})
    assert elsewhere.status_code == 403
    not_community = community.post(f"/api/v1/people/{world.cadre.id}/registration",
                                   json={"area_id": world.grid_west.id, "version": world.cadre.version})
    assert not_community.status_code == 400


def test_officers_record_volunteer_hours(app, role_users, world, session, member):
    grid = app.test_client()
    grid.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(grid, "grid-user")
    # Hours are verified by a named person: a login linked to nobody cannot.
    nobody = grid.post("/api/v1/service-records", json={"person_id": world.member.id, "activity": "清理楼道", "hours": 3})
    assert nobody.status_code == 403 and nobody.get_json()["error"]["code"] == "no_person"
    role_users["grid"].person_id = world.cadre.id
    session.flush()
    grid = app.test_client()
    grid.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(grid, "grid-user")
    ok = grid.post("/api/v1/service-records", json={"person_id": world.member.id, "activity": "清理楼道", "hours": 3})
    assert ok.status_code == 201
    assert member.post("/api/v1/service-records", json={"person_id": world.member.id, "activity": "自己记",
                                                        "hours": 3}).status_code == 403
    for bad in ({"hours": 0}, {"hours": 25}, {"served_on": "2999-01-01"}, {"activity": ""}):
        body = {"person_id": world.member.id, "activity": "清理楼道", "hours": 3, **bad}
        assert grid.post("/api/v1/service-records", json=body).status_code == 400
    assert session.scalar(text("SELECT count(*) FROM service_records")) == 1


def test_nobody_verifies_their_own_volunteer_hours(app, role_users, world, session):
    role_users["grid"].person_id = world.member.id  # the grid member volunteers too
    session.flush()
    grid = app.test_client()
    grid.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(grid, "grid-user")
    own = grid.post("/api/v1/service-records", json={"person_id": world.member.id, "activity": "清理楼道", "hours": 3})
    assert own.status_code == 403 and own.get_json()["error"]["code"] == "own_service"
    other = grid.post("/api/v1/service-records", json={"person_id": world.cadre.id, "activity": "清理楼道", "hours": 3})
    assert other.status_code == 201 and other.get_json()["verified_by"] == world.member.id
    assert session.scalar(text("SELECT count(*) FROM service_records")) == 1


def test_assignments_fixture_is_what_the_member_holds(world, session):
    held = session.scalars(select(Assignment.household_id).where(Assignment.person_id == world.member.id)).all()
    assert len(held) == 4


def test_the_year_is_weighed_exactly_and_a_forgotten_patrol_counts_a_day(member, world, session):
    year = today(session).year
    # 7 × 5 h + 4.96 h = 39.96 h: short of 40 however it is shown.
    session.add_all(ServiceRecord(person_id=world.member.id, served_on=dt.date(year, 1, d + 1), activity="值守",
                                  hours=Decimal(5)) for d in range(7))
    session.add(ServiceRecord(person_id=world.member.id, served_on=dt.date(year, 1, 9), activity="值守",
                              hours=Decimal("4.96")))
    session.flush()
    summary = member.get(f"/api/v1/people/{world.member.id}/summary?year={year}").get_json()
    assert (summary["sessions"], summary["hours"], summary["behind"]) == (8, 39.96, True)
    # A patrol left running for three days adds one session of at most 8 hours.
    started = dt.datetime(year, 1, 10, 9, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    patrol = Patrol(area_id=world.grid_west.id, started_at=started, ended_at=started + dt.timedelta(days=3),
                    members=[world.member])
    session.add(patrol)
    session.flush()
    summary = member.get(f"/api/v1/people/{world.member.id}/summary?year={year}").get_json()
    assert summary["by_kind"]["patrol"] == {"sessions": 1, "hours": 8.0}
    assert (summary["hours"], summary["behind"]) == (47.96, False)


def test_hours_that_round_to_nothing_are_refused(member, world, session):
    response = member.post("/api/v1/visits", json={"household_id": world.households[0].id, "hours": 0.004})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_hours"
    assert member.post("/api/v1/visits", json={"household_id": world.households[0].id,
                                               "hours": 0.005}).get_json()["hours"] == 0.01
