"""Layers and lists as tables for export: named columns, one row per record, and each row's
geometry as WKB (or None). Scoped and masked as the map and the list pages show them; the
web layer writes the table as GeoJSON, GeoPackage, CSV or XLSX.

Unlike the map's layers an export is not capped by the viewport: it has every row in the
user's scope (within a bbox when one is given), up to EXPORT_LIMIT rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo import coverage as coverage_domain
from geo import issues as issues_domain
from geo.errors import N_, BadRequest
from geo.features import BBox
from geo.models import AREA_LEVELS, Area, Building, Issue, Person, Unit
from geo.scope import Scope, mask_phone

# A county has ~100k buildings; an export larger than this is refused rather than cut.
EXPORT_LIMIT = 200_000
LAYERS = ("areas", "buildings", "issues", "coverage", "people", "units")


@dataclass(frozen=True)
class Column:
    key: str  # the field name in GeoJSON and GeoPackage
    heading: str  # a message id: the column's heading in CSV and XLSX
    kind: str = "str"  # str, int, float or bool: the GeoPackage field type


@dataclass
class Table:
    name: str  # the file's name, before the date
    title: str  # a message id: the sheet's name
    columns: Sequence[Column]
    rows: list[Sequence[Any]]
    # The rows' geometries as WKB, in the same order; None for a list without geometry.
    geometry_type: str | None = None
    geometries: list[bytes | None] = field(default_factory=list)


def _capped(rows: Iterable[Any]) -> list[Any]:
    out = []
    for row in rows:
        out.append(row)
        if len(out) > EXPORT_LIMIT:
            raise BadRequest(
                N_("an export has at most %(limit)s rows: narrow it with a bbox, a level or filters"),
                code="export_too_large", limit=EXPORT_LIMIT,
            )
    return out


def _split(name: str, title: str, columns: Sequence[Column], found: list[Any], geometry_type: str) -> Table:
    """Rows whose last value is the geometry's WKB, as a Table."""
    return Table(name, title, columns, [tuple(r[:-1]) for r in found], geometry_type,
                 [bytes(r[-1]) if r[-1] is not None else None for r in found])


def _within(column: Any, bbox: BBox) -> Any:
    return func.ST_Intersects(column, bbox.envelope())


AREA_COLUMNS = (
    Column("id", "#", "int"), Column("code", N_("Code")), Column("name", N_("Name")),
    Column("level", N_("Level")), Column("parent_id", N_("Parent"), "int"),
)


def areas(session: Session, scope: Scope, level: str | None, bbox: BBox | None) -> Table:
    """The areas the map shows the user (their subtree and the outlines above it)."""
    if level is not None and level not in AREA_LEVELS:
        raise BadRequest(N_("level must be one of %(levels)s"), levels=", ".join(AREA_LEVELS))
    stmt = select(Area.id, Area.code, Area.name, Area.level, Area.parent_id, func.ST_AsBinary(Area.geom)).where(
        scope.outlines(Area.id))
    if bbox is not None:
        stmt = stmt.where(Area.geom.op("&&")(bbox.envelope()), _within(Area.geom, bbox))
    if level is not None:
        stmt = stmt.where(Area.level == level)
    found = _capped(session.execute(stmt.order_by(Area.id).limit(EXPORT_LIMIT + 1)))
    return _split(f"areas-{level}" if level else "areas", N_("Areas"), AREA_COLUMNS, found, "MultiPolygon")


BUILDING_COLUMNS = (
    Column("id", "#", "int"), Column("source_id", N_("Source id")), Column("name", N_("Name")),
    Column("address", N_("Address")), Column("floors", N_("Floors"), "int"), Column("use", N_("Use")),
    Column("area_id", N_("Area id"), "int"), Column("area", N_("Area")),
)


def buildings(session: Session, scope: Scope, bbox: BBox | None) -> Table:
    stmt = (
        select(Building.id, Building.source_id, Building.name, Building.address, Building.floors, Building.use,
               Building.area_id, Area.name, func.ST_AsBinary(Building.geom))
        .outerjoin(Area, Area.id == Building.area_id)
        .where(scope.reads(Building.area_id))
    )
    if bbox is not None:
        stmt = stmt.where(Building.geom.op("&&")(bbox.envelope()), _within(Building.geom, bbox))
    found = _capped(session.execute(stmt.order_by(Building.id).limit(EXPORT_LIMIT + 1)))
    return _split("buildings", N_("Buildings"), BUILDING_COLUMNS, found, "MultiPolygon")


ISSUE_COLUMNS = (
    Column("id", "#", "int"), Column("reported_at", N_("Reported at")), Column("category", N_("Category")),
    Column("status", N_("State")), Column("description", N_("What is wrong")), Column("area", N_("Area")),
    Column("building", N_("Building")), Column("unit", N_("Unit")), Column("deadline", N_("Deadline")),
    Column("closed_at", N_("Closed")), Column("reporter", N_("Reported by")), Column("overdue", N_("Overdue"), "bool"),
)


def issues(session: Session, scope: Scope, filters: issues_domain.Filters, bbox: BBox | None,
           tz: dt.tzinfo, status_names: dict[str, str] | None = None) -> Table:
    """The issue list's rows (same filters, same order) with each issue's point."""
    names = status_names or {}

    def when(value: dt.datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""

    rows = issues_domain.each_row(session, scope, filters, limit=EXPORT_LIMIT + 1, with_geometry=True,
                                  within=bbox.envelope() if bbox is not None else None)
    found = _capped(
        (r["id"], when(r["reported_at"]), r["category"], names.get(r["status"], r["status"]), r["description"],
         r["area"], r["building"], r["unit"], r["deadline"].isoformat() if r["deadline"] else "",
         when(r["closed_at"]), r["reporter"], bool(r["overdue"]), r["wkb"])
        for r in rows
    )
    return _split("issues", N_("Issues"), ISSUE_COLUMNS, found, "Point")


COVERAGE_COLUMNS = (
    Column("id", "#", "int"), Column("name", N_("Name")), Column("level", N_("Level")),
    Column("households", N_("Households"), "int"), Column("visited", N_("Visited"), "int"),
    Column("share", N_("Share"), "float"), Column("last_visit", N_("Last visit")),
    Column("since", N_("Since")), Column("until", N_("Until")),
)


def coverage(session: Session, scope: Scope, level: str, since: dt.date, until: dt.date,
             bbox: BBox | None, area_id: int | None = None) -> Table:
    """Coverage per place of `level` (as GET /api/v1/coverage), with each place's polygon."""
    places = coverage_domain.coverage(session, scope, level, since, until, bbox=bbox, area_id=area_id)
    _capped(places)
    model: Any = Building if level == "building" else Area
    ids = [p["id"] for p in places]
    shapes = dict(session.execute(select(model.id, func.ST_AsBinary(model.geom)).where(model.id.in_(ids))).all())
    found = [
        (p["id"], p["name"], p["level"], p["households"], p["visited"], p["share"], p["last_visit"] or "",
         since.isoformat(), until.isoformat(), shapes.get(p["id"]))
        for p in places
    ]
    return _split(f"coverage-{level}", N_("Coverage"), COVERAGE_COLUMNS, found, "MultiPolygon")


PEOPLE_COLUMNS = (
    Column("id", "#", "int"), Column("name", N_("Name")), Column("unit", N_("Unit")), Column("title", N_("Title")),
    Column("phone", N_("Phone")), Column("is_party_member", N_("Party member"), "bool"),
)


def people(session: Session, scope: Scope) -> Table:
    """The people directory: phones whole only for whom the directory shows them whole."""
    whole = scope.sees_every_phone
    found = _capped(
        (r.id, r.name, r.unit or "", r.title, r.phone if whole else mask_phone(r.phone), r.is_party_member)
        for r in session.execute(
            select(Person.id, Person.name, Unit.name.label("unit"), Person.title, Person.phone, Person.is_party_member)
            .outerjoin(Unit, Unit.id == Person.unit_id).order_by(Person.name, Person.id)
            .limit(EXPORT_LIMIT + 1)
        )
    )
    return Table("people", N_("People"), PEOPLE_COLUMNS, found)


UNIT_COLUMNS = (Column("id", "#", "int"), Column("name", N_("Name")), Column("kind", N_("Kind")),
                Column("phone", N_("Phone")))


def units(session: Session) -> Table:
    """The units directory; a unit's phone is its office's, shown to everyone."""
    found = _capped(session.execute(
        select(Unit.id, Unit.name, Unit.kind, Unit.phone).order_by(Unit.name).limit(EXPORT_LIMIT + 1)))
    return Table("units", N_("Units"), UNIT_COLUMNS, [tuple(r) for r in found])
