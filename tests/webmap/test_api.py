"""The JSON API under /api/v1/: answers, edges and the one error shape."""

from __future__ import annotations

import datetime as dt

import pytest
from shapely.geometry import shape

from geo import accounts
from geo.geometry import to_element
from geo.models import Building, Issue, Visit
from tests.conftest import box


def error_of(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.data
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    return body["error"]


# --- lookup -----------------------------------------------------------------------------


def test_lookup_in_a_building_shows_its_cadres_and_every_area_up_the_tree(logged_in, world):
    data = logged_in.get("/api/v1/lookup?lon=109.4745&lat=29.9845").get_json()

    building = data["building"]
    assert building["id"] == world.building.id and building["source_id"] == "B-1"
    [assignment] = building["assignments"]  # the ended one is not shown
    assert assignment["unit"]["name"] == "县住建局"
    assert assignment["person"] == {"id": world.cadre.id, "name": "张三", "title": "副局长", "phone": "13800001234"}
    assert (assignment["post"], assignment["duty"], assignment["target"]) == ("楼栋长", "每周巡查楼栋安全", "楼栋无安全隐患")
    assert building["household_count"] == 6
    assert building["household_assignees"] == [
        {"person": {"id": world.member.id, "name": "李四", "title": "科员", "phone": "13900005678"}, "households": 4}
    ]

    assert [a["level"] for a in data["areas"]] == ["compound", "grid", "community", "township", "county"]
    assert data["areas"][0]["name"] == "贡水花园"
    community = data["areas"][2]
    assert {a["kind"] for a in community["assignments"]} == {"standing_committee", "department"}
    assert {(a["person"] or {}).get("name") for a in community["assignments"]} == {"王五", None}


def test_lookup_on_the_line_between_two_grids_returns_both(logged_in, world):
    data = logged_in.get("/api/v1/lookup?lon=109.48&lat=29.99").get_json()
    assert data["building"] is None
    levels = [a["level"] for a in data["areas"]]
    assert levels == ["grid", "grid", "community", "township", "county"]
    assert {a["name"] for a in data["areas"][:2]} == {"文澜一网格", "文澜二网格"}


def test_lookup_in_a_compound_but_no_building(logged_in, world):
    data = logged_in.get("/api/v1/lookup?lon=109.473&lat=29.983").get_json()
    assert data["building"] is None
    assert [a["name"] for a in data["areas"][:2]] == ["贡水花园", "文澜一网格"]


def test_lookup_outside_the_county_finds_nothing(logged_in, world):
    data = logged_in.get("/api/v1/lookup?lon=110.5&lat=29.99").get_json()
    assert data["building"] is None and data["areas"] == []


@pytest.mark.parametrize(
    "query, code",
    [
        ("lat=29.99", "missing_parameter"),
        ("lon=109.48", "missing_parameter"),
        ("lon=&lat=29.99", "missing_parameter"),
        ("lon=abc&lat=29.99", "bad_request"),
        ("lon=109,48&lat=29.99", "bad_request"),
        ("lon=nan&lat=29.99", "bad_request"),
        ("lon=inf&lat=29.99", "bad_request"),
        ("lon=1e400&lat=29.99", "bad_request"),
        ("lon=200&lat=29.99", "invalid_geometry"),
        ("lon=29.99&lat=109.48", "invalid_geometry"),  # swapped
        ("lon=109.48&lat=-91", "invalid_geometry"),
    ],
)
def test_lookup_refuses_bad_coordinates(logged_in, world, query, code):
    assert error_of(logged_in.get(f"/api/v1/lookup?{query}"), 400)["code"] == code


def test_errors_speak_chinese_by_default_and_english_on_request(logged_in, world):
    assert error_of(logged_in.get("/api/v1/lookup?lat=1"), 400)["message"] == "缺少参数 lon"
    logged_in.get("/api/v1/lookup?lon=1&lat=1&lang=en")
    assert error_of(logged_in.get("/api/v1/lookup?lat=1"), 400)["message"] == "parameter lon is required"


# --- authentication ---------------------------------------------------------------------


def test_api_needs_a_login_or_a_token(client, world, session, admin_user):
    assert error_of(client.get("/api/v1/lookup?lon=109.4745&lat=29.9845"), 401)["code"] == "unauthorized"

    _, token = accounts.create_token(session, "admin", "integration test")
    response = client.get("/api/v1/lookup?lon=109.4745&lat=29.9845", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json()["building"]["name"] == "贡水花园1栋"

    bad = client.get("/api/v1/lookup?lon=1&lat=1", headers={"Authorization": "Bearer gw_not-a-token"})
    assert error_of(bad, 401)["code"] == "invalid_token"


def test_a_token_is_stored_only_as_a_digest(session, admin_user):
    from geo.models import ApiToken

    _, token = accounts.create_token(session, "admin")
    stored = session.query(ApiToken).one()
    assert token not in stored.token_hash and len(stored.token_hash) == 64


def test_unknown_api_paths_and_methods_use_the_error_shape(logged_in, session, admin_user):
    assert error_of(logged_in.get("/api/v1/nothing-here"), 404)["code"] == "not_found"
    _, token = accounts.create_token(session, "admin")
    response = logged_in.post("/api/v1/lookup", headers={"Authorization": f"Bearer {token}"})
    assert error_of(response, 405)["code"] == "method_not_allowed"


# --- buildings --------------------------------------------------------------------------


def test_buildings_by_bbox_are_geojson_features_with_record_ids(logged_in, world):
    response = logged_in.get("/api/v1/buildings?bbox=109.47,29.98,109.49,30.0")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    collection = response.get_json()
    assert collection["type"] == "FeatureCollection" and collection["truncated"] is False
    [feature] = collection["features"]
    assert feature["id"] == world.building.id
    assert feature["properties"]["source_id"] == "B-1"
    assert feature["properties"]["name"] == "贡水花园1栋"
    assert shape(feature["geometry"]).equals(box(109.474, 29.984, 109.475, 29.985))


def test_buildings_outside_the_bbox_are_left_out(logged_in, world):
    collection = logged_in.get("/api/v1/buildings?bbox=109.48,29.98,109.49,30.0").get_json()
    assert collection["features"] == []


def test_buildings_are_capped_by_limit_and_say_so(logged_in, world, session):
    for i in range(5):
        x = 109.4811 + i * 0.0005
        session.add(Building(name=f"东{i}", area=world.grid_east, geom=to_element(box(x, 29.985, x + 0.0003, 29.9853))))
    session.flush()
    collection = logged_in.get("/api/v1/buildings?bbox=109.47,29.98,109.49,30.0&limit=3").get_json()
    assert len(collection["features"]) == 3 and collection["truncated"] is True


@pytest.mark.parametrize(
    "query, code",
    [
        ("", "missing_parameter"),
        ("bbox=109.47,29.98,109.49", "bad_request"),
        ("bbox=a,b,c,d", "bad_request"),
        ("bbox=109.49,29.98,109.47,30.0", "bad_request"),  # min after max
        ("bbox=109.47,29.98,109.49,nan", "bad_request"),
        ("bbox=100,20,110,30", "bbox_too_large"),
        ("bbox=109.47,29.98,109.49,30.0&limit=0", "bad_request"),
        ("bbox=109.47,29.98,109.49,30.0&limit=-5", "bad_request"),
        ("bbox=109.47,29.98,109.49,30.0&limit=ten", "bad_request"),
        ("bbox=109.47,29.98,109.49,30.0&limit=1000000", "bad_request"),
        ("bbox=109.47,29.98,109.49,30.0&limit=99999999999999999999", "bad_request"),
    ],
)
def test_buildings_refuse_bad_parameters(logged_in, world, query, code):
    assert error_of(logged_in.get(f"/api/v1/buildings?{query}"), 400)["code"] == code


def test_one_building_has_households_coverage_and_open_issues(logged_in, world, session):
    today = dt.date.today()
    session.add_all([
        Visit(household_id=world.households[0].id, person_id=world.member.id, visited_on=today, hours=1),
        Visit(household_id=world.households[0].id, person_id=world.member.id, visited_on=today, hours=1),
        Visit(household_id=world.households[1].id, person_id=world.member.id,
              visited_on=today - dt.timedelta(days=40), hours=1),  # outside the window
        Issue(category="环境卫生", description="楼道堆放杂物", status="reported", building_id=world.building.id,
              geom=to_element(shape({"type": "Point", "coordinates": [109.4745, 29.9845]}))),
        Issue(category="绿化", description="已办结", status="closed", building_id=world.building.id,
              geom=to_element(shape({"type": "Point", "coordinates": [109.4745, 29.9845]}))),
    ])
    world.households[5].active = False
    session.flush()

    card = logged_in.get(f"/api/v1/buildings/{world.building.id}").get_json()
    assert card["source_id"] == "B-1"
    assert card["household_count"] == 6
    assert card["coverage"]["visited"] == 1 and card["coverage"]["households"] == 5
    assert card["coverage"]["share"] == 0.2
    assert [(i["category"], i["status"]) for i in card["open_issues"]] == [("环境卫生", "reported")]
    assert [a["level"] for a in card["areas"]] == ["compound", "grid", "community", "township", "county"]


@pytest.mark.parametrize("building_id", ["999999", "99999999999", "0"])
def test_a_missing_building_is_404(logged_in, world, building_id):
    assert error_of(logged_in.get(f"/api/v1/buildings/{building_id}"), 404)["code"] == "not_found"


# --- areas ------------------------------------------------------------------------------


def test_areas_by_level_and_bbox(logged_in, world):
    grids = logged_in.get("/api/v1/areas?level=grid").get_json()
    assert sorted(f["properties"]["name"] for f in grids["features"]) == ["东门一网格", "文澜一网格", "文澜二网格"]
    assert {f["id"] for f in grids["features"]} == {world.grid_west.id, world.grid_east.id, world.other_grid.id}

    east = logged_in.get("/api/v1/areas?level=grid&bbox=109.485,29.985,109.486,29.986").get_json()
    assert [f["properties"]["name"] for f in east["features"]] == ["文澜二网格"]


def test_an_area_with_its_assignments_and_ancestors(logged_in, world):
    card = logged_in.get(f"/api/v1/areas/{world.community.id}").get_json()
    assert card["name"] == "文澜社区" and card["level"] == "community"
    assert {a["post"] for a in card["assignments"]} == {"包联社区县领导", "大党委成员单位"}
    assert [a["level"] for a in card["ancestors"]] == ["township", "county"]


def test_areas_refuse_bad_parameters(logged_in, world):
    assert error_of(logged_in.get("/api/v1/areas?level=province"), 400)["code"] == "bad_request"
    assert error_of(logged_in.get("/api/v1/areas?bbox=1,2,3"), 400)["code"] == "bad_request"
    assert error_of(logged_in.get("/api/v1/areas/424242"), 404)["code"] == "not_found"


# --- issues -----------------------------------------------------------------------------


def test_issues_filter_by_status_and_category(logged_in, world, session):
    point = to_element(shape({"type": "Point", "coordinates": [109.485, 29.99]}))
    session.add_all([
        Issue(category="占道经营", status="reported", geom=point, deadline=dt.date.today() - dt.timedelta(days=2)),
        Issue(category="绿化", status="meeting", geom=point),
        Issue(category="绿化", status="closed", geom=point),
    ])
    session.flush()
    open_issues = logged_in.get("/api/v1/issues?status=open").get_json()["features"]
    assert sorted(f["properties"]["status"] for f in open_issues) == ["meeting", "reported"]
    overdue = {f["properties"]["category"]: f["properties"]["overdue"] for f in open_issues}
    assert overdue == {"占道经营": True, "绿化": False}
    green = logged_in.get("/api/v1/issues?category=绿化").get_json()["features"]
    assert len(green) == 2
    assert error_of(logged_in.get("/api/v1/issues?status=lost"), 400)["code"] == "bad_request"


@pytest.mark.parametrize("limit", ["%C2%B2", "%E2%91%A0", "%00", "1%00"])
def test_odd_digits_and_nul_in_parameters_are_refused_not_a_crash(logged_in, world, limit):
    response = logged_in.get(f"/api/v1/buildings?bbox=109.47,29.98,109.49,30.0&limit={limit}")
    assert error_of(response, 400)


def test_a_nul_in_a_filter_is_refused(logged_in, world):
    assert error_of(logged_in.get("/api/v1/issues?category=%00"), 400)["code"] == "nul_character"
