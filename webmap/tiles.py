"""GET /tiles/{layer}/{z}/{x}/{y}.mvt: vector tiles for the map (geo.tiles), scoped to the
user like the API, with an ETag so a phone that has a tile is told 304. `?datum=gcj02` draws
them on a GCJ-02 basemap's grid (AMap, Tencent)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, request

from geo import tiles
from geo.errors import N_, NotFound, Unavailable
from webmap import basemaps, db, tilefile
from webmap.auth import scope

bp = Blueprint("tiles", __name__, url_prefix="/tiles")


@bp.get("/basemap/<int:z>/<int:x>/<int:y>")
def basemap(z: int, x: int, y: int) -> Response:
    """A tile of the county's own basemap file (BASEMAPS has county, TILE_FILE), for a
    logged-in user like the data tiles."""
    scope()
    if "county" not in {b.key for b in basemaps.configured(current_app.config)}:
        raise NotFound(N_("no basemap file is configured"), code="no_basemap_file")
    try:
        found = basemaps.tile_file(current_app.config)  # read again only when the file changes
    except basemaps.ConfigError:
        raise Unavailable(N_("the basemap file cannot be read now"), code="basemap_file_unavailable") from None
    if not (0 <= z <= basemaps.MAX_ZOOM and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
        raise NotFound(N_("there is no tile %(x)s/%(y)s at zoom %(z)s"), code="no_such_tile", z=z, x=x, y=y)
    body = found.tile(z, x, y)
    # Beyond the county's file (its edge, a zoom it lacks) the map shows nothing, not a
    # failing basemap.
    response = Response(body, mimetype=found.media_type) if body is not None else Response(
        tilefile.blank(), mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@bp.get("/<layer>/<int:z>/<int:x>/<int:y>.mvt")
def tile(layer: str, z: int, x: int, y: int) -> Response:
    today = dt.datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).date()
    made = tiles.tile(db.session(), scope(), layer, z, x, y, level=request.args.get("level") or None, today=today,
                      datum=request.args.get("datum") or "wgs84")
    response = Response(made.body, mimetype=tiles.MEDIA_TYPE)
    response.set_etag(made.etag)
    # The user's own scope: kept by their browser only, and checked again on each use (a 304
    # costs a cached row's lookup).
    response.headers["Cache-Control"] = "private, no-cache"
    return response.make_conditional(request)
