"""Grid notice boards as PDF (网格公示牌): GET /areas/<id>/notice-board.pdf, one A4 or A3 page
per grid or compound (a community's or township's gives all of its boards, one per page). The
page is HTML and CSS (templates/public/notice_board.html) made into PDF by WeasyPrint, in
Noto Sans CJK from the system's fonts, with the map as SVG drawn here and the area's QR code
below; nothing is fetched while it renders."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _
from markupsafe import Markup, escape

from geo import boards, directory, residents
from geo.db import county_today
from geo.errors import N_, BadRequest
from geo.models import Area
from webmap import db
from webmap.auth import login_required, scope
from webmap.names import kind_names, level_names
from webmap.residents import public_url, qr_svg

bp = Blueprint("boards", __name__)

# The map's box on the page, in millimetres, per paper size.
PAPERS = {"A4": (186.0, 80.0), "A3": (265.0, 150.0)}
_NICE = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


@bp.get("/areas/<int:area_id>/notice-board.pdf")
@login_required
def notice_board(area_id: int) -> Response:
    session = db.session()
    area = directory.get(session, Area, area_id)
    scope().require_area(session, area_id)
    paper = (request.args.get("paper") or "A4").upper()
    if paper not in PAPERS:
        raise BadRequest(N_("paper is one of %(papers)s"), code="bad_paper", papers=", ".join(PAPERS))
    today = county_today(session)
    pages = []
    for board in boards.boards_of(session, area):
        card = residents.area_card(session, board, today)
        pages.append({"card": card, "map": map_svg(boards.shapes(session, board), *PAPERS[paper]),
                      "qr": qr_svg(board.public_code, scale=3), "url": public_url(board.public_code)})
    html = render_template("public/notice_board.html", title=_("Grid notice board"), pages=pages, paper=paper,
                           levels=level_names() | {"building": _("Building")}, kinds=kind_names(),
                           printed_on=today.isoformat(), map_size=PAPERS[paper])
    pdf = _pdf(html)
    name = _("Notice board") + f"-{area.name}.pdf"
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return response


def _pdf(html: str) -> bytes:
    import weasyprint  # loads Pango: only when a board is made

    def refuse(url: str) -> dict[str, Any]:
        raise ValueError(f"a notice board fetches nothing ({url})")

    return weasyprint.HTML(string=html, url_fetcher=refuse).write_pdf()  # type: ignore[no-any-return]


def map_svg(shapes: boards.Shapes, width: float, height: float) -> Markup:
    """The area's map as SVG `width` × `height` mm: its outline, compounds and buildings,
    north up, with a scale bar."""
    minx, miny, maxx, maxy = shapes.outline.bounds
    pad = 0.04 * max(maxx - minx, maxy - miny, 1.0)
    minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
    k = min(width / (maxx - minx), height / (maxy - miny))  # mm per metre
    ox = (width - (maxx - minx) * k) / 2
    oy = (height - (maxy - miny) * k) / 2

    def path(geom: Any) -> str:
        rings = []
        for polygon in getattr(geom, "geoms", [geom]):
            for ring in (polygon.exterior, *polygon.interiors):
                points = " ".join(f"{ox + (x - minx) * k:.2f},{oy + (maxy - y) * k:.2f}" for x, y in ring.coords)
                rings.append(f"M{points}Z")
        return "".join(rings)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}mm" height="{height}mm" '
             f'viewBox="0 0 {width} {height}">',
             f'<rect width="{width}" height="{height}" fill="#fbfcfc"/>',
             f'<path d="{path(shapes.outline)}" fill="#eaf2f8" stroke="#1f618d" stroke-width="0.6" '
             'stroke-dasharray="2 1"/>']
    parts += [f'<path d="{path(c)}" fill="#e9f7ef" stroke="#1e8449" stroke-width="0.35"/>' for c in shapes.compounds]
    parts += [f'<path d="{path(b)}" fill="#aab7b8" stroke="#566573" stroke-width="0.15"/>' for b in shapes.buildings]
    metres = next((n for n in _NICE if n * k >= width / 6), _NICE[-1])
    bar = metres * k
    label = f"{metres} m" if metres < 1000 else f"{metres // 1000} km"
    parts.append(f'<g font-size="3" font-family="Noto Sans CJK SC"><path d="M4,{height - 5}h{bar:.2f}" '
                 f'stroke="#17202a" stroke-width="0.8"/><text x="4" y="{height - 7}">{escape(label)}</text>'
                 f'<text x="{width - 8}" y="9" font-size="5" text-anchor="middle">{escape(_("N"))}</text>'
                 f'<path d="M{width - 8},11l-2.5,7h5z" fill="#17202a"/></g>')
    parts.append("</svg>")
    return Markup("".join(parts))

