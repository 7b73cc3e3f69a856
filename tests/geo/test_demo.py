"""The demo county as its users meet it: the area tree tiles, buildings sit apart and inside
their areas, every layer of responsibility and every workflow state occurs, the demo logins
work, and the same scale and day always give the same county.

The county is loaded once per run (scale 1) by the `demo_url` fixture; tests read it through
their own session and roll back whatever they touch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from geo import accounts, demo
from geo.errors import Conflict
from geo.models import (
    ASSIGNMENT_KINDS,
    ISSUE_STATUSES,
    ROLES,
    WISH_STATUSES,
    Area,
    Assignment,
    Building,
    Household,
    Issue,
    IssueEvent,
    Patrol,
    Person,
    ServiceRecord,
    Unit,
    Visit,
    Wish,
)
from tests.conftest import DEMO_PASSWORD, county_today

# Degrees² below which a difference of areas is rounding, not a gap (about 0.01 m²).
TINY_AREA = 1e-12
# Degrees a shape may stray past its area's edge (about 1 cm).
TOLERANCE = 1e-7


@pytest.fixture(scope="module")
def db(demo_url: str) -> Iterator[Session]:
    engine = create_engine(demo_url)
    with Session(engine) as session:
        yield session
        session.rollback()
    engine.dispose()


def scalar(db: Session, sql: str, **params: Any) -> Any:
    return db.execute(text(sql), params).scalar_one()


def test_county_is_as_big_as_promised(db: Session) -> None:
    levels = dict(db.execute(select(Area.level, func.count()).group_by(Area.level)).all())
    assert levels["county"] == 1 and levels["township"] == 2
    assert levels["community"] >= 6 and levels["grid"] >= 24 and levels["compound"] >= 60
    assert db.scalar(select(func.count()).select_from(Building)) >= 2000
    assert db.scalar(select(func.count()).select_from(Household)) >= 10000
    assert db.scalar(select(func.count()).select_from(Unit)) >= 30
    assert db.scalar(select(func.count()).select_from(Person)) >= 300
    units = set(db.scalars(select(Unit.name)))
    assert {"县城管执法局", "县公安局", "县住建局", "县税务局", "县第一中学", "县人民医院",
            "县自然资源和规划局", "县应急管理局", "县市场监督管理局", "县民政局", "县教育局",
            "县卫生健康局", "县交通运输局", "县水利和湖泊局", "县供电公司",
            "中国移动宣恩分公司"} <= units


def test_area_tree_nests_around_the_county_seat(db: Session) -> None:
    county = db.scalar(select(Area).where(Area.code == demo.COUNTY_CODE))
    assert county is not None and county.name == "宣恩县" and demo.is_loaded(db)
    assert set(db.scalars(select(Area.name).where(Area.level == "township"))) == {"珠山镇", "椒园镇"}
    # The county seat lies in a community.
    assert scalar(db, "SELECT count(*) FROM areas WHERE level = 'community' AND "
                      "ST_Covers(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))",
                  lon=demo.SEAT_LON, lat=demo.SEAT_LAT) == 1
    assert scalar(db, "SELECT count(*) FROM areas WHERE NOT ST_IsValid(geom) OR ST_SRID(geom) <> 4326 "
                      "OR GeometryType(geom) <> 'MULTIPOLYGON'") == 0
    # Each area lies in its parent, one level up.
    assert scalar(db, """
        SELECT count(*) FROM areas a JOIN areas p ON p.id = a.parent_id
        WHERE NOT ST_CoveredBy(a.geom, ST_Buffer(p.geom, :tol))
           OR array_position(ARRAY['county','township','community','grid','compound'], p.level::text)
              <> array_position(ARRAY['county','township','community','grid','compound'], a.level::text) - 1
    """, tol=TOLERANCE) == 0


def test_grids_tile_their_communities(db: Session) -> None:
    gaps = db.execute(text("""
        SELECT c.name, ST_Area(ST_SymDifference(ST_Union(g.geom), c.geom))
        FROM areas c JOIN areas g ON g.parent_id = c.id AND g.level = 'grid'
        WHERE c.level = 'community' GROUP BY c.id, c.name, c.geom
    """)).all()
    assert len(gaps) >= 6
    assert all(gap < TINY_AREA for _, gap in gaps), gaps
    assert scalar(db, """
        SELECT count(*) FROM areas a JOIN areas b
          ON a.id < b.id AND a.level = 'grid' AND b.level = 'grid' AND a.geom && b.geom
        WHERE ST_Area(ST_Intersection(a.geom, b.geom)) > :tiny
    """, tiny=TINY_AREA) == 0


def test_buildings_stand_apart(db: Session) -> None:
    assert scalar(db, """
        SELECT count(*) FROM buildings a JOIN buildings b ON a.id < b.id AND a.geom && b.geom
        WHERE ST_Relate(a.geom, b.geom, '2********')
    """) == 0
    assert scalar(db, "SELECT count(*) FROM buildings WHERE NOT ST_IsValid(geom) "
                      "OR GeometryType(geom) <> 'MULTIPOLYGON' OR ST_SRID(geom) <> 4326") == 0


def test_every_building_lies_in_its_compound_or_grid(db: Session) -> None:
    buildings = db.scalar(select(func.count()).select_from(Building))
    assert scalar(db, """
        SELECT count(*) FROM buildings b JOIN areas a ON a.id = b.area_id
        WHERE a.level IN ('compound', 'grid') AND ST_CoveredBy(b.geom, ST_Buffer(a.geom, :tol))
    """, tol=TOLERANCE) == buildings
    # A building filed under its grid is in no compound of that grid.
    assert scalar(db, """
        SELECT count(*) FROM buildings b JOIN areas c ON c.parent_id = b.area_id AND c.level = 'compound'
        WHERE ST_Intersects(b.geom, c.geom)
    """) == 0
    # And its chain runs compound → grid → community → township → county.
    assert scalar(db, """
        SELECT count(*) FROM buildings b
        JOIN areas a ON a.id = b.area_id
        JOIN areas g ON g.id = CASE WHEN a.level = 'compound' THEN a.parent_id ELSE a.id END
        JOIN areas c ON c.id = g.parent_id JOIN areas t ON t.id = c.parent_id
        JOIN areas k ON k.id = t.parent_id
        WHERE g.level = 'grid' AND c.level = 'community' AND t.level = 'township'
          AND k.level = 'county' AND k.parent_id IS NULL
    """) == buildings
    # Most households live in compounds, though self-built houses outnumber apartment blocks.
    assert scalar(db, """
        SELECT avg((a.level = 'compound')::int) FROM households h
        JOIN buildings b ON b.id = h.building_id JOIN areas a ON a.id = b.area_id
    """) > 0.5


def test_households_look_lived_in(db: Session) -> None:
    total, inactive, bad_phones, nameless = db.execute(select(
        func.count(),
        func.count().filter(~Household.active),
        func.count().filter(Household.phone.op("!~")(r"^1[3-9][0-9]{9}$")),
        func.count().filter(Household.head_name == ""),
    )).one()
    assert total >= 10000 and 0 < inactive < total / 10
    assert bad_phones == 0 and nameless == 0
    # Walk-ups have several stair units; rooms are numbered by floor.
    assert scalar(db, "SELECT max(unit_no) FROM households") >= 2
    assert scalar(db, "SELECT count(*) FROM households WHERE room NOT LIKE floor::text || '%'") == 0


def test_people_are_mostly_party_members_with_mobiles(db: Session) -> None:
    total, party, bad_phones, unitless = db.execute(select(
        func.count(),
        func.count().filter(Person.is_party_member),
        func.count().filter(Person.phone.op("!~")(r"^1[3-9][0-9]{9}$")),
        func.count().filter(Person.unit_id.is_(None)),
    )).one()
    assert total >= 300 and party > total / 2 and bad_phones == 0 and unitless == 0


def test_all_four_layers_of_responsibility(db: Session) -> None:
    kinds = set(db.scalars(select(Assignment.kind).distinct()))
    assert kinds == set(ASSIGNMENT_KINDS)
    # Every community has its county leader and its departments (大党委) …
    for kind in ("standing_committee", "department"):
        assert scalar(db, """
            SELECT count(*) FROM areas c WHERE c.level = 'community' AND NOT EXISTS (
              SELECT 1 FROM assignments s WHERE s.area_id = c.id AND s.kind = :kind)
        """, kind=kind) == 0
    # … every compound a unit and a named cadre in force, fixed by post, duty and target …
    assert scalar(db, """
        SELECT count(*) FROM areas c WHERE c.level = 'compound' AND NOT EXISTS (
          SELECT 1 FROM assignments s WHERE s.area_id = c.id AND s.kind = 'unit'
            AND s.unit_id IS NOT NULL AND s.person_id IS NOT NULL
            AND s.post <> '' AND s.duty <> '' AND s.target <> ''
            AND s.valid_from <= current_date AND (s.valid_to IS NULL OR s.valid_to > current_date))
    """) == 0
    assert scalar(db, "SELECT count(*) FROM assignments WHERE kind = 'unit' AND building_id IS NOT NULL "
                      "AND post = '楼栋长'") > 50
    # … a grid click shows people …
    assert scalar(db, "SELECT count(DISTINCT area_id) FROM assignments s JOIN areas g ON g.id = s.area_id "
                      "WHERE g.level = 'grid' AND s.person_id IS NOT NULL") == scalar(
        db, "SELECT count(*) FROM areas WHERE level = 'grid'")
    # … and each party member holds 10 to 30 households.
    fewest, most = db.execute(text("""
        SELECT min(n), max(n) FROM (SELECT count(*) AS n FROM assignments
        WHERE kind = 'party_member' GROUP BY person_id) held
    """)).one()
    assert 10 <= fewest and most <= 30


def test_issues_in_every_state_routed_by_place(db: Session) -> None:
    assert set(db.scalars(select(Issue.status).distinct())) == set(ISSUE_STATUSES)
    assert set(db.scalars(select(Issue.category).distinct())) == set(demo.ISSUE_CATEGORIES)
    event_kinds = set(db.scalars(select(IssueEvent.kind).distinct()))
    assert {"reported", "meeting", "resolve", "verify", "refer", "reopen"} <= event_kinds
    # In a building: routed to that building's area. Elsewhere: the innermost area there.
    assert scalar(db, """
        SELECT count(*) FROM issues i LEFT JOIN buildings b ON b.id = i.building_id
        JOIN areas a ON a.id = i.area_id
        WHERE i.unit_id IS NULL OR a.level NOT IN ('grid', 'compound')
           OR NOT ST_Covers(a.geom, i.geom)
           OR (b.id IS NOT NULL AND (NOT ST_Covers(b.geom, i.geom) OR b.area_id <> i.area_id))
           OR (b.id IS NULL AND EXISTS (SELECT 1 FROM buildings o WHERE ST_Covers(o.geom, i.geom)))
           OR (b.id IS NULL AND a.level = 'grid' AND EXISTS (
                 SELECT 1 FROM areas c WHERE c.parent_id = a.id AND ST_Covers(c.geom, i.geom)))
    """) == 0
    # Each history starts with the report and closed issues were verified.
    assert scalar(db, """
        SELECT count(*) FROM issues i WHERE (SELECT e.kind FROM issue_events e WHERE e.issue_id = i.id
                                             ORDER BY e.at, e.id LIMIT 1) IS DISTINCT FROM 'reported'
    """) == 0
    assert scalar(db, """
        SELECT count(*) FROM issues i WHERE i.status = 'closed' AND (i.closed_at IS NULL OR NOT EXISTS (
          SELECT 1 FROM issue_events e WHERE e.issue_id = i.id AND e.kind = 'verify'))
    """) == 0
    overdue = db.scalar(select(func.count()).where(
        Issue.status.in_(("reported", "meeting")), Issue.deadline < county_today()))
    assert overdue > 0
    assert scalar(db, "SELECT max(reported_at) FROM issues") < dt.datetime.now(dt.UTC)


def test_patrols_walk_their_grids(db: Session) -> None:
    grids = scalar(db, "SELECT count(*) FROM areas WHERE level = 'grid'")
    assert scalar(db, "SELECT count(DISTINCT area_id) FROM patrols") == grids
    assert scalar(db, "SELECT count(*) FROM patrols WHERE track IS NOT NULL") > 0
    assert scalar(db, """
        SELECT count(*) FROM patrols p JOIN areas g ON g.id = p.area_id
        WHERE g.level <> 'grid' OR (p.track IS NOT NULL AND NOT ST_CoveredBy(p.track, g.geom))
    """) == 0
    assert scalar(db, "SELECT min(n) FROM (SELECT count(*) n FROM patrol_units GROUP BY patrol_id) u") >= 2
    assert scalar(db, "SELECT min(n) FROM (SELECT count(*) n FROM patrol_members GROUP BY patrol_id) m") >= 2
    first = db.scalar(select(func.min(Patrol.started_at)))
    assert first.date() >= county_today() - dt.timedelta(days=367)


def test_a_year_of_visits_wishes_and_service(db: Session) -> None:
    visits, first, last = db.execute(select(func.count(), func.min(Visit.visited_on),
                                            func.max(Visit.visited_on))).one()
    assert 10000 <= visits <= 60000
    today = county_today()
    assert today - dt.timedelta(days=366) <= first and last < today
    # The coverage map is neither empty nor solid: a member calls on a few of their
    # households a week, so most are seen within a season but not within a month.
    month, season = db.execute(text("""
        SELECT avg((EXISTS (SELECT 1 FROM visits v WHERE v.household_id = s.household_id
                            AND v.visited_on >= current_date - 30))::int),
               avg((EXISTS (SELECT 1 FROM visits v WHERE v.household_id = s.household_id
                            AND v.visited_on >= current_date - 91))::int)
        FROM assignments s WHERE s.kind = 'party_member'
    """)).one()
    assert 0.1 < month < 0.9 and season > 0.6
    assert set(db.scalars(select(Wish.status).distinct())) == set(WISH_STATUSES)
    totals = list(db.scalars(select(func.sum(ServiceRecord.hours)).group_by(ServiceRecord.person_id)))
    for stars in (100, 300, 600, 1000, 1500):
        assert any(total >= stars for total in totals), stars
    # Over the demo's year most members meet the yearly 8 sessions and 40 hours, and a
    # few do not: the accountability table has names in it.
    behind = db.scalar(text("""
        SELECT avg((coalesce(w.sessions, 0) < 8 OR coalesce(w.hours, 0) < 40)::int)
        FROM people p LEFT JOIN (
            SELECT person_id, count(*) sessions, sum(hours) hours FROM (
                SELECT person_id, hours FROM visits UNION ALL SELECT person_id, hours FROM service_records) x
            GROUP BY person_id) w ON w.person_id = p.id
        WHERE p.id IN (SELECT person_id FROM assignments WHERE kind = 'party_member')
    """))
    assert 0.03 < behind < 0.3


def test_one_login_per_role(db: Session) -> None:
    try:
        for role in ROLES:
            user = accounts.authenticate(db, role, DEMO_PASSWORD)
            assert user.role == role
        party = accounts.authenticate(db, "party", DEMO_PASSWORD)
        grid = db.get(Area, party.area_id)
        person = db.get(Person, party.person_id)
        assert grid is not None and grid.level == "grid"
        assert person is not None and person.is_party_member
        assert db.scalar(select(func.count()).select_from(Assignment).where(
            Assignment.person_id == person.id, Assignment.kind == "party_member")) >= 10
        township = accounts.authenticate(db, "township", DEMO_PASSWORD)
        assert township.area is not None and township.area.name == "珠山镇"
    finally:
        db.rollback()  # authenticate records logins


def test_loading_twice_is_refused(db: Session) -> None:
    with pytest.raises(Conflict):
        demo.load(db, password=DEMO_PASSWORD)
    db.rollback()


# --- determinism ----------------------------------------------------------------------------

DAY = dt.date(2026, 3, 1)


def test_plan_is_deterministic() -> None:
    first, second = demo.plan(1, DAY), demo.plan(1, DAY)
    assert first == second
    assert list(first.visits()) == list(second.visits())
    assert demo.plan(1, DAY + dt.timedelta(days=1)).buildings == first.buildings


def _digest(rows: Any) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def test_database_holds_the_plan(db: Session) -> None:
    county = db.scalar(select(Area).where(Area.code == demo.COUNTY_CODE))
    assert county is not None
    stamp = county.properties["demo"]
    the_plan = demo.plan(stamp["scale"], dt.date.fromisoformat(stamp["today"]))

    areas = db.execute(text("SELECT a.code, a.name, a.level, p.code, encode(ST_AsEWKB(a.geom, 'NDR'), 'hex') "
                            "FROM areas a LEFT JOIN areas p ON p.id = a.parent_id ORDER BY a.id")).all()
    planned = [(code, name, level, the_plan.areas[parent][0] if parent is not None else None, geom.lower())
               for code, name, level, parent, geom, _ in the_plan.areas]
    assert _digest(areas) == _digest(planned)

    buildings = db.execute(text("SELECT b.name, b.address, b.floors, b.use, a.code, "
                                "encode(ST_AsEWKB(b.geom, 'NDR'), 'hex') "
                                "FROM buildings b JOIN areas a ON a.id = b.area_id ORDER BY b.id")).all()
    planned = [(name, address, floors, use, the_plan.areas[area][0], geom.lower())
               for name, address, floors, use, area, geom in the_plan.buildings]
    assert _digest(buildings) == _digest(planned)

    households = db.execute(select(Household.unit_no, Household.floor, Household.room,
                                   Household.residents, Household.head_name, Household.active)
                            .order_by(Household.id)).all()
    assert _digest(households) == _digest(row[1:4] + (row[4], row[5], row[7]) for row in the_plan.households)

    visits = db.execute(select(func.count(), func.sum(Visit.hours))).one()
    planned_visits = list(the_plan.visits())
    assert tuple(visits) == (len(planned_visits), sum(v[3] for v in planned_visits))
    for model, rows in ((Issue, the_plan.issues), (IssueEvent, the_plan.issue_events),
                        (Wish, the_plan.wishes), (Assignment, the_plan.assignments),
                        (ServiceRecord, the_plan.service_records)):
        assert db.scalar(select(func.count()).select_from(model)) == len(rows), model


def test_larger_scales_stay_inside_the_county() -> None:
    # plan() itself proves nesting (it raises otherwise); here: the county grows in step.
    small, large = demo.plan(1, DAY), demo.plan(3, DAY)
    levels = [row[2] for row in large.areas]
    assert levels.count("community") == 3 * [row[2] for row in small.areas].count("community")
    assert 2.5 * len(small.buildings) < len(large.buildings) < 3.5 * len(small.buildings)


def test_patrols_solve_a_fair_share_on_the_spot(db: Session) -> None:
    """现场解决率: what a patrol is judged by; the demo shows patrols that achieve some."""
    solved, found = db.execute(text("""
        SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM issue_events e WHERE e.issue_id = i.id
                                              AND e.kind = 'resolve' AND e.at <= p.ended_at)),
               count(*)
        FROM issues i JOIN patrols p ON p.id = i.patrol_id
    """)).one()
    assert found > 100 and 0.2 < solved / found < 0.7
