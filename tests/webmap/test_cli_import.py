"""`gridwalk import areas|buildings`: the summary and the rejections it prints, the exit
code, and that what it commits is there (the app's sessions join the test's transaction)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo import imports
from geo.models import Area, Building, Household
from tests.conftest import SHARED_DATA, TEST_DATA, World, box

XUANEN = SHARED_DATA / "xuanen-422825-gcj02.geojson"


def run(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["import", *args])


def test_import_areas_reports_what_it_did(app: Any, session: Session) -> None:
    args = ("areas", str(XUANEN), "--level", "county", "--id-field", "adcode", "--from", "gcj02")

    result = run(app, *args)

    assert result.exit_code == 0, result.output
    assert "接受 1 个（新增 1，更新 0），拒绝 0 个" in result.stdout
    (area,) = session.scalars(select(Area).where(Area.code == "422825"))
    assert (area.name, area.level) == ("宣恩县", "county")

    again = run(app, *args)
    assert again.exit_code == 0, again.output
    assert "接受 1 个（新增 0，更新 1），拒绝 0 个" in again.stdout
    assert session.scalar(select(func.count()).select_from(Area).where(Area.code == "422825")) == 1


def test_import_areas_lists_each_rejection_with_its_reason(app: Any, session: Session, world: World) -> None:
    result = run(app, "areas", str(TEST_DATA / "outside-parent.geojson"), "--level", "grid", "--id-field", "code")

    assert result.exit_code == 0, result.output
    assert "接受 3 个（新增 3，更新 0），拒绝 2 个" in result.stdout
    assert "拒绝 G-straddle：有 25.0% 位于上级区域 T4228250101 之外" in result.stderr
    assert "拒绝 G-far：没有覆盖它的 community 级区域" in result.stderr
    codes = set(session.scalars(select(Area.code).where(Area.code.like("G-%"))))
    assert codes == {"G-ok", "G-overhang", "G-sliver"}


def test_import_of_a_file_that_is_not_json_fails_and_writes_nothing(app: Any, session: Session) -> None:
    result = run(app, "areas", str(TEST_DATA / "not-json.geojson"), "--level", "county")

    assert result.exit_code != 0
    assert "Error: 文件不是有效的 JSON" in result.stderr
    assert session.scalar(select(func.count()).select_from(Area)) == 0


def test_import_of_json_that_is_not_geojson_fails(app: Any, session: Session) -> None:
    result = run(app, "buildings", str(TEST_DATA / "not-geojson.json"))

    assert result.exit_code != 0
    assert "Error: 文件不是 GeoJSON" in result.stderr


def test_import_with_an_unknown_parent_fails_and_writes_nothing(app: Any, session: Session, world: World) -> None:
    before = session.scalar(select(func.count()).select_from(Area))

    result = run(app, "areas", str(TEST_DATA / "bowtie.geojson"), "--level", "grid", "--parent", "NOPE",
                 "--id-field", "code")

    assert result.exit_code != 0
    assert "不存在编码为 NOPE 的上级区域" in result.stderr
    assert session.scalar(select(func.count()).select_from(Area)) == before


def test_import_buildings(app: Any, session: Session, world: World, tmp_path: Path) -> None:
    path = tmp_path / "buildings.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"bid": "B-1", "name": "贡水花园1栋"},
         "geometry": {"type": "Polygon", "coordinates": [[[109.474, 29.984], [109.475, 29.984], [109.475, 29.985],
                                                         [109.474, 29.985], [109.474, 29.984]]]}},
        {"type": "Feature", "properties": {"bid": "B-2"},
         "geometry": {"type": "Polygon", "coordinates": [[[109.485, 29.99], [109.486, 29.99], [109.486, 29.991],
                                                         [109.485, 29.991], [109.485, 29.99]]]}},
        {"type": "Feature", "properties": {"bid": "B-town"},  # no grid drawn there yet
         "geometry": {"type": "Polygon", "coordinates": [[[109.55, 29.95], [109.551, 29.95], [109.551, 29.951],
                                                         [109.55, 29.951], [109.55, 29.95]]]}},
        {"type": "Feature", "properties": {"bid": "B-far"},
         "geometry": {"type": "Polygon", "coordinates": [[[110.0, 29.0], [110.001, 29.0], [110.001, 29.001],
                                                         [110.0, 29.001], [110.0, 29.0]]]}},
    ]}), encoding="utf-8")

    result = run(app, "buildings", str(path), "--id-field", "bid")

    assert result.exit_code == 0, result.output
    assert "接受 3 个（新增 2，更新 1），拒绝 1 个" in result.stdout
    assert "1 栋楼尚未划入网格：导入或绘制网格后会自动划入" in result.stdout
    assert "拒绝 B-far：它位于县域之外，没有区域包含它" in result.stderr
    area_of = dict(session.execute(select(Building.source_id, Building.area_id)).all())
    assert area_of == {"B-1": world.compound.id, "B-2": world.grid_east.id, "DM-1": world.other_grid.id,
                       "B-town": world.township.id}


def test_a_crash_midway_leaves_nothing_of_the_file(
    app: Any, session: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One feature per chunk, and the second chunk's write fails after the first was written.
    monkeypatch.setattr(imports, "CHUNK_SIZE", 1)
    write = imports._write
    calls = []

    def failing_write(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        return write(*args, **kwargs)

    monkeypatch.setattr(imports, "_write", failing_write)

    result = run(app, "areas", str(TEST_DATA / "polygon-3d.geojson"), "--level", "grid", "--id-field", "code")

    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)
    assert len(calls) == 2
    assert session.scalars(select(Area.code).where(Area.code.in_(["G-ok", "G-3d"]))).all() == []


def test_an_import_is_logged_as_one_audit_entry(app: Any, session: Session) -> None:
    from geo.models import AuditEntry

    run(app, "areas", str(XUANEN), "--level", "county", "--id-field", "adcode", "--from", "gcj02")
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "import")).one()
    assert entry.table_name == "areas" and entry.via == "cli"
    assert entry.after == {"file": XUANEN.name, "level": "county", "created": 1, "updated": 0, "rejected": 0,
                           "waiting": 0, "moved": 0}


def test_gis_files_import_from_the_command_line(app: Any, session: Session, world: World, tmp_path: Path) -> None:
    from tests.geo.test_gisfiles import FOOTPRINTS, footprint_file, projected, write

    gpkg = tmp_path / "county.gpkg"
    footprint_file(gpkg, layer="楼栋")
    write(gpkg, projected([box(109.54, 29.94, 109.56, 29.96)]), {"code": ["V"], "名称": ["新村"]},
          crs="EPSG:4545", layer="社区", append=True)

    several = run(app, "buildings", str(gpkg), "--id-field", "bid")
    assert several.exit_code != 0 and "文件包含多个图层" in several.stderr and "--layer" in several.stderr

    buildings = run(app, "buildings", str(gpkg), "--layer", "楼栋", "--id-field", "bid", "--name-field", "名称")
    assert buildings.exit_code == 0, buildings.output
    assert f"接受 {len(FOOTPRINTS)} 个" in buildings.stdout
    assert "1 栋楼尚未划入网格" in buildings.stdout

    village = run(app, "areas", str(gpkg), "--layer", "社区", "--level", "community", "--id-field", "code",
                  "--name-field", "名称")
    assert village.exit_code == 0, village.output
    assert "1 栋楼已划入刚导入的区域" in village.stdout
    assert session.scalar(select(Area.name).where(Area.code == "V")) == "新村"
# --- spreadsheets -------------------------------------------------------------------------


def sheet(tmp_path: Path, rows: list[list[Any]], name: str = "sheet.xlsx") -> Path:
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    path = tmp_path / name
    book.save(path)
    return path


def test_import_units_reports_each_row_and_updates_on_the_second_run(app: Any, session: Session,
                                                                     tmp_path: Path) -> None:
    from geo.models import AuditEntry, Unit

    path = sheet(tmp_path, [["单位名称", "电话"], ["县民政局", "0718-2222222"], ["县水利局", ""]])

    first = run(app, "units", str(path))
    again = run(app, "units", str(path))

    assert first.exit_code == 0, first.output
    assert "第 2 行：县民政局（新增）" in first.stdout
    assert "接受 2 行（新增 2，更新 0，未变 0），拒绝 0 行" in first.stdout
    assert "接受 2 行（新增 0，更新 0，未变 2），拒绝 0 行" in again.stdout
    assert session.scalar(select(func.count()).select_from(Unit)) == 2
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "import")).all()
    assert [(e.table_name, e.via, e.after["created"]) for e in entries] == [("units", "cli", 2), ("units", "cli", 0)]


def test_import_dry_run_writes_nothing(app: Any, session: Session, tmp_path: Path) -> None:
    from geo.models import Unit

    result = run(app, "units", str(sheet(tmp_path, [["单位名称"], ["县民政局"]])), "--dry-run")

    assert result.exit_code == 0 and "试导入：没有写入任何内容" in result.stdout
    assert session.scalar(select(func.count()).select_from(Unit)) == 0


def test_import_with_a_refused_row_writes_nothing_unless_skip_bad(app: Any, session: Session, world: World,
                                                                  tmp_path: Path) -> None:
    path = sheet(tmp_path, [["楼栋", "楼层", "门牌"], ["B-1", 5, "501"], ["NOPE", 5, "502"]])

    refused = run(app, "households", str(path))
    assert refused.exit_code != 0
    assert "拒绝第 3 行 NOPE 1单元 5层 502：没有导入编号或名称为 NOPE 的楼栋" in refused.stderr
    assert "没有写入任何内容" in refused.stderr
    rooms = select(Household.room).where(Household.building_id == world.building.id, Household.floor == 5)
    assert session.scalars(rooms).all() == []

    skipped = run(app, "households", str(path), "--skip-bad")
    assert skipped.exit_code == 0, skipped.output
    assert session.scalars(rooms).all() == ["501"]


def test_import_of_a_sheet_that_is_not_the_template_fails(app: Any, tmp_path: Path) -> None:
    result = run(app, "people", str(sheet(tmp_path, [["名字"], ["x"]])))
    assert result.exit_code != 0 and "缺少列 姓名" in result.stderr


def test_import_template_writes_the_sheet_to_fill_in(app: Any, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    out = tmp_path / "people.xlsx"
    result = run(app, "template", "people", str(out))

    assert result.exit_code == 0, result.output
    book = load_workbook(out)
    assert book.sheetnames == ["人员", "说明"]
    assert [c.value for c in book["人员"][1]] == ["姓名*", "单位", "职务", "电话", "是否党员"]


def test_households_generate(app: Any, session: Session, world: World) -> None:
    args = ["households", "generate", "--building", "B-1", "--units", "2", "--floors", "6", "--rooms", "2"]

    first = app.test_cli_runner().invoke(args=args)
    again = app.test_cli_runner().invoke(args=args)

    assert first.exit_code == 0, first.output
    assert "新增 18 户，已有 6 户" in first.stdout and "新增 0 户，已有 24 户" in again.stdout
    count = select(func.count()).select_from(Household).where(Household.building_id == world.building.id)
    assert session.scalar(count) == 24
