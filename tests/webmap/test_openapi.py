"""/api/v1/openapi.json tells the truth: it lists exactly the API's routes, and real
answers — successes and errors — match the schemas it gives for them."""

from __future__ import annotations

import io
import re
from fnmatch import fnmatch
from typing import Any

import jsonschema
import pytest

from tests.conftest import log_in_as
from tests.webmap.test_issues import jpeg, post_form

METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE"}


@pytest.fixture
def spec(client) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/openapi.json")  # public: tools read it before logging in
    assert response.status_code == 200
    return response.get_json()


def test_the_description_lists_exactly_the_routes(app, spec):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint != "api.openapi":
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            routes |= {(path, m.lower()) for m in rule.methods & METHODS}
    described = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert routes == described


def check(spec: dict[str, Any], response: Any, path: str, method: str) -> None:
    """The response's status is described for this operation and its body fits the schema."""
    described = spec["paths"][path][method]["responses"]
    assert str(response.status_code) in described, (path, method, response.status_code, response.data)
    content = described[str(response.status_code)].get("content")
    if content is None:
        return
    (media, body), = content.items()
    assert fnmatch(response.mimetype, media), (path, response.mimetype)
    if not response.is_json:
        return  # a photo
    schema = {**body["schema"], "components": spec["components"]}
    jsonschema.validate(response.get_json(), schema, cls=jsonschema.Draft202012Validator)


def test_answers_match_their_schemas(app, spec, world, role_users):
    admin = app.test_client()
    admin.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(admin, "admin-user")
    w = world
    calls = [
        ("get", "/lookup", "/api/v1/lookup?lon=109.4745&lat=29.9845", None),
        ("get", "/lookup", "/api/v1/lookup?lon=109.48&lat=29.99", None),
        ("get", "/lookup", "/api/v1/lookup?lon=abc&lat=1", None),
        ("get", "/buildings", "/api/v1/buildings?bbox=109.47,29.98,109.49,30.0", None),
        ("get", "/buildings", "/api/v1/buildings?bbox=1,2,3", None),
        ("get", "/buildings/{building_id}", f"/api/v1/buildings/{w.building.id}", None),
        ("get", "/buildings/{building_id}", "/api/v1/buildings/999999", None),
        ("get", "/areas", "/api/v1/areas?level=grid", None),
        ("get", "/areas/{area_id}", f"/api/v1/areas/{w.community.id}", None),
        ("get", "/issues", "/api/v1/issues?status=open", None),
        ("get", "/me", "/api/v1/me", None),
        ("get", "/units", "/api/v1/units", None),
        ("post", "/units", "/api/v1/units", {"name": "县档案馆", "kind": "department"}),
        ("post", "/units", "/api/v1/units", {"name": 42}),
        ("patch", "/units/{unit_id}", f"/api/v1/units/{w.unit.id}", {"phone": "0718-1", "version": 9}),
        ("get", "/units/{unit_id}", f"/api/v1/units/{w.unit.id}", None),
        ("get", "/people", "/api/v1/people?q=张", None),
        ("get", "/people/{person_id}", f"/api/v1/people/{w.cadre.id}", None),
        ("post", "/people", "/api/v1/people", {"name": "陈七", "unit_id": w.unit.id, "phone": "13512345678"}),
        ("patch", "/people/{person_id}", f"/api/v1/people/{w.cadre.id}", {"title": "局长", "version": 1}),
        ("get", "/users", "/api/v1/users", None),
        ("post", "/users", "/api/v1/users", {"username": "zhou", "password": "long enough", "role": "viewer"}),
        ("get", "/users/{user_id}", f"/api/v1/users/{role_users['grid'].id}", None),
        ("patch", "/users/{user_id}", f"/api/v1/users/{role_users['grid'].id}", {"active": False, "version": 1}),
        ("get", "/assignments", "/api/v1/assignments?all=1", None),
        ("post", "/assignments", "/api/v1/assignments",
         {"kind": "unit", "building_id": w.building.id, "unit_id": w.dept.id, "post": "安全员"}),
        ("post", "/assignments", "/api/v1/assignments", {"kind": "unit"}),
        ("get", "/tokens", "/api/v1/tokens", None),
        ("post", "/tokens", "/api/v1/tokens", {"name": "QGIS"}),
        ("get", "/audit", "/api/v1/audit", None),
        ("get", "/categories", "/api/v1/categories", None),
        ("post", "/issues", "/api/v1/issues", {"lon": 109.4745, "lat": 29.9845, "category": "环境卫生"}),
        ("post", "/issues", "/api/v1/issues", {"lon": 110.5, "lat": 29.9845, "category": "环境卫生"}),
        ("get", "/issues/nearby", "/api/v1/issues/nearby?lon=109.4745&lat=29.9845", None),
        ("post", "/patrols", "/api/v1/patrols", {"area_id": w.grid_west.id, "unit_ids": [w.unit.id]}),
        ("get", "/patrols", "/api/v1/patrols", None),
        ("get", "/offline/{area_id}", f"/api/v1/offline/{w.grid_west.id}", None),
        ("get", "/offline/{area_id}", f"/api/v1/offline/{w.township.id}", None),
        ("get", "/offline/{area_id}/copy", f"/api/v1/offline/{w.community.id}/copy", None),
        ("get", "/offline/{area_id}/copy", "/api/v1/offline/999999/copy", None),
    ]
    for method, path, url, body in calls:
        response = getattr(admin, method)(url, json=body) if body is not None else getattr(admin, method)(url)
        check(spec, response, path, method)

    created = admin.post("/api/v1/assignments", json={"kind": "unit", "building_id": w.building.id,
                                                      "person_id": w.member.id}).get_json()
    check(spec, admin.get(f"/api/v1/assignments/{created['id']}"), "/assignments/{assignment_id}", "get")
    check(spec, admin.patch(f"/api/v1/assignments/{created['id']}", json={"post": "x", "version": 1}),
          "/assignments/{assignment_id}", "patch")
    check(spec, admin.post(f"/api/v1/assignments/{created['id']}/end", json={"version": 2}),
          "/assignments/{assignment_id}/end", "post")
    check(spec, admin.post(f"/api/v1/assignments/{created['id']}/end", json={"version": 3}),
          "/assignments/{assignment_id}/end", "post")  # 409
    issue = admin.post("/api/v1/issues", json={"lon": 109.4745, "lat": 29.9845, "category": "绿化"}).get_json()
    check(spec, admin.get(f"/api/v1/issues/{issue['id']}"), "/issues/{issue_id}", "get")
    check(spec, admin.post(f"/api/v1/issues/{issue['id']}/events", json={"kind": "verify", "version": 1}),
          "/issues/{issue_id}/events", "post")  # 409: not resolved yet
    check(spec, admin.post(f"/api/v1/issues/{issue['id']}/events", json={"kind": "comment", "version": 1,
                                                                         "note": "看过"}),
          "/issues/{issue_id}/events", "post")
    check(spec, admin.get(f"/api/v1/issues/{issue['id']}/photos/1"), "/issues/{issue_id}/photos/{photo_id}", "get")
    patrol = admin.get("/api/v1/patrols").get_json()[0]
    check(spec, admin.get(f"/api/v1/patrols/{patrol['id']}"), "/patrols/{patrol_id}", "get")
    check(spec, admin.post(f"/api/v1/patrols/{patrol['id']}/track",
                           json={"track": [[109.471, 29.981], [109.472, 29.982], [109.473, 29.981]]}),
          "/patrols/{patrol_id}/track", "post")
    check(spec, admin.post(f"/api/v1/patrols/{patrol['id']}/end", json={}), "/patrols/{patrol_id}/end", "post")
    check(spec, admin.post(f"/api/v1/patrols/{patrol['id']}/end", json={}), "/patrols/{patrol_id}/end", "post")
    token = admin.post("/api/v1/tokens", json={}).get_json()
    check(spec, admin.delete(f"/api/v1/tokens/{token['id']}"), "/tokens/{token_id}", "delete")
    wrong_type = admin.post("/api/v1/me/password", data="x", content_type="text/plain")
    assert wrong_type.status_code == 415
    check(spec, wrong_type, "/me/password", "post")
    check(spec, app.test_client().get("/api/v1/units"), "/units", "get")  # 401


def test_visit_wish_and_accountability_answers_match_their_schemas(app, spec, world, role_users):
    admin = app.test_client()
    admin.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(admin, "admin-user")
    w = world
    calls = [
        ("post", "/visits", "/api/v1/visits",
         {"household_id": w.households[0].id, "person_id": w.member.id, "hours": 1, "wish_title": "修楼道灯"}),
        ("post", "/visits", "/api/v1/visits", {"household_id": w.households[0].id, "hours": 30}),
        ("get", "/coverage", "/api/v1/coverage?level=grid", None),
        ("get", "/coverage", f"/api/v1/coverage?level=building&area_id={w.grid_west.id}", None),
        ("get", "/coverage/weekly", f"/api/v1/coverage/weekly?area_id={w.community.id}", None),
        ("get", "/not-visited", f"/api/v1/not-visited?area_id={w.community.id}", None),
        ("get", "/buildings/{building_id}/households", f"/api/v1/buildings/{w.building.id}/households", None),
        ("get", "/people/{person_id}/summary", f"/api/v1/people/{w.member.id}/summary", None),
        ("post", "/people/{person_id}/registration", f"/api/v1/people/{w.member.id}/registration",
         {"area_id": w.community.id, "version": 1}),
        ("get", "/accountability/behind", "/api/v1/accountability/behind", None),
        ("get", "/volunteers", "/api/v1/volunteers", None),
        ("post", "/service-records", "/api/v1/service-records",
         {"person_id": w.member.id, "activity": "清理楼道", "hours": 2}),
    ]
    for method, path, url, body in calls:
        response = getattr(admin, method)(url, json=body) if body is not None else getattr(admin, method)(url)
        check(spec, response, path, method)
    [wish] = admin.get("/api/v1/wishes?status=open").get_json()
    step = "/wishes/{wish_id}/{step}"
    check(spec, admin.post(f"/api/v1/wishes/{wish['id']}/claim",
                           json={"version": 1, "promised_on": "2099-01-01", "unit_id": w.unit.id}), step, "post")
    check(spec, admin.post(f"/api/v1/wishes/{wish['id']}/claim", json={"version": 2}), step, "post")  # 409
    check(spec, post_form(admin, f"/api/v1/wishes/{wish['id']}/fulfil",
                          {"version": "2", "photos": (io.BytesIO(jpeg(size=(64, 48))), "a.jpg")}), step, "post")
    fulfilled = admin.get("/api/v1/wishes?status=fulfilled")
    check(spec, fulfilled, "/wishes", "get")
    [photo_id] = fulfilled.get_json()[0]["photo_ids"]
    for size in ("display", "original"):
        check(spec, admin.get(f"/api/v1/wishes/{wish['id']}/photos/{photo_id}?size={size}"),
              "/wishes/{wish_id}/photos/{photo_id}", "get")
    check(spec, admin.get(f"/api/v1/wishes/{wish['id']}/photos/{photo_id}?size=huge"),
          "/wishes/{wish_id}/photos/{photo_id}", "get")  # 400
