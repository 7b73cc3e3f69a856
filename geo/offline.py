"""The offline map: a community, grid or compound kept on an officer's phone, so that with
no signal the map still shows its buildings and outlines, a tap on a building still says
who answers for it, and a visit still finds its household.

A copy holds, for one area of the user's own scope:

- each building's card, as the building panel shows it (geo.responsibility.building_card),
  less its areas: the cards of the area, those inside it and those above it are kept once;
- the households of each building, as the visit form lists them (none for a viewer);
- the outlines of the area and the areas inside it;
- its open issues, as the map's issue layer draws them, and the timelines of the most
  pressing ones, to read (a step taken offline is not queued: it waits for the network).

Nothing outside the user's scope goes in, so nothing personal they could not read online.
The phone keeps the copy for `days` and drops it then, or at logout. `plan` says what a
copy would hold and weighs it, before anything is sent; `copy` makes it. An area too big to
carry (more buildings or bytes than `Limits` allow) is refused with the counts, so the
officer knows to keep one grid of it instead.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo import features, responsibility
from geo import issues as issues_domain
from geo.errors import N_, BadRequest, NotFound
from geo.issues import Filters
from geo.models import Area, Assignment, Building, Household, Issue
from geo.scope import Scope, ancestors, subtree
from geo.validate import storable_id

KEPT_LEVELS = ("community", "grid", "compound")
ISSUES_KEPT = 5000
DETAILS_KEPT = 50  # the most pressing open issues' timelines (about 11 ms each to make)
PRECISION = 7  # decimal places of a degree: about a centimetre


@dataclass(frozen=True)
class Limits:
    buildings: int = 3000
    bytes: int = 25_000_000
    days: int = 7


def _area(session: Session, scope: Scope, area_id: int) -> Area:
    area = session.get(Area, area_id) if storable_id(area_id) else None
    if area is None or not session.scalar(select(func.count()).where(Area.id == area_id, scope.reads(Area.id))):
        raise NotFound(N_("no area with id %(id)s"), id=area_id)
    if area.level not in KEPT_LEVELS:
        raise BadRequest(N_("a community, a grid or a compound is kept for offline use, not a %(level)s"),
                         code="not_kept", level=area.level)
    return area


def _buildings(session: Session, area_id: int) -> list[Building]:
    return list(session.scalars(select(Building).where(Building.area_id.in_(subtree(area_id))).order_by(Building.id)))


def _too_many(area: Area, buildings: int, limits: Limits) -> None:
    if buildings > limits.buildings:
        raise BadRequest(
            N_("%(name)s has %(n)s buildings, more than the %(max)s one phone keeps: keep one of its grids instead"),
            code="area_too_large", name=area.name, n=buildings, max=limits.buildings)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, PRECISION)
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def _geometry(geojson: dict[str, Any] | None) -> dict[str, Any] | None:
    if geojson is None:
        return None
    return {"type": geojson["type"], "coordinates": _rounded(geojson["coordinates"])}


def _households(session: Session, scope: Scope, building_ids: list[int]) -> dict[str, list[dict[str, Any]]]:
    """The households as the visit form lists them (geo.visits.households_of), all in the
    user's scope, so none masked."""
    if scope.role == "viewer" or not building_ids:
        return {}
    held = set()
    if scope.person_id is not None:
        held = set(session.scalars(select(Assignment.household_id).where(
            Assignment.person_id == scope.person_id, responsibility.current(), Assignment.household_id.is_not(None))))
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rows = session.execute(
        select(Household.id, Household.building_id, Household.unit_no, Household.floor, Household.room,
               Household.residents, Household.active, Household.head_name, Household.phone)
        .where(Household.building_id.in_(building_ids))
        .order_by(Household.building_id, Household.unit_no, Household.floor, Household.room))
    for h in rows:
        out[str(h.building_id)].append({
            "id": h.id, "unit_no": h.unit_no, "floor": h.floor, "room": h.room,
            "address": f"{h.unit_no}-{h.floor}-{h.room}", "residents": h.residents, "active": h.active,
            "head_name": h.head_name, "phone": h.phone, "mine": h.id in held,
        })
    return dict(out)


def _areas(session: Session, scope: Scope, area: Area) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The outlines of the area and those inside it, and the cards of those and the areas
    above it (a tap beside the buildings lists them, innermost first)."""
    outlines = [
        {"id": row.id, "level": row.level, "geometry": _geometry(json.loads(row.geojson))}
        for row in session.execute(
            select(Area.id, Area.level, func.ST_AsGeoJSON(Area.geom, PRECISION).label("geojson"))
            .where(Area.id.in_(subtree(area.id))).order_by(Area.id))
    ]
    ids = [o["id"] for o in outlines] + list(session.scalars(ancestors(area.id)))
    rows = session.scalars(select(Area).where(Area.id.in_(ids))).all()
    by_area: dict[int, list[Any]] = defaultdict(list)
    for a in session.scalars(responsibility.assignments_for(area_ids=ids)).unique():
        by_area[a.area_id].append(a)  # type: ignore[index]
    personal = scope.personal_areas(session, ids)
    cards = {str(r.id): responsibility.area_data(r, by_area[r.id], r.id in personal) for r in rows}
    return outlines, cards


def _weighed(kept: dict[str, Any], limits: Limits) -> int:
    """The copy's bytes as the phone keeps it; too many for a phone is refused."""
    size = len(json.dumps(kept, ensure_ascii=False, separators=(",", ":")).encode())
    if size > limits.bytes:
        raise BadRequest(N_("a copy of %(name)s would take %(mb)s MB, more than the %(max)s MB one phone keeps: "
                            "keep one of its grids instead"), code="area_too_large", name=kept["area"]["name"],
                         mb=round(size / 1e6, 1), max=round(limits.bytes / 1e6))
    return size


def plan(session: Session, scope: Scope, area_id: int, limits: Limits) -> dict[str, Any]:
    """What a copy of the area would hold and weigh (the bytes of the copy as sent), or
    the refusal of an area too large to keep."""
    kept = _made(session, scope, area_id, limits)
    size = _weighed(kept, limits)
    return {
        "area": kept["area"],
        "bounds": kept["bounds"],
        "buildings": len(kept["buildings"]),
        "households": sum(len(v) for v in kept["households"].values()),
        "issues": len(kept["issues"]["features"]),
        "bytes": size,
        "days": limits.days,
    }


def copy(session: Session, scope: Scope, area_id: int, limits: Limits) -> dict[str, Any]:
    """The copy of the area for the phone (see the module's docstring), refused as the plan
    is when too large."""
    kept = _made(session, scope, area_id, limits)
    _weighed(kept, limits)
    return kept


def _made(session: Session, scope: Scope, area_id: int, limits: Limits) -> dict[str, Any]:
    area = _area(session, scope, area_id)
    buildings = _buildings(session, area.id)
    _too_many(area, len(buildings), limits)
    bounds = session.execute(select(func.ST_XMin(Area.geom), func.ST_YMin(Area.geom), func.ST_XMax(Area.geom),
                                    func.ST_YMax(Area.geom)).where(Area.id == area.id)).one()
    cards = []
    for card in responsibility.building_cards(session, buildings, scope):
        card["geometry"] = _geometry(card["geometry"])
        # Its areas' cards are in area_cards once, not with each building: the phone follows
        # area_id and parent_id up through them.
        del card["areas"]
        cards.append(card)
    outlines, area_cards = _areas(session, scope, area)
    issues = features.issues(session, None, scope, Filters(statuses=("open",), area_id=area.id, sort="urgency"),
                             ISSUES_KEPT)
    kept_issues = json.loads(issues)
    made = dt.datetime.now(dt.timezone.utc)
    return {
        "area": {"id": area.id, "name": area.name, "level": area.level},
        "bounds": [round(v, PRECISION) for v in bounds],
        "made_at": made.isoformat(timespec="seconds"),
        "expires_at": (made + dt.timedelta(days=limits.days)).isoformat(timespec="seconds"),
        "user_id": scope.user_id,
        "buildings": cards,
        "households": _households(session, scope, [b.id for b in buildings]),
        "outlines": outlines,
        "area_cards": area_cards,
        "issues": kept_issues,
        "issue_details": _details(session, scope, [f["id"] for f in kept_issues["features"][:DETAILS_KEPT]]),
    }


def _details(session: Session, scope: Scope, ids: list[int]) -> dict[str, Any]:
    """The issues' panels (geo.issues.detail), read-only: no steps are offered offline."""
    out = {}
    for issue in session.scalars(select(Issue).where(Issue.id.in_(ids))):
        out[str(issue.id)] = {**issues_domain.detail(session, scope, issue), "allowed": []}
    return out
