"""Households (住户) of a building: saved one at a time (from a spreadsheet) or generated
for a whole building from its units × floors × rooms per floor.

A household's address in its building is (unit, floor, room); it is unique, so saving an
address that exists updates that household and generating again adds only what is missing.
Rooms are numbered as doors are in Chinese blocks: floor, then the room's place on that
floor in two digits — 1单元 3层 room 2 is door 302, 12层 room 1 is 1201.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from geo.errors import N_, BadRequest, NotFound
from geo.models import Building, Household
from geo.scope import Scope
from geo.validate import Fields

FIELDS = ("unit_no", "floor", "room", "residents", "head_name", "phone", "active")
MAX_UNITS, MAX_FLOORS, MAX_ROOMS = 30, 100, 30
# Basements (-3层) hold dwellings in some blocks; nothing lives deeper.
LOWEST_FLOOR = -5


def door(floor: int, room: int) -> str:
    """The door number of a floor's room-th dwelling: 3, 2 → "302"."""
    return f"{floor}{room:02d}"


def address(household: Household) -> str:
    """1单元 3层 302: how a household is written on a door and in a register."""
    return f"{household.unit_no}单元 {household.floor}层 {household.room}"


def building_by_ref(session: Session, ref: str) -> Building:
    """A building by the id it was imported with (source_id) or, failing that, its record id.
    The source id is tried first: it is what a county's own registers name."""
    ref = ref.strip()
    found = session.scalar(select(Building).where(Building.source_id == ref)) if ref else None
    if found is None and ref.isdigit() and 0 < int(ref) < 2**31:
        found = session.get(Building, int(ref))
    if found is None:
        raise NotFound(N_("no building with source id or id %(ref)s"), code="unknown_building", ref=ref[:64])
    return found


def save(session: Session, scope: Scope, building: Building, data: Any) -> tuple[Household, bool]:
    """Create the household at (unit_no, floor, room) of the building, or update the one
    already there with the values given (a value left out is kept). Returns it and whether
    it is new."""
    scope.require_area(session, building.area_id, manage=True)
    fields = Fields(data, FIELDS)
    unit_no = fields.integer("unit_no", maximum=MAX_UNITS) or 1
    floor = fields.integer("floor", required=True, minimum=LOWEST_FLOOR, maximum=MAX_FLOORS)
    room = fields.text("room", max_length=16, required=True)
    with session.no_autoflush:
        household = session.scalar(select(Household).where(
            Household.building_id == building.id, Household.unit_no == unit_no,
            Household.floor == floor, Household.room == room))
    created = household is None
    if household is None:
        household = Household(building_id=building.id, unit_no=unit_no, floor=floor, room=room, residents=1)
        session.add(household)
    if fields.integer("residents", minimum=0, maximum=99) is not None:
        household.residents = fields.integer("residents", minimum=0, maximum=99) or 0
    if fields.name("head_name", max_length=100):
        household.head_name = fields.name("head_name", max_length=100)
    if fields.phone("phone"):
        household.phone = fields.phone("phone")
    if "active" in fields:
        household.active = fields.boolean("active", default=True)
    session.flush()
    return household, created


@dataclass
class Generated:
    created: int
    existing: int


def generate(session: Session, scope: Scope, building: Building, *, units: int, floors: int,
             rooms: int) -> Generated:
    """Every household of a building of `units` units (单元), `floors` floors and `rooms`
    dwellings per floor, numbered as `door` does. Addresses already there are kept as they
    are (residents, head, phone), so running it again adds nothing."""
    scope.require_area(session, building.area_id, manage=True)
    for name, value, most in (("units", units, MAX_UNITS), ("floors", floors, MAX_FLOORS),
                              ("rooms", rooms, MAX_ROOMS)):
        if not 1 <= value <= most:
            raise BadRequest(N_("%(field)s must be between %(min)s and %(max)s"), field=name, min=1, max=most)
    wanted = [(u, f, door(f, r)) for u in range(1, units + 1) for f in range(1, floors + 1)
              for r in range(1, rooms + 1)]
    have = set(session.execute(
        select(Household.unit_no, Household.floor, Household.room).where(
            Household.building_id == building.id,
            tuple_(Household.unit_no, Household.floor, Household.room).in_(wanted))
    ))
    # Residents are not known until someone counts them: 0, not a guess.
    new = [Household(building_id=building.id, unit_no=u, floor=f, room=room, residents=0)
           for u, f, room in wanted if (u, f, room) not in have]
    session.add_all(new)
    if building.floors is None:
        building.floors = floors
    session.flush()
    return Generated(created=len(new), existing=len(wanted) - len(new))
