"""Visit coverage: the SQL figures equal a plain Python recount on generated data, at
every level; the window's edges, repeat visits and inactive households count right."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo import coverage
from geo.errors import BadRequest
from geo.features import BBox
from geo.geometry import to_element
from geo.models import Area, Building, Household, Visit
from geo.scope import Scope
from tests.conftest import World, box

TODAY = dt.date(2026, 11, 26)


@pytest.fixture
def visited_world(session: Session, world: World) -> World:
    """More buildings in both grids, households (some gone), and a year of visits."""
    rng = random.Random(5)
    buildings = [world.building, world.other_building]
    for i in range(6):
        x = 109.481 + i * 0.0015
        b = Building(name=f"东楼{i}", area=world.grid_east, geom=to_element(box(x, 29.985, x + 0.001, 29.986)))
        buildings.append(b)
    session.add_all(buildings[2:])
    session.flush()
    households = list(world.households)
    for b in buildings:
        for n in range(rng.randint(3, 9)):
            h = Household(building=b, unit_no=2, floor=n + 1, room="101", active=rng.random() > 0.1)
            households.append(h)
    session.add_all(households)
    session.flush()
    visits = []
    for h in households:
        for _ in range(rng.randint(0, 4)):
            visits.append(Visit(household_id=h.id, person_id=world.member.id, hours=1,
                                visited_on=TODAY - dt.timedelta(days=rng.randint(0, 120))))
    session.add_all(visits)
    session.flush()
    world.all_households = households
    return world


def recount(session: Session, level: str, since: dt.date, until: dt.date) -> dict[int, tuple[int, int]]:
    """The same figures the long way: walk every household up its area tree."""
    areas = {a.id: a for a in session.scalars(select(Area))}
    buildings = {b.id: b for b in session.scalars(select(Building))}
    visited = {v.household_id for v in session.scalars(select(Visit)) if since <= v.visited_on <= until}
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for h in session.scalars(select(Household)):
        if not h.active:
            continue
        building = buildings[h.building_id]
        if level == "building":
            key = building.id
        else:
            area = areas.get(building.area_id)
            while area is not None and area.level != level:
                area = areas.get(area.parent_id) if area.parent_id else None
            if area is None:
                continue
            key = area.id
        counts[key][0] += 1
        counts[key][1] += h.id in visited
    return {k: (v[0], v[1]) for k, v in counts.items()}


@pytest.mark.parametrize("level", coverage.LEVELS)
@pytest.mark.parametrize("days", [1, 30, 91])
def test_sql_coverage_equals_a_python_recount(session, visited_world, level, days):
    since, until = TODAY - dt.timedelta(days=days - 1), TODAY
    # Buildings come by viewport (the whole test county fits in one) or by community.
    kwargs = {"bbox": BBox(109.40, 29.90, 109.60, 30.10)} if level == "building" else {}
    found = coverage.coverage(session, Scope.system(), level, since, until, **kwargs)
    expected = recount(session, level, since, until)
    assert {r["id"]: (r["households"], r["visited"]) for r in found} == expected
    assert all(r["share"] == round(r["visited"] / r["households"], 4) for r in found)
    if days >= 30:  # the data covers both cases being counted
        assert any(r["visited"] for r in found) and any(r["visited"] < r["households"] for r in found)


def test_coverage_under_one_area_counts_only_its_households(session, visited_world):
    since = TODAY - dt.timedelta(days=29)
    parents = dict(session.execute(select(Area.id, Area.parent_id)).all())

    def under(area_id, top):  # type: ignore[no-untyped-def]
        while area_id is not None and area_id != top:
            area_id = parents[area_id]
        return area_id == top

    community = visited_world.community.id
    areas = {b.id: b.area_id for b in session.scalars(select(Building))}
    expected = {k: v for k, v in recount(session, "building", since, TODAY).items() if under(areas[k], community)}
    found = coverage.coverage(session, Scope.system(), "building", since, TODAY, area_id=community)
    assert {r["id"]: (r["households"], r["visited"]) for r in found} == expected and expected
    grids = coverage.coverage(session, Scope.system(), "grid", since, TODAY, area_id=community)
    assert {r["id"]: (r["households"], r["visited"]) for r in grids} == {
        k: v for k, v in recount(session, "grid", since, TODAY).items() if under(k, community)}
    # A county's worth of buildings is not one answer: a viewport or a community is asked for.
    with pytest.raises(BadRequest):
        coverage.coverage(session, Scope.system(), "building", since, TODAY, area_id=visited_world.county.id)


def test_a_household_counts_once_and_only_inside_the_window(session, world):
    h = world.households[0]
    session.add_all([Visit(household_id=h.id, person_id=world.member.id, hours=1, visited_on=d)
                     for d in (TODAY, TODAY, TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=40))])
    world.households[1].active = False
    session.add(Visit(household_id=world.households[1].id, person_id=world.member.id, hours=1, visited_on=TODAY))
    session.flush()
    [row] = coverage.coverage(session, Scope.system(), "compound", TODAY - dt.timedelta(days=29), TODAY)
    assert (row["households"], row["visited"], row["last_visit"]) == (5, 1, TODAY.isoformat())
    [edge] = coverage.coverage(session, Scope.system(), "compound", TODAY - dt.timedelta(days=40),
                               TODAY - dt.timedelta(days=40))
    assert edge["visited"] == 1  # both ends of the window count


def test_coverage_keeps_to_the_users_area(session, visited_world, role_users):
    grid = Scope.of(role_users["grid"])
    found = coverage.coverage(session, grid, "grid", TODAY - dt.timedelta(days=29), TODAY)
    assert [r["name"] for r in found] == ["文澜一网格"]
    assert coverage.coverage(session, Scope.of(role_users["viewer"]), "township", TODAY - dt.timedelta(days=29),
                             TODAY)


@pytest.mark.parametrize(
    "since, until",
    [(TODAY, TODAY - dt.timedelta(days=1)), (TODAY - dt.timedelta(days=800), TODAY)],
)
def test_bad_windows_are_refused(since, until):
    with pytest.raises(BadRequest):
        coverage.checked_window(since, until, TODAY)


def test_weekly_coverage_for_the_dashboard(session, world):
    h = world.households
    session.add_all([
        Visit(household_id=h[0].id, person_id=world.member.id, hours=1, visited_on=TODAY),
        Visit(household_id=h[1].id, person_id=world.member.id, hours=1, visited_on=TODAY),
        Visit(household_id=h[0].id, person_id=world.member.id, hours=1, visited_on=TODAY - dt.timedelta(days=7)),
    ])
    session.flush()
    weeks = coverage.weekly(session, Scope.system(), world.community.id, 12, TODAY)
    assert len(weeks) == 12 and weeks[-1]["week"] == "2026-11-23"
    assert (weeks[-1]["visited"], weeks[-2]["visited"], weeks[0]["visited"]) == (2, 1, 0)
    assert weeks[-1]["households"] == 6


def test_households_not_visited_for_n_days(session, world):
    h = world.households
    session.add_all([
        Visit(household_id=h[0].id, person_id=world.member.id, hours=1, visited_on=TODAY - dt.timedelta(days=3)),
        Visit(household_id=h[1].id, person_id=world.member.id, hours=1, visited_on=TODAY - dt.timedelta(days=60)),
    ])
    session.flush()
    mine = coverage.not_visited(session, Scope.system(), 30, TODAY, person_id=world.member.id)
    # The member holds households 0–3: 0 was seen lately; 2 and 3 never (first), then 1.
    assert [r["household_id"] for r in mine] == [h[2].id, h[3].id, h[1].id]
    assert mine[-1]["days"] == 60
