"""GeoJSON imports of areas and buildings (`gridwalk import areas|buildings`).

Every feature is checked and brought to WGS 84 through `geo.geometry`. A feature that fails
a check is skipped and reported with its reason; the others are written. These functions
flush, never commit: the caller owns the transaction, so a file lands whole (minus its
rejected features) or, if anything crashes midway, not at all.

Features go to the database in chunks of 2000, each sent as arrays: per chunk one query
has PostGIS confirm the shapes are valid, one finds the areas under every feature's
representative point, one finds the records a re-import updates, then one INSERT and one
UPDATE. 100k buildings cost about 250 round trips, not 100k.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import GeometryCollection, MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    LargeBinary,
    Table,
    Text,
    bindparam,
    cast,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Session

from geo import geometry, gisfiles, placement
from geo.errors import N_, BadRequest, GridwalkError
from geo.models import AREA_DEPTH, AREA_LEVELS, Area, Building

Progress = Callable[[int, int], None]

CHUNK_SIZE = 2000
# How far an area may stick out of its parent. Boundaries digitised from different sources
# disagree by some metres along their edges: for a large area that is a tiny share of it, for
# a small compound on its grid's edge a strip a few metres wide can be several per cent. So an
# area is tolerated if at most 1 % of it lies outside, or if no part reaches more than 20 m
# beyond the parent's edge. An area under the wrong parent, or left in GCJ-02 (≈550 m off),
# fails both.
OUTSIDE_PARENT_SHARE = 0.01
OUTSIDE_PARENT_METRES = 20
# A building imported without an id is the one already standing there (and imported without
# an id too) when the two footprints overlap by at least this much of their union.
SAME_FOOTPRINT = 0.5
# A degree of latitude; a degree of longitude is shorter (96 km at 宣恩), so the strip is at
# most 20 m wide whichever way it faces.
METRES_PER_DEGREE = 111_320
DATUMS = ("wgs84", "gcj02")
INVALID_GEOJSON = "invalid_geojson"



@dataclass
class Rejection:
    """A skipped feature: its label (id or #position) and the error that says why."""

    label: str
    error: GridwalkError

    @property
    def reason(self) -> str:
        return str(self.error)


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    seconds: float = 0.0
    # Buildings: how many of the accepted ones wait for their grid (held by a community,
    # township or the county). Areas: how many buildings moved into the areas imported.
    waiting: int = 0
    moved: int = 0

    @property
    def accepted(self) -> int:
        return self.created + self.updated


# --- reading the file ---------------------------------------------------------------------

GEOJSON_SUFFIXES = (".geojson", ".json")


def read_path(path: Path, *, layer: str | None = None, encoding: str | None = None) -> Sequence[Any]:
    """The features of a GeoJSON file, or of one layer of any other GIS file
    (`geo.gisfiles`), ready for import_areas and import_buildings."""
    if path.suffix.lower() in GEOJSON_SUFFIXES:
        if layer is not None:
            raise BadRequest(N_("a GeoJSON file has one layer: leave out --layer"), code="unexpected_layer")
        return read_features(path.read_bytes())
    return gisfiles.read(path, layer=layer, encoding=encoding)



def read_features(data: bytes) -> list[dict[str, Any]]:
    """The Features of a GeoJSON FeatureCollection, list of Features or single Feature.

    A collection's legacy "crs" member is checked here (an unknown CRS refuses the whole
    file) and copied onto each of its features that has none of its own, so every feature
    says which coordinates it is in. Anything that is not GeoJSON features refuses the file.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest(
            N_("the file is not UTF-8 text, as GeoJSON must be"), code=INVALID_GEOJSON
        ) from None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(
            N_("the file is not valid JSON: %(reason)s"), code=INVALID_GEOJSON, reason=str(exc)[:200]
        ) from None

    crs: Any = None
    if isinstance(document, dict) and document.get("type") == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            raise BadRequest(
                N_("the FeatureCollection has no list of features"), code=INVALID_GEOJSON
            )
        crs = document.get("crs")
    elif isinstance(document, dict) and document.get("type") == "Feature":
        features = [document]
        crs = document.get("crs")
    elif isinstance(document, list):
        features = document
    elif isinstance(document, dict) and isinstance(document.get("type"), str):
        raise BadRequest(
            N_("the file holds a %(type)s, not features: expected a FeatureCollection, "
               "a Feature or a list of Features"),
            code=INVALID_GEOJSON,
            type=document["type"][:40],
        )
    else:
        raise BadRequest(
            N_("the file is not GeoJSON: expected a FeatureCollection, a Feature or a list of Features"),
            code=INVALID_GEOJSON,
        )

    for index, feature in enumerate(features):
        if not (isinstance(feature, dict) and feature.get("type") == "Feature"):
            raise BadRequest(
                N_("item #%(index)s of the file is not a GeoJSON Feature"),
                code=INVALID_GEOJSON,
                index=index + 1,
            )
    if crs is not None:
        _check_crs(crs)
        for feature in features:
            feature.setdefault("crs", crs)
    return features


def _check_crs(crs: Any) -> None:
    try:
        geometry.crs_kind(crs)
    except GridwalkError as error:
        raise BadRequest(error.message, code="unsupported_crs", **error.params) from None


# --- checking one feature -----------------------------------------------------------------


class _Rejected(Exception):
    """A feature is skipped: why, and under which label it is reported."""

    def __init__(self, label: str, error: GridwalkError) -> None:
        super().__init__(str(error))
        self.label = label
        self.error = error


@dataclass
class _Candidate:
    """A feature that passed the checks, ready to be written."""

    index: int  # position in the file, from 0
    key: str | None  # area code or building source id
    name: str
    geom: MultiPolygon
    properties: dict[str, Any]
    area_id: int | None = None  # parent (areas) or holding area (buildings)
    existing_id: int | None = None  # the record a re-import updates
    wkb: bytes = b""  # the final shape, as it is sent to the database

    @property
    def label(self) -> str:
        return self.key if self.key is not None else _index_label(self.index)


def _index_label(index: int) -> str:
    # Features without an id are named by their position, counting from 1.
    return f"#{index + 1}"


def _candidate(
    feature: Any,
    index: int,
    *,
    id_field: str | None,
    id_required: bool,
    key_length: int,
    name_field: str,
    name_length: int,
) -> _Candidate:
    label = _index_label(index)
    try:
        if isinstance(feature, gisfiles.SourceFeature):
            feature_id, properties = feature.id, feature.properties
        else:
            if not (isinstance(feature, dict) and feature.get("type") == "Feature"):
                raise BadRequest(N_("not a GeoJSON Feature"))
            feature_id, properties = feature.get("id"), feature.get("properties")
        if properties is None:
            properties = {}
        if not isinstance(properties, dict):
            raise BadRequest(N_("its properties are not a JSON object"))
        key = _key(feature_id, properties, id_field, id_required, key_length)
        if key is not None:
            label = key
        geom = _lonlat_multipolygon(feature)
        name = _name(properties, name_field, name_length)
    except GridwalkError as error:
        raise _Rejected(label, error) from None
    return _Candidate(index=index, key=key, name=name, geom=geom, properties=_json_safe(properties))


def _key(
    feature_id: Any, properties: dict[str, Any], id_field: str | None, required: bool, length: int
) -> str | None:
    # With --id-field the id comes from that property only: falling back to the feature id
    # for some features would mix two numbering schemes in one file.
    value = properties.get(id_field) if id_field else feature_id
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)  # 422825.0 is the same code as 422825
    if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
        raise BadRequest(N_("its id is not a string or a whole number"))
    key = _clean_text(str(value)).strip() if value is not None else ""
    if not key:
        if not required:
            return None
        if id_field:
            raise BadRequest(N_("no id: property %(field)s is missing or empty"), field=id_field)
        raise BadRequest(N_("no id: the feature has no \"id\" (name the id property with --id-field)"))
    if len(key) > length:
        raise BadRequest(N_("its id is longer than %(length)s characters"), length=length)
    return key


def _name(properties: dict[str, Any], name_field: str, length: int) -> str:
    value = properties.get(name_field)
    if value is None or isinstance(value, dict | list):
        return ""
    name = _clean_text(str(value)).strip()
    if len(name) > length:
        raise BadRequest(N_("its name is longer than %(length)s characters"), length=length)
    return name


def _lonlat_multipolygon(feature: dict[str, Any] | gisfiles.SourceFeature) -> MultiPolygon:
    """The feature's shape in lon/lat, checked in the file's own datum, so that a swapped or
    broken shape is reported as such rather than as whatever a datum shift made of it."""
    if isinstance(feature, gisfiles.SourceFeature):
        if feature.geom is None:
            raise feature.problem or BadRequest(N_("geometry is missing or cannot be read"))
        if feature.checked:
            return feature.geom  # type: ignore[return-value]
        return geometry.as_multipolygon(feature.geom)
    geom = geometry.from_geojson(feature.get("geometry"))
    if geometry.crs_kind(feature.get("crs")) == "mercator":
        geom = geometry.web_mercator_to_wgs84(geom)
    return geometry.as_multipolygon(geom)


def _length(column: Any) -> int:
    # Longer ids and names are refused rather than cut: a cut id would match the wrong record.
    return int(column.type.length)


def _clean_text(text: str) -> str:
    # PostgreSQL stores neither NUL characters nor lone UTF-16 surrogates (JSON allows both).
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _json_safe(value: Any) -> Any:
    """`value` as PostgreSQL's jsonb accepts it: NaN and infinities (which Python's json
    reads) become null, text loses what jsonb cannot hold."""
    if isinstance(value, dict):
        return {_clean_text(str(k)): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class _FileImport:
    """The bookkeeping of one file: its report, the rejections in file order, and the ids
    already seen, so that an id used twice is imported once (its first feature) and
    reported for the others."""

    def __init__(self, session: Session, *, datum: str, **options: Any) -> None:
        self.started = time.monotonic()
        self.report = ImportReport()
        self.session = session
        self.datum = datum
        self.options = options
        self.rejections: list[tuple[int, Rejection]] = []
        self.first_seen: dict[str, int] = {}

    def check(self, features: Sequence[Any], start: int) -> list[_Candidate]:
        """The chunk's features that pass every check, in WGS 84; the rest are rejected."""
        checked = []
        for offset, feature in enumerate(features):
            try:
                checked.append(_candidate(feature, start + offset, **self.options))
            except _Rejected as rejected:
                self.rejections.append((start + offset, Rejection(rejected.label, rejected.error)))
        if self.datum == "gcj02":
            checked = self._from_gcj02(checked)
        checked = self._valid_in_postgis(checked)
        candidates = []
        for candidate in checked:
            index = candidate.index
            # An id used twice is one building twice; without ids, so is one footprint twice
            # (a NUL cannot start an id, so the two never meet).
            seen = candidate.key if candidate.key is not None else "\x00" + hashlib.sha256(candidate.wkb).hexdigest()
            first = self.first_seen.setdefault(seen, index)
            if first != index:
                self.reject(candidate, BadRequest(
                    N_("its id is used again in this file (first by feature #%(first)s); "
                       "only the first is imported") if candidate.key is not None else
                    N_("the same footprint appears again in this file (first as feature #%(first)s); "
                       "only the first is imported"),
                    first=first + 1,
                ))
                continue
            candidates.append(candidate)
        return candidates

    def _from_gcj02(self, candidates: list[_Candidate]) -> list[_Candidate]:
        # One conversion for the whole chunk: the iterative GCJ-02 inversion costs about the
        # same for one building as for thousands.
        if not candidates:
            return []
        shifted = geometry.gcj02_to_wgs84(GeometryCollection([c.geom for c in candidates]))
        # Checked again: the shift could (rarely) make two rings touch.
        passing = geometry.passing_multipolygons(np.asarray(shifted.geoms, dtype=object))
        kept = []
        for candidate, geom, passed in zip(candidates, shifted.geoms, passing, strict=True):
            try:
                candidate.geom = passed if passed is not None else geometry.as_multipolygon(geom)
            except GridwalkError as error:
                self.reject(candidate, error)
                continue
            kept.append(candidate)
        return kept

    def _valid_in_postgis(self, candidates: list[_Candidate]) -> list[_Candidate]:
        # PostGIS judges validity with its own GEOS, which may be another version than
        # shapely's; a shape it refuses would otherwise fail the table's CHECK constraint,
        # and with it the whole file, instead of being rejected alone.
        wkbs = shapely.to_wkb(np.asarray([c.geom for c in candidates], dtype=object))
        for c, wkb in zip(candidates, wkbs, strict=True):
            c.wkb = wkb
        invalid = _invalid_in_postgis(self.session, [c.wkb for c in candidates])
        kept = []
        for position, candidate in enumerate(candidates):
            if position in invalid:
                self.reject(candidate, BadRequest(
                    N_("geometry is not valid for PostGIS: %(reason)s"), reason=invalid[position]
                ))
                continue
            kept.append(candidate)
        return kept

    def reject(self, candidate: _Candidate, error: GridwalkError) -> None:
        self.rejections.append((candidate.index, Rejection(candidate.label, error)))

    def finish(self) -> ImportReport:
        self.report.rejected = [r for _, r in sorted(self.rejections, key=lambda item: item[0])]
        self.report.seconds = time.monotonic() - self.started
        return self.report


# --- finding areas by location ------------------------------------------------------------


def _array(name: str, values: list[Any], item_type: Any) -> ColumnElement[Any]:
    # Cast, so that PostgreSQL knows the element type even when every element is NULL.
    return cast(bindparam(name, values, type_=ARRAY(item_type)), ARRAY(item_type))


def _invalid_in_postgis(session: Session, wkbs: list[bytes]) -> dict[int, str]:
    """Which of the shapes PostGIS finds invalid (by position in `wkbs`), and why."""
    if not wkbs:
        return {}
    staged = (
        func.unnest(_array("wkbs", wkbs, LargeBinary))
        .table_valued("wkb", with_ordinality="n")
        .render_derived()
    )
    shape = func.ST_GeomFromWKB(staged.c.wkb, geometry.SRID)
    rows = session.execute(
        select(staged.c.n, func.ST_IsValidReason(shape)).where(func.ST_IsValid(shape).is_(False))
    )
    return {n - 1: reason for n, reason in rows}


def _areas_at(session: Session, shapes: Sequence[BaseGeometry], levels: Sequence[str]) -> list[int | None]:
    """For each shape, the innermost area (of one of `levels`) covering its representative
    point (GEOS's point on surface, the same as ST_PointOnSurface), or None. One query,
    one GiST lookup per shape."""
    if not shapes:
        return []
    points = shapely.get_coordinates(shapely.point_on_surface(np.asarray(shapes, dtype=object)))
    staged = (
        func.unnest(
            _array("xs", points[:, 0].tolist(), Float(precision=53)),
            _array("ys", points[:, 1].tolist(), Float(precision=53)),
        )
        .table_valued("x", "y", with_ordinality="n")
        .render_derived()
    )
    point = geometry.sql_point(staged.c.x, staged.c.y)
    covering = select(Area.id).where(func.ST_Covers(Area.geom, point), Area.level.in_(levels))
    # Of overlapping areas, the innermost level, then the smallest, wins.
    innermost = (
        covering.order_by(AREA_DEPTH.desc(), func.ST_Area(Area.geom), Area.id).limit(1).scalar_subquery()
    )
    rows = session.execute(select(staged.c.n, innermost).order_by(staged.c.n))
    return [area_id for _, area_id in rows]


# --- writing a chunk ----------------------------------------------------------------------


def _write(
    session: Session,
    model: type[Area] | type[Building],
    key_column: str,
    candidates: list[_Candidate],
    fixed: dict[str, Any],
) -> tuple[int, int]:
    """Insert the new candidates and update the matched ones, one statement each; returns
    (created, updated)."""
    table: Table = model.__table__  # type: ignore[assignment]
    new = [c for c in candidates if c.existing_id is None]
    old = [c for c in candidates if c.existing_id is not None]
    for prefix, group in (("new", new), ("old", old)):
        if not group:
            continue
        staged = (
            func.unnest(
                _array(f"{prefix}_ids", [c.existing_id for c in group], Integer),
                _array(f"{prefix}_keys", [c.key for c in group], Text),
                _array(f"{prefix}_names", [c.name for c in group], Text),
                _array(f"{prefix}_wkbs", [c.wkb for c in group], LargeBinary),
                _array(f"{prefix}_properties",
                       [json.dumps(c.properties, ensure_ascii=False) for c in group], Text),
                _array(f"{prefix}_area_ids", [c.area_id for c in group], Integer),
            )
            .table_valued("id", "key", "name", "wkb", "properties", "area_id")
            .render_derived()
        )
        area_column = "parent_id" if model is Area else "area_id"
        values: dict[str, Any] = {
            key_column: staged.c.key,
            "name": staged.c.name,
            "geom": func.ST_GeomFromWKB(staged.c.wkb, geometry.SRID),
            "properties": cast(staged.c.properties, JSONB),
            area_column: staged.c.area_id,
            # Values the whole chunk shares (an area's level).
            **{column: literal(value) for column, value in fixed.items()},
        }
        if group is new:
            session.execute(
                insert(table).from_select(list(values), select(*values.values()).select_from(staged))
            )
        else:
            del values[key_column]  # matched on it: unchanged
            session.execute(
                update(table)
                .where(table.c.id == staged.c.id)
                # Keeps optimistic locking honest for anyone holding the old version.
                .values(**values, version=table.c.version + 1)
            )
    if old:
        # Objects this session already holds would otherwise keep their old state and version.
        updated = {c.existing_id for c in old}
        for obj in list(session.identity_map.values()):
            if isinstance(obj, model) and obj.id in updated:
                session.expire(obj)
    return len(new), len(old)


def _start(session: Session, datum: str) -> None:
    if datum not in DATUMS:
        raise BadRequest(N_("unknown datum %(datum)s: expected wgs84 or gcj02"), datum=str(datum)[:40])
    # The caller's pending changes (e.g. areas just added) must be visible to our queries.
    session.flush()


def _chunks(features: Sequence[Any]) -> range:
    return range(0, len(features), CHUNK_SIZE)


# --- areas --------------------------------------------------------------------------------


def import_areas(
    session: Session,
    features: Sequence[Any],
    *,
    level: str,
    parent_code: str | None = None,
    id_field: str | None = None,
    name_field: str = "name",
    datum: str = "wgs84",
    progress: Progress | None = None,
) -> ImportReport:
    """Import the features as areas of `level`, matched to existing areas by code.

    Each area's code is its `id_field` property (else its feature id); a feature with
    neither is rejected. Its parent is `parent_code`, or else the area of the next level up
    that covers its representative point; it may stick out of that parent by no more than
    1 % of its area or 20 m. A county has no parent. A name missing from the properties is
    taken from the code.
    """
    if level not in AREA_LEVELS:
        raise BadRequest(N_("unknown area level %(level)s"), code="unknown_level", level=str(level)[:40])
    _start(session, datum)
    rank = AREA_LEVELS.index(level)
    given_parent = _given_parent(session, parent_code, level) if parent_code else None
    parent_level = AREA_LEVELS[rank - 1] if rank > 0 else None
    parents = _ParentShapes(session)
    run = _FileImport(
        session,
        id_field=id_field,
        id_required=True,
        key_length=_length(Area.__table__.c.code),
        name_field=name_field,
        name_length=_length(Area.__table__.c.name),
        datum=datum,
    )
    total = len(features)
    written: list[str] = []
    for start in _chunks(features):
        candidates = run.check(features[start:start + CHUNK_SIZE], start)
        if parent_level is not None:
            if given_parent is not None:
                area_ids: list[int | None] = [given_parent.id] * len(candidates)
            else:
                area_ids = _areas_at(session, [c.geom for c in candidates], (parent_level,))
            for c, area_id in zip(candidates, area_ids, strict=True):
                c.area_id = area_id
            candidates = _inside_parents(run, parents, candidates, parent_level)
        candidates = _match_areas(session, run, candidates, level)
        for c in candidates:
            c.name = c.name or str(c.key)
        created, updated = _write(session, Area, "code", candidates, {"level": level})
        run.report.created += created
        run.report.updated += updated
        written.extend(str(c.key) for c in candidates)
        if progress:
            progress(min(start + CHUNK_SIZE, total), total)
    # Buildings that were waiting for these areas (or stood in them as they were) move in.
    run.report.moved = placement.reattach_buildings(
        session, session.scalars(select(Area.id).where(Area.code.in_(written))) if written else ()
    )
    return run.finish()


def _same_place(session: Session, candidates: list[_Candidate], matched: set[int]) -> None:
    """Set each id-less candidate's existing_id to the id-less building it redraws, if any:
    the one overlapping it most, by at least SAME_FOOTPRINT of their union. One query, one
    GiST lookup per candidate; a building is taken by one feature only."""
    if not candidates:
        return
    staged = (
        func.unnest(_array("shape_wkbs", [c.wkb for c in candidates], LargeBinary))
        .table_valued("wkb", with_ordinality="n").render_derived()
    )
    shape = func.ST_GeomFromWKB(staged.c.wkb, geometry.SRID)
    overlap = (func.ST_Area(func.ST_Intersection(Building.geom, shape))
               / func.nullif(func.ST_Area(func.ST_Union(Building.geom, shape)), 0))
    best = (
        select(Building.id, overlap.label("overlap"))
        .where(Building.source_id.is_(None), Building.geom.op("&&")(shape), func.ST_Intersects(Building.geom, shape))
        .order_by(overlap.desc(), Building.id).limit(3)
        .lateral("best")
    )
    rows = session.execute(
        select(staged.c.n, best.c.id).select_from(staged.join(best, true()))
        .where(best.c.overlap >= SAME_FOOTPRINT).order_by(staged.c.n, best.c.overlap.desc())
    ).all()
    for n, building_id in rows:
        c = candidates[n - 1]
        if c.existing_id is None and building_id not in matched:
            c.existing_id = building_id
            matched.add(building_id)


def _given_parent(session: Session, code: str, level: str) -> Area:
    if level == AREA_LEVELS[0]:
        raise BadRequest(N_("a county has no parent area; leave out --parent"), code="unexpected_parent")
    parent = session.scalars(select(Area).where(Area.code == code)).first()
    if parent is None:
        raise BadRequest(N_("there is no area with code %(area_code)s to be the parent"),
                         code="unknown_parent", area_code=code)
    if AREA_LEVELS.index(parent.level) >= AREA_LEVELS.index(level):
        raise BadRequest(
            N_("area %(area_code)s is a %(parent_level)s; a %(level)s area cannot sit inside it"),
            code="wrong_parent_level", area_code=code, parent_level=parent.level, level=level,
        )
    return parent


@dataclass
class _Parent:
    code: str
    level: str
    shape: BaseGeometry
    widened: BaseGeometry | None = None  # the shape grown by the edge tolerance, when needed

    def outside_share(self, geom: BaseGeometry) -> float:
        """How much of `geom` lies outside this parent, as a share of its area."""
        if self.shape.covers(geom):
            return 0.0
        return float(geom.difference(self.shape).area / geom.area)

    def near_enough(self, geom: BaseGeometry) -> bool:
        """Whether `geom` stays within the edge tolerance of this parent."""
        if self.widened is None:
            self.widened = self.shape.buffer(OUTSIDE_PARENT_METRES / METRES_PER_DEGREE)
            shapely.prepare(self.widened)
        return bool(self.widened.covers(geom))


class _ParentShapes:
    """Parent areas' codes and shapes, read once per import."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.parents: dict[int, _Parent] = {}

    def get(self, ids: set[int]) -> dict[int, _Parent]:
        missing = ids - self.parents.keys()
        if missing:
            for area_id, code, level, element in self.session.execute(
                select(Area.id, Area.code, Area.level, Area.geom).where(Area.id.in_(missing))
            ):
                shape = geometry.to_geometry(element)
                shapely.prepare(shape)  # speeds up the many covers() tests against one parent
                self.parents[area_id] = _Parent(code, level, shape)
        return self.parents


def _inside_parents(
    run: _FileImport, parents: _ParentShapes, candidates: list[_Candidate], parent_level: str
) -> list[_Candidate]:
    found = parents.get({c.area_id for c in candidates if c.area_id is not None})
    kept = []
    for c in candidates:
        if c.area_id is None:
            run.reject(c, BadRequest(
                N_("no %(parent_level)s area covers it: import the %(parent_level)s areas first, "
                   "or name its parent with --parent"),
                parent_level=parent_level,
            ))
            continue
        try:
            check_inside(found[c.area_id], c.geom)
        except GridwalkError as error:
            run.reject(c, error)
            continue
        kept.append(c)
    return kept


def parent_shape(area: Area) -> _Parent:
    """An area as the parent a new or redrawn shape is checked against."""
    shape = geometry.to_geometry(area.geom)
    shapely.prepare(shape)
    return _Parent(area.code, area.level, shape)


def check_inside(parent: _Parent, geom: BaseGeometry) -> None:
    """BadRequest unless `geom` lies inside `parent` within the tolerance (at most 1 % of it
    outside, or nothing more than 20 m beyond the parent's edge)."""
    try:
        outside = parent.outside_share(geom)
        tolerated = outside <= OUTSIDE_PARENT_SHARE or parent.near_enough(geom)
    except shapely.errors.GEOSException as exc:
        raise BadRequest(
            N_("it cannot be compared with its parent %(parent)s: %(reason)s"),
            parent=parent.code, reason=str(exc)[:200],
        ) from None
    if not tolerated:
        raise BadRequest(
            N_("%(share)s%% of it lies outside its parent %(parent)s, reaching more than "
               "%(metres)s m beyond its edge (tolerated: %(limit)s%% of it, or a %(metres)s m strip)"),
            code="outside_parent", share=f"{outside * 100:.1f}", parent=parent.code,
            metres=OUTSIDE_PARENT_METRES, limit=f"{OUTSIDE_PARENT_SHARE * 100:g}",
        )


def _match_areas(
    session: Session, run: _FileImport, candidates: list[_Candidate], level: str
) -> list[_Candidate]:
    if not candidates:
        return []
    existing = {
        code: (area_id, area_level)
        for area_id, code, area_level in session.execute(
            select(Area.id, Area.code, Area.level).where(Area.code.in_([c.key for c in candidates]))
        )
    }
    kept = []
    for c in candidates:
        if c.key in existing:
            area_id, area_level = existing[c.key]
            if area_level != level:
                # Moving an area to another level would tear it, and its children, out of the tree.
                run.reject(c, BadRequest(
                    N_("code %(area_code)s already belongs to a %(level)s area"),
                    area_code=c.key, level=area_level,
                ))
                continue
            c.existing_id = area_id
        kept.append(c)
    return kept


# --- buildings ----------------------------------------------------------------------------


def import_buildings(
    session: Session,
    features: Sequence[Any],
    *,
    id_field: str | None = None,
    name_field: str = "name",
    datum: str = "wgs84",
    progress: Progress | None = None,
) -> ImportReport:
    """Import the features as buildings, each attached to the innermost area covering its
    representative point (a compound, else a grid; until those are drawn, its community,
    township or the county: such a building is counted as waiting for its grid). It may stick
    out of that area by no more than 1 % of its area or 20 m. A building outside the county
    is rejected.

    A building's source id is its `id_field` property (else its feature id); buildings are
    matched to earlier imports by it. A building without one is matched by where it stands:
    the building imported without an id whose footprint overlaps it most (at least
    SAME_FOOTPRINT of the two together), so that importing the same file again, or a
    redrawn one, updates rather than duplicates.
    """
    _start(session, datum)
    parents = _ParentShapes(session)
    run = _FileImport(
        session,
        id_field=id_field,
        id_required=False,
        key_length=_length(Building.__table__.c.source_id),
        name_field=name_field,
        name_length=_length(Building.__table__.c.name),
        datum=datum,
    )
    total = len(features)
    matched: set[int] = set()  # buildings without ids already taken by a feature of this file
    for start in _chunks(features):
        candidates = run.check(features[start:start + CHUNK_SIZE], start)
        area_ids = _areas_at(session, [c.geom for c in candidates], AREA_LEVELS)
        placed = []
        for c, area_id in zip(candidates, area_ids, strict=True):
            if area_id is None:
                run.reject(c, BadRequest(N_("it lies outside the county: no area holds it")))
                continue
            c.area_id = area_id
            placed.append(c)
        placed = _inside_parents(run, parents, placed, "grid")
        run.report.waiting += sum(parents.parents[c.area_id].level not in placement.PLACED_LEVELS for c in placed)
        source_ids = [c.key for c in placed if c.key is not None]
        if source_ids:
            existing = {
                source_id: building_id
                for source_id, building_id in session.execute(
                    select(Building.source_id, Building.id).where(Building.source_id.in_(source_ids))
                )
            }
            for c in placed:
                c.existing_id = existing.get(c.key) if c.key is not None else None
        _same_place(session, [c for c in placed if c.key is None], matched)
        created, updated = _write(session, Building, "source_id", placed, {})
        run.report.created += created
        run.report.updated += updated
        if progress:
            progress(min(start + CHUNK_SIZE, total), total)
    return run.finish()
