"""Pages of the field work: the issue list (filtered, sorted, paged, exported to CSV,
XLSX, GeoJSON and GeoPackage) and a patrol's page (its route, the issues found, the share solved on the spot)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, g, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from geo import directory, issues, layers, patrols, responsibility
from geo.models import Area
from geo.validate import Fields
from webmap import db, exports
from webmap.assets import static_url
from webmap.auth import login_required, scope
from webmap.mapbuilder import build_patrol_page
from webmap.names import status_names
from webmap.security import with_nonces

bp = Blueprint("fieldwork", __name__)

PAGE_SIZE = 50


@bp.before_request
@login_required
def _logged_in() -> None:
    return None


def _filters() -> issues.Filters:
    return issues.Filters.read({k: v for k, v in request.args.items() if k in issues.LIST_FIELDS})


def _columns() -> list[tuple[str, str]]:
    return [
        ("id", "#"), ("reported_at", _("Reported at")), ("category", _("Category")), ("status", _("State")),
        ("description", _("What is wrong")), ("area", _("Area")), ("building", _("Building")),
        ("unit", _("Unit")), ("deadline", _("Deadline")), ("closed_at", _("Closed")),
        ("reporter", _("Reported by")),
    ]


def _area_choices(chosen: int | None) -> list[dict[str, Any]]:
    """The list filter's areas; one chosen elsewhere (a township from the dashboard) is
    offered too, so the form keeps it."""
    areas = directory.area_choices(db.session(), scope())
    offered = {a["id"] for a in areas if a["readable"]} | {g["id"] for a in areas for g in a["grids"]}
    if chosen is not None and chosen not in offered:
        name = db.session().scalar(select(Area.name).where(Area.id == chosen, scope().reads(Area.id)))
        if name is not None:
            areas.insert(0, {"id": chosen, "name": name, "readable": True, "grids": []})
    return areas


@bp.get("/issues", endpoint="issues")
def issues_page() -> str:
    filters = _filters()
    page = Fields({"page": request.args.get("page")}, ("page",)).integer("page", maximum=10000) or 1
    found = issues.rows(db.session(), scope(), filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    total = issues.count(db.session(), scope(), filters)
    # The filters, to carry into the sort, page and download links (not url_for's own names).
    args = {k: v for k, v in request.args.items() if k not in ("page", "endpoint", "fmt") and not k.startswith("_")}
    return render_template(
        "issues.html", title=_("Issues"), rows=found, total=total, page=page, page_size=PAGE_SIZE,
        filters=filters, args=args, columns=_columns(), status_names=status_names(),
        categories=issues.categories(db.session(), active_only=False),
        units=directory.all_units(db.session()), areas=_area_choices(filters.area_id),
        sortable=set(issues.SORTS),
        tz=ZoneInfo(current_app.config["TIMEZONE"]),
    )


@bp.get("/issues.<fmt>")
def issues_export(fmt: str) -> Response:
    """The list as filtered, every page of it, with each issue's point: the same file as
    GET /api/v1/export/issues.FMT."""
    exports.check_format(fmt)
    table = layers.issues(db.session(), scope(), _filters(), None, ZoneInfo(current_app.config["TIMEZONE"]),
                          status_names())
    return exports.download_table(table, fmt)


@bp.get("/patrols/<int:patrol_id>")
def patrol(patrol_id: int) -> str:
    found = patrols.detail(db.session(), scope(), patrols.one(db.session(), scope(), patrol_id))
    chrome = render_template("patrol.html", patrol=found, status_names=status_names(),
                             tz=ZoneInfo(current_app.config["TIMEZONE"]), user=g.user)
    outline = responsibility.area_outline(db.session(), found["area"]["id"]) if found["area"] else None
    return with_nonces(build_patrol_page(found, outline, chrome, _("Patrol %(id)s", id=patrol_id),
                                         static_url))
