"""The import page: upload → dry run with every row's fate → write all or nothing, for the
county's and the townships' administrators, each within their area."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from geo.models import Assignment, AuditEntry, Household, SheetUpload, Unit


def workbook(rows: list[list[Any]]) -> io.BytesIO:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    data = io.BytesIO()
    book.save(data)
    data.seek(0)
    return data


def upload(client, kind: str, rows: list[list[Any]], name: str = "表.xlsx"):  # type: ignore[no-untyped-def]
    return client.post("/admin/import", data={"csrf_token": client.csrf, "kind": kind,
                                              "file": (workbook(rows), name)},
                       content_type="multipart/form-data")


def token_of(page: str) -> str:
    start = page.index('name="token" value="') + len('name="token" value="')
    return page[start:page.index('"', start)]


def count(session, model) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count()).select_from(model))


def test_the_page_is_chinese_and_offers_the_templates(page_as):
    page = page_as("admin").get("/admin/import").get_data(as_text=True)
    assert "导入表格" in page and "/admin/import/template/households.xlsx" in page
    assert 'name="viewport"' in page


def test_a_template_downloads(page_as):
    response = page_as("township").get("/admin/import/template/assignments.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["包保责任", "说明"]
    assert [c.value for c in book["包保责任"][1]][:3] == ["包保类型", "区域", "楼栋"]


def test_upload_dry_run_then_write(page_as, session, world):
    admin = page_as("admin")
    before = count(session, Unit)

    checked = upload(admin, "units", [["单位名称", "电话"], ["县民政局", "0718-2222222"], ["县住建局", ""]])

    page = checked.get_data(as_text=True)
    assert checked.status_code == 200
    assert "县民政局" in page and "新增" in page and "写入" in page
    assert count(session, Unit) == before  # a dry run

    written = admin.post("/admin/import/write", data={"csrf_token": admin.csrf, "token": token_of(page)})

    assert written.status_code == 302
    assert count(session, Unit) == before + 1
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "import")).one()
    assert entry.table_name == "units" and entry.via == "web" and entry.after["created"] == 1
    assert count(session, SheetUpload) == 0  # used up


def test_refused_rows_are_listed_and_keep_the_file_out(page_as, session, world):
    admin = page_as("admin")
    checked = upload(admin, "people", [["姓名", "单位", "电话"], ["甲", "县住建局", "13811112222"],
                                       ["乙", "没有这个单位", ""], ["丙", "县住建局", "坏号码"]])
    page = checked.get_data(as_text=True)
    assert "没有这个单位" in page and "<td>3</td>" in page and "<td>4</td>" in page
    token = token_of(page)

    refused = admin.post("/admin/import/write", data={"csrf_token": admin.csrf, "token": token})
    assert refused.status_code == 400 and "没有写入" in refused.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Unit)) == 2

    skipped = admin.post("/admin/import/write", data={"csrf_token": admin.csrf, "token": token, "skip_bad": "true"})
    assert skipped.status_code == 302
    from geo.models import Person

    assert session.scalars(select(Person.name).where(Person.name.in_(["甲", "乙", "丙"]))).all() == ["甲"]


def test_a_sheet_that_is_not_the_template_is_refused_with_the_missing_headers(page_as):
    response = upload(page_as("admin"), "households", [["名称", "备注"], ["x", "y"]])
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and 'class="gw-error"' in page and "楼栋" in page


def test_a_township_officer_imports_only_into_their_township(page_as, session, world):
    from geo.geometry import to_element
    from geo.models import Area
    from tests.conftest import box

    session.add(Area(code="T42282502", name="外镇", level="township", parent=world.county,
                     geom=to_element(box(109.55, 29.9, 109.6, 29.95))))
    session.flush()
    township = page_as("township")
    before = count(session, Assignment)

    checked = upload(township, "assignments", [["区域", "责任单位", "职务"], ["T4228250101-02", "县住建局", "网格包保"],
                                               ["T42282502", "县住建局", "网格包保"]])
    page = checked.get_data(as_text=True)
    assert "超出" in page or "之外" in page or "范围" in page, page
    township.post("/admin/import/write", data={"csrf_token": township.csrf, "token": token_of(page),
                                               "skip_bad": "true"})

    assert count(session, Assignment) == before + 1
    assert session.scalars(select(Assignment).where(Assignment.post == "网格包保")).one().area_id == world.grid_east.id


def test_a_township_officer_may_not_import_units(page_as):
    response = upload(page_as("township"), "units", [["单位名称"], ["县民政局"]])
    assert response.status_code == 403


@pytest.mark.parametrize("role", ["viewer", "community", "grid"])
def test_others_get_403(page_as, role):
    client = page_as(role)
    assert client.get("/admin/import").status_code == 403
    assert upload(client, "households", [["楼栋", "楼层", "门牌"], ["B-1", 1, "101"]]).status_code == 403
    assert client.get("/admin/import/template/units.xlsx").status_code == 403


def test_an_upload_is_its_uploaders_only(page_as, session, world):
    admin = page_as("admin")
    page = upload(admin, "households", [["楼栋", "楼层", "门牌"], ["B-1", 5, "501"]]).get_data(as_text=True)
    county = page_as("county")

    response = county.post("/admin/import/write", data={"csrf_token": county.csrf, "token": token_of(page)})

    assert response.status_code == 404
    assert session.scalar(select(func.count()).select_from(Household).where(Household.room == "501")) == 0


def test_the_write_needs_the_csrf_token(page_as, world):
    admin = page_as("admin")
    page = upload(admin, "units", [["单位名称"], ["县民政局"]]).get_data(as_text=True)
    assert admin.post("/admin/import/write", data={"token": token_of(page)}).status_code == 403


def test_households_generated_from_the_form(page_as, session, world):
    township = page_as("township")
    form = {"csrf_token": township.csrf, "building": "B-1", "units": "1", "floors": "4", "rooms": "2"}

    first = township.post("/admin/import/households", data=form)
    again = township.post("/admin/import/households", data=form)

    assert first.status_code == again.status_code == 302
    rooms = session.scalars(select(Household.room).where(Household.building_id == world.building.id)).all()
    assert sorted(rooms) == ["101", "102", "201", "202", "301", "302", "401", "402"]
    community = page_as("community")
    denied = community.post("/admin/import/households", data={**form, "csrf_token": community.csrf})
    assert denied.status_code == 403
