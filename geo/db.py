"""Engines and sessions. The caller (a request, a CLI command, a test) owns the transaction."""

from __future__ import annotations

import datetime as dt
import weakref
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from geo import audit


def database_url(url: str | URL) -> URL:
    """The URL with our driver: SQLAlchemy 2.1 reads a bare postgresql:// (or Heroku-style
    postgres://) as psycopg 3, and we ship psycopg2."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


# The county's clock: "today" (an assignment in force, a visit window) is the county's
# day, whatever time zone the database server runs in.
TIMEZONE = "Asia/Shanghai"


def county_today(session: Session) -> dt.date:
    """The county's day: the database's, whose session time zone make_engine sets."""
    return session.scalar(select(func.current_date()))  # type: ignore[return-value]


# Chinese names sort by pinyin (东门 after 县住建局, as a phone's contacts do) where the
# server has ICU; by code point otherwise.
PINYIN = "zh-x-icu"


def by_pinyin(session: Session, column: Any) -> Any:
    """`column` to ORDER BY in pinyin order, if this server knows the collation."""
    engine = session.get_bind()
    known = _PINYIN_KNOWN.get(engine)
    if known is None:
        known = bool(session.scalar(select(func.count()).select_from(text("pg_collation"))
                                    .where(text("collname = :name")).params(name=PINYIN)))
        _PINYIN_KNOWN[engine] = known
    return column.collate(PINYIN) if known else column


_PINYIN_KNOWN: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def make_engine(url: str | URL, timezone: str = TIMEZONE, **kwargs: Any) -> Engine:
    # JIT compilation pays off for long analytical scans; for ours a misestimated row count
    # switches it on and it costs more than the query (measured: 470 ms of 1.46 s for
    # county-wide coverage). Off for our connections.
    return create_engine(
        database_url(url), pool_pre_ping=True, connect_args={"options": f"-c timezone={timezone} -c jit=off"},
        **kwargs,
    )


def session_factory(bind: Any, **kwargs: Any) -> sessionmaker[Session]:
    """Sessions whose writes are recorded in the audit log."""
    return audit.install(sessionmaker(bind=bind, expire_on_commit=False, **kwargs))
