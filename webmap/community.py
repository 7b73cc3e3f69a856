"""Community pages: the dashboard of a community or grid (weekly coverage, issues, wishes,
members behind, where nobody has been), micro-wishes, the year's accountability, the
volunteers' ranking and a person's page. Every table downloads as CSV or XLSX."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import (
    Blueprint,
    Response,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import aliased
from werkzeug.wrappers import Response as WerkzeugResponse

from geo import accountability, coverage, directory, issues, responsibility, visits
from geo.db import county_today
from geo.models import Area, Person, ServiceRecord
from geo.validate import Fields
from webmap import db
from webmap.auth import login_required, scope
from webmap.exports import download
from webmap.names import level_names, wish_status_names, work_names
from webmap.validate_form import form_data, save_and_return, uploaded_photos

bp = Blueprint("community", __name__)
SHOWN_ROWS = 20
EXPORT_ROWS = 100_000


@bp.before_request
@login_required
def _logged_in() -> None:
    return None


def _query(names: tuple[str, ...]) -> Fields:
    return Fields({k: v for k, v in request.args.items() if k in names}, names)


def _year(args: Fields) -> int:
    return args.integer("year", minimum=2000, maximum=2100) or county_today(db.session()).year


def _export(args: Fields) -> str | None:
    return args.choice("format", ("csv", "xlsx"))


# --- the dashboard ------------------------------------------------------------------------


@bp.get("/dashboard")
def dashboard() -> str | Response | WerkzeugResponse:
    args = _query(("area_id", "table", "format", "days"))
    area_id = args.integer("area_id") or g.user.area_id
    if area_id is None:
        if not scope().county_wide and g.user.person_id:
            return redirect(url_for("community.person", person_id=g.user.person_id))
        # County-wide users start at the first community.
        first = db.session().scalar(select(Area.id).where(Area.level == "community").order_by(Area.code))
        if first is None or not scope().county_wide:
            return render_template("dashboard.html", title=_("Dashboard"), card=None)
        return redirect(url_for("community.dashboard", area_id=first))
    today = county_today(db.session())
    weeks = coverage.weekly(db.session(), scope(), area_id, 12, today)  # 404 outside the user's area
    card = responsibility.area_card(db.session(), area_id, scope())
    month = coverage.coverage(db.session(), scope(), card["level"], today - dt.timedelta(days=29), today,
                              area_id=area_id) if card["level"] in coverage.LEVELS else []
    days = args.integer("days", minimum=1, maximum=3650) or 30
    fmt = _export(args)
    if fmt:
        return _dashboard_table(args.choice("table", ("behind", "not_visited", "wishes"), required=True) or "",
                                fmt, area_id, days, today)
    behind = accountability.behind(db.session(), scope(), today.year, area_id=area_id)
    # The page shows the longest-unvisited few and the latest wishes; downloads have them all.
    lonely = coverage.not_visited(db.session(), scope(), days, today, area_id=area_id, limit=SHOWN_ROWS)
    open_wishes = visits.wishes(db.session(), scope(), status="open", area_id=area_id, page_size=SHOWN_ROWS)
    open_filter = issues.Filters(statuses=("open",), area_id=area_id)
    overdue_filter = issues.Filters(statuses=("open",), area_id=area_id, overdue_only=True)
    children = db.session().execute(
        select(Area.id, Area.name, Area.level).where(Area.parent_id == area_id, scope().reads(Area.id))
        .order_by(Area.name)
    ).all()
    return render_template(
        "dashboard.html", title=_("Dashboard"), card=card, children=children, days=days, level_names=level_names(),
        weeks=weeks, month=month[0] if month else None,
        open_issues=issues.count(db.session(), scope(), open_filter),
        overdue_issues=issues.count(db.session(), scope(), overdue_filter),
        wish_counts=visits.wish_counts(db.session(), scope(), area_id, dt.date(today.year, 1, 1)),
        behind=behind, not_visited=lonely, open_wishes=open_wishes, shown_rows=SHOWN_ROWS,
        own_only=scope().role in accountability.OWN_RECORD_ONLY,
    )


def _dashboard_table(table: str, fmt: str, area_id: int, days: int, today: dt.date) -> Response:
    if table == "behind":
        rows = accountability.behind(db.session(), scope(), today.year, area_id=area_id, limit=EXPORT_ROWS)
        return download("behind", _("Members behind"), [_("Name"), _("Title"), _("Unit"), _("Sessions"), _("Hours")],
                        ([r["name"], r["title"], r["group"], r["sessions"], r["hours"]] for r in rows), fmt)
    if table == "not_visited":
        rows = coverage.not_visited(db.session(), scope(), days, today, area_id=area_id, limit=EXPORT_ROWS)
        return download("not-visited", _("Not visited"), [_("Building"), _("Household"), _("Last visit"), _("Days")],
                        ([r["building"], r["address"] or "", r["last_visit"] or "", r["days"] or ""] for r in rows), fmt)
    rows = visits.wishes(db.session(), scope(), status="open", area_id=area_id, page_size=EXPORT_ROWS)
    return download("wishes", _("Micro-wishes"), [_("Wish"), _("Building"), _("Household"), _("Raised")],
                    ([w["title"], w["building"], w["address"] or "", w["raised_on"]] for w in rows), fmt)


# --- micro-wishes -------------------------------------------------------------------------


@bp.get("/wishes")
def wishes() -> str | Response:
    args = _query(("status", "overdue", "area_id", "format", "page"))
    status = args.choice("status", ("open", "claimed", "fulfilled", "withdrawn"))
    page = args.integer("page", minimum=1, maximum=10_000) or 1
    fmt = _export(args)
    # A download has every wish the filters select, not the page.
    found = visits.wishes(db.session(), scope(), status=status, area_id=args.integer("area_id"),
                          overdue_only=args.boolean("overdue"), page=1 if fmt else page,
                          page_size=EXPORT_ROWS if fmt else visits.PAGE_SIZE)
    if fmt:
        return download("wishes", _("Micro-wishes"),
                        [_("Wish"), _("State"), _("Building"), _("Household"), _("Raised"), _("Claimed by"),
                         _("Promised"), _("Fulfilled"), _("Rating")],
                        ([w["title"], w["status"], w["building"], w["address"] or "", w["raised_on"], w["claimed_by"] or "",
                          w["promised_on"] or "", w["fulfilled_on"] or "", w["rating"] or ""] for w in found), fmt)
    return render_template("wishes.html", title=_("Micro-wishes"), wishes=found, today=county_today(db.session()),
                           status_names=wish_status_names(), units=directory.all_units(db.session()),
                           may_change=scope().role != "viewer", page=page, page_size=visits.PAGE_SIZE)


@bp.post("/wishes/<int:wish_id>/<step>")
def wish_step(wish_id: int, step: str) -> WerkzeugResponse:
    files = uploaded_photos if request.mimetype == "multipart/form-data" else list
    back = (request.referrer if request.referrer and request.referrer.startswith(request.host_url)
            else url_for("community.wishes"))
    return save_and_return(lambda: visits.wish_step(db.session(), scope(), wish_id, step, form_data(), files()),
                           back)


# --- accountability and volunteers --------------------------------------------------------


@bp.get("/accountability", endpoint="accountability")
def accountability_page() -> str | Response:
    args = _query(("year", "group", "format"))
    year, group = _year(args), args.choice("group", ("unit", "community")) or "unit"
    fmt = _export(args)
    found = accountability.behind(db.session(), scope(), year, group=group, limit=EXPORT_ROWS if fmt else 500)
    if fmt:
        return download("behind", _("Members behind"),
                        [_("Unit") if group == "unit" else _("Community"), _("Name"), _("Title"), _("Sessions"),
                         _("Hours")],
                        ([r["group"], r["name"], r["title"], r["sessions"], r["hours"]] for r in found), fmt)
    return render_template("accountability.html", title=_("Annual accountability"), rows=found, year=year,
                           group=group, required=accountability,
                           own_only=scope().role in accountability.OWN_RECORD_ONLY)


@bp.get("/volunteers")
def volunteers() -> str | Response:
    args = _query(("format",))
    fmt = _export(args)
    found = accountability.ranking(db.session(), scope(), limit=EXPORT_ROWS if fmt else 100)
    if fmt:
        return download("volunteers", _("Volunteers"), [_("Name"), _("Unit"), _("Hours"), _("Stars")],
                        ([r["name"], r["unit"], r["hours"], r["stars"]] for r in found), fmt)
    return render_template("volunteers.html", title=_("Volunteers"), rows=found)


@bp.get("/people/<int:person_id>")
def person(person_id: int) -> str:
    args = _query(("year", "days"))
    summary = accountability.summary(db.session(), scope(), person_id, _year(args))  # 404 outside the area
    days = args.integer("days", minimum=1, maximum=3650) or 30
    verifier = aliased(Person)
    records = db.session().execute(
        select(ServiceRecord.served_on, ServiceRecord.activity, ServiceRecord.hours, verifier.name.label("verified_by"))
        .outerjoin(verifier, verifier.id == ServiceRecord.verified_by_id)
        .where(ServiceRecord.person_id == person_id)
        .order_by(ServiceRecord.served_on.desc(), ServiceRecord.id.desc()).limit(20)
    ).all()
    communities = db.session().execute(
        select(Area.id, Area.name).where(Area.level == "community", scope().reads(Area.id)).order_by(Area.name)
    ).all()
    return render_template(
        "person.html", title=summary["person"]["name"], summary=summary, records=records, days=days,
        not_visited=coverage.not_visited(db.session(), scope(), days, county_today(db.session()), person_id=person_id, limit=100),
        communities=communities, work_names=work_names(), may_record=scope().role in accountability.RECORDERS,
        may_register=scope().role in accountability.REGISTRARS, version=db.session().get(Person, person_id).version,  # type: ignore[union-attr]
    )


def _save(person_id: int, write: Callable[[], object]) -> WerkzeugResponse:
    return save_and_return(write, url_for("community.person", person_id=person_id))


@bp.post("/people/<int:person_id>/service")
def add_service(person_id: int) -> WerkzeugResponse:
    return _save(person_id, lambda: accountability.record_service(
        db.session(), scope(), dict(form_data(), person_id=str(person_id))))


@bp.post("/people/<int:person_id>/registration")
def registration(person_id: int) -> WerkzeugResponse:
    return _save(person_id, lambda: accountability.register(db.session(), scope(), person_id, form_data()))
