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
from geo.models import Area, Building
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
