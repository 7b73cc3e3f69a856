"""Visit coverage (覆盖率): of the active households in a place, the share visited at least
once in a window of days — per building, compound, grid, community or township.

Computed set-based in one query: the window's visits reduced to one row per household,
joined to households, their buildings and the area each building lies under at the level
asked. A household counts once however many visits it had; visits outside the window and
households moved away or demolished (inactive) are left out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, func, literal, select, text
from sqlalchemy.orm import Session

from geo.errors import N_, BadRequest, NotFound
from geo.features import BBox
from geo.models import Area, Assignment, Building, Household, Visit
from geo.responsibility import current
from geo.scope import Scope, subtree
from geo.validate import storable_id

LEVELS = ("building", "compound", "grid", "community", "township")
SET_WORK_MEM = text("SET LOCAL work_mem = '64MB'")
MAX_WINDOW_DAYS = 731


def checked_window(since: dt.date | None, until: dt.date | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """The window, both ends included: until defaults to today, since to 30 days before."""
    until = until or today
    since = since or until - dt.timedelta(days=29)
    if since > until:
        raise BadRequest(N_("until must not be before since"), code="dates_reversed")
    if (until - since).days >= MAX_WINDOW_DAYS:
        raise BadRequest(N_("a window is at most %(days)s days"), code="window_too_long", days=MAX_WINDOW_DAYS)
    return since, until


def _visited(since: dt.date, until: dt.date, buildings: Select[Any] | None = None) -> Any:
    """One row per household visited in the window, with its last visit; only of the
    households in `buildings` when given (a grid's page need not aggregate the county)."""
    stmt = select(Visit.household_id, func.max(Visit.visited_on).label("last")).where(
        Visit.visited_on.between(since, until))
    if buildings is not None:
        stmt = stmt.where(Visit.household_id.in_(select(Household.id).where(Household.building_id.in_(buildings))))
    return stmt.group_by(Visit.household_id).subquery("visited")


def _under(level: str, targets: Select[Any]) -> Any:
    """(area_id, target): every area under (or equal to) each target area of the level."""
    tree = select(Area.id.label("area_id"), Area.id.label("target")).where(Area.id.in_(targets))
    tree = tree.cte("under", recursive=True)
    tree = tree.union_all(select(Area.id, tree.c.target).where(Area.parent_id == tree.c.area_id))
    return tree


def coverage(
    session: Session,
    scope: Scope,
    level: str,
    since: dt.date,
    until: dt.date,
    *,
    bbox: BBox | None = None,
    area_id: int | None = None,
) -> list[dict[str, Any]]:
    """Coverage per place of `level` in the user's area (within `bbox` and under `area_id`
    when given): households, visited, share and the last visit."""
    if level not in LEVELS:
        raise BadRequest(N_("level must be one of %(levels)s"), levels=", ".join(LEVELS))
    if level == "building" and bbox is None and (area_id is None or session.scalar(
            select(Area.level).where(Area.id == area_id)) in ("county", "township")):
        # A county's buildings are a hundred thousand rows: ask for a viewport or a community.
        raise BadRequest(N_("for buildings give a bbox, or the area_id of a community or smaller"),
                         code="missing_parameter")
    in_area = select(Building.id).where(Building.area_id.in_(subtree(area_id))) if area_id is not None else None
    if level == "building" and bbox is not None:
        in_box = select(Building.id).where(Building.geom.op("&&")(bbox.envelope()))
        in_area = in_box if in_area is None else in_box.where(Building.id.in_(in_area))
    visited = _visited(since, until, in_area)
    if level == "building":
        place = Building.id
        stmt = (
            select(Building.id.label("id"), Building.name.label("name"), func.count(Household.id).label("households"),
                   func.count(visited.c.household_id).label("visited"), func.max(visited.c.last).label("last"))
            .select_from(Household)
            .join(Building, Building.id == Household.building_id)
            .where(scope.reads(Building.area_id))
        )
        if bbox is not None:
            stmt = stmt.where(Building.geom.op("&&")(bbox.envelope()))
        if area_id is not None:
            stmt = stmt.where(Building.area_id.in_(subtree(area_id)))
        group: list[Any] = [Building.id, Building.name]
    else:
        targets = select(Area.id).where(Area.level == level, scope.reads(Area.id))
        if bbox is not None:
            targets = targets.where(Area.geom.op("&&")(bbox.envelope()))
        if area_id is not None:
            targets = targets.where(Area.id.in_(subtree(area_id)))
        under = _under(level, targets)
        place = under.c.target
        stmt = (
            select(under.c.target.label("id"), literal("").label("name"),
                   func.count(Household.id).label("households"),
                   func.count(visited.c.household_id).label("visited"), func.max(visited.c.last).label("last"))
            .select_from(Household)
            .join(Building, Building.id == Household.building_id)
            .join(under, under.c.area_id == Building.area_id)
        )
        group = [under.c.target]
    stmt = stmt.outerjoin(visited, visited.c.household_id == Household.id).where(Household.active).group_by(*group)
    # Room for the hash joins of half a million households to stay in memory.
    session.execute(SET_WORK_MEM)
    rows = session.execute(stmt.order_by(place)).all()
    names = {}
    if level != "building":
        names = dict(session.execute(select(Area.id, Area.name).where(Area.id.in_([r.id for r in rows]))).all())
    return [
        {
            "id": r.id,
            "name": r.name or names.get(r.id, ""),
            "level": level,
            "households": r.households,
            "visited": r.visited,
            "share": round(r.visited / r.households, 4) if r.households else None,
            "last_visit": r.last.isoformat() if r.last else None,
        }
        for r in rows
    ]


def weekly(session: Session, scope: Scope, area_id: int, weeks: int, today: dt.date) -> list[dict[str, Any]]:
    """Coverage of one area week by week (Monday to Sunday), the latest week last: the
    dashboard's chart. One query for all the weeks."""
    if not storable_id(area_id) or not session.scalar(select(Area.id).where(Area.id == area_id,
                                                                           scope.reads(Area.id))):
        raise NotFound(N_("no area with id %(id)s"), id=area_id)
    monday = today - dt.timedelta(days=today.weekday())
    starts = [monday - dt.timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    in_area = (
        select(Household.id).join(Building, Building.id == Household.building_id)
        .where(Building.area_id.in_(subtree(area_id)), scope.reads(Building.area_id), Household.active)
    )
    total = session.scalar(select(func.count()).select_from(in_area.subquery())) or 0
    week = func.date_trunc("week", Visit.visited_on).label("week")
    counted = dict(session.execute(
        select(week, func.count(func.distinct(Visit.household_id)))
        .where(Visit.visited_on.between(starts[0], today), Visit.household_id.in_(in_area))
        .group_by(week)
    ).all())
    out = []
    for start in starts:
        visited = next((n for w, n in counted.items() if w.date() == start), 0)
        out.append({"week": start.isoformat(), "visited": visited, "households": total,
                    "share": round(visited / total, 4) if total else None})
    return out


def not_visited(
    session: Session, scope: Scope, days: int, today: dt.date, *, person_id: int | None = None,
    area_id: int | None = None, limit: int = 200,
) -> list[dict[str, Any]]:
    """Active households nobody has visited for `days` days (or ever), longest first: for a
    party member, the households they hold; for a grid, the households in it."""
    # Each household's last visit, read from the (household, date) index: the cost follows
    # the households asked about, not the size of the visits table.
    last = (
        select(func.max(Visit.visited_on)).where(Visit.household_id == Household.id)
        .correlate(Household).scalar_subquery().label("last")
    )
    inner = (
        select(Household.id, Household.unit_no, Household.floor, Household.room, Building.id.label("building_id"),
               Building.name.label("building"), last, scope.personal(Building.area_id).label("personal"))
        .join(Building, Building.id == Household.building_id)
        .where(Household.active, scope.reads(Building.area_id))
    )
    if scope.role == "party":
        # A party member follows their own households, not a colleague's.
        if person_id not in (None, scope.person_id):
            raise NotFound(N_("no person with id %(id)s"), id=person_id)
        person_id = scope.person_id if scope.person_id is not None else 0
    if person_id is not None:
        held = select(Assignment.household_id).where(Assignment.person_id == person_id, current(),
                                                     Assignment.household_id.is_not(None))
        inner = inner.where(Household.id.in_(held))
    if area_id is not None:
        inner = inner.where(Building.area_id.in_(subtree(area_id)))
    found = inner.subquery("households")
    rows = session.execute(
        select(found).where(found.c.last.is_(None) | (found.c.last < today - dt.timedelta(days=days)))
        .order_by(found.c.last.asc().nulls_first(), found.c.id).limit(limit)
    ).all()
    return [
        {"household_id": r.id if r.personal else None, "building_id": r.building_id, "building": r.building,
         # A flat's number is where a resident lives: masked for who sees no personal data.
         "address": f"{r.unit_no}-{r.floor}-{r.room}" if r.personal else None,
         "last_visit": r.last.isoformat() if r.last else None,
         "days": (today - r.last).days if r.last else None}
        for r in rows
    ]
