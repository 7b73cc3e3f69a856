"""Field issues through the API: routing by location, idempotent reports, the workflow,
photos, duplicates nearby, lists and the concurrency rules."""

from __future__ import annotations

import datetime as dt
import io
import threading
import uuid

import pytest
from PIL import Image
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import stream_encode_multipart

from geo.models import Issue, IssueEvent, IssuePhoto
from tests.conftest import client_as, log_in_as
from webmap.names import status_names, step_names


@pytest.fixture
def officer(app, role_users):  # type: ignore[no-untyped-def]
    """The grid member of 文澜一网格."""
    return client_as(app, "grid")


def jpeg(*, gps: tuple[float, float] | None = None, taken: str | None = None, size=(1600, 1200)) -> bytes:
    image = Image.new("RGB", size, (200, 120, 40))
    exif = Image.Exif()
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal
    if gps:
        lon, lat = gps

        def dms(value: float) -> tuple[float, float, float]:
            d = int(value)
            m = int((value - d) * 60)
            return (d, m, round(((value - d) * 60 - m) * 60, 4))

        exif.get_ifd(0x8825).update({1: "N", 2: dms(lat), 3: "E", 4: dms(lon)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def post_form(client, url: str, data: dict):  # type: ignore[no-untyped-def]
    """A multipart post encoded in memory (werkzeug's test client would spool a large body
    to a temporary file it never closes)."""
    fields = MultiDict()
    for key, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            fields.add(key, FileStorage(item[0], filename=item[1]) if isinstance(item, tuple) else item)
    stream, _length, boundary = stream_encode_multipart(fields, use_tempfile=False)
    return client.post(url, data=stream.getvalue(), content_type=f"multipart/form-data; boundary={boundary}")


def report(client, **fields):  # type: ignore[no-untyped-def]
    body = {"lon": 109.4745, "lat": 29.9845, "category": "环境卫生", "description": "楼道堆放杂物"}
    body.update(fields)
    return client.post("/api/v1/issues", json={k: v for k, v in body.items() if v is not None})


# --- routing ------------------------------------------------------------------------------


def test_a_report_in_a_building_goes_to_its_unit_and_cadres(officer, world):
    response = report(officer)
    assert response.status_code == 201, response.data
    issue = response.get_json()
    assert issue["building"]["name"] == "贡水花园1栋"
    assert [a["name"] for a in issue["areas"]][:2] == ["贡水花园", "文澜一网格"]
    assert issue["unit"]["name"] == "县住建局"  # the building's 包保单位
    assert issue["routed_to"]["unit"]["name"] == "县住建局"
    assert [p["name"] for p in issue["routed_to"]["people"]] == ["张三"]
    assert issue["routed_to"]["people"][0]["phone"] == "13800001234"  # the grid member's own area
    assert issue["status"] == "reported" and [e["kind"] for e in issue["events"]] == ["reported"]


def test_a_report_on_open_ground_goes_to_the_grid_then_up(officer, world):
    issue = report(officer, lon=109.485, lat=29.995).get_json()  # east grid: no building, no unit
    assert issue["building"] is None
    assert issue["areas"][0]["name"] == "文澜二网格"
    assert issue["unit"]["name"] == "县城管执法局"  # the community's big-party-committee department


def test_a_report_on_the_line_between_two_grids_goes_to_one_of_them(officer, world):
    first = report(officer, lon=109.48, lat=29.99).get_json()
    second = report(officer, lon=109.48, lat=29.99).get_json()
    assert first["areas"][0]["name"] == second["areas"][0]["name"] == "文澜一网格"


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"lon": 110.5}, "outside_county"),
        ({"lon": None}, "missing_field"),
        ({"lat": "abc"}, "bad_request"),
        ({"lon": 200}, "invalid_geometry"),
        ({"lon": 29.98, "lat": 109.47}, "invalid_geometry"),
        ({"category": "外星人"}, "unknown_category"),
        ({"category": None}, "missing_field"),
        ({"description": "长" * 4001}, "bad_request"),
        ({"client_id": "short"}, "bad_client_id"),
        ({"patrol_id": 999999}, "not_found"),
    ],
)
def test_a_bad_report_is_refused_and_nothing_is_stored(officer, world, session, fields, code):
    response = report(officer, **fields)
    assert response.status_code in (400, 404), response.data
    assert response.get_json()["error"]["code"] == code
    assert session.scalar(select(func.count()).select_from(Issue)) == 0


def test_an_officer_may_work_an_issue_in_their_grid_and_only_comment_on_one_they_reported_next_door(officer, world):
    mine = report(officer)
    next_door = report(officer, lon=109.485, lat=29.99, description="隔壁网格的路灯坏了")
    assert mine.status_code == next_door.status_code == 201
    assert len(mine.get_json()["allowed"]) > 1 and "comment" in mine.get_json()["allowed"]
    assert next_door.get_json()["areas"][0]["id"] == world.grid_east.id
    # Reported by them, so they may read it; it is the east grid's to work.
    assert next_door.get_json()["allowed"] == ["comment"]
    assert officer.get(f"/api/v1/issues/{next_door.get_json()['id']}").get_json()["allowed"] == ["comment"]


def test_a_viewer_may_not_report(app, role_users, world):
    viewer = app.test_client()
    viewer.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(viewer, "viewer-user")
    assert report(viewer).status_code == 403


# --- the same report twice ----------------------------------------------------------------


def test_the_same_client_id_twice_returns_the_first_issue(officer, world, session):
    client_id = str(uuid.uuid4())
    first = report(officer, client_id=client_id)
    again = report(officer, client_id=client_id)
    assert first.status_code == 201 and again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert session.scalar(select(func.count()).select_from(Issue)) == 1
    # The same id with other content is a client's mistake, said out loud.
    other = report(officer, client_id=client_id, description="另一件事")
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "client_id_reused"
    assert session.scalar(select(func.count()).select_from(Issue)) == 1


def test_report_ids_belong_to_their_reporter(app, officer, world, role_users, session):
    client_id = str(uuid.uuid4())
    report(officer, client_id=client_id)
    other = app.test_client()
    other.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(other, "community-user")
    theirs = report(other, client_id=client_id, description="社区的上报")
    assert theirs.status_code == 201  # nothing to learn about anyone else's ids
    assert session.scalar(select(func.count()).select_from(Issue)) == 2


def test_two_concurrent_reports_with_one_client_id_store_one_row(committed_world):
    """Two requests at once, each on its own connection: one issue."""
    from webmap import create_app

    engine = committed_world["engine"]
    app = create_app({"DATABASE_URL": committed_world["url"], "SECRET_KEY": "x"})
    client_id = str(uuid.uuid4())
    token = committed_world["token"]
    results: list[int] = []
    barrier = threading.Barrier(2)

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/v1/issues", headers={"Authorization": f"Bearer {token}"},
                               json={"lon": 109.4745, "lat": 29.9845, "category": "环境卫生",
                                     "description": "并发", "client_id": client_id})
        results.append(response.status_code)

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Issue).where(Issue.client_id == client_id)) == 1
    assert sorted(results) == [200, 201]


# --- the workflow -------------------------------------------------------------------------

STEPS = ("meeting", "resolve", "verify", "refer", "reopen", "comment")
ALLOWED = {
    "reported": {"meeting", "resolve", "refer", "comment"},
    "meeting": {"meeting", "resolve", "refer", "comment"},
    "referred": {"meeting", "resolve", "refer", "comment"},
    "resolved": {"verify", "reopen", "comment"},
    "closed": {"reopen", "comment"},
}


def step_body(world, kind: str, version: int) -> dict:  # type: ignore[no-untyped-def]
    body = {"kind": kind, "version": version, "note": "处理说明"}
    if kind == "meeting":
        body.update(decision="三日内清理", deadline="2099-01-01", attending_unit_ids=[world.unit.id, world.dept.id])
    if kind == "refer":
        body["unit_id"] = world.dept.id
    return body


@pytest.mark.parametrize("state", sorted(ALLOWED))
@pytest.mark.parametrize("kind", STEPS)
def test_which_steps_each_state_allows(app, officer, world, session, state, kind):
    issue = report(officer).get_json()
    session.execute(text("UPDATE issues SET status = :s WHERE id = :i"), {"s": state, "i": issue["id"]})
    response = officer.post(f"/api/v1/issues/{issue['id']}/events", json=step_body(world, kind, 1))
    if kind in ALLOWED[state]:
        assert response.status_code == 201, response.data
    else:
        assert response.status_code == 409
        error = response.get_json()["error"]
        with app.test_request_context():  # the officer reads the names, not the codes
            status, step = status_names()[state], step_names()[kind]
            possible = "、".join(step_names()[k] for k in STEPS if k in ALLOWED[state] and k != "comment")
        assert error["code"] == "step_not_allowed"
        assert error["message"] == f"状态为“{status}”的问题不能“{step}”（现在可以：{possible}）"


def test_find_meet_solve_verify_with_a_timeline(app, officer, world, session, role_users):
    issue = report(officer).get_json()
    iid = issue["id"]
    meeting = officer.post(f"/api/v1/issues/{iid}/events", json=step_body(world, "meeting", 1)).get_json()
    assert meeting["status"] == "meeting" and meeting["deadline"] == "2099-01-01"
    assert [u["name"] for u in meeting["events"][-1]["data"]["attending_units"]] == ["县住建局", "县城管执法局"]
    resolved = post_form(officer, f"/api/v1/issues/{iid}/events",
                         {"kind": "resolve", "version": "2", "note": "已清理",
                          "photos": (io.BytesIO(jpeg()), "after.jpg")}).get_json()
    assert resolved["status"] == "resolved" and len(resolved["events"][-1]["photo_ids"]) == 1
    own = officer.post(f"/api/v1/issues/{iid}/events", json={"kind": "verify", "version": 3})
    assert own.status_code == 403 and own.get_json()["error"]["code"] == "own_work"
    assert "verify" not in resolved["allowed"]
    checker = app.test_client()
    checker.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(checker, "community-user")
    closed = checker.post(f"/api/v1/issues/{iid}/events", json={"kind": "verify", "version": 3}).get_json()
    assert closed["status"] == "closed" and closed["closed_at"]
    assert [e["kind"] for e in closed["events"]] == ["reported", "meeting", "resolve", "verify"]
    assert [e["by"] for e in closed["events"]] == ["grid-user"] * 3 + ["community-user"]


def test_referring_hands_the_issue_to_another_unit(officer, world):
    iid = report(officer).get_json()["id"]
    no_reason = officer.post(f"/api/v1/issues/{iid}/events", json={"kind": "refer", "version": 1,
                                                                   "unit_id": world.dept.id})
    assert no_reason.status_code == 400
    referred = officer.post(f"/api/v1/issues/{iid}/events", json={
        "kind": "refer", "version": 1, "unit_id": world.dept.id, "note": "属城管职责"}).get_json()
    assert referred["status"] == "referred" and referred["unit"]["name"] == "县城管执法局"


def test_two_people_stepping_at_once_the_second_gets_409(officer, world, app, role_users):
    iid = report(officer).get_json()["id"]
    other = app.test_client()
    other.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(other, "community-user")
    first = officer.post(f"/api/v1/issues/{iid}/events", json=step_body(world, "meeting", 1))
    second = other.post(f"/api/v1/issues/{iid}/events", json=step_body(world, "resolve", 1))
    assert first.status_code == 201
    assert second.status_code == 409 and second.get_json()["error"]["code"] == "version_conflict"


def test_a_party_member_comments_but_does_not_work_issues(app, role_users, world, officer):
    iid = report(officer).get_json()["id"]
    party = app.test_client()
    party.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(party, "party-user")
    assert party.post(f"/api/v1/issues/{iid}/events", json=step_body(world, "resolve", 1)).status_code == 403
    assert party.post(f"/api/v1/issues/{iid}/events",
                      json={"kind": "comment", "version": 1, "note": "我也看到了"}).status_code == 201


def test_overdue_issues_are_marked(officer, world, session):
    iid = report(officer).get_json()["id"]
    session.execute(text("UPDATE issues SET deadline = current_date - 1 WHERE id = :i"), {"i": iid})
    assert officer.get(f"/api/v1/issues/{iid}").get_json()["overdue"] is True
    features = officer.get("/api/v1/issues?overdue=1").get_json()["features"]
    assert [f["id"] for f in features] == [iid]


def test_a_map_cut_at_its_limit_keeps_the_overdue_issues(officer, world, session):
    """The map asks for the most pressing issues first: when the view holds more than the
    limit, the ones left out are never the overdue ones."""
    late = report(officer).get_json()["id"]
    soon = report(officer).get_json()["id"]
    newest = report(officer).get_json()["id"]
    session.execute(text("UPDATE issues SET deadline = current_date - 3 WHERE id = :i"), {"i": late})
    session.execute(text("UPDATE issues SET deadline = current_date + 2 WHERE id = :i"), {"i": soon})
    newest_first = officer.get("/api/v1/issues?status=open&limit=2").get_json()
    assert late not in [f["id"] for f in newest_first["features"]]
    pressing = officer.get("/api/v1/issues?status=open&sort=urgency&limit=2").get_json()
    assert [f["id"] for f in pressing["features"]] == [late, soon] and pressing["truncated"] is True
    assert newest not in [f["id"] for f in pressing["features"]]


# --- photos -------------------------------------------------------------------------------


def test_photos_keep_their_exif_time_and_place_and_get_a_small_copy(officer, world, session):
    response = post_form(officer, "/api/v1/issues", {
        "lon": "109.4745", "lat": "29.9845", "category": "环境卫生", "description": "有照片",
        "photos": [(io.BytesIO(jpeg(gps=(109.4746, 29.9846), taken="2026:11:20 09:30:00")), "a.jpg"),
                   (io.BytesIO(jpeg(size=(400, 300))), "b.jpg")],
    })
    assert response.status_code == 201, response.data
    issue = response.get_json()
    photo = session.scalars(select(IssuePhoto).where(IssuePhoto.issue_id == issue["id"]).order_by(IssuePhoto.id)).first()
    assert photo.taken_at == dt.datetime(2026, 11, 20, 1, 30, tzinfo=dt.timezone.utc)  # 09:30 in the county
    x, y = session.execute(select(func.ST_X(IssuePhoto.geom), func.ST_Y(IssuePhoto.geom))
                           .where(IssuePhoto.id == photo.id)).one()
    assert abs(x - 109.4746) < 1e-5 and abs(y - 29.9846) < 1e-5
    # The officer sees when and how far from the issue each photo was taken.
    shown = {p["id"]: p for p in officer.get(f"/api/v1/issues/{issue['id']}").get_json()["photos"]}
    assert shown[photo.id]["taken_at"].startswith("2026-11-20T")
    assert 10 <= shown[photo.id]["metres"] <= 20  # 0.0001° east and north of the pin: about 14 m
    assert [p["taken_at"] for p in shown.values() if p["id"] != photo.id] == [None]
    small = officer.get(f"/api/v1/issues/{issue['id']}/photos/{photo.id}")
    assert small.mimetype == "image/jpeg" and max(Image.open(io.BytesIO(small.data)).size) == 1280
    original = officer.get(f"/api/v1/issues/{issue['id']}/photos/{photo.id}?size=original")
    assert Image.open(io.BytesIO(original.data)).size == (1600, 1200)


@pytest.mark.parametrize(
    "payload, code, status",
    [
        (b"this is not an image at all", "invalid_photo", 400),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 2000, "invalid_photo", 400),  # only pretends to be a JPEG
        (b"GIF89a" + b"\x00" * 100, "invalid_photo", 400),
        (b"", "invalid_photo", 400),
        (b"\xff\xd8" + b"\x00" * (10 * 1024 * 1024), "photo_too_large", 400),
    ],
)
def test_a_bad_photo_refuses_the_whole_report(officer, world, session, payload, code, status):
    response = post_form(officer, "/api/v1/issues", {
        "lon": "109.4745", "lat": "29.9845", "category": "环境卫生",
        "photos": [(io.BytesIO(jpeg()), "good.jpg"), (io.BytesIO(payload), "bad.jpg")],
    })
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    assert session.scalar(select(func.count()).select_from(Issue)) == 0
    assert session.scalar(select(func.count()).select_from(IssuePhoto)) == 0


def test_at_most_three_photos(officer, world, session):
    response = post_form(officer, "/api/v1/issues", {
        "lon": "109.4745", "lat": "29.9845", "category": "环境卫生",
        "photos": [(io.BytesIO(jpeg(size=(50, 50))), f"{i}.jpg") for i in range(4)],
    })
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "too_many_photos"
    assert session.scalar(select(func.count()).select_from(Issue)) == 0


# --- nearby, reading, lists ---------------------------------------------------------------


def test_open_issues_of_the_same_kind_within_50_m_are_offered(officer, world):
    near = report(officer).get_json()["id"]
    report(officer, category="绿化")  # another kind
    report(officer, lon=109.4756, lat=29.9846)  # about 77 m east of the place asked about
    found = officer.get("/api/v1/issues/nearby?lon=109.4748&lat=29.9846&category=环境卫生").get_json()
    assert [i["id"] for i in found] == [near] and 25 < found[0]["metres"] < 35


def test_outside_their_grid_a_member_sees_only_what_they_reported(app, role_users, world, officer):
    mine = report(officer, lon=109.5005, lat=29.9905).get_json()  # 东门: outside the grid member's area
    assert mine["areas"][0]["name"] == "东门一网格"
    assert officer.get(f"/api/v1/issues/{mine['id']}").status_code == 200
    step = officer.post(f"/api/v1/issues/{mine['id']}/events", json=step_body(world, "resolve", 1))
    assert step.status_code == 403
    community = app.test_client()
    log_in_as(community, "community-user")
    assert community.get(f"/api/v1/issues/{mine['id']}").status_code == 404


def test_issue_filters_by_state_category_unit_grid_and_date(officer, world):
    a = report(officer).get_json()["id"]
    b = report(officer, lon=109.485, lat=29.995, category="绿化").get_json()["id"]
    ids = lambda q: {f["id"] for f in officer.get(f"/api/v1/issues?{q}").get_json()["features"]}  # noqa: E731
    assert ids("category=绿化") == {b}
    assert ids(f"unit_id={world.unit.id}") == {a}
    assert ids(f"area_id={world.grid_east.id}") == {b}
    assert ids(f"area_id={world.community.id}") == {a, b}
    assert ids("status=closed") == set()
    assert ids("since=2000-01-01&until=2000-01-02") == set()
    assert officer.get("/api/v1/issues?since=2026-02-30").status_code == 400


# --- what review found --------------------------------------------------------------------


def test_a_phone_jpeg_with_several_pictures_is_a_photo(officer, world):
    first, second = Image.new("RGB", (800, 600), "red"), Image.new("RGB", (800, 600), "blue")
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[second])  # what many phones write
    response = post_form(officer, "/api/v1/issues", {"lon": "109.4745", "lat": "29.9845", "category": "环境卫生",
                                                     "photos": (io.BytesIO(out.getvalue()), "hdr.jpg")})
    assert response.status_code == 201, response.data


def test_a_report_with_photos_keeps_its_line_breaks(officer, world, session):
    """A phone sends FormData, whose line breaks the browser writes as CRLF."""
    response = post_form(officer, "/api/v1/issues", {
        "lon": "109.4745", "lat": "29.9845", "category": "环境卫生", "description": "楼道堆物\r\n影响通行\r",
        "photos": (io.BytesIO(jpeg(size=(400, 300))), "a.jpg"),
    })
    assert response.status_code == 201, response.data
    assert response.get_json()["description"] == "楼道堆物\n影响通行"


def test_a_multi_line_report_sent_again_lands_once(officer, world, session):
    """The retry of a phone's report whose answer was lost: CRLF both times."""
    body = {"lon": 109.4745, "lat": 29.9845, "category": "环境卫生", "description": "第一行\r\n第二行",
            "client_id": str(uuid.uuid4())}
    first, again = officer.post("/api/v1/issues", json=body), officer.post("/api/v1/issues", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]


def test_a_form_with_no_file_chosen_is_no_photo(officer, world):
    response = post_form(officer, "/api/v1/issues", {"lon": "109.4745", "lat": "29.9845", "category": "环境卫生",
                                                     "photos": (io.BytesIO(b""), "")})
    assert response.status_code == 201 and response.get_json()["photos"] == []


def test_each_step_moves_the_version_by_one(officer, world):
    issue = report(officer).get_json()
    met = officer.post(f"/api/v1/issues/{issue['id']}/events", json=step_body(world, "meeting", issue["version"]))
    assert met.get_json()["version"] == issue["version"] + 1  # a client may count on it


def test_a_step_taken_far_outside_the_county_is_refused(officer, world, session):
    issue = report(officer).get_json()
    events = f"/api/v1/issues/{issue['id']}/events"
    beijing = officer.post(events, json={"kind": "comment", "note": "在北京", "lon": 116.4, "lat": 39.9})
    assert beijing.status_code == 400 and beijing.get_json()["error"]["code"] == "outside_county"
    step = {**step_body(world, "meeting", issue["version"]), "lon": 116.4, "lat": 39.9}
    assert officer.post(events, json=step).status_code == 400
    assert session.scalar(select(func.count()).select_from(IssueEvent).where(IssueEvent.issue_id == issue["id"])) == 1
    # Just over the edge (a poor fix) is still the county's work.
    edge = officer.post(events, json={"kind": "comment", "note": "边上", "lon": 109.6025, "lat": 29.95})
    assert edge.status_code == 201


def test_a_comment_needs_no_version_and_moves_none(app, officer, world, role_users):
    issue = report(officer).get_json()
    party = app.test_client()
    party.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(party, "party-user")
    commented = party.post(f"/api/v1/issues/{issue['id']}/events", json={"kind": "comment", "note": "补充情况"})
    assert commented.status_code == 201 and commented.get_json()["version"] == issue["version"]
    # The officer's step, taken on the version they saw, still goes through.
    assert officer.post(f"/api/v1/issues/{issue['id']}/events",
                        json=step_body(world, "meeting", issue["version"])).status_code == 201


def test_resolved_issues_wait_for_the_check_and_are_not_overdue(officer, world, session):
    iid = report(officer).get_json()["id"]
    officer.post(f"/api/v1/issues/{iid}/events", json={"kind": "resolve", "version": 1, "note": "已处理"})
    session.execute(text("UPDATE issues SET deadline = current_date - 1 WHERE id = :i"), {"i": iid})
    assert officer.get(f"/api/v1/issues/{iid}").get_json()["overdue"] is False


def test_reopening_sets_the_new_round_its_own_deadline(app, officer, world, session, role_users):
    iid = report(officer).get_json()["id"]
    officer.post(f"/api/v1/issues/{iid}/events", json=step_body(world, "meeting", 1))
    officer.post(f"/api/v1/issues/{iid}/events", json={"kind": "resolve", "version": 2, "note": "已处理"})
    checker = app.test_client()
    checker.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(checker, "community-user")
    reopened = checker.post(f"/api/v1/issues/{iid}/events", json={"kind": "reopen", "version": 3,
                                                                  "note": "复核未通过"}).get_json()
    assert reopened["status"] == "reported" and reopened["deadline"] is None and reopened["overdue"] is False


def test_a_report_joins_only_a_patrol_its_reporter_sees_near_the_place(app, officer, world, role_users, session):
    county = app.test_client()
    county.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(county, "county-user")
    elsewhere = county.post("/api/v1/patrols", json={"area_id": world.other_grid.id}).get_json()
    hidden = report(officer, patrol_id=elsewhere["id"])
    assert hidden.status_code == 404  # the grid member does not see 东门's patrol
    mine = officer.post("/api/v1/patrols", json={"area_id": world.grid_west.id}).get_json()
    far = report(officer, patrol_id=mine["id"], lon=109.60, lat=30.09)
    assert far.status_code == 400 and far.get_json()["error"]["code"] == "patrol_elsewhere"
    assert session.scalar(select(func.count()).select_from(Issue)) == 0


def test_a_patrol_lists_only_the_issues_its_viewer_may_read(app, officer, world, role_users):
    county = app.test_client()
    county.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(county, "county-user")
    patrol = county.post("/api/v1/patrols", json={"area_id": world.grid_east.id}).get_json()
    county.post("/api/v1/issues", json={"lon": 109.485, "lat": 29.995, "category": "绿化", "patrol_id": patrol["id"],
                                        "description": "东侧问题"})
    community = app.test_client()
    log_in_as(community, "community-user")
    assert [i["description"] for i in community.get(f"/api/v1/patrols/{patrol['id']}").get_json()["issues"]] == [
        "东侧问题"]


@pytest.mark.parametrize("body", [b'{"track": [[NaN, 29.985], [109.475, 29.985]]}',
                                  b'{"track": [[109.474, 29.985, "x"], [109.475, 29.985]]}',
                                  b'{"track": [[109.474, 29.985, 1, 2], [109.475, 29.985]]}'])
def test_a_track_with_nan_or_extra_fields_is_refused(officer, world, body):
    patrol = officer.post("/api/v1/patrols", json={"area_id": world.grid_west.id}).get_json()
    response = officer.post(f"/api/v1/patrols/{patrol['id']}/track", data=body, content_type="application/json")
    assert response.status_code == 400
    assert officer.get(f"/api/v1/patrols/{patrol['id']}").get_json()["track"] is None


def test_a_write_after_the_login_ended_says_log_in_again(officer, world):
    token = officer.environ_base["HTTP_X_CSRF_TOKEN"]
    officer.post("/logout", data={"csrf_token": token})
    response = report(officer)
    assert response.status_code == 401  # not a CSRF refusal: the phone keeps the report and asks to log in
