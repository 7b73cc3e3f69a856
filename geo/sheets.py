"""Spreadsheets in: units, people, households and assignments (包保) from an .xlsx or .csv
file laid out as the template (`template`) or with English headers.

Each row is checked by the same functions that check a form (geo.directory,
geo.households, geo.assignments), in a savepoint of its own, so a refused row leaves no
trace and its reason is reported with the row number Excel shows. The whole import runs in
one outer savepoint: a dry run (the default) rolls it back; a write keeps it only if every
row was accepted, or with `skip_bad` the accepted ones. The caller commits.

Re-importing the same sheet updates what it wrote before, by each kind's natural key:
a unit by name (units have no code), a person by phone or else name and unit, a household
by building, unit, floor and room, an assignment by its target, unit, person and post.
An empty cell leaves the stored value as it is: a sheet never erases by omission.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import secrets
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import iterparse

from sqlalchemy import delete, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo import assignments, audit, directory, households
from geo.db import county_today
from geo.errors import N_, BadRequest, Forbidden, GridwalkError, NotFound
from geo.models import Area, Assignment, Building, Household, Person, SheetUpload, Unit
from geo.scope import MANAGE_ASSIGNMENTS, Scope, subtree

KINDS = ("units", "people", "households", "assignments")
MAX_BYTES = 20 * 1024 * 1024
# A title row or two ("某某社区住户信息表") may stand above the headers.
HEADER_ROWS = 10
INSTRUCTIONS = "说明"
# An upload waits this long for its "write" button.
STASH_SECONDS = 3600

YES = {"是", "y", "yes", "true", "1", "√", "✓", "t"}
NO = {"否", "n", "no", "false", "0", "×", "✗", "f"}
UNIT_KINDS = {"部门": "department", "乡镇": "township", "街道": "township", "社区": "community",
              "学校": "school", "医院": "hospital", "企业": "company", "公司": "company", "其他": "other"}
ASSIGNMENT_KINDS = {"县领导包社区": "standing_committee", "县领导": "standing_committee",
                    "部门包大党委": "department", "部门": "department",
                    "单位包网格小区楼栋": "unit", "单位包保": "unit", "单位": "unit",
                    "党员包户": "party_member", "党员": "party_member"}


@dataclass(frozen=True)
class Column:
    field: str
    header: str  # the template's header
    aliases: tuple[str, ...] = ()  # other headers taken for it (English, common variants)
    example: str = ""
    note: str = ""  # for the template's 说明 sheet


COLUMNS: dict[str, tuple[Column, ...]] = {
    "units": (
        Column("name", "单位名称", ("单位", "名称", "name", "unit", "unit name"), "县住建局",
               "必填。单位的全称，按名称识别：再次导入同名单位会更新它。"),
        Column("kind", "类型", ("单位类型", "kind", "type"), "部门",
               "部门、乡镇、社区、学校、医院、企业或其他；留空为部门。"),
        Column("phone", "电话", ("联系电话", "phone", "telephone"), "0718-1234567", "单位的联系电话。"),
    ),
    "people": (
        Column("name", "姓名", ("name",), "张三", "必填。"),
        Column("unit", "单位", ("所在单位", "unit"), "县住建局", "须是已有单位的名称（先导入单位）。"),
        Column("title", "职务", ("title", "position"), "副局长", ""),
        Column("phone", "电话", ("手机", "联系电话", "phone", "mobile"), "13800001234",
               "手机或座机。有电话的人按电话识别，否则按姓名和单位识别。"),
        Column("is_party_member", "是否党员", ("党员", "party member", "is_party_member"), "是",
               "是/否（也可写 Y/N、true/false）。"),
    ),
    "households": (
        Column("area", "小区/网格", ("小区", "网格", "区域", "area", "compound", "grid"), "贡水花园",
               "可选：区域编码或名称，用来区分同名楼栋。"),
        Column("building", "楼栋", ("楼栋名称", "楼栋编号", "building"), "贡水花园1栋",
               "必填：楼栋的导入编号（source_id）或名称。"),
        Column("unit_no", "单元", ("unit", "unit_no"), "1", "单元号，留空为 1。"),
        Column("floor", "楼层", ("层", "floor"), "3", "必填：楼层（地下层写负数）。"),
        Column("room", "门牌", ("房号", "门牌号", "room", "door"), "302", "必填：门牌号，如 302。"),
        Column("residents", "人数", ("居住人数", "residents"), "3", "居住人数。"),
        Column("head_name", "户主", ("户主姓名", "head", "head of household"), "王大妈", ""),
        Column("phone", "电话", ("联系电话", "phone"), "13900001111", ""),
        Column("active", "是否在住", ("在住", "active"), "是", "是/否；否表示已搬离，不计入走访覆盖率。"),
    ),
    "assignments": (
        Column("kind", "包保类型", ("类型", "kind"), "单位包网格小区楼栋",
               "县领导包社区、部门包大党委、单位包网格小区楼栋或党员包户；留空时按包保对象推断。"),
        Column("area", "区域", ("社区/网格/小区", "社区", "网格", "小区", "area"), "贡水花园",
               "包保的社区、网格或小区：编码或名称；包楼栋或住户时可用来区分同名楼栋。"),
        Column("building", "楼栋", ("building",), "贡水花园1栋", "包楼栋或住户时填：楼栋的导入编号或名称。"),
        Column("unit_no", "单元", ("unit_no",), "", "包住户时填。"),
        Column("floor", "楼层", ("floor",), "", "包住户时填。"),
        Column("room", "门牌", ("房号", "room", "door"), "", "包住户时填：有门牌即包住户。"),
        Column("unit", "责任单位", ("单位", "unit"), "县住建局", "责任单位的名称；单位和责任人至少填一个。"),
        Column("person", "责任人", ("姓名", "person"), "张三", "责任人的姓名。"),
        Column("person_phone", "责任人电话", ("电话", "phone"), "13800001234", "同名的人用电话区分。"),
        Column("post", "职务", ("岗位", "post"), "楼栋长", "定岗：同一对象、单位、责任人和职务再次导入时更新。"),
        Column("duty", "职责", ("duty",), "每周巡查楼栋安全", "定责。"),
        Column("target", "目标", ("target",), "楼栋无安全隐患", "定目标。"),
        Column("valid_from", "开始日期", ("from", "valid_from"), "2026-01-01", "YYYY-MM-DD；留空为今天。"),
        Column("valid_to", "结束日期", ("to", "valid_to"), "", "可选：不再负责的第一天。"),
    ),
}
# Headers a sheet must have, as groups of fields of which at least one must be there.
REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "units": (("name",),),
    "people": (("name",),),
    "households": (("building",), ("floor",), ("room",)),
    "assignments": (("area", "building"), ("unit", "person"), ("post",)),
}
# The names geo's field checks use, shown to the user as the column's header.
_ID_FIELDS = {"unit_id": "unit", "person_id": "person", "area_id": "area", "building_id": "building",
              "household_id": "room"}


# --- reading the file ----------------------------------------------------------------------


@dataclass
class SheetRow:
    number: int  # as Excel shows it
    values: list[Any]
    # Column index → formula, for cells holding a formula with no saved result.
    formulas: dict[int, str] = field(default_factory=dict)


@dataclass
class Sheet:
    name: str
    rows: list[SheetRow]


def read_path(path: Path, sheet: str | None = None) -> Sheet:
    """A file's sheet; a file over MAX_BYTES is refused before it is read."""
    if path.stat().st_size > MAX_BYTES:
        raise _too_large()
    return read(path.read_bytes(), path.name, sheet)


def _too_large() -> BadRequest:
    return BadRequest(N_("the file is larger than %(mb)s MB: split it into smaller files"),
                      code="file_too_large", mb=MAX_BYTES // (1024 * 1024))


def read(data: bytes, filename: str, sheet: str | None = None) -> Sheet:
    """The rows of an .xlsx sheet (the one named, else the first that is not 说明) or of a
    .csv file (UTF-8 with or without a byte-order mark, else GB18030, which covers the GBK
    that Chinese Excel saves CSV in)."""
    if len(data) > MAX_BYTES:
        raise _too_large()
    suffix = Path(filename).suffix.lower()
    if suffix == ".xls" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise BadRequest(N_("this is an old .xls workbook: save it as .xlsx and try again"), code="old_xls")
    if suffix in (".xlsx", ".xlsm") or data[:2] == b"PK":
        return _read_xlsx(data, sheet)
    if suffix in (".csv", ".txt", ""):
        if sheet:
            raise BadRequest(N_("a CSV file has one sheet: leave out the sheet name"), code="unexpected_sheet")
        return _read_csv(data)
    raise BadRequest(N_("expected an .xlsx or .csv file"), code="unsupported_file")


def _read_csv(data: bytes) -> Sheet:
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", errors="replace")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("gb18030", errors="replace")
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise BadRequest(N_("the CSV file cannot be read: %(reason)s"), code="invalid_csv",
                         reason=str(exc)[:200]) from None
    # Our exports guard cells that would run as formulas with a leading apostrophe.
    rows = [SheetRow(n, [v[1:] if v[:2] in ("'=", "'+", "'-", "'@") else v for v in values])
            for n, values in enumerate(records, 1)]
    return Sheet("CSV", rows)


def _read_xlsx(data: bytes, sheet: str | None) -> Sheet:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        values_book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        formulas_book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError):
        raise BadRequest(N_("the file is not a readable .xlsx workbook"), code="invalid_xlsx") from None
    try:
        names = values_book.sheetnames
        if sheet is None:
            chosen = next((n for n in names if n.strip() not in (INSTRUCTIONS, "Instructions")), names[0])
        elif sheet in names:
            chosen = sheet
        else:
            raise BadRequest(N_("the workbook has no sheet called %(sheet)s; it has %(sheets)s"),
                             code="unknown_sheet", sheet=sheet[:40], sheets="、".join(names)[:300])
        values = values_book[chosen]
        formulas = formulas_book[chosen]
        rows: list[SheetRow] = []
        for number, (cached, written) in enumerate(
                zip(values.iter_rows(values_only=True), formulas.iter_rows(values_only=True)), 1):
            row = SheetRow(number, list(cached))
            for index, (value, formula) in enumerate(zip(cached, written)):
                if value is None and formula is not None and _is_formula(formula):
                    row.formulas[index] = str(getattr(formula, "text", formula))
            rows.append(row)
        _fill_merged(rows, _merged_ranges(values))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError):
        raise BadRequest(N_("the file is not a readable .xlsx workbook"), code="invalid_xlsx") from None
    finally:
        values_book.close()
        formulas_book.close()
    return Sheet(chosen, rows)


def _is_formula(value: Any) -> bool:
    return (isinstance(value, str) and value.startswith("=")) or type(value).__name__ == "ArrayFormula"


def _merged_ranges(sheet: Any) -> list[tuple[int, int, int, int]]:
    """The sheet's merged ranges (min_col, min_row, max_col, max_row). openpyxl's read-only
    sheets do not keep them, so they are read from the sheet's XML, which streams."""
    from openpyxl.utils import range_boundaries

    found = []
    with sheet._get_source() as source:
        for _event, element in iterparse(source):
            if element.tag.endswith("}mergeCell") or element.tag == "mergeCell":
                bounds = range_boundaries(element.get("ref", ""))
                found.append(tuple(int(b or 0) for b in bounds))
            element.clear()
    return found  # type: ignore[return-value]


def _fill_merged(rows: list[SheetRow], ranges: list[tuple[int, int, int, int]]) -> None:
    """A merged cell's value stands in every cell it covers: a 楼栋 merged down ten rows
    names the building of each of them, as the person who merged it meant."""
    for min_col, min_row, max_col, max_row in ranges:
        if min_row > len(rows):
            continue
        top = rows[min_row - 1].values
        value = top[min_col - 1] if min_col - 1 < len(top) else None
        for r in range(min_row, min(max_row, len(rows)) + 1):
            cells = rows[r - 1].values
            cells.extend([None] * (max_col - len(cells)))
            for c in range(min_col, max_col + 1):
                cells[c - 1] = value


# --- headers -------------------------------------------------------------------------------


def _header_key(text: Any) -> str:
    key = re.sub(r"\s+", "", str(text or "")).lower()
    key = re.sub(r"[（(]必填[)）]$", "", key)
    return key.rstrip("*＊")


def _column_map(kind: str) -> dict[str, Column]:
    taken: dict[str, Column] = {}
    for column in COLUMNS[kind]:
        for name in (column.header, *column.aliases):
            taken.setdefault(_header_key(name), column)
    return taken


def _headers(kind: str, sheet: Sheet) -> tuple[int, dict[int, Column], list[str]]:
    """Which row holds the headers and which column each field is in; a sheet that is not
    the template refuses the whole file, naming the headers it lacks."""
    if not any(any(_cell_text(v) for v in row.values) for row in sheet.rows):
        raise BadRequest(N_("the sheet is empty"), code="empty_sheet")
    known = _column_map(kind)
    best: tuple[int, int, dict[int, Column], list[str]] | None = None
    for position, row in enumerate(sheet.rows[:HEADER_ROWS]):
        columns: dict[int, Column] = {}
        ignored = []
        for index, value in enumerate(row.values):
            text = _cell_text(value)
            column = known.get(_header_key(text))
            if column is not None and column not in columns.values():
                columns[index] = column
            elif text:
                ignored.append(text)
        if best is None or len(columns) > best[1]:
            best = (position, len(columns), columns, ignored)
    assert best is not None
    position, _count, columns, ignored = best
    present = {c.field for c in columns.values()}
    missing = [group for group in REQUIRED[kind] if not present.intersection(group)]
    if missing:
        by_field = {c.field: c.header for c in COLUMNS[kind]}
        names = "、".join("/".join(by_field[f] for f in group) for group in missing)
        raise BadRequest(N_("this sheet is not the %(sheet_kind)s template: it lacks the columns %(headers)s"),
                         code="not_the_template", sheet_kind=kind, headers=names)
    if not any(any(_cell_text(v) for v in row.values) for row in sheet.rows[position + 1:]):
        raise BadRequest(N_("the sheet has headers but no rows below them"), code="empty_sheet")
    return position, columns, ignored


# --- cells -----------------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 13800001234.0, as a phone typed into a number cell reads
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _yes_no(text: str, header: str) -> str:
    word = text.strip().lower()
    if word in YES:
        return "true"
    if word in NO:
        return "false"
    raise BadRequest(N_("%(field)s must be 是 or 否 (also Y/N, true/false)"), code="not_yes_no", field=header)


_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")


def _date(text: str) -> str:
    """2026/3/1, 2026.3.1 and 2026年3月1日 as 2026-03-01; anything else is left for the
    date check to refuse."""
    match = _DATE.fullmatch(text.strip())
    if match:
        return "{:04d}-{:02d}-{:02d}".format(*map(int, match.groups()))
    return text


_ORDINAL = re.compile(r"^第?\s*(-?\d+)\s*(单元|层|楼)?$")


def _number(text: str) -> str:
    """"3层", "第2单元" and "3" all as "3": how floors and units are written in registers."""
    match = _ORDINAL.match(text.strip())
    return match.group(1) if match else text


# --- the report ----------------------------------------------------------------------------


@dataclass
class Accepted:
    row: int
    label: str
    outcome: str  # created, updated, unchanged


@dataclass
class Refused:
    row: int
    label: str
    error: GridwalkError

    @property
    def reason(self) -> str:
        """In English, placeholders filled; the web and the CLI translate `error` instead."""
        error = self.error
        return error.message % error.params if error.params else error.message


@dataclass
class SheetReport:
    kind: str
    sheet: str
    accepted: list[Accepted] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    ignored_headers: list[str] = field(default_factory=list)
    dry_run: bool = True
    written: bool = False
    seconds: float = 0.0

    def count(self, outcome: str) -> int:
        return sum(1 for a in self.accepted if a.outcome == outcome)

    @property
    def created(self) -> int:
        return self.count("created")

    @property
    def updated(self) -> int:
        return self.count("updated")

    @property
    def unchanged(self) -> int:
        return self.count("unchanged")


# --- importing -----------------------------------------------------------------------------


class _Context:
    """One import's lookups, remembered: a sheet names the same building on many rows."""

    def __init__(self, session: Session, scope: Scope) -> None:
        self.session = session
        self.scope = scope
        self.cache: dict[tuple[Any, ...], Any] = {}

    def remembered(self, key: tuple[Any, ...], find: Callable[[], Any]) -> Any:
        if key not in self.cache:
            try:
                self.cache[key] = find()
            except GridwalkError as error:
                self.cache[key] = error
        found = self.cache[key]
        if isinstance(found, GridwalkError):
            raise found
        return found

    def one_of(self, matches: Sequence[tuple[Any, bool]], missing: GridwalkError,
               ambiguous: GridwalkError) -> Any:
        """The one match the user may reach; several → ambiguous; only ones outside the
        user's area → outside."""
        reachable = [m for m, readable in matches if readable]
        if len(reachable) == 1:
            return reachable[0]
        if len(reachable) > 1:
            raise ambiguous
        if matches:
            raise Forbidden(N_("this is outside your area"))
        raise missing

    def unit(self, name: str) -> Unit:
        def find() -> Unit:
            unit = self.session.scalar(select(Unit).where(func.lower(Unit.name) == name.lower()))
            if unit is None:
                raise NotFound(N_("no unit called %(name)s"), code="unknown_unit", name=name[:100])
            return unit

        return self.remembered(("unit", name.lower()), find)  # type: ignore[no-any-return]

    def area(self, ref: str) -> Area:
        def find() -> Area:
            readable = self.scope.reads(Area.id).label("readable")
            by_code = self.session.execute(select(Area, readable).where(Area.code == ref)).all()
            matches = by_code or self.session.execute(
                select(Area, readable).where(Area.name == ref).order_by(Area.id)).all()
            return self.one_of(
                matches,
                NotFound(N_("no area with code or name %(name)s"), code="unknown_area", name=ref[:100]),
                BadRequest(N_("%(count)s areas are called %(name)s: give the area's code instead"),
                           code="ambiguous_area", count=len(matches), name=ref[:100]))

        return self.remembered(("area", ref), find)  # type: ignore[no-any-return]

    def building(self, ref: str, area: Area | None) -> Building:
        def find() -> Building:
            readable = self.scope.reads(Building.area_id).label("readable")
            matches = self.session.execute(
                select(Building, readable).where(Building.source_id == ref)).all()
            if not matches:
                stmt = select(Building, readable).where(Building.name == ref).order_by(Building.id)
                if area is not None:
                    stmt = stmt.where(Building.area_id.in_(subtree(area.id)))
                matches = self.session.execute(stmt).all()
            return self.one_of(
                matches,
                NotFound(N_("no building with source id or name %(name)s"), code="unknown_building",
                         name=ref[:100]),
                BadRequest(N_("%(count)s buildings are called %(name)s: give its source id, or its "
                              "compound or grid"), code="ambiguous_building", count=len(matches),
                           name=ref[:100]))

        return self.remembered(("building", ref, area.id if area else None), find)  # type: ignore[no-any-return]

    def person(self, name: str, phone: str, unit: Unit | None) -> Person:
        def find() -> Person:
            stmt = select(Person, true()).where(Person.name == name).order_by(Person.id)
            if phone:
                stmt = stmt.where(Person.phone == phone)
            if unit is not None:
                stmt = stmt.where(Person.unit_id == unit.id)
            matches = self.session.execute(stmt).all()
            return self.one_of(
                matches,
                NotFound(N_("no person called %(name)s (with this unit and phone)"), code="unknown_person",
                         name=name[:100]),
                BadRequest(N_("%(count)s people are called %(name)s: give the unit or phone to tell them apart"),
                           code="ambiguous_person", count=len(matches), name=name[:100]))

        return self.remembered(("person", name, phone, unit.id if unit else None), find)  # type: ignore[no-any-return]


Row = dict[str, str]


def check_kind(scope: Scope, kind: str) -> None:
    """Whether the user may import this kind at all: units and people are the
    administrators' (as their forms are); households and assignments are managed in an area."""
    if kind not in KINDS:
        raise BadRequest(N_("%(field)s must be one of %(choices)s"), field="kind", choices=", ".join(KINDS))
    if kind in ("units", "people"):
        scope.require_admin()
    elif scope.role not in MANAGE_ASSIGNMENTS:
        raise Forbidden(N_("your role may not change responsibilities"))


def import_sheet(session: Session, scope: Scope, kind: str, sheet: Sheet, *, write: bool = False,
                 skip_bad: bool = False) -> SheetReport:
    """Check every row of the sheet and, with `write`, keep what was written: all rows, or
    none if any row is refused, unless `skip_bad` keeps the accepted ones."""
    started = time.monotonic()
    check_kind(scope, kind)
    position, columns, ignored = _headers(kind, sheet)
    report = SheetReport(kind=kind, sheet=sheet.name, ignored_headers=ignored, dry_run=not write)
    headers = {c.field: c.header for c in COLUMNS[kind]}
    context = _Context(session, scope)
    handler = _HANDLERS[kind]
    seen: dict[tuple[Any, ...], int] = {}
    outer = session.begin_nested()
    for sheet_row in sheet.rows[position + 1:]:
        row = {c.field: _cell_text(sheet_row.values[i]) if i < len(sheet_row.values) else ""
               for i, c in columns.items()}
        if not any(row.values()) and not sheet_row.formulas:
            continue  # a blank line between blocks of rows
        label = _label(kind, row)
        try:
            formulas = [i for i in sheet_row.formulas if i in columns]
            if formulas:
                from openpyxl.utils import get_column_letter

                cell = f"{get_column_letter(formulas[0] + 1)}{sheet_row.number}"
                raise BadRequest(N_("cell %(cell)s holds a formula with no saved result: open the file in "
                                    "Excel, let it calculate, save it and import it again"),
                                 code="formula_without_value", cell=cell)
            key = _KEYS[kind](row)
            if key in seen:
                raise BadRequest(N_("the same as row %(row)s of this sheet"), code="duplicate_row", row=seen[key])
            seen[key] = sheet_row.number
            with session.begin_nested():
                outcome = handler(context, row, headers)
        except GridwalkError as error:
            report.refused.append(Refused(sheet_row.number, label, _with_headers(error, headers)))
        except IntegrityError:
            report.refused.append(Refused(sheet_row.number, label, BadRequest(
                N_("this row clashes with a record already stored"), code="conflict")))
        else:
            report.accepted.append(Accepted(sheet_row.number, label, outcome))
    if write and (skip_bad or not report.refused):
        outer.commit()
        report.written = True
    else:
        outer.rollback()
    report.seconds = time.monotonic() - started
    return report


def _with_headers(error: GridwalkError, headers: dict[str, str]) -> GridwalkError:
    """The error as a sheet's user reads it: the column's header where the check named a field."""
    name = error.params.get("field")
    if isinstance(name, str):
        header = headers.get(_ID_FIELDS.get(name, name))
        if header:
            error.params = {**error.params, "field": header}
    return error


def _label(kind: str, row: Row) -> str:
    if kind in ("units", "people"):
        return row.get("name", "")
    if kind == "households":
        return " ".join(p for p in (row.get("building", ""), _household_address(row)) if p)
    where = row.get("room") and f"{row.get('building', '')} {_household_address(row)}" \
        or row.get("building") or row.get("area", "")
    who = " ".join(p for p in (row.get("unit", ""), row.get("person", "")) if p)
    return " · ".join(p for p in (where.strip(), who, row.get("post", "")) if p)


def _household_address(row: Row) -> str:
    if not row.get("room"):
        return ""
    return f"{_number(row.get('unit_no', '')) or 1}单元 {_number(row.get('floor', ''))}层 {row['room']}"


def _snapshot(record: Any, names: Sequence[str]) -> tuple[Any, ...]:
    return tuple(getattr(record, n) for n in names)


# --- units ---


def _unit_key(row: Row) -> tuple[Any, ...]:
    return ("unit", row.get("name", "").lower())


def _save_unit(context: _Context, row: Row, headers: dict[str, str]) -> str:
    session = context.session
    name = row.get("name", "")
    if not name:
        raise BadRequest(N_("%(field)s is required"), code="missing_field", field="name")
    data: dict[str, Any] = {"name": name}
    if row.get("kind"):
        data["kind"] = UNIT_KINDS.get(row["kind"], row["kind"].lower())
    if row.get("phone"):
        data["phone"] = row["phone"]
    with session.no_autoflush:
        existing = session.scalar(select(Unit).where(func.lower(Unit.name) == name.lower()))
    if existing is None:
        directory.save_unit(session, context.scope, data)
        return "created"
    before = _snapshot(existing, ("name", "kind", "phone"))
    directory.save_unit(session, context.scope, {**data, "version": existing.version}, existing.id)
    return "unchanged" if _snapshot(existing, ("name", "kind", "phone")) == before else "updated"


# --- people ---


def _person_key(row: Row) -> tuple[Any, ...]:
    if row.get("phone"):
        return ("phone", row["phone"])
    return ("person", row.get("name", ""), row.get("unit", "").lower())


def _save_person(context: _Context, row: Row, headers: dict[str, str]) -> str:
    session = context.session
    name = row.get("name", "")
    if not name:
        raise BadRequest(N_("%(field)s is required"), code="missing_field", field="name")
    data: dict[str, Any] = {"name": name}
    unit = context.unit(row["unit"]) if row.get("unit") else None
    if unit is not None:
        data["unit_id"] = unit.id
    for name_ in ("title", "phone"):
        if row.get(name_):
            data[name_] = row[name_]
    if row.get("is_party_member"):
        data["is_party_member"] = _yes_no(row["is_party_member"], headers["is_party_member"])
    existing = None
    with session.no_autoflush:
        if row.get("phone"):
            found = list(session.scalars(select(Person).where(Person.phone == row["phone"]).limit(2)))
            if len(found) > 1:
                raise BadRequest(N_("%(count)s people have the phone %(phone)s: correct them first"),
                                 code="ambiguous_person", count=len(found), phone=row["phone"][:32])
            existing = found[0] if found else None
        if existing is None:
            # Someone imported before without this phone, or with no phone at all.
            stmt = select(Person).where(Person.name == name, or_(Person.phone == "", Person.phone == row.get("phone", "")))
            stmt = stmt.where(Person.unit_id == unit.id) if unit else stmt.where(Person.unit_id.is_(None))
            found = list(session.scalars(stmt.limit(2)))
            if len(found) > 1:
                raise BadRequest(N_("%(count)s people are called %(name)s: give the unit or phone to tell them apart"),
                                 code="ambiguous_person", count=len(found), name=name[:100])
            existing = found[0] if found else None
    names = ("name", "unit_id", "title", "phone", "is_party_member")
    if existing is None:
        data.setdefault("is_party_member", "false")
        directory.save_person(session, context.scope, data)
        return "created"
    before = _snapshot(existing, names)
    directory.save_person(session, context.scope, {**data, "version": existing.version}, existing.id)
    return "unchanged" if _snapshot(existing, names) == before else "updated"


# --- households ---


def _household_key(row: Row) -> tuple[Any, ...]:
    return ("household", row.get("area", ""), row.get("building", ""), _number(row.get("unit_no", "")) or "1",
            _number(row.get("floor", "")), row.get("room", ""))


def _building_of(context: _Context, row: Row) -> Building:
    if not row.get("building"):
        raise BadRequest(N_("%(field)s is required"), code="missing_field", field="building")
    area = context.area(row["area"]) if row.get("area") else None
    return context.building(row["building"], area)


def _save_household(context: _Context, row: Row, headers: dict[str, str]) -> str:
    building = _building_of(context, row)
    data: dict[str, Any] = {"floor": _number(row.get("floor", "")), "room": row.get("room", "")}
    if row.get("unit_no"):
        data["unit_no"] = _number(row["unit_no"])
    for name in ("residents", "head_name", "phone"):
        if row.get(name):
            data[name] = row[name]
    if row.get("active"):
        data["active"] = _yes_no(row["active"], headers["active"])
    names = ("residents", "head_name", "phone", "active")
    with context.session.no_autoflush:
        existing = _existing_household(context.session, building, data)
    before = _snapshot(existing, names) if existing else None
    household, created = households.save(context.session, context.scope, building, data)
    if created:
        return "created"
    return "unchanged" if _snapshot(household, names) == before else "updated"


def _existing_household(session: Session, building: Building, data: dict[str, Any]) -> Household | None:
    try:
        unit_no, floor = int(data.get("unit_no") or 1), int(data["floor"])
    except (TypeError, ValueError):
        return None  # the save refuses it with the reason
    return session.scalar(select(Household).where(
        Household.building_id == building.id, Household.unit_no == unit_no, Household.floor == floor,
        Household.room == data["room"]))


# --- assignments ---


def _assignment_key(row: Row) -> tuple[Any, ...]:
    return ("assignment", row.get("area", ""), row.get("building", ""),
            *((_number(row.get("unit_no", "")) or "1", _number(row.get("floor", "")), row["room"])
              if row.get("room") else ()),
            row.get("unit", "").lower(), row.get("person", ""), row.get("person_phone", ""), row.get("post", ""))


def _save_assignment(context: _Context, row: Row, headers: dict[str, str]) -> str:
    session = context.session
    area = context.area(row["area"]) if row.get("area") else None
    target: dict[str, int]
    if row.get("room"):
        building = _building_of(context, row)
        with session.no_autoflush:
            household = _existing_household(session, building, {
                "unit_no": _number(row.get("unit_no", "")), "floor": _number(row.get("floor", "")),
                "room": row["room"]})
        if household is None:
            raise NotFound(N_("no household %(address)s in building %(name)s"), code="unknown_household",
                           address=_household_address(row), name=row["building"][:100])
        target, level = {"household_id": household.id}, "household"
    elif row.get("building"):
        target, level = {"building_id": _building_of(context, row).id}, "building"
    elif area is not None:
        target, level = {"area_id": area.id}, area.level
    else:
        raise BadRequest(N_("name the area, building or household the assignment is for"), code="one_target")
    unit = context.unit(row["unit"]) if row.get("unit") else None
    person = context.person(row["person"], row.get("person_phone", ""), unit) if row.get("person") else None
    if row.get("kind"):
        kind = ASSIGNMENT_KINDS.get(row["kind"], row["kind"])
    else:
        kind = _inferred_kind(level, unit)
    (column, target_id), = target.items()
    post = row.get("post", "")
    today = county_today(session)
    with session.no_autoflush:
        existing = session.scalar(select(Assignment).where(
            getattr(Assignment, column) == target_id,
            Assignment.unit_id.is_(None) if unit is None else Assignment.unit_id == unit.id,
            Assignment.person_id.is_(None) if person is None else Assignment.person_id == person.id,
            Assignment.post == post,
            or_(Assignment.valid_to.is_(None), Assignment.valid_to > today),
        ).order_by(Assignment.id).limit(1))
    texts = {name: row[name] for name in ("duty", "target") if row.get(name)}
    if existing is not None:
        before = _snapshot(existing, ("duty", "target"))
        assignments.update(session, context.scope, existing.id, {**texts, "version": existing.version})
        return "unchanged" if _snapshot(existing, ("duty", "target")) == before else "updated"
    body: dict[str, Any] = {"kind": kind, **target, "post": post, **texts}
    if unit is not None:
        body["unit_id"] = unit.id
    if person is not None:
        body["person_id"] = person.id
    for name in ("valid_from", "valid_to"):
        if row.get(name):
            body[name] = _date(row[name])
    assignments.create(session, context.scope, body)
    return "created"


def _inferred_kind(level: str, unit: Unit | None) -> str:
    """The layer of 四包 a target belongs to when the sheet leaves it out: households go to
    party members, a community to a department (a unit named) or a county leader."""
    if level == "household":
        return "party_member"
    if level == "community":
        return "department" if unit is not None else "standing_committee"
    return "unit"


_HANDLERS: dict[str, Callable[[_Context, Row, dict[str, str]], str]] = {
    "units": _save_unit, "people": _save_person, "households": _save_household, "assignments": _save_assignment,
}
_KEYS: dict[str, Callable[[Row], tuple[Any, ...]]] = {
    "units": _unit_key, "people": _person_key, "households": _household_key, "assignments": _assignment_key,
}


def log_import(session: Session, report: SheetReport, filename: str, *, skip_bad: bool) -> None:
    """One audit entry for the import as a whole, beside the entries of the rows it wrote."""
    audit.record(session, "import", report.kind, after={
        "file": filename[:200], "sheet": report.sheet, "created": report.created, "updated": report.updated,
        "unchanged": report.unchanged, "refused": len(report.refused), "skip_bad": skip_bad,
    })


# --- the template ----------------------------------------------------------------------------


def template(kind: str) -> bytes:
    """An .xlsx to fill in: the headers (required ones marked *) with an example row, and a
    second sheet 说明 explaining each column."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    if kind not in KINDS:
        raise BadRequest(N_("%(field)s must be one of %(choices)s"), field="kind", choices=", ".join(KINDS))
    required = {f for group in REQUIRED[kind] if len(group) == 1 for f in group}
    book = Workbook()
    sheet = book.active
    sheet.title = {"units": "单位", "people": "人员", "households": "住户", "assignments": "包保责任"}[kind]
    sheet.append([c.header + ("*" if c.field in required else "") for c in COLUMNS[kind]])
    sheet.append([c.example for c in COLUMNS[kind]])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index, column in enumerate(COLUMNS[kind], 1):
        # Text cells: a phone or a door number keeps its leading zero and is not a number.
        sheet.cell(row=2, column=index).number_format = "@"
        sheet.column_dimensions[sheet.cell(row=1, column=index).column_letter].width = max(10, len(column.header) * 3)
    notes = book.create_sheet(INSTRUCTIONS)
    notes.append(["列", "说明", "也可写作"])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for column in COLUMNS[kind]:
        notes.append([column.header, column.note, "、".join(column.aliases)])
    notes.append([])
    for line in _GENERAL_NOTES:
        notes.append([line])
    notes.column_dimensions["A"].width = 14
    notes.column_dimensions["B"].width = 70
    notes.column_dimensions["C"].width = 30
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


_GENERAL_NOTES = (
    "带 * 的列必填；第二行是示例，导入前请删除或改成实际数据。",
    "先试导入（不写入）检查每一行，确认无误后再写入；有被拒绝的行时，默认整个文件都不写入。",
    "再次导入同一张表会更新已有记录，不会重复添加；留空的单元格不会清除已有内容。",
    "可以上传 .xlsx 或 .csv（UTF-8 或 GBK 编码），文件不超过 20 MB。",
)


# --- uploads waiting for their "write" button ----------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def stash(session: Session, user_id: int, kind: str, filename: str, data: bytes) -> str:
    """Keep an upload for its owner until the write (or for STASH_SECONDS); returns the
    token the page carries. In the database, so whichever app process serves the write
    finds it."""
    session.execute(delete(SheetUpload).where(
        SheetUpload.created_at < func.now() - dt.timedelta(seconds=STASH_SECONDS)))
    token = secrets.token_urlsafe(24)
    session.add(SheetUpload(token_hash=_token_hash(token), user_id=user_id, kind=kind,
                            filename=filename[:200], data=data))
    session.flush()
    return token


def unstash(session: Session, user_id: int, token: str) -> SheetUpload:
    found = session.scalar(select(SheetUpload).where(
        SheetUpload.token_hash == _token_hash(token or ""), SheetUpload.user_id == user_id,
        SheetUpload.created_at >= func.now() - dt.timedelta(seconds=STASH_SECONDS)))
    if found is None:
        raise NotFound(N_("this upload has expired: choose the file again"), code="upload_expired")
    return found
