"""What a user may see and change, as SQL conditions applied inside every query.

Each user has one role and one area. County-wide roles (admin, county officer, viewer)
read the whole county; the others (township, community, grid, party member) read the
subtree under their area, plus the outlines of the areas above it for context.
Personal data — residents' names and phones, people's phones — is shown only where the
user's scope covers the record it belongs to; the viewer sees none at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, false, literal, or_, select, true
from sqlalchemy.orm import Session

from geo.errors import N_, Forbidden
from geo.models import Area

COUNTY_WIDE = frozenset({"admin", "county", "viewer"})
# Who may manage assignments (包保责任) in their scope; admins also manage accounts,
# units and people.
MANAGE_ASSIGNMENTS = frozenset({"admin", "county", "township", "community"})
ADMIN = "admin"


def subtree(area_id: int) -> Select[tuple[int]]:
    """The ids of an area and everything under it."""
    tree = select(Area.id).where(Area.id == area_id).cte(recursive=True)
    tree = tree.union_all(select(Area.id).where(Area.parent_id == tree.c.id))
    return select(tree.c.id)


def ancestors(area_id: int) -> Select[tuple[int]]:
    """The ids of the areas above an area (not the area itself)."""
    up = select(Area.parent_id.label("id")).where(Area.id == area_id).cte(recursive=True)
    up = up.union_all(select(Area.parent_id).where(Area.id == up.c.id, Area.parent_id.is_not(None)))
    return select(up.c.id).where(up.c.id.is_not(None))


@dataclass(frozen=True)
class Scope:
    role: str
    area_id: int | None = None
    user_id: int | None = None
    person_id: int | None = None

    @classmethod
    def of(cls, user: Any) -> Scope:
        return cls(role=user.role, area_id=user.area_id, user_id=user.id, person_id=user.person_id)

    @classmethod
    def system(cls) -> Scope:
        """Everything: for the command line and the demo loader."""
        return cls(role=ADMIN)

    @property
    def county_wide(self) -> bool:
        return self.role in COUNTY_WIDE

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    @property
    def sees_every_phone(self) -> bool:
        """The directory of people shows phones only to county-wide officers; elsewhere a
        phone shows where the person answers for something in the user's area."""
        return self.role in ("admin", "county")

    # --- SQL conditions -----------------------------------------------------------------

    def reads(self, area_column: Any) -> ColumnElement[bool]:
        """Rows whose area is in the user's subtree (records: buildings, issues …)."""
        if self.county_wide:
            return true()
        if self.area_id is None:
            return false()
        return area_column.in_(subtree(self.area_id))

    def outlines(self, area_column: Any) -> ColumnElement[bool]:
        """Areas the user may see on the map: their subtree and the areas above it."""
        if self.county_wide:
            return true()
        if self.area_id is None:
            return false()
        return or_(area_column.in_(subtree(self.area_id)), area_column.in_(ancestors(self.area_id)))

    def personal(self, area_column: Any) -> ColumnElement[bool]:
        """Rows whose personal data the user may see."""
        if self.role == "viewer":
            return false()
        return self.reads(area_column)

    # --- checks in Python ----------------------------------------------------------------

    def reads_along(self, path: list[int]) -> bool:
        """reads() for the first area of a whole path (innermost first, up to the county),
        without a query: the user's own area is that area or one above it."""
        return self.county_wide or (self.area_id is not None and self.area_id in path)

    def personal_along(self, path: list[int]) -> list[bool]:
        """personal() for each area of a whole path, innermost first up to the county,
        without a query: an area's personal data shows where the user's own area is the
        area itself or one above it."""
        if self.role == "viewer":
            return [False] * len(path)
        if self.county_wide:
            return [True] * len(path)
        if self.area_id not in path:
            return [False] * len(path)
        mine = path.index(self.area_id)
        return [i <= mine for i in range(len(path))]

    def personal_areas(self, session: Session, area_ids: list[int]) -> set[int]:
        """Which of these areas' records show personal data to this user."""
        if not area_ids:
            return set()
        return set(session.scalars(select(Area.id).where(Area.id.in_(area_ids), self.personal(Area.id))))

    def require_area(self, session: Session, area_id: int | None, *, manage: bool = False) -> None:
        """Forbidden unless the area is in the user's scope (and, for `manage`, the role
        may manage assignments there)."""
        if manage and self.role not in MANAGE_ASSIGNMENTS:
            raise Forbidden(N_("your role may not change responsibilities"))
        if self.county_wide:
            return
        if area_id is None or not session.scalar(select(literal(True)).where(self.reads(literal(area_id)))):
            raise Forbidden(N_("this is outside your area"))

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden(N_("only an administrator may do this"))


def mask_phone(phone: str) -> str:
    """138****1234: enough to tell numbers apart, not enough to call."""
    digits = phone.strip()
    if len(digits) >= 8:
        return digits[:3] + "****" + digits[-4:]
    return "****" if digits else ""


def mask_name(name: str) -> str:
    """张** : the family name only."""
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""
