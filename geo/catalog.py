"""The layers as collections of features, for OGC API – Features (read-only): areas by
level, buildings, issues and visit coverage per grid. Each collection is paged by record id
(limit and offset), filtered by bbox (and, for issues, by when they were reported), scoped
exactly as the JSON API is, and says how many features match in all.

Features come out as GeoJSON text built by the database (geo.features), so ten thousand of
them cost one query, not ten thousand objects.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from geo import coverage
from geo.errors import N_, BadRequest, NotFound
from geo.features import DECIMALS, BBox, area_feature, building_feature, issue_feature
from geo.issues import readable
from geo.models import Area, Building, Issue
from geo.scope import Scope

AREA_COLLECTIONS = {"counties": "county", "townships": "township", "communities": "community",
                    "grids": "grid", "compounds": "compound"}
# "areas" holds every level (DESIGN.md's public surface); the others one level each.
COLLECTIONS = ("areas", *AREA_COLLECTIONS, "buildings", "issues", "coverage")
TITLES = {
    "areas": N_("Areas (every level)"),
    "counties": N_("County"), "townships": N_("Townships"), "communities": N_("Communities"),
    "grids": N_("Grids"), "compounds": N_("Compounds"), "buildings": N_("Buildings"),
    "issues": N_("Issues"), "coverage": N_("Visit coverage per grid (last 30 days)"),
}
DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
COVERAGE_DAYS = 30


@dataclass(frozen=True)
class Query:
    bbox: BBox | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    # From and until (either open), for collections that have a time: issues.
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def _known(collection: str) -> None:
    if collection not in COLLECTIONS:
        raise NotFound(N_("there is no collection %(collection)s"), code="unknown_collection",
                       collection=collection[:60])


def temporal(collection: str) -> bool:
    return collection == "issues"


def _base(collection: str, scope: Scope) -> tuple[Select[Any], Any, Any, Any]:
    """The collection's rows the user may read: the statement, its id and geometry columns,
    and the feature each row becomes."""
    if collection in AREA_COLLECTIONS or collection in ("areas", "coverage"):
        # Coverage is of the grids whose households the user may count; outlines of the
        # areas above the user's own are shown too, as on the map.
        visible = scope.reads(Area.id) if collection == "coverage" else scope.outlines(Area.id)
        stmt = select().select_from(Area).where(visible)
        if collection != "areas":
            stmt = stmt.where(Area.level == AREA_COLLECTIONS.get(collection, "grid"))
        return stmt, Area.id, Area.geom, area_feature()
    if collection == "buildings":
        stmt = select().select_from(Building).where(Building.area_id.is_not(None), scope.reads(Building.area_id))
        return stmt, Building.id, Building.geom, building_feature()
    stmt = select().select_from(Issue).where(readable(scope))
    return stmt, Issue.id, Issue.geom, issue_feature()


def _filtered(collection: str, scope: Scope, query: Query) -> tuple[Select[Any], Any, Any]:
    stmt, id_column, geom, feature = _base(collection, scope)
    if query.bbox is not None:
        envelope = query.bbox.envelope()
        stmt = stmt.where(geom.op("&&")(envelope), func.ST_Intersects(geom, envelope))
    if temporal(collection):
        if query.since is not None:
            stmt = stmt.where(Issue.reported_at >= query.since)
        if query.until is not None:
            stmt = stmt.where(Issue.reported_at <= query.until)
    return stmt, id_column, feature


def items(session: Session, scope: Scope, collection: str, query: Query, today: dt.date) -> tuple[list[str], int]:
    """One page of the collection's features (GeoJSON text each) and how many match in all."""
    _known(collection)
    stmt, id_column, feature = _filtered(collection, scope, query)
    matched = session.scalar(select(func.count()).select_from(stmt.add_columns(id_column).subquery())) or 0
    page = stmt.add_columns(feature).order_by(id_column).limit(query.limit).offset(query.offset)
    features = list(session.scalars(page))
    if collection == "coverage":
        features = _with_coverage(session, scope, features, today)
    return features, matched


def item(session: Session, scope: Scope, collection: str, feature_id: int, today: dt.date) -> str:
    _known(collection)
    stmt, id_column, feature = _filtered(collection, scope, Query())
    found = session.scalar(stmt.add_columns(feature).where(id_column == feature_id))
    if found is None:
        raise NotFound(N_("there is no feature %(id)s in %(collection)s"), code="unknown_feature",
                       id=feature_id, collection=collection)
    if collection == "coverage":
        return _with_coverage(session, scope, [found], today)[0]
    return found


def _with_coverage(session: Session, scope: Scope, features: list[str], today: dt.date) -> list[str]:
    """Grid features with their households visited in the last 30 days."""
    since = today - dt.timedelta(days=COVERAGE_DAYS - 1)
    figures = {row["id"]: row for row in coverage.coverage(session, scope, "grid", since, today)}
    out = []
    for text in features:
        data = json.loads(text)
        row = figures.get(data["id"], {})
        data["properties"].update(
            since=since.isoformat(), until=today.isoformat(), households=row.get("households", 0),
            visited=row.get("visited", 0), share=row.get("share"), last_visit=row.get("last_visit"),
        )
        out.append(json.dumps(data, ensure_ascii=False))
    return out


def extent(session: Session, scope: Scope, collection: str) -> dict[str, Any]:
    """The bounding box of what the user may read of the collection (and its time span)."""
    _known(collection)
    stmt, _, geom, _ = _base(collection, scope)
    box = func.ST_Extent(geom)
    corners = session.execute(stmt.add_columns(
        func.ST_XMin(box), func.ST_YMin(box), func.ST_XMax(box), func.ST_YMax(box))).one()
    result: dict[str, Any] = {"spatial": {"crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}}
    if corners[0] is not None:
        result["spatial"]["bbox"] = [[round(float(v), DECIMALS) for v in corners]]
    if temporal(collection):
        first, last = session.execute(stmt.add_columns(func.min(Issue.reported_at), func.max(Issue.reported_at))).one()
        result["temporal"] = {"interval": [[first.isoformat() if first else None, last.isoformat() if last else None]],
                              "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
    return result
