"""The demo county (to be implemented)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session


def is_loaded(session: Session) -> bool:
    raise NotImplementedError


def load(session: Session, scale: int = 1, *, password: str, progress: Callable[[float], None] | None = None) -> dict[str, int]:
    raise NotImplementedError
