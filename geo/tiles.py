"""Vector tiles (Mapbox Vector Tile) of buildings, areas, open issues and visit coverage,
made by PostGIS and kept in the tile_cache table, which every app process shares.

A tile is `ST_AsMVT` over `ST_AsMVTGeom(ST_Transform(simplified geom, 3857), …)`, its rows
found with `geom && envelope` on the GiST index (the envelope transformed once, integer
SRIDs) and capped per tile. Simplification runs in degrees before the transform, at half a
tile pixel, so a county-wide tile transforms few points. A tile carries no personal data:
ids, names of places, states and counts. It is filtered by the user's scope like the API,
and cached per scope: a grid member's tile is not a county officer's.

Writes empty the cache themselves: statement triggers on buildings, areas, issues,
households and visits delete the cached tiles whose envelope the written rows touch
(migration 0010), in the writer's transaction. Tiles whose content moves with the calendar
(overdue issues, the last 30 days of visits) are cached per day; every tile is made again
after MAX_AGE at the latest, which bounds what a tile made during a concurrent write can
miss.

A tile is drawn in one of two datums. WGS 84 is what the database holds and what Tianditu
(CGCS2000, the same within a metre) and OSM draw on. AMap and Tencent draw in GCJ-02, half a
kilometre away here: their tiles are a Web Mercator grid over GCJ-02 positions. A GCJ-02
tile is the same grid, its geometry carried there by one affine map per tile (ST_Affine
after the transform to 3857), fitted to the exact conversion on the tile's points. GCJ-02
bends so slowly that the fit is off by at most 0.25 of a tile pixel at any zoom (0.03 from
zoom 14, where buildings are drawn); its rows are found in the exact WGS 84 preimage of the
tile.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from sqlalchemy import Float, Select, and_, func, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from geo import geometry
from geo.errors import N_, BadRequest, NotFound
from geo.issues import overdue, readable
from geo.models import AREA_LEVELS, Area, Building, CachedTile, Household, Issue, Visit
from geo.scope import Scope

EXTENT = 4096
BUFFER = 64  # pixels of the neighbouring tiles drawn too, so outlines do not stop at an edge
MAX_AGE = dt.timedelta(hours=1)
COVERAGE_DAYS = 30
# Web Mercator's square, the bounds ST_TileEnvelope divides.
_WORLD = 20037508.342789244
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
DATUMS = ("wgs84", "gcj02")


@dataclass(frozen=True)
class Layer:
    min_zoom: int
    max_zoom: int
    cap: int  # features per tile at most
    daily: bool = False  # content changes with the date, not only with writes


LAYERS = {
    "buildings": Layer(14, 20, 8000),
    "areas": Layer(8, 20, 3000),
    "issues": Layer(10, 20, 5000, daily=True),
    "coverage": Layer(14, 20, 8000, daily=True),
}


@dataclass(frozen=True)
class Tile:
    body: bytes
    etag: str


def checked(layer: str, z: int, x: int, y: int, level: str | None, datum: str = "wgs84") -> Layer:
    found = LAYERS.get(layer)
    if found is None:
        raise NotFound(N_("no tile layer %(layer)s; there are %(layers)s"), code="no_such_layer",
                       layer=layer, layers=", ".join(LAYERS))
    if not found.min_zoom <= z <= found.max_zoom:
        raise BadRequest(N_("%(layer)s are tiled from zoom %(min)s to %(max)s"), code="zoom_out_of_range",
                         layer=layer, min=found.min_zoom, max=found.max_zoom)
    if not (0 <= x < 2 ** z and 0 <= y < 2 ** z):
        raise BadRequest(N_("there is no tile %(x)s/%(y)s at zoom %(z)s"), code="no_such_tile", x=x, y=y, z=z)
    if level is not None and (layer != "areas" or level not in AREA_LEVELS):
        raise BadRequest(N_("level is for the areas layer, one of %(levels)s"), code="bad_level",
                         levels=", ".join(AREA_LEVELS))
    if datum not in DATUMS:
        raise BadRequest(N_("datum is one of %(datums)s"), code="bad_datum", datums=", ".join(DATUMS))
    return found


def scope_key(scope: Scope, layer: str) -> str:
    """Which users share a layer's tiles: everyone who sees the same rows."""
    if scope.county_wide:
        return "county"
    key = f"area{scope.area_id}"
    if layer == "issues" and scope.user_id is not None:
        key += f".user{scope.user_id}"  # and the issues they reported themselves
    return key


def tile(session: Session, scope: Scope, layer: str, z: int, x: int, y: int, *, level: str | None = None,
         today: dt.date, datum: str = "wgs84") -> Tile:
    """The tile from the cache, or made, stored and returned; `datum` is the basemap's."""
    found = checked(layer, z, x, y, level, datum)
    variant = ":".join(part for part in (scope_key(scope, layer), level or "",
                                         today.isoformat() if found.daily else "",
                                         "" if datum == "wgs84" else datum) if part)
    key = and_(CachedTile.layer == layer, CachedTile.variant == variant, CachedTile.z == z, CachedTile.x == x,
               CachedTile.y == y)
    cached = session.execute(select(CachedTile.body, CachedTile.etag).where(
        key, CachedTile.made_at > func.now() - MAX_AGE)).first()
    if cached is not None:
        return Tile(cached.body, cached.etag)
    frame = _frame(z, x, y, datum)
    body = session.scalar(_render(scope, layer, found, frame, level, today)) or b""
    etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
    stmt = insert(CachedTile).values(layer=layer, variant=variant, z=z, x=x, y=y, envelope=frame.envelope,
                                     body=body, etag=etag)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["layer", "variant", "z", "x", "y"],
        set_={"body": stmt.excluded.body, "etag": etag, "envelope": stmt.excluded.envelope, "made_at": func.now()}))
    return Tile(body, etag)


def _bounds(z: int, x: int, y: int, margin: float = 0.0) -> Any:
    world = func.ST_MakeEnvelope(-_WORLD, -_WORLD, _WORLD, _WORLD, 3857)
    return func.ST_TileEnvelope(z, x, y, world, margin)


def _envelope(z: int, x: int, y: int) -> Any:
    """The tile and its buffer in WGS 84: Mercator keeps a rectangle a rectangle, so this is exact."""
    return func.ST_Transform(_bounds(z, x, y, BUFFER / EXTENT), 4326)


@dataclass(frozen=True)
class _Frame:
    """One tile of one datum: where its rows lie in WGS 84, and how they reach its grid."""

    z: int
    x: int
    y: int
    envelope: Any  # the tile and its buffer, in WGS 84
    affine: tuple[float, float, float, float, float, float] | None = None  # a, b, d, e, xoff, yoff


def _frame(z: int, x: int, y: int, datum: str) -> _Frame:
    if datum == "wgs84":
        return _Frame(z, x, y, _envelope(z, x, y))
    # The buffered tile's points in GCJ-02 Web Mercator, and where each truly is.
    size = 2 * _WORLD / 2 ** z
    margin = size * BUFFER / EXTENT
    steps = np.linspace(0.0, 1.0, 9)
    west, north = -_WORLD + x * size - margin, _WORLD - y * size + margin
    u, v = np.meshgrid(west + steps * (size + 2 * margin), north - steps * (size + 2 * margin))
    shifted = np.column_stack([u.ravel(), v.ravel()])
    true = geometry.gcj02_to_wgs84_xy(geometry.web_mercator_to_wgs84_xy(shifted))
    # shifted ≈ A · true + t in metres, fitted around the tile's middle (well conditioned).
    at = geometry.wgs84_to_web_mercator_xy(true)
    origin_true, origin_shifted = at.mean(axis=0), shifted.mean(axis=0)
    design = np.column_stack([at - origin_true, np.ones(len(at))])
    coef = np.linalg.lstsq(design, shifted - origin_shifted, rcond=None)[0]
    a, d, b, e = coef[0, 0], coef[0, 1], coef[1, 0], coef[1, 1]
    xoff = origin_shifted[0] + coef[2, 0] - a * origin_true[0] - b * origin_true[1]
    yoff = origin_shifted[1] + coef[2, 1] - d * origin_true[0] - e * origin_true[1]
    (lon0, lat0), (lon1, lat1) = true.min(axis=0), true.max(axis=0)
    envelope = func.ST_MakeEnvelope(float(lon0), float(lat0), float(lon1), float(lat1), 4326)
    return _Frame(z, x, y, envelope, tuple(float(c) for c in (a, b, d, e, xoff, yoff)))  # type: ignore[arg-type]


def _mvt_geom(geom: Any, frame: _Frame, *, polygon: bool) -> Any:
    if polygon:
        # Half a pixel of this zoom, in degrees of longitude: invisible, and it drops most
        # vertices of a county outline at zoom 8.
        tolerance = 360.0 / 2 ** frame.z / EXTENT / 2
        geom = func.ST_SimplifyPreserveTopology(geom, tolerance)
    projected = func.ST_Transform(geom, 3857)
    if frame.affine is not None:
        projected = func.ST_Affine(projected, *frame.affine)
    return func.ST_AsMVTGeom(projected, _bounds(frame.z, frame.x, frame.y), EXTENT, BUFFER, True)


def _render(scope: Scope, layer: str, found: Layer, frame: _Frame, level: str | None,
            today: dt.date) -> Select[Any]:
    env = frame.envelope
    rows: Select[Any]
    if layer == "buildings":
        rows = select(_mvt_geom(Building.geom, frame, polygon=True).label("geom"), Building.id,
                      Building.name, Building.use, Building.area_id).where(
            Building.geom.op("&&")(env), func.ST_Intersects(Building.geom, env), scope.reads(Building.area_id),
        ).order_by(Building.id)
    elif layer == "areas":
        rows = select(_mvt_geom(Area.geom, frame, polygon=True).label("geom"), Area.id, Area.code, Area.name,
                      Area.level, Area.parent_id).where(
            Area.geom.op("&&")(env), func.ST_Intersects(Area.geom, env), scope.outlines(Area.id),
        ).order_by(Area.id)
        if level is not None:
            rows = rows.where(Area.level == level)
    elif layer == "issues":
        rows = select(_mvt_geom(Issue.geom, frame, polygon=False).label("geom"), Issue.id, Issue.category,
                      Issue.status, func.coalesce(overdue(), False).label("overdue")).where(
            Issue.geom.op("&&")(env), Issue.status != "closed", readable(scope),
        ).order_by(Issue.id)
    else:
        since = today - dt.timedelta(days=COVERAGE_DAYS - 1)
        visited = (select(Visit.household_id).where(Visit.visited_on.between(since, today))
                   .distinct().subquery())
        households = func.count(Household.id)
        rows = (
            select(_mvt_geom(Building.geom, frame, polygon=True).label("geom"), Building.id,
                   households.label("households"), func.count(visited.c.household_id).label("visited"),
                   func.round(func.count(visited.c.household_id) * 1.0 / households, 3).cast(Float)
                   .label("share"))
            .select_from(Building)
            .join(Household, Household.building_id == Building.id)
            .outerjoin(visited, visited.c.household_id == Household.id)
            .where(Building.geom.op("&&")(env), func.ST_Intersects(Building.geom, env),
                   scope.reads(Building.area_id))
            .group_by(Building.id)
            .order_by(Building.id)
        )
    t = rows.limit(found.cap).subquery("t")
    return select(func.ST_AsMVT(literal_column("t"), layer, EXTENT, "geom", "id")).select_from(t).where(
        t.c.geom.is_not(None))
