"""Units, people and user accounts: listing and editing them. Administrators change
them; other roles read what their work needs, with phones masked outside their reach.

Edits carry the version the editor saw: if someone changed the record since, the second
writer gets Conflict (409) rather than silently overwriting the first.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session, aliased

from geo import accounts
from geo.db import by_pinyin
from geo.errors import N_, BadRequest, Conflict, NotFound
from geo.models import ROLES, Area, Person, Unit, User
from geo.scope import Scope, mask_phone
from geo.validate import Fields, storable_id

UNIT_KINDS = ("department", "township", "community", "school", "hospital", "company", "other")
UNIT_FIELDS = ("name", "kind", "phone", "webhook_url", "version")
PERSON_FIELDS = ("name", "unit_id", "title", "phone", "phone_public", "is_party_member", "version")
USER_FIELDS = ("username", "password", "role", "area_code", "person_id", "email", "active", "version")
PAGE_SIZE = 50
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_WEBHOOK = re.compile(r"https?://[^\s]+")


def _webhook_ok(url: str) -> bool:
    if not _WEBHOOK.fullmatch(url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return False
    return bool(parts.hostname)


_MISSING = {
    "Area": N_("no area with id %(id)s"),
    "Building": N_("no building with id %(id)s"),
    "Household": N_("no household with id %(id)s"),
    "Unit": N_("no unit with id %(id)s"),
    "Person": N_("no person with id %(id)s"),
    "User": N_("no user with id %(id)s"),
    "Patrol": N_("no patrol with id %(id)s"),
    "IssueCategory": N_("no category with id %(id)s"),
}


def get(session: Session, model: Any, record_id: int) -> Any:
    """The record with this id, or NotFound (also for ids no column could hold)."""
    found = session.get(model, record_id) if storable_id(record_id) else None
    if found is None:
        raise NotFound(_MISSING[model.__name__], id=record_id)
    return found


def check_version(record: Any, fields: Fields) -> None:
    """Conflict unless the editor saw the record's current version."""
    version = fields.integer("version", required=True)
    if version != record.version:
        raise Conflict(
            N_("someone else changed this in the meantime: look at it again as it is now, then try again"),
            code="version_conflict", current=record.version, sent=version,
        )


def search(stmt: Select[Any], column: Any, text: str | None) -> Select[Any]:
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(column.ilike(f"%{escaped}%", escape="\\"))
    return stmt


# --- units ------------------------------------------------------------------------------


def area_choices(session: Session, scope: Scope) -> list[dict[str, Any]]:
    """The communities and grids the user may read, grids under their community, in name
    order: what a filter by area offers (names to pick, not ids to type). A community the
    user only reads a grid of is there as a heading (`readable` false)."""
    community = aliased(Area)
    rows = session.execute(
        select(Area.id, Area.name, Area.level, community.id.label("community_id"),
               community.name.label("community_name"), scope.reads(community.id).label("readable"))
        .join(community, community.id == case((Area.level == "grid", Area.parent_id), else_=Area.id))
        .where(Area.level.in_(("community", "grid")), scope.reads(Area.id))
        .order_by(by_pinyin(session, community.name), community.id, by_pinyin(session, Area.name), Area.id)
    ).all()
    groups: dict[int, dict[str, Any]] = {}
    for r in rows:
        group = groups.setdefault(r.community_id, {"id": r.community_id, "name": r.community_name,
                                                   "readable": bool(r.readable), "grids": []})
        if r.level == "grid":
            group["grids"].append({"id": r.id, "name": r.name})
    return list(groups.values())


def unit_data(unit: Unit) -> dict[str, Any]:
    return {"id": unit.id, "name": unit.name, "kind": unit.kind, "phone": unit.phone, "version": unit.version}


def units(session: Session, text: str | None = None, page: int = 1) -> list[Unit]:
    stmt = search(select(Unit), Unit.name, text).order_by(Unit.name)
    return list(session.scalars(stmt.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))


def save_unit(session: Session, scope: Scope, data: Any, unit_id: int | None = None) -> Unit:
    """Create a unit (no id) or change one (its id, and the version the editor saw)."""
    scope.require_admin()
    fields = Fields(data, UNIT_FIELDS)
    if unit_id is None:
        unit = Unit(name=fields.name("name", max_length=200, required=True), kind="department")
    else:
        unit = get(session, Unit, unit_id)
        check_version(unit, fields)
    name = fields.name("name", max_length=200, required=True) if "name" in fields else unit.name
    # Checked before the name is set, so the query does not flush a clashing name first.
    same_name = select(Unit.id).where(func.lower(Unit.name) == name.lower())
    if unit.id is not None:
        same_name = same_name.where(Unit.id != unit.id)
    with session.no_autoflush:
        clash = session.scalar(same_name)
    if clash:
        raise Conflict(N_("there is already a unit called %(name)s"), name=name)
    unit.name = name
    if "kind" in fields:
        unit.kind = fields.choice("kind", UNIT_KINDS, required=True) or unit.kind
    if "phone" in fields:
        unit.phone = fields.phone("phone")
    if "webhook_url" in fields:
        url = fields.text("webhook_url", max_length=500)
        if url and not _webhook_ok(url):
            raise BadRequest(N_("a webhook is an http(s) address, such as a WeCom or DingTalk robot's"),
                             code="bad_webhook")
        unit.webhook_url = url
    session.add(unit)
    session.flush()
    return unit


def all_units(session: Session) -> list[Unit]:
    """Every unit, by name: for choosing one (a county has a few hundred)."""
    return list(session.scalars(select(Unit).order_by(by_pinyin(session, Unit.name), Unit.id)))


# --- people -----------------------------------------------------------------------------


def person_data(person: Person, personal: bool) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "unit": {"id": person.unit.id, "name": person.unit.name} if person.unit else None,
        "title": person.title,
        "phone": person.phone if personal else mask_phone(person.phone),
        "is_party_member": person.is_party_member,
        "version": person.version,
    }


def people(session: Session, text: str | None = None, unit_id: int | None = None, page: int = 1) -> list[Person]:
    stmt = search(select(Person), Person.name, text)
    if unit_id:
        stmt = stmt.where(Person.unit_id == unit_id)
    stmt = stmt.order_by(Person.name, Person.id).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    return list(session.scalars(stmt))


def save_person(session: Session, scope: Scope, data: Any, person_id: int | None = None) -> Person:
    scope.require_admin()
    fields = Fields(data, PERSON_FIELDS)
    if person_id is None:
        person = Person(name=fields.name("name", max_length=100, required=True))
    else:
        person = get(session, Person, person_id)
        check_version(person, fields)
        if "name" in fields:
            person.name = fields.name("name", max_length=100, required=True)
    if "unit_id" in fields:
        unit_id = fields.integer("unit_id")
        person.unit = get(session, Unit, unit_id) if unit_id else None
    if "title" in fields:
        person.title = fields.text("title", max_length=100)
    if "phone" in fields:
        person.phone = fields.phone("phone")
    if "phone_public" in fields:
        person.phone_public = fields.boolean("phone_public")
    if "is_party_member" in fields:
        person.is_party_member = fields.boolean("is_party_member")
    session.add(person)
    session.flush()
    return person


# --- users ------------------------------------------------------------------------------


def user_data(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "area": {"id": user.area.id, "code": user.area.code, "name": user.area.name} if user.area else None,
        "person_id": user.person_id,
        "email": user.email,
        "active": user.active,
        "locked": bool(user.locked_until and user.locked_until > accounts.now()),
        "version": user.version,
    }


def users(session: Session, text: str | None = None, page: int = 1, page_size: int | None = PAGE_SIZE) -> list[User]:
    """Accounts by name; a page of them, or all with page_size None."""
    stmt = search(select(User), User.username, text).order_by(User.username)
    if page_size is not None:
        stmt = stmt.limit(page_size).offset((page - 1) * page_size)
    return list(session.scalars(stmt))


def _area_by_code(session: Session, code: str) -> Area:
    area = session.scalar(select(Area).where(Area.code == code))
    if area is None:
        raise BadRequest(N_("no area with code %(area_code)s"), code="unknown_area", area_code=code[:64])
    return area


def save_user(session: Session, scope: Scope, data: Any, user_id: int | None = None) -> User:
    """Create an account (username, password, role, area) or change one (role, area,
    person, active, a new password)."""
    scope.require_admin()
    fields = Fields(data, USER_FIELDS)
    if user_id is None:
        code = fields.text("area_code", max_length=64)
        user = accounts.create_user(
            session,
            fields.username("username", required=True),
            fields.text("password", max_length=1024, required=True),
            fields.choice("role", ROLES, required=True) or "",
            code or None,
        )
        user.active = fields.boolean("active", default=True)
    else:
        user = get(session, User, user_id)
        check_version(user, fields)
        if "username" in fields and fields.username("username") != user.username:
            raise BadRequest(N_("a user name cannot be changed"), code="read_only_field")
        if "role" in fields:
            user.role = fields.choice("role", ROLES, required=True) or user.role
        if "area_code" in fields:
            code = fields.text("area_code", max_length=64)
            user.area = _area_by_code(session, code) if code else None
        accounts.check_role_area(user.role, user.area)
        if "active" in fields:
            user.active = fields.boolean("active", default=True)
            if not user.active:
                # A deactivated account's logins and tokens end, so reactivating it
                # does not bring them back.
                accounts.end_sessions(session, user)
                accounts.revoke_tokens(session, user)
        if "password" in fields and fields.text("password", max_length=1024):
            accounts.set_password(session, user, fields.text("password", max_length=1024))
    if "person_id" in fields:
        person_id = fields.integer("person_id")
        user.person_id = get(session, Person, person_id).id if person_id else None
    if "email" in fields:
        email = fields.text("email", max_length=254)
        if email and not _EMAIL.fullmatch(email):
            raise BadRequest(N_("%(email)s is not an e-mail address"), code="bad_email", email=email[:60])
        user.email = email
    session.flush()
    return user
