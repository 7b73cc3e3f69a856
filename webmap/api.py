"""JSON API under /api/v1/: each view parses its parameters, calls one geo function and
serialises the answer. Every error leaves in the one shape (see webmap.errors)."""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, Response, jsonify, request

from geo import features, responsibility
from geo.errors import N_, BadRequest
from webmap import db
from webmap.auth import login_required

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_request
@login_required
def _authenticated() -> None:
    return None


def _number(name: str, *, required: bool = True) -> float | None:
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        if required:
            raise BadRequest(N_("parameter %(name)s is required"), code="missing_parameter", name=name)
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(N_("parameter %(name)s must be a number"), name=name) from None
    if not math.isfinite(value):
        raise BadRequest(N_("parameter %(name)s must be a finite number"), name=name)
    return value


def _integer(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return None
    if not raw.strip().isdigit() or len(raw.strip()) > 9:
        raise BadRequest(N_("parameter %(name)s must be a whole number"), name=name)
    return int(raw)


def _bbox(layer: str, *, required: bool) -> features.BBox | None:
    raw = request.args.get("bbox")
    if raw is None or raw.strip() == "":
        if required:
            raise BadRequest(N_("parameter %(name)s is required"), code="missing_parameter", name="bbox")
        return None
    try:
        values = [float(v) for v in raw.split(",")]
    except ValueError:
        raise BadRequest(N_("bbox must be four numbers: minlon,minlat,maxlon,maxlat")) from None
    if not all(math.isfinite(v) for v in values):
        raise BadRequest(N_("bbox must be four numbers: minlon,minlat,maxlon,maxlat"))
    return features.BBox.checked(values, layer)


def _geojson(text: str) -> Response:
    return Response(text, mimetype="application/geo+json")


@bp.get("/lookup")
def lookup() -> Any:
    lon, lat = _number("lon"), _number("lat")
    return jsonify(responsibility.lookup(db.session(), lon, lat))  # type: ignore[arg-type]


@bp.get("/buildings")
def buildings() -> Response:
    bbox = _bbox("buildings", required=True)
    limit = features.checked_limit(_integer("limit"))
    return _geojson(features.buildings(db.session(), bbox, limit))  # type: ignore[arg-type]


@bp.get("/buildings/<int:building_id>")
def building(building_id: int) -> Any:
    return jsonify(responsibility.building_card(db.session(), building_id))


@bp.get("/areas")
def areas() -> Response:
    bbox = _bbox("areas", required=False)
    limit = features.checked_limit(_integer("limit"))
    return _geojson(features.areas(db.session(), request.args.get("level") or None, bbox, limit))


@bp.get("/areas/<int:area_id>")
def area(area_id: int) -> Any:
    return jsonify(responsibility.area_card(db.session(), area_id))


@bp.get("/issues")
def issues() -> Response:
    bbox = _bbox("issues", required=False)
    statuses = [s for s in (request.args.get("status") or "").split(",") if s]
    limit = features.checked_limit(_integer("limit"))
    return _geojson(
        features.issues(db.session(), bbox, statuses, request.args.get("category") or None, limit)
    )
