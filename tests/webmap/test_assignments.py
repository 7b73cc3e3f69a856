"""Managing responsibility through the API: create, correct, end (history kept), the 409
for a stale or concurrent edit, and the audit log of every write."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from geo.models import Assignment, AuditEntry
from tests.conftest import county_today, log_in_as


@pytest.fixture
def officer(app, role_users):  # type: ignore[no-untyped-def]
    """A community officer of 文澜社区 (may manage assignments there)."""
    client = app.test_client()
    client.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(client, "community-user")
    return client


def body(world, **changes):  # type: ignore[no-untyped-def]
    data = {"kind": "unit", "building_id": world.building.id, "unit_id": world.dept.id,
            "person_id": world.member.id, "post": "楼栋安全员", "duty": "每周检查消防通道", "target": "零火灾"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_a_new_assignment_shows_on_the_building_at_once(officer, world, session):
    created = officer.post("/api/v1/assignments", json=body(world))
    assert created.status_code == 201, created.data
    a = created.get_json()
    assert a["on"] == {"type": "building", "id": world.building.id}
    assert a["unit"]["name"] == "县城管执法局" and a["person"]["name"] == "李四"
    assert a["valid_from"] == county_today().isoformat() and a["version"] == 1
    card = officer.get(f"/api/v1/buildings/{world.building.id}").get_json()
    assert "楼栋安全员" in {x["post"] for x in card["assignments"]}


@pytest.mark.parametrize(
    "changes, code",
    [
        ({"kind": "party_member", "building_id": None, "area_id": "community"}, "wrong_target"),
        ({"area_id": "grid_west"}, "one_target"),  # two targets
        ({"building_id": None}, "one_target"),  # none
        ({"unit_id": None, "person_id": None}, "nobody"),
        ({"valid_from": "2026-05-01", "valid_to": "2026-04-01"}, "dates_reversed"),
        ({"kind": "boss"}, "bad_request"),
        ({"person_id": 999999}, "not_found"),
        ({"colour": "red"}, "unknown_field"),
    ],
)
def test_a_bad_assignment_is_refused_and_nothing_is_written(officer, world, session, changes, code):
    for key in ("area_id",):
        if isinstance(changes.get(key), str):
            changes = {**changes, key: getattr(world, changes[key]).id}
    before = session.query(Assignment).count()
    response = officer.post("/api/v1/assignments", json=body(world, **changes))
    assert response.status_code in (400, 404), response.data
    assert response.get_json()["error"]["code"] == code
    assert session.query(Assignment).count() == before


def test_county_layers_are_set_by_the_county_not_by_a_community(app, officer, world, role_users):
    leader = {"kind": "standing_committee", "area_id": world.community.id, "person_id": world.leader.id}
    refused = officer.post("/api/v1/assignments", json=leader)
    assert refused.status_code == 403
    county = app.test_client()
    county.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(county, "county-user")
    assert county.post("/api/v1/assignments", json=leader).status_code == 201
    wrong = county.post("/api/v1/assignments", json={**leader, "area_id": None, "building_id": world.building.id})
    assert wrong.status_code == 400 and wrong.get_json()["error"]["code"] == "wrong_target"


def test_post_duty_and_target_are_corrected_in_place(officer, world):
    a = officer.post("/api/v1/assignments", json=body(world)).get_json()
    patched = officer.patch(f"/api/v1/assignments/{a['id']}", json={"duty": "每日检查消防通道", "version": 1})
    assert patched.status_code == 200, patched.data
    assert patched.get_json()["duty"] == "每日检查消防通道" and patched.get_json()["version"] == 2
    # Who is responsible is not edited in place: end one, start another.
    refused = officer.patch(f"/api/v1/assignments/{a['id']}", json={"person_id": world.cadre.id, "version": 2})
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "unknown_field"


def test_the_second_of_two_editors_gets_409_not_a_silent_overwrite(app, officer, world, role_users, session):
    a = officer.post("/api/v1/assignments", json=body(world)).get_json()
    other = app.test_client()
    other.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(other, "township-user")
    # Both opened version 1; the first to save wins.
    first = officer.patch(f"/api/v1/assignments/{a['id']}", json={"target": "零火灾零伤亡", "version": 1})
    second = other.patch(f"/api/v1/assignments/{a['id']}", json={"target": "别的目标", "version": 1})
    assert first.status_code == 200
    assert second.status_code == 409 and second.get_json()["error"]["code"] == "version_conflict"
    assert officer.get(f"/api/v1/assignments/{a['id']}").get_json()["target"] == "零火灾零伤亡"


def test_no_backdated_history_to_read_a_strangers_phone(officer, world, session):
    """An area officer cannot write an assignment that ended before it was made (it would
    show them the person's phone and never stand on the map), and history masks phones."""
    stranger = body(world, person_id=world.other_cadre.id, valid_from="2026-01-01", valid_to="2026-01-01")
    before = session.query(Assignment).count()
    refused = officer.post("/api/v1/assignments", json=stranger)
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "already_ended"
    assert session.query(Assignment).count() == before
    a = officer.post("/api/v1/assignments", json=body(world, person_id=world.other_cadre.id)).get_json()
    assert a["person"]["phone"] == "13600002222"  # reachable for the building while it stands
    officer.post(f"/api/v1/assignments/{a['id']}/end", json={"version": 1})
    assert officer.get(f"/api/v1/assignments/{a['id']}").get_json()["person"]["phone"] == "136****2222"
    # Nor one that begins in years to come, and so never stands on the map either.
    future = officer.post("/api/v1/assignments", json=body(world, person_id=world.other_cadre.id,
                                                           valid_from="2099-01-01"))
    assert future.status_code == 201 and future.get_json()["person"]["phone"] == "136****2222"
    listed = officer.get("/api/v1/assignments?all=1").get_data(as_text=True)
    assert "13600002222" not in listed


def test_ending_keeps_the_assignment_as_history(officer, world, session):
    a = officer.post("/api/v1/assignments", json=body(world)).get_json()
    ended = officer.post(f"/api/v1/assignments/{a['id']}/end", json={"version": 1})
    assert ended.status_code == 200 and ended.get_json()["valid_to"] == county_today().isoformat()

    card = officer.get(f"/api/v1/buildings/{world.building.id}").get_json()
    assert "楼栋安全员" not in {x["post"] for x in card["assignments"]}  # the panel shows current ones
    history = officer.get(f"/api/v1/assignments?building_id={world.building.id}&all=1").get_json()
    assert "楼栋安全员" in {x["post"] for x in history}

    again = officer.post(f"/api/v1/assignments/{a['id']}/end", json={"version": 2})
    edit = officer.patch(f"/api/v1/assignments/{a['id']}", json={"post": "改写历史", "version": 2})
    assert again.status_code == edit.status_code == 409
    assert edit.get_json()["error"]["code"] == "assignment_ended"


def test_every_write_is_in_the_audit_log_with_before_and_after(app, officer, world, session, role_users):
    a = officer.post("/api/v1/assignments", json=body(world)).get_json()
    officer.patch(f"/api/v1/assignments/{a['id']}", json={"duty": "每日检查", "version": 1})
    officer.post(f"/api/v1/assignments/{a['id']}/end", json={"version": 2})

    admin = app.test_client()
    log_in_as(admin, "admin-user")
    log = admin.get(f"/api/v1/audit?table=assignments&record_id={a['id']}").get_json()
    assert [e["action"] for e in log] == ["update", "update", "create"]  # newest first
    assert {e["username"] for e in log} == {"community-user"}
    assert log[2]["after"]["post"] == "楼栋安全员" and log[2]["before"] is None
    assert log[1]["before"] == {"duty": "每周检查消防通道"} and log[1]["after"] == {"duty": "每日检查"}
    assert log[0]["after"] == {"valid_to": county_today().isoformat()}


def test_the_audit_log_never_holds_a_password(app, world, role_users, session):
    admin = app.test_client()
    admin.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(admin, "admin-user")
    created = admin.post("/api/v1/users", json={"username": "newbie", "password": "s3cret-passw0rd",
                                                "role": "grid", "area_code": world.grid_east.code})
    assert created.status_code == 201, created.data
    entries = session.query(AuditEntry).filter_by(table_name="users").all()
    assert entries and all("s3cret" not in str(e.after) and "scrypt" not in str(e.after) for e in entries)
    assert entries[-1].after["password_hash"] == "[redacted]"


def test_the_audit_log_filters_by_user_and_action(app, officer, world, role_users):
    officer.post("/api/v1/assignments", json=body(world))
    admin = app.test_client()
    log_in_as(admin, "admin-user")
    mine = admin.get("/api/v1/audit?user=community-user&action=create").get_json()
    assert mine and all(e["username"] == "community-user" and e["action"] == "create" for e in mine)
    assert admin.get("/api/v1/audit?user=nobody").get_json() == []
    assert admin.get("/api/v1/audit?since=not-a-date").status_code == 400


def test_a_write_racing_another_gets_409(officer, world, session):
    """Someone else commits between our check and our write: the version moved on under us,
    the database refuses the update, and the caller gets 409 rather than a silent overwrite."""
    from sqlalchemy import event, text

    a = officer.post("/api/v1/assignments", json=body(world)).get_json()

    def someone_else(flush_session, _context, _instances):  # type: ignore[no-untyped-def]
        flush_session.connection().execute(
            text("UPDATE assignments SET version = version + 1, duty = '别人改的' WHERE id = :i"), {"i": a["id"]}
        )

    event.listen(Session, "before_flush", someone_else)
    try:
        raced = officer.patch(f"/api/v1/assignments/{a['id']}", json={"duty": "我改的", "version": 1})
    finally:
        event.remove(Session, "before_flush", someone_else)
    assert raced.status_code == 409 and raced.get_json()["error"]["code"] == "version_conflict"
    assert officer.get(f"/api/v1/assignments/{a['id']}").get_json()["duty"] != "我改的"


def test_the_audit_hook_never_breaks_a_write(world, connection):
    from sqlalchemy import func as sql

    from geo import audit
    from geo.db import session_factory
    from geo.models import Unit

    audited = session_factory(connection, join_transaction_mode="create_savepoint")()
    audit.set_actor(audited, user_id=None, username="tester", via="test")
    unit = audited.get(Unit, world.unit.id)
    unit.phone = sql.concat("0718-", "9999999")  # a value the database computes
    audited.flush()
    entry = audited.query(AuditEntry).filter_by(table_name="units", record_id=unit.id).one()
    assert entry.action == "update" and entry.username == "tester" and isinstance(entry.after["phone"], str)
    audited.close()
