"""One building, one code (一楼一码), for residents: /q/<code> is where a building's QR sticker
leads, with no login (geo.residents says what it shows and how reports are guarded); the
sticker sheets for printing are for the officers of the area."""

from __future__ import annotations

import datetime as dt
from typing import Any

import segno
from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import Markup
from sqlalchemy import select

from geo import directory, residents
from geo.db import county_today
from geo.errors import GridwalkError
from geo.issues import categories
from geo.models import Area, Building
from geo.scope import subtree
from webmap import db
from webmap.auth import login_required, scope
from webmap.i18n import message
from webmap.names import kind_names, level_names, status_names

bp = Blueprint("residents", __name__)

STICKERS_MAX = 600  # buildings on one sheet run; a bigger area is printed compound by compound


def public_url(code: str) -> str:
    """Where a sticker leads: PUBLIC_URL (the address residents reach, not the intranet's)
    if set, else this server as the request reached it."""
    base = current_app.config.get("PUBLIC_URL") or ""
    path = url_for("residents.building", code=code)
    return base.rstrip("/") + path if base else url_for("residents.building", code=code, _external=True)


def _forms() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="resident-report")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@bp.route("/q/<code>", methods=["GET", "POST"])
def building(code: str) -> Any:
    session = db.session()
    found = residents.place_for(session, code)
    if isinstance(found, Area):
        return _public(_area_page(found), 200)
    error, status, values = None, 200, {}
    if request.method == "POST":
        values = request.form
        try:
            body = {k: v for k, v in request.form.items() if k not in ("csrf_token", "form_token")}
            issue = residents.report(session, found, body, sender=_sender(),
                                     now=_now(), opened_at=_opened(found))
        except GridwalkError as refused:
            error, status = message(refused), refused.status
        else:
            return redirect(url_for("residents.building", code=code, sent=issue.id), code=303)
    card = residents.public_card(session, found, county_today(session))
    sent = request.args.get("sent", type=int)
    html = render_template(
        "public/building.html", title=card["name"] or _("Building"), card=card, error=error, values=values,
        sent=sent if sent and any(i["id"] == sent for i in card["issues"]) else None,
        form_token=_forms().dumps({"b": found.id, "t": _now().timestamp()}),
        categories=categories(session), statuses=status_names(), levels=_levels(), kinds=kind_names(),
        description_max=residents.DESCRIPTION_MAX,
    )
    return _public(html, status)


def _area_page(area: Area) -> str:
    if request.method == "POST":  # nothing is sent to an area's page: its buildings take reports
        raise residents.stale_form()
    card = residents.area_card(db.session(), area, county_today(db.session()))
    return render_template("public/area.html", title=card["name"], card=card, statuses=status_names(),
                           levels=_levels(), kinds=kind_names())


def _levels() -> dict[str, str]:
    return level_names() | {"building": _("Building")}


def _public(html: str, status: int) -> Response:
    response = Response(html, status=status)
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _opened(building: Building) -> dt.datetime:
    """When the form sent was made, from its signed token; a token for another building, or
    none, is a form this site did not hand out for this sticker."""
    try:
        data = _forms().loads(request.form.get("form_token") or "")
    except BadSignature:
        data = None
    if not isinstance(data, dict) or data.get("b") != building.id or not isinstance(data.get("t"), float):
        raise residents.stale_form()
    return dt.datetime.fromtimestamp(data["t"], dt.timezone.utc)


def _sender() -> str:
    return residents.sender_key(current_app.config["SECRET_KEY"], residents.sender_network(request.remote_addr or ""))


def qr_svg(code: str, scale: int = 4) -> Markup:
    """The building's QR code as inline SVG: sharp at any print size."""
    return Markup(segno.make(public_url(code), error="m").svg_inline(scale=scale, border=2))


@bp.get("/areas/<int:area_id>/stickers")
@login_required
def stickers(area_id: int) -> str:
    """A printable sheet of the stickers of every building in an area (a compound, a grid):
    A4, 3 × 4 to a page, each its QR code, the building's name and what scanning gives."""
    session = db.session()
    area = directory.get(session, Area, area_id)
    scope().require_area(session, area_id)
    rows = session.execute(
        select(Building.name, Building.address, Building.public_code)
        .where(Building.area_id.in_(subtree(area_id))).order_by(Building.name, Building.id).limit(STICKERS_MAX + 1)
    ).all()
    return render_template("public/stickers.html", title=_("Building QR stickers · %(name)s", name=area.name),
                           area=area, too_many=len(rows) > STICKERS_MAX,
                           stickers=[{"name": r.name or r.address, "address": r.address, "qr": qr_svg(r.public_code),
                                      "url": public_url(r.public_code)} for r in rows[:STICKERS_MAX]])
