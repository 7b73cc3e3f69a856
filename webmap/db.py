"""One database session per request, opened on first use and closed at the end, and one
unit of work: what a request wrote is committed once, after its view has answered with
success (below 400), and rolled back otherwise, raised or answered. The commit runs
before the answer leaves (App.dispatch_request), so a commit that fails (a lost race, the
database gone) reaches the client through the one error handler instead of a false
"saved"; views never commit.

With DATABASE_READ_URL (a streaming replica of DATABASE_URL), views that only read map data
ask for read_session() and are served by the replica, once it has replayed the user's own
last write: a user who has just stored something reads it back on their next request, from
the primary while the replica is behind. Logins, scope checks and writes stay on the primary."""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Text, cast, func, text, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from geo.db import make_engine, session_factory
from geo.models import User

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

# On the replica: has it replayed the primary's WAL up to the user's last write? (NULL from
# pg_last_wal_replay_lsn() means the read URL is not in recovery, so nothing is behind.)
_CAUGHT_UP = text("SELECT CAST(:mark AS pg_lsn) IS NULL "
                  "OR coalesce(pg_last_wal_replay_lsn() >= CAST(:mark AS pg_lsn), true)")


def init_app(app: Flask) -> None:
    url = app.config["DATABASE_URL"]
    if url:
        app.extensions["gridwalk.sessions"] = session_factory(make_engine(url, app.config["TIMEZONE"]))
    read_url = app.config.get("DATABASE_READ_URL")
    if read_url:
        app.extensions["gridwalk.read_sessions"] = session_factory(make_engine(read_url, app.config["TIMEZONE"]))
    app.teardown_appcontext(_close)


def session() -> Session:
    if "db" not in g:
        factory = current_app.extensions.get("gridwalk.sessions")
        if factory is None:
            raise RuntimeError("DATABASE_URL is not set: point it at a PostGIS database")
        g.db = factory()
    return g.db


def read_session() -> Session:
    """The session for a view that only reads map data: the replica when there is one, it
    answers, and it has replayed the user's last write; the primary's session otherwise."""
    if "read_db" in g:
        return g.read_db
    factory = current_app.extensions.get("gridwalk.read_sessions")
    if factory is None or request.method not in SAFE_METHODS:
        return session()
    replica = factory()
    user = g.get("user")
    try:
        caught_up = replica.scalar(_CAUGHT_UP, {"mark": user.wrote_lsn if user is not None else None})
    except (OperationalError, InterfaceError):
        current_app.logger.warning("the read replica does not answer: reading from the primary")
        caught_up = False
    if not caught_up:
        replica.close()
        return session()
    g.read_db = replica
    return replica


def finish(response: Response) -> None:
    db = g.get("db")
    if db is None:
        return
    if response.status_code < 400:
        db.commit()
        if request.method not in SAFE_METHODS and "gridwalk.read_sessions" in current_app.extensions:
            _mark_written(db)
    else:
        db.rollback()


def _mark_written(db: Session) -> None:
    """Note on the user where the primary's WAL stands now that the request's writes are
    committed: their reads go back to the replica once it has replayed this far."""
    user = g.get("user")
    if user is None:
        return
    try:
        db.execute(update(User).where(User.id == user.id).values(
            wrote_lsn=cast(func.pg_current_wal_lsn(), Text),
            updated_at=User.updated_at))  # bookkeeping, not a change to the account
        db.commit()
    except (OperationalError, InterfaceError):
        # The write itself is stored; only the next read may come from a replica behind it.
        db.rollback()
        current_app.logger.warning("could not note the write position for the read replica")


class App(Flask):
    def dispatch_request(self) -> ResponseReturnValue:
        response = self.make_response(super().dispatch_request())
        finish(response)
        return response


def _close(_exc: BaseException | None) -> None:
    for name in ("db", "read_db"):
        db = g.pop(name, None)
        if db is not None:
            db.rollback()
            db.close()
