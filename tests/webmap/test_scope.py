"""Who may see and do what: every role × every endpoint, inside and outside its area, and
no personal data outside a user's scope in any response.

The world (tests/conftest.py): 测试镇 holds 文澜社区 (grids west and east; the building
贡水花园1栋 in the west grid's compound) and 东门社区 (one grid, the building 东门小学).
Users: admin, county, viewer (county-wide); township (测试镇); community (文澜社区);
grid and party (文澜一网格).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest

from tests.conftest import ROLE_AREAS, log_in_as

ROLES = tuple(ROLE_AREAS)
# Who reads 东门社区 (outside 文澜): the county-wide roles and the township.
READS_OTHER_COMMUNITY = {"admin", "county", "viewer", "township"}
MANAGES_ASSIGNMENTS = {"admin", "county", "township", "community"}

CADRE_PHONE = "13800001234"  # 贡水花园1栋, inside 文澜一网格
MEMBER_PHONE = "13900005678"  # party member for that building's households
LEADER_PHONE = "13700009999"  # county leader for 文澜社区 (above a grid user's area)
OTHER_PHONE = "13600002222"  # 东门小学, outside 文澜社区


@pytest.fixture
def as_role(app, role_users):  # type: ignore[no-untyped-def]
    """A client logged in as the given role, with its CSRF token as a header for writes."""

    def client_for(role: str):  # type: ignore[no-untyped-def]
        client = app.test_client()
        token = log_in_as(client, f"{role}-user")
        client.environ_base["HTTP_X_CSRF_TOKEN"] = token
        return client

    return client_for


def reads(role: str, world) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The expected status of each read, by endpoint."""
    other = 200 if role in READS_OTHER_COMMUNITY else 404
    return {
        f"/api/v1/buildings/{world.building.id}": 200,
        f"/api/v1/buildings/{world.other_building.id}": other,
        f"/api/v1/areas/{world.community.id}": 200,
        f"/api/v1/areas/{world.grid_west.id}": 200,
        f"/api/v1/areas/{world.other_grid.id}": other,
        f"/api/v1/areas/{world.other_community.id}": other,
        f"/api/v1/areas/{world.county.id}": 200,  # above everyone: outline and names
        "/api/v1/users": 200 if role == "admin" else 403,
        "/api/v1/audit": 200 if role == "admin" else 403,
        "/api/v1/units": 200,
        "/api/v1/me": 200,
    }


@pytest.mark.parametrize("role", ROLES)
def test_reads_by_role_inside_and_outside_the_area(as_role, world, role):
    client = as_role(role)
    for path, status in reads(role, world).items():
        assert client.get(path).status_code == status, (role, path)


@pytest.mark.parametrize("role", ROLES)
def test_layers_and_lookup_hold_only_what_the_role_reads(as_role, world, role):
    client = as_role(role)
    buildings = client.get("/api/v1/buildings?bbox=109.46,29.97,109.52,30.01").get_json()
    names = {f["properties"]["name"] for f in buildings["features"]}
    sees_other = role in READS_OTHER_COMMUNITY
    assert names == ({"贡水花园1栋", "东门小学"} if sees_other else {"贡水花园1栋"})

    grids = client.get("/api/v1/areas?level=grid").get_json()
    grid_names = {f["properties"]["name"] for f in grids["features"]}
    expected = {"文澜一网格", "文澜二网格", "东门一网格"}
    if role in ("grid", "party"):
        expected = {"文澜一网格"}
    elif role == "community":
        expected = {"文澜一网格", "文澜二网格"}
    assert grid_names == expected

    lookup = client.get("/api/v1/lookup?lon=109.5005&lat=29.9905").get_json()
    assert (lookup["building"] is not None) == sees_other
    assert ("东门一网格" in {a["name"] for a in lookup["areas"]}) == sees_other


def visible_phones(client, world) -> set[str]:  # type: ignore[no-untyped-def]
    """Every full phone number found in the role's answers to every read endpoint."""
    paths = [
        f"/api/v1/lookup?lon={lon}&lat={lat}"
        for lon, lat in ((109.4745, 29.9845), (109.5005, 29.9905), (109.485, 29.99))
    ] + [
        f"/api/v1/buildings/{world.building.id}",
        f"/api/v1/buildings/{world.other_building.id}",
        f"/api/v1/areas/{world.community.id}",
        f"/api/v1/areas/{world.other_community.id}",
        f"/api/v1/areas/{world.grid_west.id}",
        "/api/v1/assignments", "/api/v1/assignments?all=1",
        f"/api/v1/assignments?building_id={world.other_building.id}",
        "/api/v1/people", f"/api/v1/people/{world.cadre.id}", f"/api/v1/people/{world.other_cadre.id}",
        "/api/v1/buildings?bbox=109.46,29.97,109.52,30.01", "/api/v1/areas", "/api/v1/issues",
        "/", "/account",
    ]
    bodies = " ".join(client.get(path).get_data(as_text=True) for path in paths)
    return {p for p in (CADRE_PHONE, MEMBER_PHONE, LEADER_PHONE, OTHER_PHONE) if p in bodies}


@pytest.mark.parametrize(
    "role, phones",
    [
        ("admin", {CADRE_PHONE, MEMBER_PHONE, LEADER_PHONE, OTHER_PHONE}),
        ("county", {CADRE_PHONE, MEMBER_PHONE, LEADER_PHONE, OTHER_PHONE}),
        ("township", {CADRE_PHONE, MEMBER_PHONE, LEADER_PHONE, OTHER_PHONE}),
        ("community", {CADRE_PHONE, MEMBER_PHONE, LEADER_PHONE}),
        ("grid", {CADRE_PHONE, MEMBER_PHONE}),
        ("party", {CADRE_PHONE, MEMBER_PHONE}),
        ("viewer", set()),
    ],
)
def test_no_phone_outside_the_scope_in_any_answer(as_role, world, role, phones):
    assert visible_phones(as_role(role), world) == phones


# --- residents' personal data, across every read ------------------------------------------

WENLAN_RESIDENT, WENLAN_RESIDENT_PHONE = "陈秀兰", "13511112222"  # 贡水花园1栋, in 文澜一网格
DONGMEN_RESIDENT, DONGMEN_RESIDENT_PHONE = "刘建国", "13533334444"  # 东门小学, outside 文澜社区


@pytest.fixture
def residents(world, session):  # type: ignore[no-untyped-def]
    """A resident in each community, each with a wish that names them (officers write it so),
    and an issue and a patrol in 东门 too, so that every kind of record is in the sweep."""
    from geo.geometry import lonlat_point, to_element
    from geo.models import Household, Issue, Patrol, Wish

    home = world.households[0]
    home.head_name, home.phone = WENLAN_RESIDENT, WENLAN_RESIDENT_PHONE
    away = Household(building=world.other_building, unit_no=1, floor=1, room="101", residents=2,
                     head_name=DONGMEN_RESIDENT, phone=DONGMEN_RESIDENT_PHONE)
    session.add(away)
    session.flush()
    session.add_all([
        Wish(household_id=home.id, title="修水管", description=f"{WENLAN_RESIDENT}家厨房漏水", status="open"),
        Wish(household_id=away.id, title="助餐", description=f"{DONGMEN_RESIDENT}行动不便", status="open"),
        Issue(category="环境卫生", description="东门垃圾堆放", status="reported", area_id=world.other_grid.id,
              geom=to_element(lonlat_point(109.5005, 29.9905)), reported_by_id=None),
        Patrol(area_id=world.other_grid.id, title="东门步巡", started_at=dt.datetime.now(dt.timezone.utc)),
    ])
    session.flush()


def personal_sweep(client, world) -> str:  # type: ignore[no-untyped-def]
    """Every read a user can make, pages and downloads included, as one text."""
    paths = [
        f"/api/v1/lookup?lon={lon}&lat={lat}"
        for lon, lat in ((109.4745, 29.9845), (109.5005, 29.9905), (109.485, 29.99))
    ] + [
        f"/api/v1/buildings/{b.id}{tail}" for b in (world.building, world.other_building) for tail in ("", "/households")
    ] + [
        f"/api/v1/areas/{a.id}{tail}" for a in (world.community, world.other_community, world.grid_west, world.other_grid)
        for tail in ("", "/people")
    ] + [
        "/api/v1/assignments?all=1", f"/api/v1/assignments?building_id={world.other_building.id}",
        "/api/v1/people", f"/api/v1/people/{world.cadre.id}", f"/api/v1/people/{world.other_cadre.id}",
        "/api/v1/buildings?bbox=109.46,29.97,109.52,30.01", "/api/v1/areas", "/api/v1/issues",
        "/api/v1/issues/nearby?lon=109.5005&lat=29.9905&category=环境卫生", "/api/v1/patrols",
        "/api/v1/wishes", "/api/v1/not-visited?days=30", "/api/v1/accountability/behind", "/api/v1/volunteers",
        f"/api/v1/people/{world.member.id}/summary", "/api/v1/coverage?level=grid",
        "/open311/v2/requests.json",
        "/", "/account", "/issues", "/issues.csv", "/wishes", "/wishes?format=csv", "/dashboard",
        f"/dashboard?area_id={world.other_community.id}", "/accountability", "/volunteers",
        f"/people/{world.cadre.id}", f"/people/{world.other_cadre.id}",
    ]
    texts = []
    for path in paths:
        response = client.get(path)
        assert response.status_code < 500, (path, response.status_code)
        texts.append(response.get_data(as_text=True))
    for path in ("/issues.xlsx", "/wishes?format=xlsx"):  # the words inside the workbook
        with zipfile.ZipFile(io.BytesIO(client.get(path).data)) as book:
            texts += [book.read(name).decode() for name in book.namelist() if name.endswith(".xml")]
    return " ".join(texts)


@pytest.mark.parametrize(
    "role, seen",
    [
        ("admin", {"wenlan", "dongmen"}),
        ("county", {"wenlan", "dongmen"}),
        ("township", {"wenlan", "dongmen"}),
        ("community", {"wenlan"}),
        ("grid", {"wenlan"}),
        ("party", {"wenlan"}),
        ("viewer", set()),
    ],
)
def test_no_residents_name_or_phone_outside_the_scope_anywhere(as_role, world, residents, role, seen):
    text = personal_sweep(as_role(role), world)
    # Both the name and the phone reach who answers for the resident, and neither anyone else.
    for key, name, phone in (("wenlan", WENLAN_RESIDENT, WENLAN_RESIDENT_PHONE),
                             ("dongmen", DONGMEN_RESIDENT, DONGMEN_RESIDENT_PHONE)):
        assert (name in text, phone in text) == ((key in seen,) * 2), (role, key)
    cadres = {p for p in (CADRE_PHONE, MEMBER_PHONE, LEADER_PHONE, OTHER_PHONE) if p in text}
    assert cadres <= {p for p in (CADRE_PHONE, MEMBER_PHONE, LEADER_PHONE, OTHER_PHONE)
                      if role in {"admin", "county", "township"}
                      or (role == "community" and p != OTHER_PHONE)
                      or (role in {"grid", "party"} and p in (CADRE_PHONE, MEMBER_PHONE))}, (role, cadres)


def test_masked_phones_keep_their_shape(as_role, world):
    card = as_role("viewer").get(f"/api/v1/buildings/{world.building.id}").get_json()
    assert card["assignments"][0]["person"]["phone"] == "138****1234"
    assert card["assignments"][0]["person"]["name"] == "张三"  # names of cadres are not hidden


def new_assignment(world, building) -> dict:  # type: ignore[no-untyped-def]
    return {"kind": "unit", "building_id": building.id, "unit_id": world.unit.id, "person_id": world.cadre.id,
            "post": "楼栋长", "duty": "巡查", "target": "无隐患"}


@pytest.mark.parametrize("role", ROLES)
def test_who_may_assign_responsibility_inside_and_outside_the_area(as_role, world, role):
    client = as_role(role)
    inside = client.post("/api/v1/assignments", json=new_assignment(world, world.building))
    outside = client.post("/api/v1/assignments", json=new_assignment(world, world.other_building))
    assert inside.status_code == (201 if role in MANAGES_ASSIGNMENTS else 403), inside.data
    allowed_outside = role in MANAGES_ASSIGNMENTS and role in READS_OTHER_COMMUNITY
    assert outside.status_code == (201 if allowed_outside else 403), outside.data
    for response in (inside, outside):
        if response.status_code == 403:
            assert set(response.get_json()["error"]) == {"code", "message"}


@pytest.mark.parametrize("role", ROLES)
def test_only_admins_change_units_people_and_users(as_role, world, role):
    client = as_role(role)
    expected = 201 if role == "admin" else 403
    assert client.post("/api/v1/units", json={"name": f"{role}单位"}).status_code == expected
    assert client.post("/api/v1/people", json={"name": "新人"}).status_code == expected
    assert client.post("/api/v1/users", json={"username": f"new-{role}", "password": "long enough",
                                              "role": "viewer"}).status_code == expected
    patched = client.patch(f"/api/v1/units/{world.unit.id}", json={"phone": "0718-0000000", "version": 1})
    assert patched.status_code == (200 if role == "admin" else 403)


def test_anonymous_callers_get_401_everywhere(client, world):
    for path in ("/api/v1/lookup?lon=109.4745&lat=29.9845", f"/api/v1/buildings/{world.building.id}",
                 "/api/v1/areas", "/api/v1/issues", "/api/v1/assignments", "/api/v1/units", "/api/v1/me"):
        response = client.get(path)
        assert response.status_code == 401 and json.loads(response.data)["error"]["code"] == "unauthorized"


def test_a_token_is_scoped_like_its_user(app, role_users, world, session):
    from geo import accounts

    _, token = accounts.create_token(session, "grid-user")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/api/v1/buildings/{world.building.id}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/buildings/{world.other_building.id}", headers=headers).status_code == 404
