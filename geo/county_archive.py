"""The whole county in one ZIP file, and back: for moving a county to another server,
keeping a copy off site, or handing it over. Import goes into an empty database only.

The archive (format "gridwalk-county-archive", version 1):

    manifest.json          format, version, alembic_revision, created_at, srid, password_hashes,
                           tables: {name: {file, rows, columns, sha256}}, excluded: {name: why}
    tables/NAME.jsonl      one JSON object per row, keys = column names, in primary-key order

Values: geometry as hex WKB (2-D, SRID 4326 as the manifest says), dates and times as
ISO 8601 (times with their UTC offset), numerics as strings, binary data (the photos,
which live in the database, not on disk) as base64, JSON columns as JSON.

What is in it: every table of the domain, users and the audit log included. Left out:
browser logins, API tokens and failed-login counters per network address — secrets and
bookkeeping of this server, not the county's records. Users come without their password
hashes unless asked (`with_password_hashes`): an archive copied around should not carry
every officer's crackable hash; after an import, give each login a new password
(`gridwalk users password NAME`) before it can log in.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import zipfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from geoalchemy2 import Geometry
from geoalchemy2.elements import WKBElement
from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    LargeBinary,
    Numeric,
    Table,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Session

from geo.errors import N_, BadRequest, Conflict
from geo.geometry import SRID
from geo.models import Base

FORMAT = "gridwalk-county-archive"
FORMAT_VERSION = 1
EXCLUDED = {
    "login_sessions": "browser logins of the server the archive came from",
    "api_tokens": "bearer secrets; integrations get new tokens on the new server",
    "login_addresses": "failed-login counters per network address",
    "sheet_uploads": "spreadsheets waiting an hour for their write button on the old server",
    "tile_cache": "vector tiles, made again on first use",
    "resident_reports": "a day's count of residents' reports per address, for the rate limit",
    "notifications": "the bells of the old server's logins",
    "deliveries": "e-mails and webhooks queued or sent by the old server",
}
# Rows a freshly migrated database already holds: the migration's list of issue categories.
# An import replaces them with the archive's.
SEEDED = frozenset({"issue_categories"})
# Stands in for a password hash left out of the archive: it matches no password.
NO_PASSWORD = "!not-in-archive"
BATCH = 2000


class BadArchive(BadRequest):
    code = "bad_archive"


class NotEmpty(Conflict):
    code = "database_not_empty"


def archived_tables() -> list[Table]:
    """The tables an archive holds, parents before children."""
    return [t for t in Base.metadata.sorted_tables if t.name not in EXCLUDED]


def alembic_revision(session: Session) -> str:
    revision = session.scalar(text("SELECT version_num FROM alembic_version"))
    if revision is None:
        raise BadArchive(N_("the database has no schema revision: run `gridwalk db upgrade` first"))
    return str(revision)


# --- out ----------------------------------------------------------------------------------


def _selectable(column: Any) -> Any:
    if isinstance(column.type, Geometry):
        return func.ST_AsBinary(column).label(column.name)
    return column


def _plain(value: Any, column: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, Geometry):
        return bytes(value).hex()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def export(session: Session, out: Path | IO[bytes], *, with_password_hashes: bool = False,
           progress: Callable[[str, int], None] | None = None) -> dict[str, Any]:
    """Write every archived table to the ZIP `out`; returns the manifest. Rows are read in
    batches and streamed into the file, so a county's million visits never sit in memory."""
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "alembic_revision": alembic_revision(session),
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "srid": SRID,
        "password_hashes": with_password_hashes,
        "tables": {},
        "excluded": EXCLUDED,
    }
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table in archived_tables():
            columns = list(table.columns)
            stmt = select(*(_selectable(c) for c in columns)).order_by(*table.primary_key.columns)
            digest, rows, name = hashlib.sha256(), 0, f"tables/{table.name}.jsonl"
            with archive.open(name, "w", force_zip64=True) as raw:
                for row in session.execute(stmt.execution_options(yield_per=BATCH)):
                    record = {c.name: _plain(v, c) for c, v in zip(columns, row, strict=True)}
                    if table.name == "users" and not with_password_hashes:
                        record["password_hash"] = None
                    line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
                    raw.write(line)
                    digest.update(line)
                    rows += 1
            manifest["tables"][table.name] = {"file": name, "rows": rows, "columns": [c.name for c in columns],
                                              "sha256": digest.hexdigest()}
            if progress:
                progress(table.name, rows)
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    return manifest


# --- in -----------------------------------------------------------------------------------


def read_manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    """The manifest, checked against this code's tables: every table there, no stranger."""
    try:
        manifest = json.loads(archive.read("manifest.json"))
    except KeyError:
        raise BadArchive(N_("the archive has no manifest.json")) from None
    except ValueError:
        raise BadArchive(N_("the archive's manifest.json is not valid JSON")) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BadArchive(N_("this is not a Gridwalk county archive"))
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BadArchive(N_("archive format version %(version)s is not supported"),
                         version=str(manifest.get("format_version"))[:20])
    tables = manifest.get("tables")
    if not isinstance(tables, dict):
        raise BadArchive(N_("the archive's manifest lists no tables"))
    expected = {t.name for t in archived_tables()}
    missing, unknown = sorted(expected - set(tables)), sorted(set(tables) - expected)
    if missing or unknown:
        raise BadArchive(N_("the archive's tables do not match this schema: missing %(missing)s, unknown %(unknown)s"),
                         missing=", ".join(missing) or "-", unknown=", ".join(unknown) or "-")
    names = set(archive.namelist())
    for name, entry in tables.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("rows"), int) or entry.get("file") not in names:
            raise BadArchive(N_("the archive is missing the file of table %(table)s"), table=name)
    return manifest


def read_password_hashes(source: Path | IO[bytes]) -> bool:
    """Whether the archive's users carry their password hashes."""
    with zipfile.ZipFile(source) as archive:
        return bool(read_manifest(archive).get("password_hashes"))


def check_empty(session: Session) -> None:
    """Refuses unless every archived table is empty (the migration's issue categories aside)."""
    holding = [t.name for t in archived_tables()
               if t.name not in SEEDED and session.scalar(select(select(t).exists()))]
    if holding:
        raise NotEmpty(N_("the database is not empty (%(tables)s hold rows): import a county only into a new, "
                          "migrated database"), tables=", ".join(holding[:5]))


def _decoder(column: Any) -> Callable[[Any], Any]:
    kind = column.type
    if isinstance(kind, Geometry):
        return lambda v: WKBElement(bytes.fromhex(v), srid=SRID)
    if isinstance(kind, LargeBinary):
        return lambda v: base64.b64decode(v, validate=True)
    if isinstance(kind, DateTime):
        return dt.datetime.fromisoformat
    if isinstance(kind, Date):
        return dt.date.fromisoformat
    if isinstance(kind, Numeric) and kind.asdecimal:
        return Decimal
    if isinstance(kind, JSON):
        return lambda v: v
    return lambda v: v


def _rows(archive: zipfile.ZipFile, table: Table, entry: dict[str, Any], password_hashes: bool) -> Iterator[dict[str, Any]]:
    """The table's rows, decoded; the file's checksum and row count are checked as it is read."""
    decoders = {c.name: _decoder(c) for c in table.columns}
    digest, count = hashlib.sha256(), 0
    with archive.open(entry["file"]) as raw:
        for number, line in enumerate(raw, 1):
            digest.update(line)
            try:
                record = json.loads(line)
                if set(record) != set(decoders):
                    raise ValueError("columns")
                row = {k: (None if v is None else decoders[k](v)) for k, v in record.items()}
            except (ValueError, TypeError) as exc:
                raise BadArchive(N_("table %(table)s, line %(line)s of the archive cannot be read"),
                                 table=table.name, line=number) from exc
            if table.name == "users" and not password_hashes:
                row["password_hash"] = NO_PASSWORD
            count += 1
            yield row
    if count != entry["rows"] or digest.hexdigest() != entry.get("sha256"):
        raise BadArchive(N_("table %(table)s in the archive is damaged: its rows or checksum differ from the manifest"),
                         table=table.name)


def _parents_first(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of a table that points at itself (an area's parent), each after its parent."""
    links = [(fk.parent.name, fk.column.name) for fk in table.foreign_keys if fk.column.table is table]
    if not links:
        return rows
    child, key = links[0]
    placed: set[Any] = set()
    ordered: list[dict[str, Any]] = []
    waiting = rows
    while waiting:
        ready = [r for r in waiting if r[child] is None or r[child] in placed]
        if not ready:
            raise BadArchive(N_("table %(table)s in the archive refers to rows it does not hold"), table=table.name)
        ordered += ready
        placed.update(r[key] for r in ready)
        waiting = [r for r in waiting if r[key] not in placed]
    return ordered


def import_(session: Session, source: Path | IO[bytes], *,
            progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Load an archive into this (empty, migrated) database, ids kept; returns the rows per
    table. Flushes only: the caller commits, or rolls back on any error and nothing stays."""
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadArchive(N_("the file is not a ZIP archive")) from exc
    with archive:
        manifest = read_manifest(archive)
        ours = alembic_revision(session)
        if manifest.get("alembic_revision") != ours:
            raise BadArchive(N_("the archive is of schema revision %(theirs)s, this database of %(ours)s: migrate "
                                "one to match the other"), theirs=str(manifest.get("alembic_revision"))[:64], ours=ours)
        check_empty(session)
        password_hashes = bool(manifest.get("password_hashes"))
        counts: dict[str, int] = {}
        for table in archived_tables():
            entry = manifest["tables"][table.name]
            if table.name in SEEDED:
                session.execute(delete(table))
            rows = _rows(archive, table, entry, password_hashes)
            if any(fk.column.table is table for fk in table.foreign_keys):
                rows = iter(_parents_first(table, list(rows)))
            counts[table.name] = 0
            batch: list[dict[str, Any]] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= BATCH:
                    session.execute(insert(table), batch)
                    counts[table.name] += len(batch)
                    batch = []
            if batch:
                session.execute(insert(table), batch)
                counts[table.name] += len(batch)
            if progress:
                progress(table.name, counts[table.name])
        _reset_sequences(session)
    return counts


def _reset_sequences(session: Session) -> None:
    """Each id sequence continues after the largest id imported."""
    for table in archived_tables():
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or keys[0].type.python_type is not int:
            continue
        sequence = session.scalar(select(func.pg_get_serial_sequence(table.name, keys[0].name)))
        if sequence is None:
            continue
        largest = session.scalar(select(func.max(keys[0])))
        session.execute(select(func.setval(sequence, largest or 1, largest is not None)))
