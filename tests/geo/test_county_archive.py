"""The whole county out to a ZIP archive and into a second, new database: every table
comes back row by row (geometries byte for byte), ids and sequences included; a database
that holds anything, and a damaged archive, are refused with nothing written."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from geoalchemy2 import Geometry
from shapely.geometry import LineString, Point
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from geo import accounts, audit, county_archive
from geo.db import make_engine, session_factory
from geo.errors import GridwalkError
from geo.geometry import to_element
from geo.models import (
    Base,
    Issue,
    IssueEvent,
    IssuePhoto,
    LoginSession,
    Patrol,
    ServiceRecord,
    Unit,
    Visit,
    Wish,
    WishPhoto,
)
from tests.conftest import PASSWORD, build_world, create_database, drop_database


@pytest.fixture(scope="module")
def databases() -> Iterator[Callable[[str], tuple[str, Engine]]]:
    """Makes new migrated databases for this module; each is dropped at the end."""
    made: list[tuple[str, Engine]] = []

    def new(prefix: str) -> tuple[str, Engine]:
        name = f"gridwalk_{prefix}_{uuid.uuid4().hex[:8]}"
        url = create_database(name)
        engine = make_engine(url)
        made.append((name, engine))
        return url, engine

    yield new
    for name, engine in made:
        engine.dispose()
        drop_database(name)


def fill_county(session: Session) -> None:
    """The test world and a piece of every kind of record the county keeps."""
    audit.set_actor(session, user_id=None, username="tester", via="cli")
    w = build_world(session)
    officer = accounts.create_user(session, "grid-user", PASSWORD, "grid", w.grid_west.code)
    accounts.create_token(session, officer, "excluded")
    session.add(LoginSession(user_id=officer.id, token_hash="f" * 64))
    patrol = Patrol(area_id=w.grid_west.id, title="周三步巡", started_at=dt.datetime(2025, 3, 5, 9, tzinfo=dt.UTC),
                    ended_at=dt.datetime(2025, 3, 5, 11, tzinfo=dt.UTC), led_by_id=w.cadre.id,
                    started_by_id=officer.id, units=[w.unit, w.dept], members=[w.cadre, w.member],
                    track=to_element(LineString([(109.471, 29.981), (109.4745, 29.9845)])))
    session.add(patrol)
    session.flush()
    issue = Issue(category="环境卫生", description="楼道堆放杂物\n第二行", geom=to_element(Point(109.4745, 29.9845)),
                  area_id=w.compound.id, building_id=w.building.id, unit_id=w.unit.id, reported_by_id=officer.id,
                  patrol_id=patrol.id, client_id="phone-1", deadline=dt.date(2025, 3, 12))
    session.add(issue)
    session.flush()
    event = IssueEvent(issue_id=issue.id, kind="meeting", user_id=officer.id, unit_id=w.unit.id, note="现场会",
                       geom=to_element(Point(109.4746, 29.9846)), data={"attendees": ["县住建局"], "n": 2})
    session.add(event)
    session.flush()
    session.add(IssuePhoto(issue_id=issue.id, event_id=event.id, content_type="image/jpeg", data=b"\xff\xd8raw\x00",
                           display=b"\xff\xd8small", width=4, height=3, size=6,
                           taken_at=dt.datetime(2025, 3, 5, 9, 30, tzinfo=dt.UTC), geom=to_element(Point(109.47, 29.98))))
    household = w.households[0]
    household.head_name, household.phone = "刘大妈", "13512345678"
    session.add(Visit(household_id=household.id, person_id=w.member.id, visited_on=dt.date(2025, 3, 1),
                      hours=Decimal("1.50"), note="了解需求", recorded_by_id=officer.id, client_id="v-1"))
    wish = Wish(household_id=household.id, title="修水龙头", status="fulfilled", raised_on=dt.date(2025, 2, 1),
                claimed_by_person_id=w.member.id, claimed_on=dt.date(2025, 2, 2), fulfilled_on=dt.date(2025, 2, 5),
                rating=5)
    session.add(wish)
    session.flush()
    session.add(WishPhoto(wish_id=wish.id, content_type="image/png", data=b"\x89PNG", display=b"\x89PNG-s",
                          width=1, height=1, size=4))
    session.add(ServiceRecord(person_id=w.member.id, served_on=dt.date(2025, 3, 2), activity="社区清扫",
                              hours=Decimal("2.25"), verified_by_id=w.cadre.id))
    session.flush()
    # A hole in the ids: the imported rows keep theirs, the sequences go on after the largest.
    extra = Unit(name="临时单位")
    session.add(extra)
    session.flush()
    session.delete(extra)
    session.flush()


def table_rows(engine: Engine, table) -> list[tuple]:  # type: ignore[no-untyped-def]
    columns = [func.ST_AsBinary(c) if isinstance(c.type, Geometry) else c for c in table.columns]
    with engine.connect() as conn:
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                for row in conn.execute(select(*columns).order_by(*table.primary_key.columns))]


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


@pytest.fixture(scope="module")
def source(databases) -> Engine:  # type: ignore[no-untyped-def]
    _url, engine = databases("archive_src")
    with session_factory(engine)() as s:
        fill_county(s)
        s.commit()
    return engine


@pytest.fixture(scope="module")
def archive(source: Engine, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("archive") / "county.zip"
    with Session(source) as s:
        county_archive.export(s, path)
    return path


def test_a_county_comes_back_whole_in_a_new_database(source, archive, databases):
    _url, target = databases("archive_dst")
    with Session(target) as s:
        loaded = county_archive.import_(s, archive)
        s.commit()
    assert loaded["areas"] == 8 and loaded["issue_photos"] == 1 and loaded["audit_log"] > 10

    for table in Base.metadata.sorted_tables:
        theirs, ours = table_rows(source, table), table_rows(target, table)
        if table.name in county_archive.EXCLUDED:
            assert ours == [], table.name
            continue
        assert theirs, f"the test world has no {table.name}: it proves nothing"
        if table.name == "users":
            hash_at = [c.name for c in table.columns].index("password_hash")
            assert {r[hash_at] for r in ours} == {county_archive.NO_PASSWORD}
            theirs = [r[:hash_at] + r[hash_at + 1:] for r in theirs]
            ours = [r[:hash_at] + r[hash_at + 1:] for r in ours]
        assert ours == theirs, table.name

    with session_factory(target)() as s:
        # Without its hash no login opens; a new password does, and new rows get new ids.
        officer = accounts.user_named(s, "grid-user")
        with pytest.raises(GridwalkError):
            accounts.authenticate(s, "grid-user", PASSWORD)
        s.rollback()
        accounts.set_password(s, accounts.user_named(s, "grid-user"), "another long secret")
        assert accounts.authenticate(s, "grid-user", "another long secret").id == officer.id
        largest = s.scalar(select(func.max(Unit.id)))
        unit = Unit(name="新单位")
        s.add(unit)
        s.flush()
        assert unit.id > largest
        s.rollback()


def test_the_manifest_says_what_the_archive_holds(archive):
    with zipfile.ZipFile(archive) as z:
        manifest = json.loads(z.read("manifest.json"))
        assert manifest["format"] == county_archive.FORMAT and manifest["alembic_revision"]
        assert manifest["password_hashes"] is False and set(manifest["excluded"]) == set(county_archive.EXCLUDED)
        assert manifest["tables"]["areas"]["rows"] == 8
        first = json.loads(z.read("tables/areas.jsonl").splitlines()[0])
        assert first["code"] == "T422825" and bytes.fromhex(first["geom"])[:1] in (b"\x01", b"\x00")
        assert "password_hash" not in z.read("tables/users.jsonl").decode().replace('"password_hash":null', "")


def test_an_import_into_a_database_that_holds_anything_is_refused_and_changes_nothing(archive, databases):
    _url, target = databases("archive_full")
    with Session(target) as s:
        s.add(Unit(name="已有单位"))
        s.commit()
    before = counts(target)
    with Session(target) as s, pytest.raises(county_archive.NotEmpty, match="units"):
        county_archive.import_(s, archive)
    assert counts(target) == before


def rewritten(archive: Path, change) -> io.BytesIO:  # type: ignore[no-untyped-def]
    """A copy of the archive with its entries passed through `change(name, data)`
    (None drops the entry)."""
    out = io.BytesIO()
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            data = change(name, src.read(name))
            if data is not None:
                dst.writestr(name, data)
    out.seek(0)
    return out


def _manifest(edit):  # type: ignore[no-untyped-def]
    def change(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        edit(manifest)
        return json.dumps(manifest).encode()
    return change


@pytest.mark.parametrize(("change", "says"), [
    (lambda name, data: None if name == "tables/visits.jsonl" else data, "missing the file of table visits"),
    (lambda name, data: b"{not json" if name == "manifest.json" else data, "not valid JSON"),
    (lambda name, data: None if name == "manifest.json" else data, "no manifest.json"),
    (_manifest(lambda m: m["tables"].pop("issues")), "missing issues"),
    (_manifest(lambda m: m.update(alembic_revision="0001_create_domain_schema")), "schema revision"),
    (_manifest(lambda m: m.update(format="something else")), "not a Gridwalk county archive"),
    # A row changed after the manifest was written: found by its checksum, late in the load.
    (lambda name, data: data.replace("修水龙头".encode(), "修水管".encode()) if name == "tables/wishes.jsonl"
     else data, "wishes in the archive is damaged"),
    (lambda name, data: data + b"{broken\n" if name == "tables/issue_photos.jsonl" else data,
     "table issue_photos, line 2"),
])
def test_a_damaged_archive_is_refused_with_a_clear_message_and_nothing_written(archive, databases, change, says):
    _url, target = databases("archive_bad")
    before = counts(target)
    with Session(target) as s:
        with pytest.raises(county_archive.BadArchive, match=says):
            county_archive.import_(s, rewritten(archive, change))
        s.rollback()
    assert counts(target) == before


def test_not_a_zip_is_refused(databases):
    _url, target = databases("archive_zip")
    with Session(target) as s, pytest.raises(county_archive.BadArchive, match="not a ZIP"):
        county_archive.import_(s, io.BytesIO(b"PK not really"))


def test_the_cli_exports_and_imports_a_county(source, databases, tmp_path, monkeypatch):
    from webmap import create_app

    source_url = source.url.render_as_string(hide_password=False)
    out = tmp_path / "county.zip"
    exported = create_app({"DATABASE_URL": source_url, "SECRET_KEY": "x"}).test_cli_runner().invoke(
        args=["export", "county", str(out)])
    assert exported.exit_code == 0, exported.output
    assert "exported" in exported.output and out.exists() and not (tmp_path / "county.zip.part").exists()

    target_url, target = databases("archive_cli")
    runner = create_app({"DATABASE_URL": target_url, "SECRET_KEY": "x"}).test_cli_runner()
    imported = runner.invoke(args=["import", "county", str(out)])
    assert imported.exit_code == 0, imported.output
    assert "gridwalk users password" in imported.output  # no hashes came along
    theirs, ours = counts(source), counts(target)
    assert ours["audit_log"] == theirs["audit_log"] + 1  # the import's own entry
    assert {k: v for k, v in ours.items() if k not in county_archive.EXCLUDED and k != "audit_log"} == {
        k: v for k, v in theirs.items() if k not in county_archive.EXCLUDED and k != "audit_log"}

    again = runner.invoke(args=["import", "county", str(out)])
    # The message is in the CLI's language, which depends on what ran before in this process.
    assert again.exit_code != 0 and ("not empty" in again.output or "不是空的" in again.output)
    monkeypatch.setenv("GRIDWALK_PASSWORD", "a brand new secret")
    assert runner.invoke(args=["users", "password", "grid-user"]).exit_code == 0
    with Session(target) as s:
        assert accounts.authenticate(s, "grid-user", "a brand new secret").username == "grid-user"
