"""Spreadsheets in: each kind from a sheet like the template, every row checked with a
reason and the row number Excel shows, re-imports that update, and dry runs that write
nothing. The files are made here with openpyxl (or as CSV bytes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo import households, sheets
from geo.errors import BadRequest, Forbidden, GridwalkError
from geo.models import Assignment, Building, Household, Person, Unit
from geo.scope import Scope
from tests.conftest import World

ADMIN = Scope.system()


def xlsx(tmp_path: Path, rows: list[list[Any]], *, name: str = "sheet.xlsx",
         edit: Any = None) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = "数据"
    for row in rows:
        sheet.append(row)
    if edit is not None:
        edit(sheet)
    path = tmp_path / name
    book.save(path)
    return path


def run(session: Session, kind: str, path: Path, scope: Scope = ADMIN, **options: Any) -> sheets.SheetReport:
    return sheets.import_sheet(session, scope, kind, sheets.read_path(path), **options)


def count(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def reasons(report: sheets.SheetReport) -> dict[int, str]:
    return {r.row: r.reason for r in report.refused}


# --- each kind ----------------------------------------------------------------------------


def test_units_from_the_template_are_written_and_updated_on_reimport(session: Session, tmp_path: Path) -> None:
    path = xlsx(tmp_path, [["单位名称*", "类型", "电话"], ["县教育局", "部门", "0718-7654321"],
                           ["县实验小学", "学校", None]])

    report = run(session, "units", path, write=True)

    assert (report.created, report.refused, report.written) == (2, [], True)
    school = session.scalars(select(Unit).where(Unit.name == "县实验小学")).one()
    assert school.kind == "school"

    again = xlsx(tmp_path, [["单位名称", "类型", "电话"], ["县教育局", "部门", "0718-7654321"],
                            ["县实验小学", "学校", "0718-1111111"]], name="again.xlsx")
    second = run(session, "units", again, write=True)
    assert (second.created, second.updated, second.unchanged) == (0, 1, 1)
    assert count(session, Unit) == 2
    session.refresh(school)
    assert school.phone == "0718-1111111"


def test_people_with_their_unit_and_yes_no(session: Session, world: World, tmp_path: Path) -> None:
    path = xlsx(tmp_path, [["姓名", "职务", "单位", "电话", "是否党员"],
                           ["孙七", "科员", "县住建局", 13812345678, "是"],
                           ["周八", "", "县城管执法局", "13812345679", "N"]])

    report = run(session, "people", path, write=True)

    assert report.refused == [] and report.created == 2
    sun = session.scalars(select(Person).where(Person.name == "孙七")).one()
    # A phone typed into a number cell arrives as 13812345678.0: stored as the digits.
    assert (sun.unit_id, sun.phone, sun.is_party_member, sun.title) == (world.unit.id, "13812345678", True, "科员")
    zhou = session.scalars(select(Person).where(Person.name == "周八")).one()
    assert zhou.is_party_member is False


def test_an_existing_person_is_matched_by_phone_and_updated(session: Session, world: World, tmp_path: Path) -> None:
    path = xlsx(tmp_path, [["姓名", "职务", "单位", "电话"], ["张三", "局长", "县住建局", "13800001234"]])

    report = run(session, "people", path, write=True)

    assert (report.created, report.updated) == (0, 1)
    session.refresh(world.cadre)
    assert world.cadre.title == "局长"


def test_households_with_a_merged_building_cell(session: Session, world: World, tmp_path: Path) -> None:
    def merge(sheet: Any) -> None:
        sheet.merge_cells("A2:A4")

    path = xlsx(tmp_path, [["楼栋", "单元", "楼层", "门牌", "人数", "户主"],
                           ["B-1", 2, "1层", "101", 3, "王大妈"],
                           [None, 2, 1, "102", 2, None],
                           [None, 2, 2, "201", 0, None]], edit=merge)

    report = run(session, "households", path, write=True)

    assert report.refused == [] and report.created == 3
    rooms = set(session.execute(select(Household.unit_no, Household.floor, Household.room)
                                .where(Household.building_id == world.building.id, Household.unit_no == 2)))
    assert rooms == {(2, 1, "101"), (2, 1, "102"), (2, 2, "201")}


def test_households_reimported_update_and_never_duplicate(session: Session, world: World, tmp_path: Path) -> None:
    path = xlsx(tmp_path, [["楼栋", "单元", "楼层", "门牌", "人数"], ["贡水花园1栋", 1, 1, "101", 5]])
    before = count(session, Household)

    report = run(session, "households", path, write=True)
    again = run(session, "households", path, write=True)

    assert (report.updated, again.unchanged) == (1, 1)
    assert count(session, Household) == before
    session.refresh(world.households[0])
    assert world.households[0].residents == 5


def test_assignments_by_names_and_codes(session: Session, world: World, tmp_path: Path) -> None:
    path = xlsx(tmp_path, [
        ["包保类型", "区域", "楼栋", "单元", "楼层", "门牌", "责任单位", "责任人", "责任人电话", "职务", "职责", "目标",
         "开始日期"],
        ["", "", "B-1", "", "", "", "县城管执法局", "赵六", "", "楼栋长", "巡查", "无隐患", "2026/1/5"],
        ["", "", "B-1", 1, 3, "302", "", "张三", "13800001234", "联系户党员", "每月走访", "", ""],
        ["单位包网格小区楼栋", "T4228250101-02", "", "", "", "", "县住建局", "", "", "网格包保单位", "", "", ""],
    ])
    before = count(session, Assignment)

    report = run(session, "assignments", path, write=True)

    assert report.refused == [], reasons(report)
    assert report.created == 3 and count(session, Assignment) == before + 3
    on_grid = session.scalars(select(Assignment).where(Assignment.area_id == world.grid_east.id)).one()
    assert (on_grid.kind, on_grid.unit_id, on_grid.post) == ("unit", world.unit.id, "网格包保单位")
    household = session.scalars(select(Assignment).where(Assignment.post == "联系户党员",
                                                         Assignment.person_id == world.cadre.id)).one()
    assert household.kind == "party_member" and household.household_id is not None

    changed = xlsx(tmp_path, [["楼栋", "责任单位", "责任人", "职务", "职责"],
                              ["B-1", "县城管执法局", "赵六", "楼栋长", "每天巡查"]], name="again.xlsx")
    again = run(session, "assignments", changed, write=True)
    assert again.updated == 1 and count(session, Assignment) == before + 3


def test_english_headers(session: Session, world: World, tmp_path: Path) -> None:
    path = xlsx(tmp_path, [["Name", "Unit", "Title", "Phone", "Party member"],
                           ["Wang Jun", "县住建局", "clerk", "13811112222", "yes"]])

    report = run(session, "people", path, write=True)

    assert report.created == 1 and report.refused == []


def test_a_gbk_csv_from_chinese_excel(session: Session, world: World, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes("姓名,单位,电话,是否党员\r\n钱九,县住建局,13833334444,是\r\n".encode("gbk"))

    report = run(session, "people", path, write=True)

    assert report.created == 1, reasons(report)
    assert session.scalars(select(Person).where(Person.name == "钱九")).one().unit_id == world.unit.id


def test_a_utf8_csv_with_a_byte_order_mark(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_bytes("\ufeff单位名称,类型\n县卫健局,部门\n".encode())

    assert run(session, "units", path, write=True).created == 1


# --- refused rows -------------------------------------------------------------------------


def test_refused_rows_carry_their_row_number_and_reason(session: Session, world: World, tmp_path: Path) -> None:
    path = xlsx(tmp_path, [["某某社区人员信息表"],  # a title row above the headers
                           ["姓名", "单位", "电话", "是否党员"],
                           ["甲", "县住建局", "not a phone", ""],
                           ["乙", "不存在的单位", "", ""],
                           ["丙", "县住建局", "13855556666", "也许"],
                           ["丁", "县住建局", "13855557777", "是"],
                           ["丁", "县住建局", "13855557777", "是"]])

    report = run(session, "people", path)

    why = reasons(report)
    assert set(why) == {3, 4, 5, 7}
    assert "电话" in why[3] and "phone number" in why[3]
    assert "no unit called 不存在的单位" in why[4]
    assert "是否党员 must be 是 or 否" in why[5]
    assert "the same as row 6" in why[7]
    assert [a.row for a in report.accepted] == [6]


def test_a_formula_without_a_saved_result_refuses_its_row(session: Session, tmp_path: Path) -> None:
    path = xlsx(tmp_path, [["单位名称", "电话"], ["县审计局", '="0718-"&"1"'], ["县统计局", ""]])

    report = run(session, "units", path)

    assert list(reasons(report)) == [2] and "B2" in reasons(report)[2] and "formula" in reasons(report)[2]
    assert [a.row for a in report.accepted] == [3]


def test_an_ambiguous_name_is_refused(session: Session, world: World, tmp_path: Path) -> None:
    from geo.geometry import to_element
    from tests.conftest import box

    session.add(Building(source_id="B-2", name="贡水花园1栋", area=world.other_grid,
                         geom=to_element(box(109.502, 29.99, 109.503, 29.991))))
    session.flush()
    path = xlsx(tmp_path, [["小区/网格", "楼栋", "楼层", "门牌"], ["", "贡水花园1栋", 1, "101"],
                           ["贡水花园", "贡水花园1栋", 1, "101"]])

    report = run(session, "households", path)

    assert "2 buildings are called 贡水花园1栋" in reasons(report)[2]
    assert [a.row for a in report.accepted] == [3]


def test_a_bad_date_is_refused(session: Session, world: World, tmp_path: Path) -> None:
    path = xlsx(tmp_path, [["区域", "责任单位", "职务", "开始日期"], ["T4228250101-02", "县住建局", "包保", "明年"]])

    assert "开始日期 must be a date" in reasons(run(session, "assignments", path))[2]


# --- whole files --------------------------------------------------------------------------


@pytest.mark.parametrize("rows, expected", [
    ([], "the sheet is empty"),
    ([["单位名称", "电话"]], "headers but no rows"),
    ([["名字", "号码"], ["x", "y"]], "lacks the columns 单位名称"),
])
def test_a_sheet_that_is_not_the_template_or_empty_is_refused(session: Session, tmp_path: Path,
                                                              rows: list[list[Any]], expected: str) -> None:
    with pytest.raises(BadRequest, match=expected):
        run(session, "units", xlsx(tmp_path, rows))


def test_the_missing_headers_are_named(session: Session, tmp_path: Path) -> None:
    with pytest.raises(BadRequest) as refused:
        run(session, "households", xlsx(tmp_path, [["楼栋", "备注"], ["B-1", "x"]]))
    assert refused.value.params["headers"] == "楼层、门牌"


def test_a_file_over_20_mb_is_refused_before_it_is_read(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "huge.xlsx"
    with path.open("wb") as f:
        f.truncate(sheets.MAX_BYTES + 1)

    with pytest.raises(BadRequest, match="larger than 20 MB"):
        sheets.read_path(path)


def test_a_file_that_is_no_workbook_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="not a readable .xlsx"):
        sheets.read(b"PK\x03\x04 not really a zip", "x.xlsx")
    with pytest.raises(BadRequest, match="old .xls"):
        sheets.read(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "x.xls")


def test_a_sheet_is_chosen_by_name(session: Session, tmp_path: Path) -> None:
    def second(sheet: Any) -> None:
        other = sheet.parent.create_sheet("单位表")
        other.append(["单位名称"])
        other.append(["县林业局"])

    path = xlsx(tmp_path, [["说明文字"]], edit=second)

    assert sheets.read_path(path, "单位表").rows[1].values == ["县林业局"]
    with pytest.raises(BadRequest, match="no sheet called 没有"):
        sheets.read_path(path, "没有")


# --- write modes ----------------------------------------------------------------------------


def test_a_dry_run_writes_nothing(session: Session, world: World, tmp_path: Path) -> None:
    path = xlsx(tmp_path, [["单位名称"], ["县民政局"], ["县住建局"]])
    before = count(session, Unit)

    report = run(session, "units", path)

    assert (report.dry_run, report.written, report.created, report.unchanged) == (True, False, 1, 1)
    assert count(session, Unit) == before


def test_one_refused_row_keeps_the_whole_file_out_unless_skip_bad(session: Session, tmp_path: Path) -> None:
    path = xlsx(tmp_path, [["单位名称", "电话"], ["县民政局", ""], ["县水利局", "电话"]])

    report = run(session, "units", path, write=True)
    assert report.written is False and count(session, Unit) == 0

    skipped = run(session, "units", path, write=True, skip_bad=True)
    assert skipped.written is True and list(reasons(skipped)) == [3]
    assert list(session.scalars(select(Unit.name))) == ["县民政局"]


def test_a_township_officer_cannot_import_outside_their_township(session: Session, world: World,
                                                                 tmp_path: Path) -> None:
    from geo.geometry import to_element
    from geo.models import Area
    from tests.conftest import box

    other_town = Area(code="T42282502", name="外镇", level="township", parent=world.county,
                      geom=to_element(box(109.55, 29.9, 109.6, 29.95)))
    session.add(other_town)
    session.flush()
    township = Scope(role="township", area_id=world.township.id)
    path = xlsx(tmp_path, [["区域", "责任单位", "职务"], ["T4228250101-02", "县住建局", "包保单位"],
                           ["T42282502", "县住建局", "包保单位"], ["外镇", "县城管执法局", "包保单位"]])

    report = run(session, "assignments", path, township, write=True, skip_bad=True)

    assert [a.row for a in report.accepted] == [2]
    assert "outside your area" in reasons(report)[3] and "outside your area" in reasons(report)[4]


def test_units_and_people_are_the_administrators(session: Session, world: World, tmp_path: Path) -> None:
    path = xlsx(tmp_path, [["单位名称"], ["县民政局"]])
    with pytest.raises(Forbidden):
        run(session, "units", path, Scope(role="township", area_id=world.township.id))


def test_the_template_reads_back_as_its_own_kind(session: Session, world: World, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    for kind in sheets.KINDS:
        path = tmp_path / f"{kind}.xlsx"
        path.write_bytes(sheets.template(kind))
        assert load_workbook(path).sheetnames[1] == "说明"
        try:
            run(session, kind, path)  # the example row: checked like any other
        except GridwalkError as error:  # pragma: no cover - a template must never refuse itself
            pytest.fail(f"{kind}: {error}")


# --- households generated -------------------------------------------------------------------


def test_households_generated_for_a_building_and_not_twice(session: Session, world: World) -> None:
    made = households.generate(session, ADMIN, world.building, units=2, floors=6, rooms=2)

    # The world already holds unit 1, floors 1–3, rooms 01 and 02.
    assert (made.created, made.existing) == (24 - 6, 6)
    rooms = set(session.scalars(select(Household.room).where(Household.building_id == world.building.id)))
    assert {"101", "302", "602"} <= rooms
    again = households.generate(session, ADMIN, world.building, units=2, floors=6, rooms=2)
    assert (again.created, again.existing) == (0, 24)


def test_generation_is_limited_and_scoped(session: Session, world: World) -> None:
    with pytest.raises(BadRequest):
        households.generate(session, ADMIN, world.building, units=2, floors=0, rooms=2)
    with pytest.raises(Forbidden):
        households.generate(session, Scope(role="community", area_id=world.other_community.id),
                            world.building, units=1, floors=1, rooms=1)


def test_a_building_is_found_by_source_id_or_id(session: Session, world: World) -> None:
    assert households.building_by_ref(session, "B-1") is world.building
    assert households.building_by_ref(session, str(world.building.id)) is world.building
    assert households.door(12, 1) == "1201"
