"""Logins and API tokens. Passwords are stored as scrypt hashes, tokens as SHA-256
digests; repeated failed logins lock an account for a while."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from geo.errors import N_, BadRequest, Conflict, NotFound, Unauthorized
from geo.models import ROLES, ApiToken, Area, User

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 8
# A hash to check against when the user does not exist, so both paths take as long.
_DUMMY_HASH = generate_password_hash("not a password", method="scrypt")


def _now() -> dt.datetime:
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
    user = User(
        username=username,
        password_hash=generate_password_hash(password, method="scrypt"),
        role=role,
        area=area,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User:
    """The user with these credentials; Unauthorized otherwise, with the same message
    whether the name or the password was wrong."""
    user = session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        raise Unauthorized(N_("wrong user name or password"))
    if user.locked_until and user.locked_until > _now():
        raise Unauthorized(
            N_("too many failed logins: try again after %(time)s"),
            code="locked",
            time=user.locked_until.astimezone().strftime("%H:%M"),
        )
    if not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = _now() + LOCKOUT
            user.failed_logins = 0
        session.flush()
        raise Unauthorized(N_("wrong user name or password"))
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, username: str, name: str = "") -> str:
    """A new API token for the user; the plain token is returned once and never stored."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(N_("no user called %(name)s"), name=username)
    token = "gw_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name, token_hash=_digest(token)))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
    )
    if row is None or not row.user.active:
        return None
    return row.user
