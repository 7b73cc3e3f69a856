"""Test fixtures: a real PostGIS database, migrated once per run; each test runs in one
connection-level transaction that is rolled back at the end, shared by the test's own
session and by every request the Flask test client makes.

TEST_DATABASE_URL points at a server (any database on it) where we may create databases;
`make test` starts a throwaway cluster and sets it.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from geo.db import TIMEZONE, make_engine, session_factory
from geo.db import database_url as with_driver

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"


def _server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.exit("TEST_DATABASE_URL is not set: run the suite with `make test`", returncode=2)
    return with_driver(url).render_as_string(hide_password=False)


def create_database(name: str, migrate: bool = True) -> str:
    """A new PostGIS database on the test server, migrated unless told not to; returns its URL."""
    server = make_url(_server_url())
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = server.set(database=name).render_as_string(hide_password=False)
    if not migrate:
        return url
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")
    return url


def drop_database(name: str) -> None:
    admin = create_engine(make_url(_server_url()), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    name = f"gridwalk_test_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    yield url
    drop_database(name)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    s = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield s
    s.close()


@pytest.fixture
def app(database_url: str, connection: Connection):  # type: ignore[no-untyped-def]
    from webmap import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test-secret"})
    # Requests join the test's transaction, so the test sees what they wrote and all of
    # it is rolled back afterwards.
    app.extensions["gridwalk.sessions"] = session_factory(connection, join_transaction_mode="create_savepoint")
    return app


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


# --- canned data ------------------------------------------------------------------------


def box(min_lon: float, min_lat: float, max_lon: float, max_lat: float):  # type: ignore[no-untyped-def]
    from shapely.geometry import MultiPolygon
    from shapely.geometry import box as shapely_box

    return MultiPolygon([shapely_box(min_lon, min_lat, max_lon, max_lat)])


class World:
    """A small county: one township; 文澜社区 split into two grids along lon 109.48, a
    compound in the west grid holding one building with cadres; and next door 东门社区,
    one grid with one building, for what lies outside a user's area."""


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


def build_world(session: Session) -> World:
    import datetime as dt

    from geo.geometry import to_element
    from geo.models import Area, Assignment, Building, Household, Person, Unit

    w = World()

    def area(code: str, name: str, level: str, parent: Area | None, geom) -> Area:  # type: ignore[no-untyped-def]
        a = Area(code=code, name=name, level=level, parent=parent, geom=to_element(geom))
        session.add(a)
        return a

    w.county = area("T422825", "测试县", "county", None, box(109.40, 29.90, 109.60, 30.10))
    w.township = area("T42282501", "测试镇", "township", w.county, box(109.40, 29.90, 109.60, 30.10))
    w.community = area("T4228250101", "文澜社区", "community", w.township, box(109.47, 29.98, 109.49, 30.00))
    w.grid_west = area("T4228250101-01", "文澜一网格", "grid", w.community, box(109.47, 29.98, 109.48, 30.00))
    w.grid_east = area("T4228250101-02", "文澜二网格", "grid", w.community, box(109.48, 29.98, 109.49, 30.00))
    w.compound = area("T4228250101-01-01", "贡水花园", "compound", w.grid_west, box(109.472, 29.982, 109.478, 29.988))
    w.building = Building(
        source_id="B-1", name="贡水花园1栋", address="文澜路1号", floors=6, area=w.compound,
        geom=to_element(box(109.474, 29.984, 109.475, 29.985)),
    )
    session.add(w.building)
    w.unit = Unit(name="县住建局", kind="department", phone="0718-1234567")
    w.dept = Unit(name="县城管执法局", kind="department")
    session.add_all([w.unit, w.dept])
    w.cadre = Person(name="张三", unit=w.unit, title="副局长", phone="13800001234", is_party_member=True)
    w.member = Person(name="李四", unit=w.unit, title="科员", phone="13900005678", is_party_member=True)
    w.leader = Person(name="王五", title="县委常委", phone="13700009999", is_party_member=True)
    session.add_all([w.cadre, w.member, w.leader])
    w.households = [
        Household(building=w.building, unit_no=1, floor=f, room=f"{f}0{r}", residents=3)
        for f in range(1, 4) for r in (1, 2)
    ]
    session.add_all(w.households)
    session.flush()
    start = dt.date.today() - dt.timedelta(days=100)
    session.add_all([
        Assignment(kind="unit", building_id=w.building.id, unit=w.unit, person=w.cadre,
                   post="楼栋长", duty="每周巡查楼栋安全", target="楼栋无安全隐患", valid_from=start),
        Assignment(kind="standing_committee", area_id=w.community.id, person=w.leader,
                   post="包联社区县领导", duty="统筹社区治理", target="社区矛盾不上交", valid_from=start),
        Assignment(kind="department", area_id=w.community.id, unit=w.dept,
                   post="大党委成员单位", duty="城市管理", target="占道经营清零", valid_from=start),
        # ended: must not show
        Assignment(kind="unit", building_id=w.building.id, unit=w.dept, post="旧楼栋长",
                   valid_from=start, valid_to=dt.date.today() - dt.timedelta(days=1)),
    ])
    session.add_all([
        Assignment(kind="party_member", household_id=h.id, person=w.member, post="联系户党员",
                   valid_from=start)
        for h in w.households[:4]
    ])
    w.other_community = area("T4228250102", "东门社区", "community", w.township, box(109.49, 29.98, 109.51, 30.00))
    w.other_grid = area("T4228250102-01", "东门一网格", "grid", w.other_community, box(109.49, 29.98, 109.51, 30.00))
    w.other_building = Building(
        source_id="DM-1", name="东门小学", address="东门路2号", area=w.other_grid,
        geom=to_element(box(109.50, 29.99, 109.501, 29.991)),
    )
    w.other_cadre = Person(name="赵六", unit=w.dept, title="科长", phone="13600002222", is_party_member=True)
    session.add_all([w.other_building, w.other_cadre])
    session.flush()
    session.add(Assignment(kind="unit", building_id=w.other_building.id, unit=w.dept, person=w.other_cadre,
                           post="楼栋长", valid_from=start))
    session.flush()
    return w


ROLE_AREAS = {
    "admin": None, "county": "county", "township": "township", "community": "community",
    "grid": "grid_west", "party": "grid_west", "viewer": None,
}
PASSWORD = "correct horse"


@functools.cache
def password_hash() -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(PASSWORD, method="scrypt")


@pytest.fixture
def role_users(session: Session, world: World) -> dict[str, object]:
    """One login per role, each in its area of the world (password PASSWORD). The hash is
    computed once per run: scrypt is slow on purpose."""
    from geo.models import User

    users = {
        role: User(username=f"{role}-user", password_hash=password_hash(), role=role,
                   area=getattr(world, attr) if attr else None)
        for role, attr in ROLE_AREAS.items()
    }
    session.add_all(users.values())
    session.flush()
    return users


def county_today() -> dt.date:
    """The county's day, not the test machine's: the two differ for eight hours of every day."""
    return dt.datetime.now(ZoneInfo(TIMEZONE)).date()


def log_in_as(client, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    """Log the test client in; returns the CSRF token for its writes."""
    client.get("/login")
    with client.session_transaction() as s:
        token = s["csrf"]
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.data
    with client.session_transaction() as s:
        return s["csrf"]


def client_as(app, role: str, *, api: bool = True):  # type: ignore[no-untyped-def]
    """A test client logged in as the role's user of `role_users`, its CSRF token kept as
    `client.csrf`; for the API (`api`) it is also sent with every request (X-CSRF-Token),
    as the map's scripts do, while a form must carry it itself."""
    client = app.test_client()
    client.csrf = log_in_as(client, f"{role}-user")
    if api:
        client.environ_base["HTTP_X_CSRF_TOKEN"] = client.csrf
    return client


@pytest.fixture
def page_as(app, role_users):  # type: ignore[no-untyped-def]
    """A client for the pages, one call per role: page_as("admin")."""
    return lambda role: client_as(app, role, api=False)


@pytest.fixture
def admin_user(session: Session):  # type: ignore[no-untyped-def]
    from geo import accounts

    return accounts.create_user(session, "admin", "correct horse", "admin")


@pytest.fixture
def logged_in(client, admin_user):  # type: ignore[no-untyped-def]
    """The test client, logged in as an admin."""
    log_in_as(client, "admin")
    return client


DEMO_PASSWORD = "gridwalk-demo"


@pytest.fixture(scope="session")
def demo_url() -> Iterator[str]:
    """A separate database holding the committed demo county (scale 1), loaded once per
    run: for tests that need realistic data or a live server (browser tests)."""
    from geo import demo

    name = f"gridwalk_demo_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    engine = create_engine(url)
    with Session(engine) as s:
        demo.load(s, scale=1, password=DEMO_PASSWORD)
        s.commit()
    engine.dispose()
    yield url
    drop_database(name)


@pytest.fixture(scope="session")
def committed_world() -> Iterator[dict[str, object]]:
    """The world committed in a database of its own, for tests that need several
    connections at once (concurrency); with a grid member's API token."""
    from geo import accounts

    name = f"gridwalk_world_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    engine = make_engine(url)
    with Session(engine) as s:
        world = build_world(s)
        user = accounts.create_user(s, "grid-user", PASSWORD, "grid", world.grid_west.code)
        _, token = accounts.create_token(s, user, "concurrency")
        s.commit()
    yield {"url": url, "engine": engine, "token": token}
    engine.dispose()
    drop_database(name)
