"""Map layers as GeoJSON FeatureCollections, filtered by the viewport in the database.

Each query filters with `geom && envelope` on the GiST index and caps the features per
response, so a layer costs the same whatever the county's size. The JSON is built in SQL
(`ST_AsGeoJSON`) and handed on as text: parsing and re-serialising thousands of polygons
in Python would only cost time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Text, func, select
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.orm import Session

from geo.errors import N_, BadRequest
from geo.geometry import SRID
from geo.issues import Filters, overdue, readable
from geo.models import AREA_LEVELS, Area, Building, Issue
from geo.scope import Scope

DEFAULT_LIMIT = 2000
MAX_LIMIT = 10000
# Widest viewport (degrees of longitude or latitude) each layer answers for: buildings
# are only drawn close up; areas up to a whole county or two.
# An export is a file, not a map view: it may ask for a county's width of any layer.
MAX_BBOX_SPAN = {"buildings": 0.25, "areas": 5.0, "issues": 5.0, "export": 5.0,
                 # OGC API clients (QGIS) ask for what their window shows; pages bound the answer.
                 "ogc": 360.0}
DECIMALS = 6  # about 0.1 m


@dataclass(frozen=True)
class BBox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    @classmethod
    def checked(cls, values: Sequence[float], layer: str) -> BBox:
        if len(values) != 4:
            raise BadRequest(N_("bbox must be four numbers: minlon,minlat,maxlon,maxlat"))
        box = cls(*values)
        if not (-180 <= box.min_lon <= box.max_lon <= 180 and -90 <= box.min_lat <= box.max_lat <= 90):
            raise BadRequest(
                N_("bbox must be minlon,minlat,maxlon,maxlat within −180…180 / −90…90, min before max")
            )
        span = MAX_BBOX_SPAN[layer]
        if box.max_lon - box.min_lon > span or box.max_lat - box.min_lat > span:
            raise BadRequest(
                N_("bbox is too large for %(layer)s: at most %(span)s degrees across"),
                code="bbox_too_large",
                layer=layer,
                span=span,
            )
        return box

    def envelope(self) -> ColumnElement[Any]:
        return func.ST_MakeEnvelope(self.min_lon, self.min_lat, self.max_lon, self.max_lat, SRID)

    @property
    def span(self) -> float:
        return max(self.max_lon - self.min_lon, self.max_lat - self.min_lat)


def checked_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(N_("limit must be between 1 and %(max)s"), max=MAX_LIMIT)
    return limit


def feature_json(id_column: Any, geom: Any, **properties: Any) -> ColumnElement[str]:
    """One GeoJSON Feature, rendered to text by the database."""
    props: list[Any] = []
    for key, value in properties.items():
        props += [key, value]
    return func.json_build_object(
        "type", "Feature",
        "id", id_column,
        "geometry", func.ST_AsGeoJSON(geom, DECIMALS).cast(JSON),
        "properties", func.json_build_object(*props),
    ).cast(Text)


def building_feature() -> ColumnElement[str]:
    return feature_json(Building.id, Building.geom, name=Building.name, source_id=Building.source_id,
                        area_id=Building.area_id, use=Building.use)


def area_feature(geom: Any = Area.geom) -> ColumnElement[str]:
    return feature_json(Area.id, geom, code=Area.code, name=Area.name, level=Area.level, parent_id=Area.parent_id)


def issue_feature() -> ColumnElement[str]:
    return feature_json(
        Issue.id, Issue.geom, category=Issue.category, status=Issue.status,
        description=func.left(Issue.description, 200), reported_at=Issue.reported_at, deadline=Issue.deadline,
        overdue=func.coalesce(overdue(), False), area_id=Issue.area_id, building_id=Issue.building_id,
        unit_id=Issue.unit_id,
    )


def _collection(session: Session, stmt: Any, limit: int, extra: dict[str, Any] | None = None) -> str:
    rows = session.scalars(stmt.limit(limit + 1)).all()
    truncated = len(rows) > limit
    head = {"type": "FeatureCollection", "numberReturned": min(len(rows), limit), "truncated": truncated}
    head.update(extra or {})
    features = ",".join(rows[:limit])
    return json.dumps(head, ensure_ascii=False)[:-1] + ',"features":[' + features + "]}"


def buildings(session: Session, bbox: BBox, scope: Scope, limit: int = DEFAULT_LIMIT) -> str:
    env = bbox.envelope()
    stmt = (
        select(building_feature())
        .where(Building.geom.op("&&")(env), func.ST_Intersects(Building.geom, env), scope.reads(Building.area_id))
        .order_by(Building.id)
    )
    return _collection(session, stmt, limit)


def areas(
    session: Session, level: str | None, bbox: BBox | None, scope: Scope, limit: int = DEFAULT_LIMIT
) -> str:
    if level is not None and level not in AREA_LEVELS:
        raise BadRequest(N_("level must be one of %(levels)s"), levels=", ".join(AREA_LEVELS))
    geom: Any = Area.geom
    stmt = select().select_from(Area).where(scope.outlines(Area.id))
    if bbox is not None:
        env = bbox.envelope()
        stmt = stmt.where(Area.geom.op("&&")(env), func.ST_Intersects(Area.geom, env))
        # About a pixel at the viewport's scale: outlines stay crisp, payloads stay small.
        tolerance = bbox.span / 2000
        if tolerance > 1e-6:
            geom = func.ST_Multi(func.ST_SimplifyPreserveTopology(Area.geom, tolerance))
    if level is not None:
        stmt = stmt.where(Area.level == level)
    stmt = stmt.add_columns(
        area_feature(geom)
    ).order_by(Area.id)
    return _collection(session, stmt, limit)


def issues(
    session: Session, bbox: BBox | None, scope: Scope, filters: Filters, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> str:
    """Issues as points, filtered as the issue list is (state, category, unit, area, dates)."""
    stmt = select().select_from(Issue).where(readable(scope))
    if bbox is not None:
        stmt = stmt.where(Issue.geom.op("&&")(bbox.envelope()))
    stmt = filters.apply(stmt).add_columns(issue_feature()).offset(offset)
    return _collection(session, stmt, limit)
