"""OGC API – Features, Part 1 (core, read-only) under /ogc/: what QGIS and GDAL
(`ogrinfo OAPIF:http://…/ogc`) read. GeoJSON for programs, HTML for a browser (`f=html`
or an Accept header preferring it). Authenticated and scoped as /api/v1/ is: a session
cookie or `Authorization: Bearer TOKEN`."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, g, render_template, request, url_for
from flask_babel import gettext as _

from geo import catalog
from geo.db import county_today
from geo.errors import N_, BadRequest, Unauthorized
from geo.features import BBox
from webmap import db
from webmap.auth import scope

bp = Blueprint("ogc", __name__, url_prefix="/ogc")

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"
# Parameters the items take; any other is refused, as the standard asks (lang is the UI's).
ITEM_PARAMETERS = {"f", "bbox", "limit", "offset", "datetime", "lang"}
MAX_OFFSET = 10_000_000


@bp.before_request
def _authenticated() -> None:
    if g.user is None:
        raise Unauthorized(N_("log in or send an API token"))


def wants_html() -> bool:
    chosen = request.args.get("f")
    if chosen is None:
        best = request.accept_mimetypes.best_match(["application/json", GEOJSON, "text/html"])
        return best == "text/html"
    if chosen not in ("json", "html"):
        raise BadRequest(N_("f must be json or html"), code="unknown_format")
    return chosen == "html"


def _url(endpoint: str, **values: Any) -> str:
    return url_for(endpoint, _external=True, **values)


def _links(endpoint: str, title: str, **values: Any) -> list[dict[str, str]]:
    """self and its other form, as every resource of the API links them."""
    html = wants_html()
    this, other = ("text/html", "application/json") if html else ("application/json", "text/html")
    return [
        {"href": _url(endpoint, **values, f="html" if html else "json"), "rel": "self", "type": this, "title": title},
        {"href": _url(endpoint, **values, f="json" if html else "html"), "rel": "alternate", "type": other,
         "title": title},
    ]


def _answer(body: dict[str, Any], template_kind: str, media: str = "application/json") -> Any:
    if wants_html():
        return render_template("ogc.html", kind=template_kind, body=body, title=body.get("title", ""))
    return Response(json.dumps(body, ensure_ascii=False), mimetype=media)


@bp.get("/")
def landing() -> Any:
    body = {
        "title": _("Gridwalk: grids, buildings, issues and visits"),
        "description": _("The county's areas, buildings, issues and visit coverage, as OGC API – Features"),
        "links": [
            *_links("ogc.landing", _("This page")),
            {"href": _url("ogc.conformance"), "rel": "conformance", "type": "application/json",
             "title": _("Conformance classes")},
            {"href": _url("ogc.collections"), "rel": "data", "type": "application/json",
             "title": _("Collections")},
        ],
    }
    return _answer(body, "landing")


@bp.get("/conformance")
def conformance() -> Any:
    return _answer({"title": _("Conformance classes"), "conformsTo": CONFORMANCE,
                    "links": _links("ogc.conformance", _("Conformance classes"))}, "conformance")


def _collection(collection: str) -> dict[str, Any]:
    extent = catalog.extent(db.read_session(), scope(), collection)  # NotFound for an unknown one
    found = {
        "id": collection,
        "title": _(catalog.TITLES[collection]),
        "itemType": "feature",
        "crs": [CRS84],
        "extent": extent,
        "links": [
            *_links("ogc.collection", _(catalog.TITLES[collection]), collection_id=collection),
            {"href": _url("ogc.items", collection_id=collection, f="json"), "rel": "items", "type": GEOJSON,
             "title": _("Features")},
            {"href": _url("ogc.items", collection_id=collection, f="html"), "rel": "items", "type": "text/html",
             "title": _("Features")},
        ],
    }
    return found


@bp.get("/collections")
def collections() -> Any:
    body = {"title": _("Collections"), "links": _links("ogc.collections", _("Collections")),
            "collections": [_collection(c) for c in catalog.COLLECTIONS]}
    return _answer(body, "collections")


@bp.get("/collections/<collection_id>")
def collection(collection_id: str) -> Any:
    return _answer(_collection(collection_id), "collection")


@bp.get("/collections/<collection_id>/items")
def items(collection_id: str) -> Any:
    query = _query()
    session = db.read_session()
    features, matched = catalog.items(session, scope(), collection_id, query, county_today(session))
    returned = len(features)
    title = _(catalog.TITLES[collection_id])
    links = _links("ogc.items", title, collection_id=collection_id, **_kept(query))
    if query.offset + returned < matched:
        links.append(_page_link("next", collection_id, query, query.offset + query.limit))
    if query.offset > 0:
        links.append(_page_link("prev", collection_id, query, max(query.offset - query.limit, 0)))
    head = {"type": "FeatureCollection", "title": title, "numberMatched": matched, "numberReturned": returned,
            "timeStamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "links": links}
    if wants_html():
        rows = [json.loads(f) for f in features]
        return render_template("ogc.html", kind="items", body=head, features=rows, title=title,
                               collection_id=collection_id)
    text = json.dumps(head, ensure_ascii=False)[:-1] + ',"features":[' + ",".join(features) + "]}"
    return Response(text, mimetype=GEOJSON)


@bp.get("/collections/<collection_id>/items/<feature_id>")
def feature(collection_id: str, feature_id: str) -> Any:
    _only({"f", "lang"})
    if not (feature_id.isascii() and feature_id.isdigit() and len(feature_id) <= 9):
        catalog.extent(db.read_session(), scope(), collection_id)  # an unknown collection says so first
        raise BadRequest(N_("a feature id is a whole number"), code="invalid_id")
    session = db.read_session()
    text = catalog.item(session, scope(), collection_id, int(feature_id), county_today(session))
    found = json.loads(text)
    found["links"] = [
        *_links("ogc.feature", _("Feature"), collection_id=collection_id, feature_id=feature_id),
        {"href": _url("ogc.collection", collection_id=collection_id), "rel": "collection",
         "type": "application/json", "title": _(catalog.TITLES[collection_id])},
    ]
    if wants_html():
        title = _(catalog.TITLES[collection_id]) + " " + feature_id
        return render_template("ogc.html", kind="feature", body=found, features=[found], title=title,
                               collection_id=collection_id)
    return Response(json.dumps(found, ensure_ascii=False), mimetype=GEOJSON)


# --- the query ----------------------------------------------------------------------------


def _only(allowed: set[str]) -> None:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise BadRequest(N_("unknown parameter: %(name)s"), code="unknown_parameter", name=unknown[0][:40])


def _whole(name: str, minimum: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or int(raw) < minimum:
        raise BadRequest(N_("parameter %(name)s must be a whole number of at least %(minimum)s"),
                         code="invalid_parameter", name=name, minimum=minimum)
    return int(raw)


def _query() -> catalog.Query:
    _only(ITEM_PARAMETERS)
    wants_html()  # an unknown f is refused before anything is read
    limit = _whole("limit", 1)
    offset = _whole("offset", 0) or 0
    if offset > MAX_OFFSET:
        raise BadRequest(N_("offset must be at most %(max)s"), code="invalid_parameter", max=MAX_OFFSET)
    since, until = _interval(request.args.get("datetime"))
    return catalog.Query(
        bbox=_bbox(request.args.get("bbox")),
        # Larger pages than the most are served at the most, as the standard lets a server do.
        limit=min(limit or catalog.DEFAULT_LIMIT, catalog.MAX_LIMIT),
        offset=offset, since=since, until=until,
    )


def _bbox(raw: str | None) -> BBox | None:
    if raw is None:
        return None
    parts = raw.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 6:  # with heights, as the standard allows: they do not matter here
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise BadRequest(N_("bbox must be four numbers: minlon,minlat,maxlon,maxlat"), code="invalid_bbox")
    try:
        return BBox.checked(values, "ogc")
    except BadRequest as error:
        raise BadRequest(error.message, code="invalid_bbox", **error.params) from None


def _instant(text: str) -> dt.datetime:
    value = text.strip()
    # An offset's "+" sent unencoded arrives as a space: 2026-01-05T10:00:00 08:00.
    if len(value) > 19 and value[-6] == " ":
        value = value[:-6] + "+" + value[-5:]
    try:
        if len(value) == 10:
            return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadRequest(N_("datetime must be an RFC 3339 date-time, or an interval a/b, ../b or a/.."),
                         code="invalid_datetime") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _interval(raw: str | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    if raw is None or raw.strip() == "":
        return None, None
    if "/" not in raw:
        moment = _instant(raw)
        if len(raw.strip()) == 10:  # a whole day
            return moment, moment + dt.timedelta(days=1) - dt.timedelta(microseconds=1)
        return moment, moment
    start, _, end = raw.partition("/")
    since = None if start.strip() in ("", "..") else _instant(start)
    until = None if end.strip() in ("", "..") else _instant(end)
    if since is not None and until is not None and since > until:
        raise BadRequest(N_("datetime: the interval ends before it starts"), code="invalid_datetime")
    return since, until


def _kept(query: catalog.Query) -> dict[str, str]:
    """The query's filters, as they go into the page links."""
    kept = {k: v for k, v in request.args.items() if k in ("bbox", "datetime")}
    kept["limit"] = str(query.limit)
    if query.offset:
        kept["offset"] = str(query.offset)
    return kept


def _page_link(rel: str, collection_id: str, query: catalog.Query, offset: int) -> dict[str, str]:
    values = {**_kept(query), "offset": str(offset)}
    html = wants_html()
    values["f"] = "html" if html else "json"
    href = _url("ogc.items", collection_id=collection_id) + "?" + urlencode(values)
    return {"href": href, "rel": rel, "type": "text/html" if html else GEOJSON,
            "title": _("Next page") if rel == "next" else _("Previous page")}
