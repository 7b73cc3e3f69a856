"""The audit log: every write through the ORM is recorded when the session flushes — who
(the actor the edge put in `session.info`), when, which record, and its values before and
after. Bulk writes (imports, the demo loader) record one summary entry each with `record`.

Secrets are never copied into the log, and bookkeeping columns (failed-login counters,
timestamps, version numbers) are left out so the log shows what people changed.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from geoalchemy2.elements import WKBElement
from sqlalchemy import event, func, insert, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from geo.geometry import to_geojson, to_geometry
from geo.models import AuditEntry, Base

REDACTED = "[redacted]"
_SECRET = {"password_hash", "token_hash"}
_BOOKKEEPING = {"created_at", "updated_at", "version", "failed_logins", "locked_until", "last_used_at"}
# Opening and closing browser logins, and an upload waiting for its import, are not changes
# to the county's records (the import itself is logged).
_UNAUDITED = {"audit_log", "login_sessions", "sheet_uploads"}
# Outlines kept whole in the log, so that a redrawn, split or merged area can be drawn back
# as it was; other shapes are logged by their type and bounds. Areas are few and change rarely.
_WHOLE_GEOMETRY = {"areas"}


def set_actor(session: Session, *, user_id: int | None, username: str, via: str) -> None:
    """Who the session's writes are made by; the edge (request, CLI) sets it."""
    session.info["actor"] = {"user_id": user_id, "username": username, "via": via}


def install(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Record the writes of every session the factory makes."""
    event.listen(factory, "before_flush", _before_flush)
    event.listen(factory, "after_flush", _after_flush)
    event.listen(factory, "after_soft_rollback", _forget)
    return factory


def _forget(session: Session, _previous: Any) -> None:
    # A flush that failed logged nothing; what it had noted must not leak into the next.
    session.info.pop("audit_pending", None)


def record(
    session: Session,
    action: str,
    table_name: str,
    *,
    record_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """An entry for a write the ORM does not see (bulk imports and loads)."""
    session.execute(insert(AuditEntry), [_entry(session, action, table_name, record_id, before, after)])


def _entry(
    session: Session, action: str, table: str, record_id: Any, before: Any, after: Any
) -> dict[str, Any]:
    actor = session.info.get("actor") or {"user_id": None, "username": "", "via": "system"}
    return {
        "user_id": actor["user_id"],
        "username": actor["username"],
        "via": actor["via"],
        "action": action,
        "table_name": table,
        "record_id": record_id,
        "before": before,
        "after": after,
    }


def _plain(value: Any, whole_geometry: bool = False) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, WKBElement):
        geom = to_geometry(value)
        if whole_geometry:
            return to_geojson(geom)
        return {"type": geom.geom_type, "bounds": [round(v, 6) for v in geom.bounds]}
    if isinstance(value, bytes | memoryview):
        return None
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    # A SQL expression, a WKT element, anything else: its text, never a failed flush.
    return str(value)[:500]


def _columns(obj: Base) -> list[str]:
    return [c.key for c in inspect(obj).mapper.column_attrs if c.key not in _BOOKKEEPING]


def _snapshot(obj: Base) -> dict[str, Any]:
    loaded = inspect(obj).dict
    whole = obj.__tablename__ in _WHOLE_GEOMETRY
    values = {}
    for key in _columns(obj):
        value = loaded.get(key)
        values[key] = REDACTED if key in _SECRET and value else _plain(value, whole)
    return values


def _changes(obj: Base) -> tuple[dict[str, Any], dict[str, Any]]:
    state = inspect(obj)
    whole = obj.__tablename__ in _WHOLE_GEOMETRY
    before, after = {}, {}
    for key in _columns(obj):
        history = state.attrs[key].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if key in _SECRET:
            before[key], after[key] = REDACTED, REDACTED
        else:
            before[key], after[key] = _plain(old, whole), _plain(new, whole)
    return before, after


def _audited(obj: object) -> bool:
    return isinstance(obj, Base) and obj.__tablename__ not in _UNAUDITED


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    # Changes are read before the flush: a value the database computes (a SQL
    # expression) is expired by the flush, and its history with it.
    pending = session.info.setdefault("audit_pending", [])
    for obj in session.dirty:
        if _audited(obj) and session.is_modified(obj, include_collections=False):
            before, after = _changes(obj)  # type: ignore[arg-type]
            if after:
                pending.append(("update", obj, before, after))
    for obj in session.deleted:
        if _audited(obj):
            pending.append(("delete", obj, _snapshot(obj), None))  # type: ignore[arg-type]


def _after_flush(session: Session, _context: Any) -> None:
    # New rows are logged now, when they have their ids.
    rows = [
        _entry(session, action, obj.__tablename__, _id(obj), before, after)
        for action, obj, before, after in session.info.pop("audit_pending", [])
    ]
    rows += [
        _entry(session, "create", obj.__tablename__, _id(obj), None, _snapshot(obj))
        for obj in session.new if _audited(obj)
    ]
    if rows:
        session.connection().execute(insert(AuditEntry), rows)


def _id(obj: Base) -> int | None:
    # New objects have their ids by now but not yet their identity key.
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return key[0] if len(key) == 1 else None


PAGE_SIZE = 50
ACTIONS = ("create", "update", "delete", "import", "load")
TABLES = tuple(sorted(t.name for t in Base.metadata.sorted_tables if t.name not in _UNAUDITED))


def entries(
    session: Session,
    *,
    username: str | None = None,
    table_name: str | None = None,
    action: str | None = None,
    record_id: int | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    page: int = 1,
) -> list[AuditEntry]:
    """The log, newest first, filtered by who, which table or record, what and when."""
    stmt = select(AuditEntry)
    if username:
        stmt = stmt.where(func.lower(AuditEntry.username) == username.lower())
    if table_name:
        stmt = stmt.where(AuditEntry.table_name == table_name)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if record_id is not None:
        stmt = stmt.where(AuditEntry.record_id == record_id)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until + dt.timedelta(days=1))
    stmt = stmt.order_by(AuditEntry.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    return list(session.scalars(stmt))


def entry_data(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "user_id": entry.user_id,
        "username": entry.username,
        "via": entry.via,
        "action": entry.action,
        "table": entry.table_name,
        "record_id": entry.record_id,
        "before": entry.before,
        "after": entry.after,
    }
