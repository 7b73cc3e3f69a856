"""A corpus of bad input across the API and the forms: each case gets a 4xx in the one
error shape (pages: an error message), never a 5xx, and the database is unchanged
afterwards — same row counts, same checksum of every table."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from sqlalchemy import text

from geo.models import Base
from tests.conftest import log_in_as

HUGE = "9" * 400
LONG = "长" * 5000
# Strings that are wrong wherever a number, a date, a phone, a code or a choice is expected.
SQLISH = ["1; DROP TABLE units;--", "' OR '1'='1", "1 UNION SELECT password_hash FROM users", "$$; --"]
SCRIPTISH = ["<script>alert(1)</script>", "javascript:alert(1)", "<img src=x onerror=alert(1)>"]
ODD = ["\u202eevil", "a\u200bb", "\x00", "x\x00y", "\ud800", "\ufeffname", "\u0007bell", "😀"]
NUMBERS = ["abc", "1.5", "-1", "0", "1e400", "nan", "inf", HUGE, "", " ", "٣", "²", "0x10", "1,000"]


def api_cases(w: Any) -> list[tuple[str, str, Any]]:
    """(method, url, body) — body None for GET, a dict/list/str for JSON, bytes for raw."""
    cases: list[tuple[str, str, Any]] = []
    get = lambda url: cases.append(("GET", url, None))  # noqa: E731

    # lookup: missing, garbage, out of range, swapped, odd
    for lon, lat in [("", "29.99"), ("109.48", ""), ("abc", "29.99"), ("109.48", "xyz"), ("nan", "29.99"),
                     ("inf", "29.99"), ("-inf", "1"), ("1e400", "1"), ("200", "29.99"), ("-181", "0"),
                     ("109.48", "91"), ("109.48", "-90.0001"), ("29.99", "109.48"), ("0x10", "1"),
                     ("1,5", "1"), ("109.48;DROP", "1"), ("<script>", "1"), ("%00", "1"), ("1%00", "1"),
                     (HUGE, "1"), ("１０９", "29")]:
        get(f"/api/v1/lookup?lon={lon}&lat={lat}")
    get("/api/v1/lookup")
    get("/api/v1/lookup?lon=109.48")

    # buildings: bbox and limit
    box = "109.47,29.98,109.49,30.0"
    for bbox in ["", "1,2,3", "1,2,3,4,5", "a,b,c,d", "109.49,29.98,109.47,30.0", "109.47,30.0,109.49,29.98",
                 "100,20,110,30", "-181,0,0,1", "0,-91,1,0", "109.47,29.98,109.49,nan", "109.47,29.98,inf,30",
                 "1e400,1,2,3", ";DROP TABLE buildings", "<script>", "109.47,,109.49,30"]:
        get(f"/api/v1/buildings?bbox={bbox}")
    for limit in NUMBERS + ["10001", "99999999999"]:
        if limit.strip():
            get(f"/api/v1/buildings?bbox={box}&limit={limit}")

    # areas and issues
    for level in ["province", "GRID", "grid;--", "<b>", "1"]:
        get(f"/api/v1/areas?level={level}")
    for bbox in ["1,2", "0,0,10,10", "x"]:
        get(f"/api/v1/areas?bbox={bbox}")
        get(f"/api/v1/issues?bbox={bbox}")
    for status in ["lost", "OPEN", "open,lost", "reported;--", "%00"]:
        get(f"/api/v1/issues?status={status}")
    get("/api/v1/issues?category=%00")

    # records that do not exist (or could not)
    for path in ["/buildings/0", "/buildings/999999", "/buildings/99999999999", "/buildings/-1", "/buildings/abc",
                 "/areas/0", "/areas/2147483648", "/units/0", "/people/424242", "/users/0", "/assignments/0",
                 "/assignments/99999999999", "/nothing"]:
        get(f"/api/v1{path}")
    for q in ["page=0", "page=-1", "page=abc", "page=10001", "unit_id=abc", "unit_id=" + HUGE]:
        get(f"/api/v1/people?{q}")
    for q in ["since=yesterday", "until=2026-13-01", "since=2026-02-30", "record_id=x", "page=0"]:
        get(f"/api/v1/audit?{q}")
    for q in ["area_id=x", "building_id=-3", "person_id=" + HUGE, "page=99999"]:
        get(f"/api/v1/assignments?{q}")

    # bodies that are not JSON objects
    for path in ["/units", "/people", "/users", "/assignments", "/tokens", "/me/password"]:
        for raw in [b"", b"{", b"not json", b"[1, 2]", b'"a string"', b"null", b"42", b"{'single': 1}",
                    b"\xff\xfe\x00", b"[" * 100_000, b'{"\\ud800": 1}']:
            cases.append(("POST", f"/api/v1{path}", raw))

    # units
    for body in [{}, {"name": ""}, {"name": " "}, {"name": None}, {"name": 42}, {"name": ["a"]}, {"name": {"a": 1}},
                 {"name": True}, {"name": LONG}, {"name": "县城管执法局", "kind": "mafia"},
                 {"name": "新单位", "phone": "not a phone"}, {"name": "新单位", "colour": "red"},
                 *({"name": s} for s in ODD), *({"name": "新单位", "phone": s} for s in SQLISH + SCRIPTISH),
                 {"name": "县住建局"}, {"name": "县住建局 "}]:
        cases.append(("POST", "/api/v1/units", body))
    for body in [{"phone": "1"}, {"version": "x"}, {"version": 99}, {"version": 1, "name": ""},
                 {"version": 1, "id": 5}, {"version": 1, "kind": 3}, {"version": 1, "name": "县城管执法局"}]:
        cases.append(("PATCH", f"/api/v1/units/{w.unit.id}", body))

    # people
    for body in [{}, {"name": ""}, {"name": 7}, {"name": LONG}, {"name": "王", "unit_id": "abc"},
                 {"name": "王", "unit_id": 999999}, {"name": "王", "unit_id": -1}, {"name": "王", "unit_id": HUGE},
                 {"name": "王", "unit_id": 1.5}, {"name": "王", "is_party_member": "maybe"},
                 {"name": "王", "phone": "电话"}, {"name": "王", "title": LONG}, *({"name": s} for s in ODD),
                 *({"name": "王", "phone": s} for s in SQLISH + SCRIPTISH + ["😀", "1" * 40])]:
        cases.append(("POST", "/api/v1/people", body))
    cases.append(("PATCH", f"/api/v1/people/{w.cadre.id}", {"phone": "x", "version": 1}))
    cases.append(("PATCH", f"/api/v1/people/{w.cadre.id}", {"name": "新名", "version": 5}))

    # users
    ok_user = {"username": "newbie", "password": "long enough", "role": "grid", "area_code": w.grid_east.code}
    for changes in [{"username": ""}, {"username": LONG}, {"password": "short"}, {"password": ""},
                    {"password": 12345678}, {"role": "mayor"}, {"role": None}, {"area_code": "NOPE"},
                    {"area_code": SQLISH[1]}, {"person_id": "x"}, {"person_id": 999999}, {"active": "perhaps"},
                    {"username": "admin-user"}, {"username": "ADMIN-USER"}, {"extra": 1},
                    {"area_code": w.county.code}, {"role": "township"}, {"\ud800": 1},
                    *({"username": s} for s in ODD)]:
        cases.append(("POST", "/api/v1/users", {**ok_user, **changes}))

    # assignments
    ok = {"kind": "unit", "building_id": w.building.id, "unit_id": w.unit.id, "person_id": w.cadre.id}
    for changes in [{"kind": None}, {"kind": "boss"}, {"kind": SQLISH[0]}, {"building_id": None},
                    {"area_id": w.community.id}, {"household_id": w.households[0].id},
                    {"building_id": "abc"}, {"building_id": HUGE}, {"building_id": -5}, {"building_id": 1.5},
                    {"building_id": True}, {"building_id": 999999}, {"unit_id": None, "person_id": None},
                    {"unit_id": 999999}, {"person_id": 999999}, {"unit_id": "县住建局"},
                    {"valid_from": "2026-02-30"}, {"valid_from": "tomorrow"}, {"valid_from": "99999-01-01"},
                    {"valid_from": "1066-10-14"}, {"valid_from": "2026-06-01", "valid_to": "2026-05-01"},
                    {"valid_to": 20260101}, {"post": LONG}, {"duty": "x" * 2001}, {"post": "\u202e楼栋长"},
                    {"duty": "a\x00b"}, {"kind": "standing_committee"},
                    {"kind": "department"}, {"household_id": w.households[0].id, "building_id": None}, {"extra": True}, {"version": "x"}, {"post": ["a"]}, {"target": {}}]:
        cases.append(("POST", "/api/v1/assignments", {**ok, **changes}))

    # tokens and password
    for body in [{"name": LONG}, {"name": 5}, {"name": "\x00"}, {"label": "x"}]:
        cases.append(("POST", "/api/v1/tokens", body))
    for body in [{}, {"current_password": "wrong", "new_password": "long enough"},
                 {"current_password": "correct horse", "new_password": "short"},
                 {"current_password": "correct horse"}, {"current_password": 1, "new_password": 2},
                 {"current_password": "correct horse", "new_password": "x" * 2000}]:
        cases.append(("POST", "/api/v1/me/password", body))
    for path in ["/tokens/0", "/tokens/999999"]:
        cases.append(("DELETE", f"/api/v1{path}", None))
    # visits, coverage, wishes, accountability, volunteers
    visit = {"household_id": w.households[0].id, "hours": 1, "person_id": w.member.id}
    for changes in [{"hours": 0}, {"hours": -2}, {"hours": 24.01}, {"hours": "1h"}, {"hours": "nan"},
                    {"household_id": 999999}, {"household_id": "x"}, {"household_id": None},
                    {"visited_on": "2999-01-01"}, {"visited_on": "2026-13-01"}, {"visited_on": "1999-01-01"},
                    {"note": LONG}, {"person_id": 999999}, {"wish_title": LONG}, {"extra": 1}]:
        cases.append(("POST", "/api/v1/visits", {k: v for k, v in {**visit, **changes}.items() if v is not None}))
    for query in ["level=street", "level=building", "since=2026-02-30", "since=2026-05-01&until=2026-04-01",
                  "since=2020-01-01&until=2026-01-01", "level=grid&bbox=1,2", "area_id=abc"]:
        get(f"/api/v1/coverage?{query}")
    for query in ["", "area_id=x", "area_id=999999", f"area_id={w.community.id}&weeks=0",
                  f"area_id={w.community.id}&weeks=105"]:
        get(f"/api/v1/coverage/weekly?{query}")
    for query in ["days=0", "days=-1", "days=abc", "days=99999", "person_id=x"]:
        get(f"/api/v1/not-visited?{query}")
    get("/api/v1/buildings/999999/households")
    for query in ["status=lost", "area_id=x", "overdue=maybe"]:
        get(f"/api/v1/wishes?{query}")
    for step, body in [("claim", {}), ("fly", {"version": 1}), ("claim", {"version": "x"})]:
        cases.append(("POST", f"/api/v1/wishes/999999/{step}", body))
    for query in ["year=1800", "year=abc", "year=3000"]:
        get(f"/api/v1/people/{w.member.id}/summary?{query}")
        get(f"/api/v1/accountability/behind?{query}")
    get("/api/v1/accountability/behind?group=street")
    get("/api/v1/people/999999/summary")
    service = {"person_id": w.member.id, "activity": "清理楼道", "hours": 2}
    for changes in [{"hours": 0}, {"hours": 30}, {"hours": "two"}, {"activity": ""}, {"activity": LONG},
                    {"served_on": "2999-01-01"}, {"person_id": 999999}, {"verified_by_id": 1}]:
        cases.append(("POST", "/api/v1/service-records", {**service, **changes}))
    for body in [{}, {"area_id": w.grid_west.id, "version": w.member.version},
                 {"area_id": 999999, "version": w.member.version}, {"area_id": w.community.id, "version": 99},
                 {"area_id": w.community.id, "version": w.member.version, "registered_on": "soon"}]:
        cases.append(("POST", f"/api/v1/people/{w.member.id}/registration", body))
    cases.append(("PUT", "/api/v1/units", {"name": "x"}))  # method not allowed
    cases.append(("POST", "/api/v1/lookup", {}))
    return cases


def form_cases(w: Any) -> list[tuple[str, dict[str, str]]]:
    """(url, form fields) posted with the CSRF token, as a browser would."""
    cases = []
    for fields in [{"username": "x", "role": "grid", "password": "short"},
                   {"username": "", "role": "grid", "password": "long enough"},
                   {"username": "y", "role": "boss", "password": "long enough"},
                   {"username": "z", "role": "grid", "password": "long enough", "area_code": "NOPE"},
                   {"username": "\u202ez", "role": "grid", "password": "long enough"},
                   {"username": "admin-user", "role": "grid", "password": "long enough"}]:
        cases.append(("/admin/users/new", fields))
    for fields in [{"name": ""}, {"name": LONG}, {"name": "单位", "phone": "<script>"},
                   {"name": "单位", "kind": "gang"}, {"name": "县住建局"}]:
        cases.append(("/admin/units/new", fields))
    cases.append((f"/admin/units/{w.unit.id}", {"name": "新", "kind": "department", "version": "7"}))
    for fields in [{"name": ""}, {"name": "王", "unit_id": "abc"}, {"name": "王", "phone": "电话号码"},
                   {"name": "王", "is_party_member": "maybe"}]:
        cases.append(("/admin/people/new", fields))
    for fields in [{"kind": "unit"}, {"kind": "unit", "building_id": "x", "unit_id": str(w.unit.id)},
                   {"kind": "unit", "building_id": str(w.building.id)},
                   {"kind": "boss", "building_id": str(w.building.id), "unit_id": str(w.unit.id)},
                   {"kind": "unit", "building_id": str(w.building.id), "unit_id": str(w.unit.id),
                    "valid_from": "2026-99-01"}]:
        cases.append(("/admin/assignments/new", fields))
    for step, fields in [("claim", {"version": "1"}), ("claim", {"version": "1", "promised_on": "2026-01-01"}),
                         ("fulfil", {"version": "1", "note": "x"}), ("dance", {"version": "1"})]:
        cases.append((f"/wishes/999999/{step}", fields))
    for fields in [{"activity": "清理楼道", "hours": "0"}, {"activity": "", "hours": "2"},
                   {"activity": "清理楼道", "hours": "2", "served_on": "2999-01-01"},
                   {"activity": "清理楼道", "hours": "many"}]:
        cases.append((f"/people/{w.member.id}/service", fields))
    for fields in [{"area_id": str(w.grid_west.id), "version": str(w.member.version)},
                   {"area_id": "x", "version": str(w.member.version)},
                   {"area_id": str(w.community.id), "version": "99"}]:
        cases.append((f"/people/{w.member.id}/registration", fields))
    # the spreadsheet import page: uploads that are no sheet, not the template, or empty
    def upload(data: bytes, name: str) -> Any:
        return (io.BytesIO(data), name)

    for fields in [{"kind": "units"}, {"kind": "boss", "file": upload(b"x", "x.csv")},
                   {"file": upload("单位名称\n县民政局\n".encode(), "u.csv")},
                   {"kind": "units", "file": upload(b"MZ\x90\x00", "virus.exe")},
                   {"kind": "units", "file": upload(b"PK\x03\x04 broken", "u.xlsx")},
                   {"kind": "units", "file": upload(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64, "u.xls")},
                   {"kind": "units", "file": upload(b"", "empty.csv")},
                   {"kind": "units", "file": upload("单位名称\n".encode(), "headers-only.csv")},
                   {"kind": "people", "file": upload("名字,号码\n甲,1\n".encode("gbk"), "other.csv")},
                   {"kind": "units", "sheet": "第二页", "file": upload("单位名称\n县民政局\n".encode(), "u.csv")},
                   {"kind": "households", "file": upload(b"\xff\xfe" + LONG.encode("utf-16-le"), "u.csv")},
                   {"kind": "units", "other": upload(b"x", "x.csv")}]:
        cases.append(("/admin/import", fields))
    for fields in [{}, {"token": "nope"}, {"token": LONG}, {"token": "x", "skip_bad": "maybe"}]:
        cases.append(("/admin/import/write", fields))
    for fields in [{"building": "NOPE", "units": "1", "floors": "1", "rooms": "1"},
                   {"building": "B-1", "units": "0", "floors": "1", "rooms": "1"},
                   {"building": "B-1", "units": "1", "floors": "abc", "rooms": "1"},
                   {"building": "B-1", "units": "1", "floors": "1", "rooms": HUGE},
                   {"building": "", "units": "1", "floors": "1", "rooms": "1"}]:
        cases.append(("/admin/import/households", fields))
    cases.append(("/account/password", {"current_password": "wrong", "new_password": "long enough"}))
    cases.append(("/account/tokens", {"name": LONG}))
    cases.append(("/account/tokens/999999/revoke", {}))
    return cases


def snapshot(connection) -> dict[str, tuple[int, str]]:  # type: ignore[no-untyped-def]
    """Row count and checksum of every table."""
    state = {}
    for table in Base.metadata.sorted_tables:
        state[table.name] = tuple(connection.execute(text(
            f'SELECT count(*), coalesce(md5(string_agg(t::text, \'|\' ORDER BY t::text)), \'\') FROM "{table.name}" t'
        )).one())
    return state


@pytest.fixture
def admin(app, role_users, world, connection):  # type: ignore[no-untyped-def]
    client = app.test_client()
    client.csrf = log_in_as(client, "admin-user")
    return client


def send(client, method: str, url: str, body: Any):  # type: ignore[no-untyped-def]
    headers = {"X-CSRF-Token": client.csrf}
    if body is None:
        return client.open(url, method=method, headers=headers)
    if isinstance(body, bytes):
        return client.open(url, method=method, data=body, content_type="application/json", headers=headers)
    return client.open(url, method=method, data=json.dumps(body), content_type="application/json",
                       headers=headers)


def test_the_corpus_is_big_enough(world):
    assert len(api_cases(world)) + len(form_cases(world)) >= 200


def test_bad_api_input_gets_a_4xx_in_the_error_shape_and_changes_nothing(admin, world, connection):
    before = snapshot(connection)
    failures = []
    for method, url, body in api_cases(world):
        response = send(admin, method, url, body)
        shape_ok = False
        try:
            payload = response.get_json(force=True)
            shape_ok = set(payload) == {"error"} and set(payload["error"]) == {"code", "message"}
        except Exception:  # noqa: BLE001 - any non-JSON body is a failure of the shape
            pass
        if not (400 <= response.status_code < 500 and shape_ok):
            failures.append((method, url, body if not isinstance(body, str) else body[:40], response.status_code,
                             response.data[:200]))
    assert not failures, "\n".join(map(repr, failures))
    assert snapshot(connection) == before


def test_bad_form_input_is_refused_with_a_message_and_changes_nothing(admin, world, connection):
    before = snapshot(connection)
    failures = []
    for url, fields in form_cases(world):
        response = admin.post(url, data={"csrf_token": admin.csrf, **fields})
        if response.status_code == 302:  # account pages report through a flash message
            page = admin.get(response.location).get_data(as_text=True)
            ok = 'class="gw-error"' in page
        else:
            ok = 400 <= response.status_code < 500 and 'class="gw-error"' in response.get_data(as_text=True)
        if not ok:
            failures.append((url, fields, response.status_code))
    assert not failures, failures
    assert snapshot(connection) == before


# --- field work, as a grid member: reports, steps, patrols, Open311, wishes ---------------


@pytest.fixture
def field(app, role_users, world, session):  # type: ignore[no-untyped-def]
    """A grid member's client and token, with a real issue, a running patrol and a claimed
    wish to aim the bad input at."""
    from geo import accounts
    from geo.models import Wish

    client = app.test_client()
    client.csrf = log_in_as(client, "grid-user")
    issue = send(client, "POST", "/api/v1/issues",
                 {"lon": 109.4745, "lat": 29.9845, "category": "环境卫生", "description": "真问题"}).get_json()
    patrol = send(client, "POST", "/api/v1/patrols", {"area_id": world.grid_west.id}).get_json()
    wish = Wish(household_id=world.households[0].id, title="修水管", status="open")
    session.add(wish)
    _, token = accounts.create_token(session, role_users["grid"])
    session.flush()
    return {"client": client, "issue": issue, "patrol": patrol, "wish": wish.id, "token": token}


def field_cases(w: Any, issue: dict[str, Any], patrol: dict[str, Any], wish: int) -> list[tuple[str, str, Any]]:
    cases: list[tuple[str, str, Any]] = []
    report = {"lon": 109.4745, "lat": 29.9845, "category": "环境卫生", "description": "堆物"}
    for changes in [{"lon": None}, {"lat": None}, {"lon": "abc"}, {"lon": "nan"}, {"lon": "inf"}, {"lon": HUGE},
                    {"lon": 29.9845, "lat": 109.4745}, {"lon": 116.4, "lat": 39.9}, {"lon": 200}, {"lat": -91},
                    {"lon": [109.47]}, {"lon": {"x": 1}}, {"lon": True}, {"category": "外星人"}, {"category": None},
                    {"category": 5}, {"category": SQLISH[1]}, {"description": "长" * 4001}, {"description": 7},
                    {"description": "a\x00b"}, {"description": "\u202e反向"}, {"client_id": "short"},
                    {"client_id": "a b c d e f g h"}, {"client_id": "x" * 65}, {"client_id": 12345678},
                    {"patrol_id": 999999}, {"patrol_id": "x"}, {"extra": 1}, {"status": "closed"},
                    *({"category": s} for s in SCRIPTISH + ODD)]:
        body = {k: v for k, v in {**report, **changes}.items() if v is not None}
        cases.append(("POST", "/api/v1/issues", body))
    for raw in [b"", b"{", b"[]", b"null", b"[" * 100_000, b'{"lon": 1e999}']:
        cases.append(("POST", "/api/v1/issues", raw))
    cases.append(("MULTIPART", "/api/v1/issues", {**{k: str(v) for k, v in report.items()},
                                                  "photos": [(b"not an image", "a.jpg")]}))
    cases.append(("MULTIPART", "/api/v1/issues", {**{k: str(v) for k, v in report.items()},
                                                  "photos": [(b"GIF89a" + b"\x00" * 64, "b.png")]}))
    cases.append(("MULTIPART", "/api/v1/issues", {**{k: str(v) for k, v in report.items()}, "lon": "x",
                                                  "photos": [(b"\xff\xd8\xff\xe0" + b"\x00" * 99, "c.jpg")]}))

    events = f"/api/v1/issues/{issue['id']}/events"
    version = issue["version"]
    for body in [{}, {"kind": "dance", "version": version}, {"kind": "verify", "version": version},
                 {"kind": "reopen", "version": version, "note": "x"}, {"kind": "meeting", "version": version},
                 {"kind": "meeting", "version": version, "decision": "d", "deadline": "2001-01-01"},
                 {"kind": "meeting", "version": version, "decision": "d", "deadline": "2026-02-30"},
                 {"kind": "meeting", "version": version, "decision": "d", "attending_unit_ids": [999999]},
                 {"kind": "meeting", "version": version, "decision": "d", "attending_unit_ids": "abc"},
                 {"kind": "refer", "version": version, "note": "转"}, {"kind": "refer", "version": version,
                                                                     "unit_id": 999999, "note": "转"},
                 {"kind": "resolve", "version": version}, {"kind": "resolve", "version": 99, "note": "x"},
                 {"kind": "resolve", "version": "x", "note": "x"}, {"kind": "resolve", "note": "x"},
                 {"kind": "comment"}, {"kind": "comment", "note": "长" * 4001},
                 {"kind": "comment", "note": "x", "lon": 116.4, "lat": 39.9},
                 {"kind": "comment", "note": "x", "lon": "abc", "lat": 29.98},
                 {"kind": "comment", "note": "x", "extra": 1}]:
        cases.append(("POST", events, body))
    cases.append(("POST", "/api/v1/issues/999999/events", {"kind": "comment", "note": "x"}))
    for q in ["status=lost", "sort=password_hash", "order=sideways", "since=yesterday",
              "since=2026-05-01&until=2026-04-01", "unit_id=x", "area_id=" + HUGE, "overdue=maybe", "limit=0",
              "offset=-1"]:
        cases.append(("GET", f"/api/v1/issues?{q}", None))
    for path in ["/areas/0/people", "/areas/99999999999/people", f"/areas/{w.other_grid.id}/people",
                 "/areas/-1/people"]:
        cases.append(("GET", f"/api/v1{path}", None))
    for q in ["sort=urgent", "sort=urgency;--", "sort=URGENCY"]:
        cases.append(("GET", f"/api/v1/issues?{q}", None))
    for q in ["lon=x&lat=29.98&category=环境卫生", "lat=29.98&category=环境卫生", "lon=200&lat=29.98"]:
        cases.append(("GET", f"/api/v1/issues/nearby?{q}", None))

    # patrols: broken routes (GeoJSON-ish and not), a patrol elsewhere, one that does not exist
    track = f"/api/v1/patrols/{patrol['id']}/track"
    for body in [{}, {"track": None}, {"track": "LINESTRING(1 2, 3 4)"}, {"track": [[109.47, 29.98]]},
                 {"track": [[109.47]] * 3}, {"track": [["a", "b"], [1, 2]]}, {"track": [[1e999, 1], [2, 2]]},
                 {"track": [[109.47, 29.98, 1, 2], [109.48, 29.98]]}, {"track": [[116.4, 39.9], [116.5, 39.9]]},
                 {"track": [[29.98, 109.47], [29.99, 109.47]]}, {"track": {"type": "LineString", "coordinates": []}},
                 {"track": [[109.47, 29.98]] * 20_001}, {"track": [[True, False], [1, 2]]}, {"extra": 1}]:
        cases.append(("POST", track, body))
    for body in [{}, {"area_id": w.community.id}, {"area_id": w.other_grid.id}, {"area_id": "x"},
                 {"area_id": w.grid_west.id, "unit_ids": [999999]}, {"area_id": w.grid_west.id, "person_ids": "a,b"},
                 {"area_id": w.grid_west.id, "title": "长" * 201}]:
        cases.append(("POST", "/api/v1/patrols", body))
    cases.append(("POST", "/api/v1/patrols/999999/end", {}))

    # wishes on a real wish
    for step, body in [("claim", {}), ("claim", {"version": 1, "promised_on": "2001-01-01"}),
                       ("fulfil", {"version": 1, "note": "x"}), ("rate", {"version": 1, "rating": 5}),
                       ("claim", {"version": 99}), ("withdraw", {"version": "x"}), ("claim", {"version": 1,
                                                                                            "unit_id": 999999})]:
        cases.append(("POST", f"/api/v1/wishes/{wish}/{step}", body))
    return cases


OPEN311_FORMS = [
    {}, {"service_code": "外星人", "lat": "29.98", "long": "109.47"}, {"service_code": "绿化", "lat": "x", "long": "1"},
    {"service_code": "绿化", "lat": "39.9", "long": "116.4"}, {"service_code": "绿化", "lat": "29.98"},
    {"service_code": "绿化", "lat": "29.98", "long": "109.47", "description": "长" * 4001},
    {"service_code": "绿化", "lat": "29.98", "long": "109.47", "colour": "red"},
    {"service_code": "绿化", "lat": "nan", "long": "109.47"}, {"service_code": SQLISH[0], "lat": "1", "long": "1"},
]
OPEN311_QUERIES = ["status=lost", "status=open,lost", "status=closed;--", "start_date=yesterday", "end_date=2026-13-01",
                   "service_request_id=abc",
                   "service_request_id=1,x", "colour=red"]


def test_bad_field_input_gets_a_4xx_and_changes_nothing(field, world, connection):
    client = field["client"]
    cases = field_cases(world, field["issue"], field["patrol"], field["wish"])
    assert len(cases) >= 100
    # The token's first use notes its time (a write of its own, once per ten minutes).
    assert client.get(f"/open311/v2/services.json?api_key={field['token']}").status_code == 200
    before = snapshot(connection)
    failures = []
    for method, url, body in cases:
        if method == "MULTIPART":
            data = {k: v for k, v in body.items() if k != "photos"}
            data["photos"] = [(io.BytesIO(content), name) for content, name in body["photos"]]
            response = client.post(url, data=data, headers={"X-CSRF-Token": client.csrf},
                                   content_type="multipart/form-data")
        else:
            response = send(client, method, url, body)
        if not (400 <= response.status_code < 500 and error_shaped(response)):
            failures.append((method, url, repr(body)[:80], response.status_code, response.data[:160]))
    token = field["token"]
    for form in OPEN311_FORMS:
        response = client.post("/open311/v2/requests.json", data={"api_key": token, **form})
        if not (400 <= response.status_code < 500 and error_shaped(response)):
            failures.append(("POST", "open311", form, response.status_code, response.data[:160]))
    for query in OPEN311_QUERIES:
        response = client.get(f"/open311/v2/requests.json?api_key={token}&{query}")
        if not (400 <= response.status_code < 500 and error_shaped(response)):
            failures.append(("GET", "open311", query, response.status_code, response.data[:160]))
    assert not failures, "\n".join(map(repr, failures))
    assert snapshot(connection) == before


def error_shaped(response) -> bool:  # type: ignore[no-untyped-def]
    try:
        payload = response.get_json(force=True)
        return set(payload) == {"error"} and set(payload["error"]) == {"code", "message"}
    except Exception:  # noqa: BLE001 - any non-JSON body is a failure of the shape
        return False


def test_an_oversized_body_is_refused(admin, world, connection):
    before = snapshot(connection)
    response = send(admin, "POST", "/api/v1/units", b'{"name": "' + b"x" * (33 * 1024 * 1024) + b'"}')
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "too_large"
    assert snapshot(connection) == before
