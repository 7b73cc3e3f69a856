"""The domain schema: the area tree, buildings and households, who is responsible for them,
and the field work done in them (patrols, issues, visits, wishes, volunteer service).

Every geometry is stored in WGS 84 (SRID 4326) with a GiST index; `geo.geometry` checks
shapes before they get here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    case,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Levels of the area tree, outermost first. A compound (小区) sits inside a grid (网格).
AREA_LEVELS = ("county", "township", "community", "grid", "compound")
# The four layers of responsibility (四包).
ASSIGNMENT_KINDS = ("standing_committee", "department", "unit", "party_member")
ROLES = ("admin", "county", "township", "community", "grid", "party", "viewer")
ISSUE_STATUSES = ("reported", "meeting", "resolved", "closed", "referred")
WISH_STATUSES = ("open", "claimed", "fulfilled", "withdrawn")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONB}


class Timestamped:
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


# A public code (a QR sticker's, a notice board's): 48 random bits per row, not guessable.
PUBLIC_CODE = text("substr(md5(random()::text || clock_timestamp()::text), 1, 12)")


class Area(Timestamped, Base):
    """A node of the county → township → community → grid → compound tree."""

    __tablename__ = "areas"
    __table_args__ = (
        CheckConstraint(_in("level", AREA_LEVELS), name="area_level_known"),
        CheckConstraint("(level = 'county') = (parent_id IS NULL)", name="area_parent_unless_county"),
        CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="area_geom_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326))
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    # What the area's notice board's QR code carries (geo.residents).
    public_code: Mapped[str] = mapped_column(String(16), unique=True, server_default=PUBLIC_CODE)
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    parent: Mapped[Area | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Area]] = relationship(back_populates="parent")

    __mapper_args__ = {"version_id_col": version}


# An area's depth in the tree, for "innermost first": compound (4) … county (0).
AREA_DEPTH = case({level: rank for rank, level in enumerate(AREA_LEVELS)}, value=Area.level)


class Building(Timestamped, Base):
    """A building footprint (楼栋); `area` is the innermost area holding it (compound or grid)."""

    __tablename__ = "buildings"
    __table_args__ = (
        CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="building_geom_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    address: Mapped[str] = mapped_column(String(300), default="", server_default="")
    floors: Mapped[int | None] = mapped_column(SmallInteger)
    use: Mapped[str] = mapped_column(String(32), default="residential", server_default="residential")
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326))
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    # What the building's QR sticker carries (geo.residents): random, so not guessable.
    public_code: Mapped[str] = mapped_column(String(16), unique=True, server_default=PUBLIC_CODE)
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    area: Mapped[Area | None] = relationship()
    households: Mapped[list[Household]] = relationship(back_populates="building")

    __mapper_args__ = {"version_id_col": version}


class Household(Timestamped, Base):
    """A dwelling (住户) in a building: unit (单元), floor and room."""

    __tablename__ = "households"
    __table_args__ = (
        UniqueConstraint("building_id", "unit_no", "floor", "room", name="household_address_unique"),
        CheckConstraint("residents >= 0", name="household_residents_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"), index=True)
    unit_no: Mapped[int] = mapped_column(SmallInteger, default=1)
    floor: Mapped[int] = mapped_column(SmallInteger)
    room: Mapped[str] = mapped_column(String(16))
    residents: Mapped[int] = mapped_column(SmallInteger, default=1)
    head_name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    phone: Mapped[str] = mapped_column(String(32), default="", server_default="")
    # Moved away or demolished: kept for history, left out of coverage.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")

    building: Mapped[Building] = relationship(back_populates="households")


class Unit(Timestamped, Base):
    """A county department, township, school, company … (单位)."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32), default="department", server_default="department")
    phone: Mapped[str] = mapped_column(String(32), default="", server_default="")
    # A group robot (WeCom, DingTalk) told of the unit's issues (geo.notify).
    webhook_url: Mapped[str] = mapped_column(String(500), default="", server_default="")
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}


class Person(Timestamped, Base):
    """A cadre or party member (党员干部 / 下沉党员)."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    title: Mapped[str] = mapped_column(String(100), default="", server_default="")
    phone: Mapped[str] = mapped_column(String(32), default="", server_default="")
    is_party_member: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # Shown on the building's public page and the notice board only when set.
    phone_public: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # 在职党员报到: the community an in-service party member has registered with.
    registered_area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    registered_on: Mapped[dt.date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    unit: Mapped[Unit | None] = relationship()

    __mapper_args__ = {"version_id_col": version}


class Assignment(Timestamped, Base):
    """包保责任: a unit and/or person made responsible for one area, building or household,
    fixed by post (定岗), duty (定责) and target (定目标), for a period."""

    __tablename__ = "assignments"
    __table_args__ = (
        CheckConstraint(
            "num_nonnulls(area_id, building_id, household_id) = 1", name="assignment_one_target"
        ),
        CheckConstraint("num_nonnulls(unit_id, person_id) >= 1", name="assignment_has_someone"),
        CheckConstraint(_in("kind", ASSIGNMENT_KINDS), name="assignment_kind_known"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="assignment_dates_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"), index=True)
    building_id: Mapped[int | None] = mapped_column(
        ForeignKey("buildings.id", ondelete="CASCADE"), index=True
    )
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("households.id", ondelete="CASCADE"), index=True
    )
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    post: Mapped[str] = mapped_column(String(200), default="", server_default="")
    duty: Mapped[str] = mapped_column(Text, default="", server_default="")
    target: Mapped[str] = mapped_column(Text, default="", server_default="")
    valid_from: Mapped[dt.date] = mapped_column(Date, server_default=func.current_date())
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    unit: Mapped[Unit | None] = relationship()
    person: Mapped[Person | None] = relationship()

    __mapper_args__ = {"version_id_col": version}


patrol_units = Table(
    "patrol_units",
    Base.metadata,
    Column("patrol_id", ForeignKey("patrols.id", ondelete="CASCADE"), primary_key=True),
    Column("unit_id", ForeignKey("units.id"), primary_key=True),
)

patrol_members = Table(
    "patrol_members",
    Base.metadata,
    Column("patrol_id", ForeignKey("patrols.id", ondelete="CASCADE"), primary_key=True),
    Column("person_id", ForeignKey("people.id"), primary_key=True),
)


class Patrol(Timestamped, Base):
    """步巡: a dated walk of a grid by several units; groups the issues it found."""

    __tablename__ = "patrols"
    __table_args__ = (
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="patrol_times_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="", server_default="")
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    track: Mapped[Any | None] = mapped_column(Geometry("LINESTRING", srid=4326))
    led_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    # The login that started it: its phone records the route (patrols older than this
    # column have none, and any officer of the area may record theirs).
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    area: Mapped[Area] = relationship()
    units: Mapped[list[Unit]] = relationship(secondary=patrol_units)
    members: Mapped[list[Person]] = relationship(secondary=patrol_members)


ISSUE_SOURCES = ("officer", "resident")
NOTIFICATION_KINDS = ("routed", "referred", "due", "overdue", "wish_claimed", "wish_overdue", "digest")


class Issue(Timestamped, Base):
    """问题: a geo-tagged problem, routed by where it is to the area and unit responsible."""

    __tablename__ = "issues"
    __table_args__ = (
        CheckConstraint(_in("status", ISSUE_STATUSES), name="issue_status_known"),
        CheckConstraint(_in("source", ISSUE_SOURCES), name="issue_source_known"),
        # A phone's report id is unique for its reporter: retries land once, and nobody
        # learns from a clash that someone else used an id.
        UniqueConstraint("reported_by_id", "client_id", name="issue_client_id_per_reporter"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str | None] = mapped_column(String(64))
    patrol_id: Mapped[int | None] = mapped_column(ForeignKey("patrols.id"), index=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[str] = mapped_column(String(16), default="reported", server_default="reported", index=True)
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # "officer", or "resident": reported at a building's public code, with no user.
    source: Mapped[str] = mapped_column(String(16), default="officer", server_default="officer")
    reported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    deadline: Mapped[dt.date | None] = mapped_column(Date)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    area: Mapped[Area | None] = relationship()
    unit: Mapped[Unit | None] = relationship()
    events: Mapped[list[IssueEvent]] = relationship(
        back_populates="issue", order_by="IssueEvent.at", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}


class IssueEvent(Base):
    """One step of an issue's workflow (reported, meeting, resolved, verified, referred,
    reopened, comment): who, when, where and what was decided."""

    __tablename__ = "issue_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    geom: Mapped[Any | None] = mapped_column(Geometry("POINT", srid=4326))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")

    issue: Mapped[Issue] = relationship(back_populates="events")


class IssueCategory(Base):
    """A kind of problem officers report (环境卫生, 占道经营 …); administrators keep the list."""

    __tablename__ = "issue_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}


class PhotoFile:
    """A photo kept in the database, not on a disk: it is written in the same transaction as
    what it shows, so a failed write leaves no orphan file, and every app process serves it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    content_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    # A smaller JPEG for phones (at most DISPLAY_SIZE pixels on its longer side).
    display: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    # From the photo's EXIF data, when it has them.
    taken_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IssuePhoto(PhotoFile, Base):
    """A photo of an issue (at report, or after it was solved)."""

    __tablename__ = "issue_photos"

    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("issue_events.id", ondelete="CASCADE"), index=True)
    geom: Mapped[Any | None] = mapped_column(Geometry("POINT", srid=4326))


class Visit(Base):
    """走访: a party member's visit to a household."""

    __tablename__ = "visits"
    __table_args__ = (
        CheckConstraint("hours > 0 AND hours <= 24", name="visit_hours_in_day"),
        Index("visits_household_date", "household_id", "visited_on"),
        # Partial: the million visits a year entered without a client_id need no entry.
        Index("visit_client_id_per_recorder", "recorded_by_id", "client_id", unique=True,
              postgresql_where=text("client_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    visited_on: Mapped[dt.date] = mapped_column(Date, index=True)
    hours: Mapped[Decimal] = mapped_column(Numeric(4, 2))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    needs: Mapped[str] = mapped_column(Text, default="", server_default="")
    # False when the visitor holds no assignment for the household: accepted, but marked.
    by_assignee: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    # Who entered it (a login; the visitor, or an officer for them), and the id the phone
    # gave it: a visit sent again from the offline queue is stored once.
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    client_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Wish(Timestamped, Base):
    """微心愿: a resident's small request, open → claimed → fulfilled (or withdrawn)."""

    __tablename__ = "wishes"
    __table_args__ = (
        CheckConstraint(_in("status", WISH_STATUSES), name="wish_status_known"),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="wish_rating_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open", index=True)
    raised_on: Mapped[dt.date] = mapped_column(Date, server_default=func.current_date())
    claimed_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    claimed_by_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    claimed_on: Mapped[dt.date | None] = mapped_column(Date)
    promised_on: Mapped[dt.date | None] = mapped_column(Date)
    fulfilled_on: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}


class WishPhoto(PhotoFile, Base):
    """A photo of a fulfilled wish (the repaired tap, the delivered wheelchair)."""

    __tablename__ = "wish_photos"

    wish_id: Mapped[int] = mapped_column(ForeignKey("wishes.id", ondelete="CASCADE"), index=True)


class ServiceRecord(Base):
    """志愿服务时长: volunteer hours; stars derive from a person's running total."""

    __tablename__ = "service_records"
    __table_args__ = (CheckConstraint("hours > 0 AND hours <= 24", name="service_hours_in_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    served_on: Mapped[dt.date] = mapped_column(Date)
    activity: Mapped[str] = mapped_column(String(200))
    hours: Mapped[Decimal] = mapped_column(Numeric(4, 2))
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class User(Timestamped, Base):
    """A login. `area` bounds what the role may see and do."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="user_role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    # Where the user's notifications and daily digest are mailed (geo.notify); "" for none.
    email: Mapped[str] = mapped_column(String(254), default="", server_default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The last try that counted: the count starts afresh after a quiet LOCKOUT period.
    tried_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The primary's WAL position (a pg_lsn as text) after the user's last write: the read
    # replica serves them again once it has replayed this far (webmap.db.read_session).
    wrote_lsn: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    area: Mapped[Area | None] = relationship()
    person: Mapped[Person | None] = relationship()

    __mapper_args__ = {"version_id_col": version}


class LoginAddress(Base):
    """Failed logins from one network address in the current window: a spray of guesses
    across many user names is slowed down as one account's guesses are."""

    __tablename__ = "login_addresses"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_from: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LoginSession(Base):
    """A browser's login: kept in the database so that logging out, a password change or
    an administrator can end it (a lost phone), whichever app process served it."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    user_agent: Mapped[str] = mapped_column(String(200), default="", server_default="")

    user: Mapped[User] = relationship()


class ApiToken(Base):
    """A bearer token for integrations; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class AuditEntry(Base):
    """One write: who, when, what (table and record), the values before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("audit_log_record", "table_name", "record_id"),
        CheckConstraint("action IN ('create', 'update', 'delete', 'import', 'load')", name="audit_action_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # Kept as written, so the log still says who after an account is gone.
    username: Mapped[str] = mapped_column(String(64), default="", server_default="")
    via: Mapped[str] = mapped_column(String(16), default="", server_default="")
    action: Mapped[str] = mapped_column(String(16))
    table_name: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[int | None] = mapped_column(BigInteger)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class SheetUpload(Base):
    """A spreadsheet uploaded for import, kept between its dry run and its "write" button
    (an hour at most): in the database, so any app process can carry out the write."""

    __tablename__ = "sheet_uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(200), default="", server_default="")
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)


class CachedTile(Base):
    """A vector tile made once and shared by every app process (geo.tiles). The triggers of
    migration 0010 delete the tiles whose envelope a write to their layer's tables touches.
    UNLOGGED: a cache need not survive a crash, and its writes skip the WAL."""

    __tablename__ = "tile_cache"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    layer: Mapped[str] = mapped_column(String(16), primary_key=True)
    # Whose tile (the scope it was filtered by), for which level or day.
    variant: Mapped[str] = mapped_column(String(80), primary_key=True)
    z: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    x: Mapped[int] = mapped_column(Integer, primary_key=True)
    y: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The tile with its buffer, in WGS 84: what a write must touch to make it stale.
    envelope: Mapped[Any] = mapped_column(Geometry("POLYGON", srid=4326))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    etag: Mapped[str] = mapped_column(String(32))
    made_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ResidentReport(Base):
    """A report a resident sent at a building's code, counted for the rate limits
    (geo.residents) and kept a day: who sent it only as a keyed hash of their address."""

    __tablename__ = "resident_reports"
    __table_args__ = (
        Index("ix_resident_reports_sender_at", "sender", "at"),
        Index("ix_resident_reports_building_at", "building_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sender: Mapped[str] = mapped_column(String(32))
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Notification(Base):
    """What a user is told (geo.notify): the bell's list. `key` names what it is about and
    is unique per user, so nobody is told the same thing twice."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "key", name="notification_once_per_user"),
        CheckConstraint(_in("kind", NOTIFICATION_KINDS), name="notification_kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="", server_default="")
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="SET NULL"))
    wish_id: Mapped[int | None] = mapped_column(ForeignKey("wishes.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Delivery(Base):
    """A notification on its way out by e-mail or webhook (geo.notify.send): queued with what
    it tells of, taken by one sender at a time, sent once."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("key", "channel", name="delivery_once"),
        CheckConstraint(_in("channel", ("email", "webhook")), name="delivery_channel_known"),
        CheckConstraint(_in("status", ("pending", "sent", "failed")), name="delivery_status_known"),
        Index("ix_deliveries_pending", "next_at", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(160))
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="", server_default="")
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str] = mapped_column(Text, default="", server_default="")
