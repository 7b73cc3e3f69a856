"""One database session per request, opened on first use and closed at the end.
Views that write call `commit()` themselves before answering: the request owns the
transaction, and a failed commit must reach the client as an error."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from geo.db import make_engine, session_factory


def init_app(app: Flask) -> None:
    url = app.config["DATABASE_URL"]
    if url:
        app.extensions["gridwalk.sessions"] = session_factory(make_engine(url, app.config["TIMEZONE"]))
    app.teardown_appcontext(_close)


def session() -> Session:
    if "db" not in g:
        factory = current_app.extensions.get("gridwalk.sessions")
        if factory is None:
            raise RuntimeError("DATABASE_URL is not set: point it at a PostGIS database")
        g.db = factory()
    return g.db


def _close(_exc: BaseException | None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.rollback()
        db.close()
