"""Logins and API tokens. Passwords are stored as scrypt hashes, tokens as SHA-256
digests; repeated failed logins lock an account for a while."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
import secrets

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from geo import audit
from geo.errors import N_, BadRequest, Conflict, NotFound, TooManyRequests, Unauthorized
from geo.models import ROLES, ApiToken, Area, LoginAddress, LoginSession, User
from geo.validate import storable_id

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
# Failed logins from one address in a LOCKOUT window, whatever the user names. Generous:
# a township office may put a hundred officers behind one address.
MAX_ADDRESS_FAILURES = 50
MIN_PASSWORD_LENGTH = 8


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def create_user(
    session: Session, username: str, password: str, role: str, area_code: str | None = None
) -> User:
    username = username.strip()
    if not 1 <= len(username) <= 64:
        raise BadRequest(N_("a user name has 1 to 64 characters"))
    if role not in ROLES:
        raise BadRequest(N_("role must be one of %(roles)s"), roles=", ".join(ROLES))
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(N_("a password has at least %(n)s characters"), n=MIN_PASSWORD_LENGTH)
    if session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise Conflict(N_("there is already a user called %(name)s"), name=username)
    area = None
    if area_code is not None:
        area = session.scalar(select(Area).where(Area.code == area_code))
        if area is None:
            raise NotFound(N_("no area with code %(area_code)s"), area_code=area_code)
    check_role_area(role, area)
    user = User(
        username=username,
        password_hash=generate_password_hash(password, method="scrypt"),
        role=role,
        area=area,
    )
    session.add(user)
    session.flush()
    return user


# The level of area each role works in; a role missing here may have any area or none.
ROLE_AREA_LEVELS = {
    "county": ("county",),
    "township": ("township",),
    "community": ("community",),
    "grid": ("grid",),
    "party": ("grid", "community"),
}


def check_role_area(role: str, area: Area | None) -> None:
    """A township officer works in a township, a grid member in a grid …: a role given an
    area of another level would read far more (or less) than its job needs."""
    levels = ROLE_AREA_LEVELS.get(role)
    if levels is None or (area is None and role == "county"):
        return
    if area is None or area.level not in levels:
        raise BadRequest(N_("a %(role)s user needs an area of level %(levels)s"), code="role_area",
                         role=role, levels=" / ".join(levels))


def authenticate(session: Session, username: str, password: str, address: str | None = None) -> User:
    """The user with these credentials; Unauthorized otherwise, with one message whatever
    went wrong (unknown name, wrong password, locked), so it reveals no user names.

    Each try is counted in the database *before* the password is checked, so parallel
    guesses cannot outrun the count: the sixth try in a row locks the login for LOCKOUT.
    A success, a quiet LOCKOUT period or a new password starts the count again. Tries from
    one network `address` are counted too, across user names: past MAX_ADDRESS_FAILURES
    failures in a window, the address is refused (TooManyRequests) until the window ends.
    """
    address = network_of(address)
    if address:
        _count_address_try(session, address)
    refused = Unauthorized(N_("wrong user name or password (after 5 failed tries a login is locked for 15 minutes)"))
    user = session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))
    if user is None or not user.active:
        check_password_hash(_dummy_hash(), password)
        raise refused
    tries = session.execute(
        update(User)
        .where(User.id == user.id, or_(User.locked_until.is_(None), User.locked_until <= func.now()))
        .values(
            failed_logins=case((User.tried_at < func.now() - LOCKOUT, 1), else_=User.failed_logins + 1),
            tried_at=func.now(),
        )
        .returning(User.failed_logins)
    ).scalar()
    if tries is None or tries > MAX_FAILED_LOGINS:
        if tries is not None:
            session.execute(
                update(User).where(User.id == user.id).values(locked_until=now() + LOCKOUT, failed_logins=0)
            )
        check_password_hash(_dummy_hash(), password)
        raise refused
    if not check_password_hash(user.password_hash, password):
        raise refused
    session.execute(update(User).where(User.id == user.id).values(failed_logins=0, locked_until=None))
    if address:  # a success is not a failure: only its own try is taken back
        session.execute(update(LoginAddress).where(LoginAddress.address == address)
                        .values(failures=func.greatest(LoginAddress.failures - 1, 0)))
    session.refresh(user)
    return user


def network_of(address: str | None) -> str | None:
    """What failed logins are counted against: an IPv4 address, or an IPv6 /64 (one phone or
    home line holds a whole /64). None for no address, or for this machine's own: that is a
    reverse proxy whose X-Forwarded-For the app was not told to trust (GRIDWALK_PROXIES), and
    counting it would let anyone lock the whole county out."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None
    if ip.is_loopback:
        return None
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _count_address_try(session: Session, address: str) -> None:
    table = LoginAddress.__table__
    stale = table.c.window_from < func.now() - LOCKOUT
    row = session.execute(
        insert(table).values(address=address, failures=1, window_from=func.now())
        .on_conflict_do_update(index_elements=[table.c.address], set_={
            "failures": case((stale, 1), else_=table.c.failures + 1),
            "window_from": case((stale, func.now()), else_=table.c.window_from),
        })
        .returning(table.c.failures, table.c.window_from)
    ).one()
    # Forgotten addresses go, so the table holds only the current window's; rows another
    # login holds are left for the next one (waiting on them would queue, even deadlock, logins).
    lapsed = select(table.c.address).where(stale, table.c.address != address).with_for_update(skip_locked=True)
    session.execute(delete(table).where(table.c.address.in_(lapsed)))
    if row.failures > MAX_ADDRESS_FAILURES:
        wait = row.window_from + LOCKOUT - now()
        raise TooManyRequests(N_("too many failed logins from your network; try again in %(minutes)s minutes"),
                              minutes=max(1, -(-int(wait.total_seconds()) // 60)))


@functools.cache
def _dummy_hash() -> str:
    # Checked against when the user does not exist, so every refusal takes as long.
    return generate_password_hash("not a password", method="scrypt")


def change_password(session: Session, user: User, current: str, new: str, keep: str | None = None) -> None:
    """Set a new password after checking the current one; the user's other logins end
    (all but the session token `keep`)."""
    if not check_password_hash(user.password_hash, current):
        raise BadRequest(N_("the current password is wrong"), code="wrong_password")
    set_password(session, user, new, keep=keep)


def set_password(session: Session, user: User, new: str, keep: str | None = None) -> None:
    if len(new) < MIN_PASSWORD_LENGTH:
        raise BadRequest(N_("a password has at least %(n)s characters"), n=MIN_PASSWORD_LENGTH)
    if len(new) > 1024:
        raise BadRequest(N_("a password has at most %(n)s characters"), n=1024)
    user.password_hash = generate_password_hash(new, method="scrypt")
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    # Whoever knew the old password may hold a login or a token: both end.
    end_sessions(session, user, keep=keep)
    revoke_tokens(session, user)


# --- browser logins -----------------------------------------------------------------------

SESSION_IDLE = dt.timedelta(days=7)
SESSION_MAX = dt.timedelta(days=30)


def open_session(session: Session, user: User, user_agent: str = "") -> str:
    """A new login for a browser; the token goes in its (signed) cookie, a digest here."""
    token = secrets.token_urlsafe(32)
    session.add(LoginSession(user_id=user.id, token_hash=_digest(token), user_agent=user_agent[:200]))
    session.flush()
    return token


def session_user(session: Session, token: str) -> User | None:
    """The user of a login that is still open: not ended, used within SESSION_IDLE, and
    younger than SESSION_MAX."""
    if not token or len(token) > 200:
        return None
    row = session.scalar(
        select(LoginSession).options(joinedload(LoginSession.user)).where(
            LoginSession.token_hash == _digest(token),
            LoginSession.ended_at.is_(None),
            LoginSession.last_seen_at > func.now() - SESSION_IDLE,
            LoginSession.created_at > func.now() - SESSION_MAX,
        )
    )
    if row is None or not row.user.active:
        return None
    if now() - row.last_seen_at > dt.timedelta(minutes=5):
        row.last_seen_at = now()
    return row.user


def end_session(session: Session, token: str) -> None:
    session.execute(
        update(LoginSession)
        .where(LoginSession.token_hash == _digest(token), LoginSession.ended_at.is_(None))
        .values(ended_at=func.now())
    )


def end_sessions(session: Session, user: User, keep: str | None = None) -> None:
    """End every login of the user (but `keep`): after a password change, or a lost phone."""
    stmt = update(LoginSession).where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
    if keep:
        stmt = stmt.where(LoginSession.token_hash != _digest(keep))
    ended = session.execute(stmt.values(ended_at=func.now()).returning(LoginSession.id)).scalars().all()
    if ended:  # a bulk update the ORM's audit hook does not see
        audit.record(session, "update", "login_sessions", after={"user_id": user.id, "ended": len(ended)})


# --- API tokens ---------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_named(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))
    if user is None:
        raise NotFound(N_("no user called %(name)s"), name=username)
    return user


def create_token(session: Session, user: User | str, name: str = "") -> tuple[ApiToken, str]:
    """A new API token for the user: the record, and the plain token, which is returned
    this once and never stored."""
    if isinstance(user, str):
        user = user_named(session, user)
    if len(name) > 100:
        raise BadRequest(N_("a token's name has at most %(n)s characters"), n=100)
    token = "gw_" + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_hash=_digest(token))
    session.add(row)
    session.flush()
    return row, token


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int, by: User | None) -> ApiToken:
    """Revoke a token; users revoke their own, administrators (and the command line,
    `by` None) anyone's."""
    row = session.get(ApiToken, token_id) if storable_id(token_id) else None
    if row is None or (by is not None and row.user_id != by.id and by.role != "admin"):
        raise NotFound(N_("no token with id %(id)s"), id=token_id)
    if row.revoked_at is None:
        row.revoked_at = now()
        session.flush()
    return row


def revoke_tokens(session: Session, user: User) -> None:
    revoked = session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=func.now())
        .returning(ApiToken.id)
    ).scalars().all()
    for token_id in revoked:  # a bulk update the ORM's audit hook does not see
        audit.record(session, "update", "api_tokens", record_id=token_id,
                     after={"user_id": user.id, "revoked": True})


def user_for_token(session: Session, token: str) -> User | None:
    if not token or len(token) > 200:
        return None
    row = session.scalar(
        # The user in the same round trip: every request made with a token asks for it.
        select(ApiToken).options(joinedload(ApiToken.user))
        .where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
    )
    if row is None or not row.user.active:
        return None
    # Noted at most every few minutes, so reading the API does not mean writing per request.
    if row.last_used_at is None or now() - row.last_used_at > dt.timedelta(minutes=10):
        row.last_used_at = now()
    return row.user
