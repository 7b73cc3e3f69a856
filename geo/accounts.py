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
    if user.locked_until and user.locked_until > now():
        raise Unauthorized(
            N_("too many failed logins: try again after %(time)s"),
            code="locked",
            time=user.locked_until.astimezone().strftime("%H:%M"),
        )
    if not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now() + LOCKOUT
            user.failed_logins = 0
        session.flush()
        raise Unauthorized(N_("wrong user name or password"))
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    return user


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """Set a new password after checking the current one; other sessions of the user end."""
    if not check_password_hash(user.password_hash, current):
        raise BadRequest(N_("the current password is wrong"), code="wrong_password")
    set_password(session, user, new)


def set_password(session: Session, user: User, new: str) -> None:
    if len(new) < MIN_PASSWORD_LENGTH:
        raise BadRequest(N_("a password has at least %(n)s characters"), n=MIN_PASSWORD_LENGTH)
    if len(new) > 1024:
        raise BadRequest(N_("a password has at most %(n)s characters"), n=1024)
    user.password_hash = generate_password_hash(new, method="scrypt")
    user.session_epoch += 1
    user.failed_logins = 0
    user.locked_until = None
    session.flush()


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


def revoke_token(session: Session, token_id: int, by: User) -> ApiToken:
    """Revoke a token; users revoke their own, administrators anyone's."""
    row = session.get(ApiToken, token_id) if 0 < token_id < 2**31 else None
    if row is None or (row.user_id != by.id and by.role != "admin"):
        raise NotFound(N_("no token with id %(id)s"), id=token_id)
    if row.revoked_at is None:
        row.revoked_at = now()
        session.flush()
    return row


def user_for_token(session: Session, token: str) -> User | None:
    if not token or len(token) > 200:
        return None
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
    )
    if row is None or not row.user.active:
        return None
    # Noted at most every few minutes, so reading the API does not mean writing per request.
    if row.last_used_at is None or now() - row.last_used_at > dt.timedelta(minutes=10):
        row.last_used_at = now()
    return row.user
