"""One database session per request, opened on first use and closed at the end, and one
unit of work: what a request wrote is committed once, after its view has answered with
success (below 400), and rolled back otherwise, raised or answered. The commit runs
before the answer leaves (App.dispatch_request), so a commit that fails (a lost race, the
database gone) reaches the client through the one error handler instead of a false
"saved"; views never commit."""

from __future__ import annotations

from flask import Flask, Response, current_app, g
from flask.typing import ResponseReturnValue
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


def finish(response: Response) -> None:
    db = g.get("db")
    if db is None:
        return
    if response.status_code < 400:
        db.commit()
    else:
        db.rollback()


class App(Flask):
    def dispatch_request(self) -> ResponseReturnValue:
        response = self.make_response(super().dispatch_request())
        finish(response)
        return response


def _close(_exc: BaseException | None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.rollback()
        db.close()
