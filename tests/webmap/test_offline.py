"""The offline map's copy of an area: what it holds for whom (the user's own scope, nothing
personal beyond it), what it weighs before it is sent, and the areas it refuses."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from geo import offline
from geo.errors import BadRequest
from geo.geometry import to_element
from geo.models import Building, Issue
from geo.scope import Scope
from tests.conftest import box, client_as


def copy_of(client, area_id: int):  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/offline/{area_id}/copy")
    assert response.status_code == 200, response.data
    return response.get_json()


def test_a_grid_officers_copy_holds_the_grids_buildings_cadres_households_and_open_issues(
        app, session, world, role_users):
    session.add(Issue(category="安全隐患", description="楼道堆物", status="reported",
                      geom=to_element(box(109.4744, 29.9844, 109.4745, 29.9845).centroid),
                      area_id=world.compound.id, building_id=world.building.id, unit_id=world.unit.id))
    session.add(Issue(category="安全隐患", description="已办结的", status="closed",
                      geom=to_element(box(109.4744, 29.9844, 109.4745, 29.9845).centroid),
                      area_id=world.compound.id, building_id=world.building.id, unit_id=world.unit.id))
    session.flush()
    kept = copy_of(client_as(app, "grid"), world.grid_west.id)

    assert kept["area"] == {"id": world.grid_west.id, "name": "文澜一网格", "level": "grid"}
    assert kept["bounds"] == [109.47, 29.98, 109.48, 30.0]
    [card] = kept["buildings"]
    # The building panel's card, as /api/v1/buildings/<id> gives it online; its areas' cards
    # kept once for all buildings, as online, reached through area_id and parent_id.
    online = client_as(app, "grid").get(f"/api/v1/buildings/{world.building.id}").get_json()
    areas, up = [], card["area_id"]
    while up is not None:
        areas.append(kept["area_cards"][str(up)])
        up = areas[-1]["parent_id"]
    assert {**card, "areas": areas, "geometry": None} == {**online, "geometry": None}
    assert card["assignments"][0]["person"]["phone"] == "13800001234"  # in the officer's own grid
    assert [a["name"] for a in areas] == ["贡水花园", "文澜一网格", "文澜社区", "测试镇", "测试县"]
    assert [109.474, 29.984] in card["geometry"]["coordinates"][0][0]  # rounded to 7 places, as lists
    # The households as the visit form lists them, unmasked in the officer's grid.
    homes = kept["households"][str(world.building.id)]
    assert len(homes) == 6 and {h["address"] for h in homes} >= {"1-1-101", "1-3-302"}
    # The outlines of the grid and its compound; the cards above them for taps beside buildings.
    assert {o["id"] for o in kept["outlines"]} == {world.grid_west.id, world.compound.id}
    community = kept["area_cards"][str(world.community.id)]
    [leader] = [a["person"] for a in community["assignments"] if a["person"]]
    # Above the officer's grid a phone is masked, as online.
    assert (leader["name"], leader["phone"]) == ("王五", "137****9999")
    # Only open issues, with their timelines to read (no step is offered offline).
    [open_one] = kept["issues"]["features"]
    assert open_one["properties"]["description"] == "楼道堆物"
    detail = kept["issue_details"][str(open_one["id"])]
    online = client_as(app, "grid").get(f"/api/v1/issues/{open_one['id']}").get_json()
    assert {**detail, "allowed": online["allowed"]} == online and detail["allowed"] == []
    assert list(kept["issue_details"]) == [str(open_one["id"])]
    made = dt.datetime.fromisoformat(kept["made_at"])
    assert dt.datetime.fromisoformat(kept["expires_at"]) - made == dt.timedelta(days=7)


def test_the_plan_weighs_the_copy_before_it_is_sent(app, world, role_users):
    client = client_as(app, "grid")
    plan = client.get(f"/api/v1/offline/{world.grid_west.id}").get_json()
    body = client.get(f"/api/v1/offline/{world.grid_west.id}/copy").get_data()
    assert (plan["buildings"], plan["households"], plan["issues"], plan["days"]) == (1, 6, 0, 7)
    # The weight is the copy as kept on the phone, within a few bytes (its timestamps).
    assert abs(plan["bytes"] - len(json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":")).encode())) < 8


def test_nothing_outside_the_users_own_area_is_kept(app, world, role_users):
    client = client_as(app, "grid")
    for other in (world.other_grid.id, world.grid_east.id, world.community.id):
        for path in (f"/api/v1/offline/{other}", f"/api/v1/offline/{other}/copy"):
            response = client.get(path)
            assert response.status_code == 404, path
            assert response.get_json()["error"]["code"] == "not_found"


def test_a_viewers_copy_holds_no_households_and_no_phones(app, session, world, role_users):
    viewer = role_users["viewer"]
    viewer.area = world.community  # type: ignore[attr-defined]
    session.flush()
    kept = copy_of(client_as(app, "viewer"), world.community.id)
    assert kept["households"] == {}
    [card] = [b for b in kept["buildings"] if b["id"] == world.building.id]
    assert "13800001234" not in json.dumps(kept) and card["assignments"][0]["person"]["phone"] == "138****1234"


def test_a_huge_area_is_refused_with_its_counts_and_nothing_is_sent(app, session, world, role_users):
    app.config["OFFLINE_MAX_BUILDINGS"] = 3
    session.add_all([Building(source_id=f"X-{i}", area=world.grid_west,
                              geom=to_element(box(109.471 + i * 1e-4, 29.99, 109.47105 + i * 1e-4, 29.99005)))
                     for i in range(4)])
    session.flush()
    client = client_as(app, "community")
    for path in (f"/api/v1/offline/{world.community.id}", f"/api/v1/offline/{world.community.id}/copy"):
        response = client.get(path, headers={"Accept-Language": "zh"})
        assert response.status_code == 400
        error = response.get_json()["error"]
        assert error["code"] == "area_too_large"
        assert "文澜社区有 5 栋楼" in error["message"] and "网格" in error["message"]
    # One of its grids still fits.
    assert client.get(f"/api/v1/offline/{world.grid_east.id}").status_code == 200


@pytest.mark.parametrize("area", ["county", "township"])
def test_a_township_or_county_is_not_kept(app, world, role_users, area):
    response = client_as(app, "admin").get(f"/api/v1/offline/{getattr(world, area).id}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "not_kept"


@pytest.mark.parametrize("area_id", ["0", "99999999999999999999", "999999"])
def test_an_unknown_area_is_not_found(app, world, role_users, area_id):
    response = client_as(app, "admin").get(f"/api/v1/offline/{area_id}")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("role, kept, refused", [
    ("admin", ["community", "grid_east", "other_grid"], []),
    ("township", ["community", "other_community"], []),
    ("community", ["community", "grid_east", "compound"], ["other_community", "other_grid"]),
    ("party", ["grid_west", "compound"], ["grid_east", "community"]),
])
def test_each_role_keeps_what_is_its_own(app, world, role_users, role, kept, refused):
    client = client_as(app, role)
    for name in kept:
        assert client.get(f"/api/v1/offline/{getattr(world, name).id}").status_code == 200, name
    for name in refused:
        assert client.get(f"/api/v1/offline/{getattr(world, name).id}").status_code == 404, name


def test_a_copy_too_heavy_for_a_phone_is_refused_however_it_is_asked(session, world, role_users):
    scope = Scope.of(role_users["grid"])
    light = offline.Limits(bytes=100)
    for make in (offline.plan, offline.copy):
        with pytest.raises(BadRequest, match="MB") as refused:
            make(session, scope, world.grid_west.id, light)
        assert refused.value.code == "area_too_large"
    assert offline.copy(session, scope, world.grid_west.id, offline.Limits())["buildings"]
