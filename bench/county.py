"""What every benchmark starts from: the database DATABASE_URL names, holding a demo county
(loaded at the script's scale if it holds none)."""

from __future__ import annotations

import os
import sys
import time

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from geo import demo
from geo.db import make_engine, session_factory


def open_county(scale: int, make_target: str) -> tuple[Engine, sessionmaker[Session]] | None:
    """The engine and sessions of the benchmark's database, or None (said why) without one."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        print(f"set DATABASE_URL (or run `make {make_target}`)", file=sys.stderr)
        return None
    engine = make_engine(url)
    factory = session_factory(engine)
    with factory() as session:
        if not demo.is_loaded(session):
            started = time.monotonic()
            with click.progressbar(length=100, label=f"loading the demo county at scale {scale}",
                                   file=sys.stderr) as bar:
                demo.load(session, scale=scale, password="bench-only-password",
                          progress=lambda done: bar.update(max(0, int(done * 100) - bar.pos)))
            session.commit()
            print(f"demo county loaded in {time.monotonic() - started:.0f} s", file=sys.stderr)
        else:
            print("a county is loaded already: measuring on it, --scale is not applied", file=sys.stderr)
    return engine, factory


def officer_token(session: Session, username: str) -> str:
    """An API token of a county officer named `username`, made with the user if new."""
    from geo import accounts
    from geo.models import User

    user = session.query(User).filter_by(username=username).one_or_none()
    if user is None:
        user = accounts.create_user(session, username, "bench-only-password", "county")
    return accounts.create_token(session, user, "bench")[1]
