"""Administration pages: users, units and people (administrators), responsibilities
(administrators and the officers who manage them in their area), and the audit log.

Each page reads its form with the same checks as the API and calls the same geo
functions; a refused form comes back filled in, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import Response as FlaskResponse
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from sqlalchemy.orm import joinedload

from geo import accounts, assignments, audit, directory, drawing, households, issues, placement, sheets
from geo.errors import N_, BadRequest, Forbidden, GridwalkError
from geo.models import ASSIGNMENT_KINDS, ROLES, Building, IssueCategory, Person, Unit, User
from geo.scope import MANAGE_ASSIGNMENTS
from geo.validate import Fields
from webmap import basemaps, db
from webmap.auth import login_required, scope
from webmap.i18n import message
from webmap.names import (kind_names, level_names, outcome_names, role_names, sheet_kind_names, sheet_summary,
                          unit_kind_names)
from webmap.validate_form import form_data, save_and_return

bp = Blueprint("admin", __name__, url_prefix="/admin")

Page = str | tuple[str, int] | Response


@bp.before_request
@login_required
def _managers_only() -> None:
    if g.user.role not in MANAGE_ASSIGNMENTS:
        scope().require_admin()  # raises: 403 in the one error shape


def field(name: str, label: str, kind: str = "text", value: Any = "", **extra: Any) -> dict[str, Any]:
    return {"name": name, "label": label, "kind": kind, "value": "" if value is None else value, **extra}


def _query(names: tuple[str, ...]) -> Fields:
    """The page's filters from the query string; other parameters (a tracking tag, the
    language switch) are not the page's business and are let be."""
    return Fields({k: v for k, v in request.args.items() if k in names}, names)


def _page_number() -> int:
    return Fields({"page": request.args.get("page")}, ("page",)).integer("page", maximum=10000) or 1


def _form_page(title: str, fields: list[dict[str, Any]], save: Callable[[dict[str, str]], Any],
               done: Callable[[Any], str], submit: str, template: str = "admin/form.html",
               **context: Any) -> Page:
    """Show a form; on POST save it, commit and go on, or show it again with the reason."""
    error, status = None, 200
    if request.method == "POST":
        posted = form_data()
        try:
            record = save(posted)
        except GridwalkError as exc:
            db.session().rollback()
            error, status = message(exc), exc.status
            for f in fields:
                if f["kind"] != "password":
                    f["value"] = posted.get(f["name"], f["value"])
        else:
            flash(_("Saved."), "ok")
            return redirect(done(record))
    return render_template(template, title=title, fields=fields, submit=submit, error=error,
                           **context), status


def _list_page(title: str, headings: list[str], rows: list[dict[str, Any]], new_url: str | None,
               **context: Any) -> str:
    return render_template("admin/list.html", title=title, headings=headings, rows=rows, new_url=new_url,
                           page=_page_number(), page_size=directory.PAGE_SIZE, filters=[], **context)


@bp.get("/")
def index() -> str:
    return render_template("admin/index.html", title=_("Administration"))


# --- users ------------------------------------------------------------------------------


@bp.get("/users")
def users() -> str:
    scope().require_admin()
    names = role_names()
    rows = [
        {"url": url_for("admin.user", user_id=u.id),
         "cells": [u.username, names[u.role], u.area.name if u.area else "—",
                   _("yes") if u.active else _("no")]}
        for u in directory.users(db.session(), request.args.get("q"), _page_number())
    ]
    return _list_page(_("Users"), [_("User name"), _("Role"), _("Area"), _("Active")], rows,
                      url_for("admin.new_user"))


def _user_fields(user: User | None) -> list[dict[str, Any]]:
    roles = [(r, role_names()[r]) for r in ROLES]
    fields = []
    if user is None:
        fields.append(field("username", _("User name"), required=True, max=64))
    fields += [
        field("role", _("Role"), "select", user.role if user else "grid", choices=roles, required=True),
        field("area_code", _("Area code"), value=user.area.code if user and user.area else "", max=64,
              help=_("The code of the area the user works in (empty for the whole county).")),
        field("password", _("New password") if user else _("Password"), "password", required=user is None,
              max=1024, help=_("At least 8 characters.") if user is None else _("Leave empty to keep it.")),
        field("email", _("E-mail"), "email", user.email if user else "", max=254,
              help=_("Notifications and the daily digest are mailed here.")),
    ]
    if user is not None:
        fields += [
            field("active", _("Active"), "select", "true" if user.active else "false",
                  choices=[("true", _("yes")), ("false", _("no"))]),
            field("version", "", "hidden", user.version),
        ]
    return fields


@bp.route("/users/new", methods=["GET", "POST"])
def new_user() -> Page:
    scope().require_admin()
    return _form_page(_("New user"), _user_fields(None),
                      lambda data: directory.save_user(db.session(), scope(), data),
                      lambda u: url_for("admin.users"), _("Create"))


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user(user_id: int) -> Page:
    scope().require_admin()
    found = directory.get(db.session(), User, user_id)
    return _form_page(_("User %(name)s", name=found.username), _user_fields(found),
                      lambda data: directory.save_user(db.session(), scope(), data, user_id),
                      lambda u: url_for("admin.users"), _("Save"), template="admin/user.html", user=found)


@bp.post("/users/<int:user_id>/logout")
def log_out_user(user_id: int) -> Response:
    """End every login of a user, e.g. when a phone is lost."""
    scope().require_admin()
    found = directory.get(db.session(), User, user_id)
    accounts.end_sessions(db.session(), found)
    accounts.revoke_tokens(db.session(), found)  # both write their own audit entries
    flash(_("Every login and API token of this user has ended."), "ok")
    return redirect(url_for("admin.user", user_id=user_id))


# --- units ------------------------------------------------------------------------------


@bp.get("/units")
def units() -> str:
    scope().require_admin()
    kinds = unit_kind_names()
    rows = [{"url": url_for("admin.unit", unit_id=u.id), "cells": [u.name, kinds.get(u.kind, u.kind), u.phone]}
            for u in directory.units(db.session(), request.args.get("q"), _page_number())]
    return _list_page(_("Units"), [_("Name"), _("Kind"), _("Phone")], rows, url_for("admin.new_unit"))


def _unit_fields(unit: Unit | None) -> list[dict[str, Any]]:
    fields = [
        field("name", _("Name"), value=unit.name if unit else "", required=True, max=200),
        field("kind", _("Kind"), "select", unit.kind if unit else "department",
              choices=[(k, unit_kind_names()[k]) for k in directory.UNIT_KINDS]),
        field("phone", _("Phone"), "tel", unit.phone if unit else "", max=32),
        field("webhook_url", _("Group robot webhook"), "url", unit.webhook_url if unit else "", max=500,
              help=_("A WeCom or DingTalk group robot's address: the unit's new, referred and overdue issues are posted there.")),
    ]
    if unit is not None:
        fields.append(field("version", "", "hidden", unit.version))
    return fields


@bp.route("/units/new", methods=["GET", "POST"])
def new_unit() -> Page:
    scope().require_admin()
    return _form_page(_("New unit"), _unit_fields(None),
                      lambda data: directory.save_unit(db.session(), scope(), data),
                      lambda u: url_for("admin.units"), _("Create"))


@bp.route("/units/<int:unit_id>", methods=["GET", "POST"])
def unit(unit_id: int) -> Page:
    scope().require_admin()
    found = directory.get(db.session(), Unit, unit_id)
    return _form_page(found.name, _unit_fields(found),
                      lambda data: directory.save_unit(db.session(), scope(), data, unit_id),
                      lambda u: url_for("admin.units"), _("Save"))


# --- people -----------------------------------------------------------------------------


@bp.get("/people")
def people() -> str:
    scope().require_admin()
    rows = [{"url": url_for("admin.person", person_id=p.id),
             "cells": [p.name, p.unit.name if p.unit else "—", p.title, p.phone,
                       _("yes") if p.is_party_member else _("no")]}
            for p in directory.people(db.session(), request.args.get("q"), None, _page_number())]
    return _list_page(_("People"), [_("Name"), _("Unit"), _("Title"), _("Phone"), _("Party member")], rows,
                      url_for("admin.new_person"))


def _unit_choices() -> list[tuple[str, str]]:
    return [("", "—")] + [(str(u.id), u.name) for u in directory.all_units(db.session())]


def _person_fields(person: Person | None) -> list[dict[str, Any]]:
    fields = [
        field("name", _("Name"), value=person.name if person else "", required=True, max=100),
        field("unit_id", _("Unit"), "select", person.unit_id if person else "", choices=_unit_choices()),
        field("title", _("Title"), value=person.title if person else "", max=100),
        field("phone", _("Phone"), "tel", person.phone if person else "", max=32),
        field("phone_public", _("Phone shown to the public (notice board, building code)"), "select",
              "true" if person is not None and person.phone_public else "false",
              choices=[("false", _("no")), ("true", _("yes"))]),
        field("is_party_member", _("Party member"), "select",
              "true" if person is None or person.is_party_member else "false",
              choices=[("true", _("yes")), ("false", _("no"))]),
    ]
    if person is not None:
        fields.append(field("version", "", "hidden", person.version))
    return fields


@bp.route("/people/new", methods=["GET", "POST"])
def new_person() -> Page:
    scope().require_admin()
    return _form_page(_("New person"), _person_fields(None),
                      lambda data: directory.save_person(db.session(), scope(), data),
                      lambda p: url_for("admin.people"), _("Create"))


@bp.route("/people/<int:person_id>", methods=["GET", "POST"])
def person(person_id: int) -> Page:
    scope().require_admin()
    found = directory.get(db.session(), Person, person_id)
    return _form_page(found.name, _person_fields(found),
                      lambda data: directory.save_person(db.session(), scope(), data, person_id),
                      lambda p: url_for("admin.people"), _("Save"))


# --- assignments ------------------------------------------------------------------------


@bp.get("/assignments", endpoint="assignments")
def assignments_page() -> str:
    filters = _query(("area_id", "building_id", "all"))
    found = assignments.listing(
        db.session(), scope(), area_id=filters.integer("area_id"), building_id=filters.integer("building_id"),
        current_only=not filters.boolean("all"), page=_page_number(),
    )
    kinds = kind_names()
    rows = [
        {"url": url_for("admin.assignment", assignment_id=a.id),
         "cells": [assignments.target_name(db.session(), a), kinds[a.kind], a.unit.name if a.unit else "—",
                   a.person.name if a.person else "—", a.post,
                   f"{a.valid_from.isoformat()} – {a.valid_to.isoformat() if a.valid_to else ''}"]}
        for a in found
    ]
    return _list_page(_("Responsibilities"),
                      [_("Responsible for"), _("Kind"), _("Unit"), _("Person"), _("Post"), _("Period")],
                      rows, url_for("admin.new_assignment"))



def _assignment_fields() -> list[dict[str, Any]]:
    kinds = kind_names()
    return [
        field("kind", _("Kind"), "select", "unit", choices=[(k, kinds[k]) for k in ASSIGNMENT_KINDS],
              required=True),
        field("area_id", _("Area id"), "number",
              help=_("Give one of area, building or household: the id shown on the map panel.")),
        field("building_id", _("Building id"), "number"),
        field("household_id", _("Household id"), "number"),
        field("unit_id", _("Unit"), "select", "", choices=_unit_choices()),
        field("person_id", _("Person id"), "number", help=_("The person's id, from the people list.")),
        field("post", _("Post"), max=200),
        field("duty", _("Duty"), "textarea", max=2000),
        field("target", _("Target"), "textarea", max=2000),
        field("valid_from", _("From"), "date"),
    ]


@bp.route("/assignments/new", methods=["GET", "POST"])
def new_assignment() -> Page:
    return _form_page(_("New responsibility"), _assignment_fields(),
                      lambda data: assignments.create(db.session(), scope(), data),
                      lambda a: url_for("admin.assignment", assignment_id=a.id), _("Create"))


@bp.route("/assignments/<int:assignment_id>", methods=["GET", "POST"])
def assignment(assignment_id: int) -> Page:
    found = assignments.one(db.session(), scope(), assignment_id)
    fields = [
        field("post", _("Post"), value=found.post, max=200),
        field("duty", _("Duty"), "textarea", found.duty, max=2000),
        field("target", _("Target"), "textarea", found.target, max=2000),
        field("version", "", "hidden", found.version),
    ]
    return _form_page(
        f"{kind_names()[found.kind]}: {assignments.target_name(db.session(), found)}", fields,
        lambda data: assignments.update(db.session(), scope(), assignment_id, data),
        lambda a: url_for("admin.assignment", assignment_id=a.id), _("Save"),
        template="admin/assignment.html", assignment=found,
    )


@bp.post("/assignments/<int:assignment_id>/end")
def end_assignment(assignment_id: int) -> Response:
    return save_and_return(lambda: assignments.end(db.session(), scope(), assignment_id, form_data()),
                           url_for("admin.assignment", assignment_id=assignment_id),
                           _("The responsibility has ended; it stays in the history."))


# --- issue categories -------------------------------------------------------------------


@bp.get("/categories")
def categories() -> str:
    scope().require_admin()
    rows = [{"url": url_for("admin.category", category_id=c.id),
             "cells": [c.name, c.code, c.position, _("yes") if c.active else _("no")]}
            for c in issues.categories(db.session(), active_only=False)]
    return _list_page(_("Issue categories"), [_("Name"), _("Code"), _("Order"), _("Active")], rows,
                      url_for("admin.new_category"))


def _category_fields(category: IssueCategory | None) -> list[dict[str, Any]]:
    fields = []
    if category is None:
        fields.append(field("code", _("Code"), required=True, max=32,
                            help=_("Stored with every issue and used as the Open311 service code.")))
    fields += [
        field("name", _("Name"), value=category.name if category else "", required=True, max=100),
        field("position", _("Order"), "number", category.position if category else 0),
        field("active", _("Active"), "select", "true" if category is None or category.active else "false",
              choices=[("true", _("yes")), ("false", _("no"))]),
    ]
    if category is not None:
        fields.append(field("version", "", "hidden", category.version))
    return fields


@bp.route("/categories/new", methods=["GET", "POST"])
def new_category() -> Page:
    scope().require_admin()
    return _form_page(_("New category"), _category_fields(None),
                      lambda data: issues.save_category(db.session(), scope(), data),
                      lambda c: url_for("admin.categories"), _("Create"))


@bp.route("/categories/<int:category_id>", methods=["GET", "POST"])
def category(category_id: int) -> Page:
    scope().require_admin()
    found = directory.get(db.session(), IssueCategory, category_id)
    return _form_page(found.name, _category_fields(found),
                      lambda data: issues.save_category(db.session(), scope(), data, category_id),
                      lambda c: url_for("admin.categories"), _("Save"))


# --- audit log --------------------------------------------------------------------------


@bp.get("/audit", endpoint="audit")
def audit_log() -> str:
    scope().require_admin()
    args = _query(("user", "table", "action", "record_id", "since", "until"))
    entries = audit.entries(
        db.session(),
        username=args.text("user", max_length=64) or None,
        table_name=args.text("table", max_length=64) or None,
        action=args.text("action", max_length=16) or None,
        record_id=args.integer("record_id"),
        since=args.date("since"),
        until=args.date("until"),
        page=_page_number(),
    )
    return render_template(
        "admin/audit.html", title=_("Audit log"), entries=entries, page=_page_number(),
        page_size=audit.PAGE_SIZE, tables=audit.TABLES, actions=audit.ACTIONS,
        tz=ZoneInfo(current_app.config["TIMEZONE"]),
    )



# --- buildings not yet in a grid --------------------------------------------------------


@bp.get("/buildings/waiting")
def waiting_buildings() -> str:
    """Buildings imported before their grids: what is left to draw or import."""
    session = db.session()
    page = _page_number()
    stmt = placement.not_yet_in_a_grid(scope()).options(joinedload(Building.area))
    found = session.scalars(stmt.limit(directory.PAGE_SIZE).offset((page - 1) * directory.PAGE_SIZE))
    levels = level_names()
    rows = [{"cells": [b.source_id or f"#{b.id}", b.name or "—", f"{b.area.name} · {levels[b.area.level]}"]}
            for b in found]
    return _list_page(
        _("Buildings not yet in a grid (%(count)s)", count=placement.count_not_yet_in_a_grid(session, scope())),
        [_("Source id"), _("Name"), _("Held for now by")], rows, None,
    )


# --- drawing grids and compounds ----------------------------------------------------------


@bp.get("/draw")
def draw_index() -> str:
    """Where one may draw: the communities (grids) and grids (compounds) in scope."""
    levels = level_names()
    rows = [{"url": url_for("admin.draw", parent_id=a.id), "cells": [a.name, levels[a.level], a.code]}
            for a in drawing.drawable_parents(db.session(), scope())]
    return _list_page(_("Draw grids and compounds"), [_("Name"), _("Level"), _("Code")], rows, None)


@bp.get("/draw/<int:parent_id>")
def draw(parent_id: int) -> str:
    context = drawing.drawing_context(db.session(), scope(), parent_id)
    return render_template(
        "admin/draw.html", title=_("Drawing in %(name)s", name=context["parent"]["name"]),
        context=context, level_name=level_names()[context["level"]],
        basemaps=basemaps.client(basemaps.configured(current_app.config)),
    )

# --- spreadsheets in --------------------------------------------------------------------

# Who imports: the county's and the townships' administrators (units and people stay the
# administrators', as their forms are: geo.sheets.check_kind).
IMPORTERS = frozenset({"admin", "county", "township"})
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _importers_only() -> None:
    if g.user.role not in IMPORTERS:
        raise Forbidden(N_("only the county's and the townships' administrators import spreadsheets"))


def _import_page(error: str | None = None, status: int = 200, **values: Any) -> Page:
    return render_template("admin/import.html", title=_("Import spreadsheets"), kinds=sheet_kind_names(),
                           error=error, values=values, max_mb=sheets.MAX_BYTES // (1024 * 1024)), status


@bp.get("/import", endpoint="import_sheets")
def import_sheets() -> Page:
    _importers_only()
    return _import_page()


def _uploaded_sheet() -> tuple[str, bytes]:
    unknown = set(request.files) - {"file"}
    if unknown:
        raise BadRequest(N_("unknown field: %(field)s"), code="unknown_field", field=sorted(unknown)[0][:40])
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise BadRequest(N_("choose a file to import"), code="missing_file")
    try:
        data = upload.stream.read(sheets.MAX_BYTES + 1)  # one byte past the limit tells it is too large
    finally:
        upload.close()
    return upload.filename, data


@bp.post("/import")
def check_sheet() -> Page:
    """The dry run of an upload: every row's fate, and a button that writes it."""
    _importers_only()
    session = db.session()
    posted = form_data()
    try:
        fields = Fields(posted, ("kind", "sheet"))
        kind = fields.choice("kind", sheets.KINDS, required=True) or ""
        sheet_name = fields.text("sheet", max_length=100) or None
        sheets.check_kind(scope(), kind)
        filename, data = _uploaded_sheet()
        report = sheets.import_sheet(session, scope(), kind, sheets.read(data, filename, sheet_name))
    except GridwalkError as exc:
        session.rollback()
        return _import_page(message(exc), exc.status, **posted)
    session.rollback()  # the dry run's rows are gone already; nothing else may stay either
    token = sheets.stash(session, g.user.id, kind, filename, data) if report.accepted else None
    return _report_page(report, filename, token, sheet_name)


def _report_page(report: sheets.SheetReport, filename: str, token: str | None, sheet_name: str | None,
                 error: str | None = None, status: int = 200) -> Page:
    return render_template(
        "admin/import_report.html", title=_("Import: %(kind)s", kind=sheet_kind_names()[report.kind]),
        report=report, filename=filename, token=token, sheet_name=sheet_name or "", summary=sheet_summary(report),
        outcomes=outcome_names(), reasons=[message(r.error) for r in report.refused], error=error,
        shown=500,
    ), status


@bp.post("/import/write")
def write_sheet() -> Page:
    """Write a checked upload: every row, or none if any is refused (unless skip_bad)."""
    _importers_only()
    session = db.session()
    fields = Fields(form_data(), ("token", "sheet", "skip_bad"))
    upload = sheets.unstash(session, g.user.id, fields.text("token", max_length=100, required=True))
    skip_bad = fields.boolean("skip_bad")
    sheet_name = fields.text("sheet", max_length=100) or None
    try:
        report = sheets.import_sheet(session, scope(), upload.kind, sheets.read(upload.data, upload.filename, sheet_name),
                                     write=True, skip_bad=skip_bad)
    except GridwalkError as exc:
        session.rollback()
        return _import_page(message(exc), exc.status)
    if not report.written:
        session.rollback()
        return _report_page(report, upload.filename, fields.text("token", max_length=100), sheet_name, error=_(
            "Nothing was written: %(refused)s rows were refused. Correct them and upload the file again, "
            "or write only the accepted rows.", refused=len(report.refused)), status=400)
    sheets.log_import(session, report, upload.filename, skip_bad=skip_bad)
    session.delete(upload)
    flash(_("Written: %(summary)s", summary=sheet_summary(report)), "ok")
    return redirect(url_for("admin.import_sheets"))


@bp.get("/import/template/<kind>.xlsx")
def sheet_template(kind: str) -> FlaskResponse:
    _importers_only()
    if kind not in sheets.KINDS:
        raise BadRequest(N_("%(field)s must be one of %(choices)s"), field="kind", choices=", ".join(sheets.KINDS))
    response = FlaskResponse(sheets.template(kind), mimetype=_XLSX)
    response.headers["Content-Disposition"] = f"attachment; filename=gridwalk-{kind}-template.xlsx"
    return response


@bp.post("/import/households")
def generate_households() -> Page:
    """Every household of a building from its units × floors × rooms per floor."""
    _importers_only()
    session = db.session()
    posted = form_data()
    try:
        fields = Fields(posted, ("building", "units", "floors", "rooms"))
        building = households.building_by_ref(session, fields.text("building", max_length=128, required=True))
        made = households.generate(
            session, scope(), building,
            units=fields.integer("units", required=True, maximum=households.MAX_UNITS) or 0,
            floors=fields.integer("floors", required=True, maximum=households.MAX_FLOORS) or 0,
            rooms=fields.integer("rooms", required=True, maximum=households.MAX_ROOMS) or 0,
        )
    except GridwalkError as exc:
        session.rollback()
        return _import_page(message(exc), exc.status, **posted)
    flash(_("%(created)s households added, %(existing)s already there", created=made.created,
            existing=made.existing), "ok")
    return redirect(url_for("admin.import_sheets"))
