"""Walking patrols (步巡): a team of units and members walks a grid, optionally recording
its route; the issues found on the way are linked to it, and its share solved on the
spot (现场解决率) is what the patrol is judged by."""

from __future__ import annotations

import math
from typing import Any

from geoalchemy2 import Geography
from shapely.geometry import LineString
from sqlalchemy import cast, exists, func, select
from sqlalchemy.orm import Session, selectinload

from geo.directory import get
from geo.errors import N_, BadRequest, Conflict, Forbidden, NotFound
from geo.geometry import SRID, check_lonlat, to_element, to_geojson, to_geometry
from geo.issues import WORKERS, readable
from geo.models import Area, Issue, IssueEvent, Patrol, Person, Unit
from geo.scope import Scope
from geo.validate import Fields, storable_id

MAX_TRACK_POINTS = 20_000
# A phone's GPS wanders by metres: the stored route keeps the shape, not the jitter.
TRACK_TOLERANCE_METRES = 5
# A route that never comes this close to its grid is not the patrol's (swapped or bogus).
NEAR_GRID_METRES = 2000


def one(session: Session, scope: Scope, patrol_id: int) -> Patrol:
    found = None
    if storable_id(patrol_id):
        found = session.scalars(
            select(Patrol).options(selectinload(Patrol.units), selectinload(Patrol.members))
            .where(Patrol.id == patrol_id, scope.reads(Patrol.area_id))
        ).first()
    if found is None:
        raise NotFound(N_("no patrol with id %(id)s"), id=patrol_id)
    return found


def start(session: Session, scope: Scope, body: Any) -> Patrol:
    """Start a patrol of a grid (in the user's area) with its units and members."""
    if scope.role not in WORKERS:
        raise Forbidden(N_("your role may not start patrols"))
    fields = Fields(body, ("area_id", "title", "unit_ids", "person_ids"))
    area = get(session, Area, fields.integer("area_id", required=True) or 0)
    if area.level not in ("grid", "compound"):
        raise BadRequest(N_("a patrol walks a grid"), code="not_a_grid")
    scope.require_area(session, area.id)
    patrol = Patrol(
        area_id=area.id, title=fields.text("title", max_length=200), started_at=func.now(),
        led_by_id=scope.person_id, started_by_id=scope.user_id,
        units=[get(session, Unit, i) for i in dict.fromkeys(fields.ids("unit_ids"))],
        members=[get(session, Person, i) for i in dict.fromkeys(fields.ids("person_ids"))],
    )
    session.add(patrol)
    session.flush()
    return patrol


def _track(raw: Any) -> Any:
    if not isinstance(raw, list) or not 2 <= len(raw) <= MAX_TRACK_POINTS:
        raise BadRequest(N_("track must be a list of 2 to %(n)s [lon, lat] positions"), code="bad_track",
                         n=MAX_TRACK_POINTS)
    points = []
    for p in raw:
        # [lon, lat] or [lon, lat, altitude]: finite numbers, nothing else.
        if (not isinstance(p, list) or not 2 <= len(p) <= 3
                or not all(isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c) for c in p)):
            raise BadRequest(N_("track must be a list of 2 to %(n)s [lon, lat] positions"), code="bad_track",
                             n=MAX_TRACK_POINTS)
        points.append((float(p[0]), float(p[1])))
    line = LineString(points)
    check_lonlat(line)
    return line


def record(session: Session, scope: Scope, patrol_id: int, body: Any, *, ending: bool) -> Patrol:
    """Store the route walked so far (simplified) and, when `ending`, end the patrol.

    The route comes from the phone that started the patrol, whole each time (it replaces
    what was stored); another officer of the area may end a patrol left running, without a
    route. The row is locked first, so a route and an end arriving together are taken one
    after the other, and nothing lands on an ended patrol."""
    patrol = one(session, scope, patrol_id)
    if scope.role not in WORKERS:
        raise Forbidden(N_("your role may not record patrols"))
    scope.require_area(session, patrol.area_id)
    session.refresh(patrol, with_for_update=True)
    if patrol.ended_at is not None:
        raise Conflict(N_("that patrol has ended"), code="patrol_ended")
    fields = Fields(body, ("track",))
    if fields.data.get("track") is None and not ending:
        raise BadRequest(N_("%(field)s is required"), code="missing_field", field="track")
    if fields.data.get("track") is not None:
        if patrol.started_by_id not in (None, scope.user_id):
            raise Conflict(N_("the route of a patrol comes from the phone that started it"), code="not_your_patrol")
        line = to_element(_track(fields.data["track"]))
        near = session.scalar(select(func.ST_DWithin(
            cast(line, Geography(srid=SRID)), cast(Area.geom, Geography(srid=SRID)), NEAR_GRID_METRES,
        )).where(Area.id == patrol.area_id))
        if not near:
            raise BadRequest(N_("the route is nowhere near the patrol's grid"), code="bad_track")
        # Simplified in metres (Web Mercator), stored in WGS 84; computed by the database
        # when the row is written.
        patrol.track = func.ST_Transform(
            func.ST_SimplifyPreserveTopology(func.ST_Transform(line, 3857), TRACK_TOLERANCE_METRES), SRID
        )
    if ending:
        patrol.ended_at = func.now()
    session.flush()
    return patrol


def on_the_spot(session: Session, patrol: Patrol) -> tuple[int, int]:
    """(issues found on the patrol, of which solved on the spot: resolved before the patrol
    ended, or the same day while it runs)."""
    deadline = patrol.ended_at if patrol.ended_at is not None else func.now()
    solved = exists().where(IssueEvent.issue_id == Issue.id, IssueEvent.kind == "resolve",
                            IssueEvent.at <= deadline)
    found, fixed = session.execute(
        select(func.count(), func.count().filter(solved)).where(Issue.patrol_id == patrol.id)
    ).one()
    return found, fixed


def detail(session: Session, scope: Scope, patrol: Patrol) -> dict[str, Any]:
    area = session.get(Area, patrol.area_id)
    found, fixed = on_the_spot(session, patrol)
    issues = session.execute(
        select(Issue.id, Issue.category, Issue.status, Issue.description, func.ST_X(Issue.geom), func.ST_Y(Issue.geom))
        .where(Issue.patrol_id == patrol.id, readable(scope)).order_by(Issue.reported_at)
    ).all()
    return {
        "id": patrol.id,
        "title": patrol.title,
        "area": {"id": area.id, "name": area.name, "code": area.code} if area else None,
        "started_at": patrol.started_at.isoformat(),
        "ended_at": patrol.ended_at.isoformat() if patrol.ended_at else None,
        "units": [{"id": u.id, "name": u.name} for u in patrol.units],
        "members": [{"id": p.id, "name": p.name, "title": p.title} for p in patrol.members],
        "track": to_geojson(to_geometry(patrol.track)) if patrol.track is not None else None,
        "issues": [{"id": i[0], "category": i[1], "status": i[2], "description": i[3][:200], "lon": i[4],
                    "lat": i[5]} for i in issues],
        "found": found,
        "solved_on_the_spot": fixed,
        "on_the_spot_rate": round(fixed / found, 4) if found else None,
    }


def recent(session: Session, scope: Scope, *, running_only: bool = False, limit: int = 50) -> list[Patrol]:
    stmt = select(Patrol).where(scope.reads(Patrol.area_id)).order_by(Patrol.started_at.desc()).limit(limit)
    if running_only:
        stmt = stmt.where(Patrol.ended_at.is_(None))
    return list(session.scalars(stmt))
