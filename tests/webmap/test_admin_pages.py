"""The administration and account pages: forms that save, refuse with reasons, keep
history, and stay within each role's reach."""

from __future__ import annotations

import re

import pytest

from geo.models import Assignment, Person, Unit, User


def post(client, path: str, **data):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": client.csrf, **data})


def test_an_admin_creates_a_user_from_the_form(page_as, session, world):
    admin = page_as("admin")
    assert "新建" in admin.get("/admin/users").get_data(as_text=True)
    response = post(admin, "/admin/users/new", username="wang-grid", role="grid",
                    area_code=world.grid_east.code, password="long enough")
    assert response.status_code == 302
    user = session.query(User).filter_by(username="wang-grid").one()
    assert user.area_id == world.grid_east.id and user.role == "grid"


def test_a_refused_form_comes_back_filled_in_with_the_reason(page_as, session):
    admin = page_as("admin")
    response = post(admin, "/admin/users/new", username="li-si", role="grid", password="short")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "密码至少 8 个字符" in page and 'value="li-si"' in page
    assert session.query(User).filter_by(username="li-si").count() == 0


def test_a_stale_edit_of_a_unit_is_refused(page_as, session, world):
    admin = page_as("admin")
    first = post(admin, f"/admin/units/{world.unit.id}", name="县住房和城乡建设局", kind="department",
                 phone="0718-1234567", version="1")
    assert first.status_code == 302
    second = post(admin, f"/admin/units/{world.unit.id}", name="县住建局（旧）", kind="department",
                  phone="", version="1")
    assert second.status_code == 409 and "其他人刚刚修改了这条记录" in second.get_data(as_text=True)
    session.expire_all()
    assert session.get(Unit, world.unit.id).name == "县住房和城乡建设局"


def test_a_unit_kind_reads_in_the_users_language(page_as, session, world):
    session.add(Unit(name="县人民医院", kind="hospital"))
    session.flush()
    admin = page_as("admin")
    listed = admin.get("/admin/units?q=县人民医院").get_data(as_text=True)
    assert "医院" in listed.split("县人民医院", 2)[-1] and "hospital<" not in listed
    form = admin.get("/admin/units/new").get_data(as_text=True)
    assert '<option value="school"' in form and ">学校</option>" in form


def test_names_are_shown_as_text_in_lists(page_as, session, world):
    session.add(Person(name="<script>alert(1)</script>", title="<b>科长</b>"))
    session.flush()
    page = page_as("admin").get("/admin/people?q=script").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    "role, index, users, assignments",
    [
        ("admin", 200, 200, 200),
        ("county", 200, 403, 200),
        ("township", 200, 403, 200),
        ("community", 200, 403, 200),
        ("grid", 403, 403, 403),
        ("party", 403, 403, 403),
        ("viewer", 403, 403, 403),
    ],
)
def test_who_reaches_which_admin_page(page_as, world, role, index, users, assignments):
    client = page_as(role)
    assert client.get("/admin/").status_code == index
    assert client.get("/admin/users").status_code == users
    assert client.get("/admin/audit").status_code == users
    assert client.get("/admin/assignments").status_code == assignments


def test_an_officer_lists_only_responsibilities_in_their_area(page_as, world):
    page = page_as("community").get("/admin/assignments").get_data(as_text=True)
    assert "贡水花园1栋" in page and "东门小学" not in page
    assert "东门小学" in page_as("township").get("/admin/assignments").get_data(as_text=True)


def test_an_officer_assigns_and_ends_a_responsibility_keeping_the_history(page_as, session, world):
    officer = page_as("community")
    created = post(officer, "/admin/assignments/new", kind="unit", building_id=str(world.building.id),
                   unit_id=str(world.dept.id), person_id=str(world.member.id), post="消防安全员",
                   duty="每周检查", target="零火灾")
    assert created.status_code == 302, created.get_data(as_text=True)
    assignment = session.query(Assignment).filter_by(post="消防安全员").one()
    edit_page = officer.get(created.location).get_data(as_text=True)
    assert "结束此包保责任" in edit_page

    ended = post(officer, f"/admin/assignments/{assignment.id}/end", version=str(assignment.version))
    assert ended.status_code == 302
    session.expire_all()
    assert session.get(Assignment, assignment.id).valid_to is not None
    current = officer.get("/admin/assignments").get_data(as_text=True)
    history = officer.get("/admin/assignments?all=true").get_data(as_text=True)
    assert "消防安全员" not in current and "消防安全员" in history


def test_the_audit_page_shows_who_changed_what(page_as, world):
    admin = page_as("admin")
    post(admin, f"/admin/units/{world.unit.id}", name="县住建局", kind="department",
         phone="0718-7654321", version="1")
    page = admin.get("/admin/audit?table=units").get_data(as_text=True)
    assert "admin-user" in page and "0718-7654321" in page and "0718-1234567" in page
    assert "0718-7654321" not in admin.get("/admin/audit?table=users").get_data(as_text=True)
    assert admin.get("/admin/audit?since=yesterday").status_code == 400


def test_a_token_is_shown_once_and_can_be_revoked(page_as, app, world):
    me = page_as("grid")
    created = post(me, "/account/tokens", name="手机离线上报")
    token = re.search(r"gw_[\w-]+", created.get_data(as_text=True)).group(0)
    assert created.status_code == 201
    assert token not in me.get("/account/").get_data(as_text=True)
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/me", headers=headers).get_json()["username"] == "grid-user"
    token_id = re.search(r"/account/tokens/(\d+)/revoke", me.get("/account/").get_data(as_text=True)).group(1)
    assert post(me, f"/account/tokens/{token_id}/revoke").status_code == 302
    assert api.get("/api/v1/me", headers=headers).status_code == 401


def test_the_password_form_checks_the_current_password(page_as):
    me = page_as("viewer")
    wrong = post(me, "/account/password", current_password="nope", new_password="a new secret")
    assert "当前密码不正确" in me.get(wrong.location).get_data(as_text=True)
    right = post(me, "/account/password", current_password="correct horse", new_password="a new secret")
    assert "密码已修改" in me.get(right.location).get_data(as_text=True)


def test_an_admin_logs_a_user_out_everywhere(page_as, role_users):
    lost_phone = page_as("grid")
    assert lost_phone.get("/api/v1/me").status_code == 200
    admin = page_as("admin")
    assert post(admin, f"/admin/users/{role_users['grid'].id}/logout").status_code == 302
    assert lost_phone.get("/api/v1/me").status_code == 401
    assert admin.get("/api/v1/me").status_code == 200


def test_list_pages_let_unrelated_parameters_be(page_as, world):
    admin = page_as("admin")
    assert admin.get("/admin/assignments?utm_source=wechat").status_code == 200
    assert admin.get("/admin/audit?from=menu&lang=zh").status_code == 200
    assert admin.get("/admin/assignments?area_id=abc").status_code == 400


def test_buildings_imported_before_their_grids_are_listed_in_scope(page_as, session, world):
    from geo import imports
    from tests.conftest import box

    houses = [{"type": "Feature", "id": key, "properties": {"name": name}, "geometry": shape.__geo_interface__}
              for key, name, shape in [("V-1", "村部1栋", box(109.55, 29.95, 109.5503, 29.9503)),
                                        ("V-2", "村部2栋", box(109.56, 29.95, 109.5603, 29.9503))]]
    imports.import_buildings(session, houses)

    page = page_as("township").get("/admin/buildings/waiting").get_data(as_text=True)
    assert "尚未划入网格的楼栋（2）" in page
    assert "村部1栋" in page and "测试镇 · 乡镇（街道）" in page
    assert "贡水花园1栋" not in page  # it is in its compound already
    # A community officer's scope holds none of them.
    assert "尚未划入网格的楼栋（0）" in page_as("community").get("/admin/buildings/waiting").get_data(as_text=True)
