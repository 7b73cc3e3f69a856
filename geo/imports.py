"""GeoJSON imports of areas and buildings (to be implemented)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session


@dataclass
class Rejection:
    label: str
    reason: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def accepted(self) -> int:
        return self.created + self.updated


def read_features(data: bytes) -> list[dict[str, Any]]:
    raise NotImplementedError


def import_areas(session: Session, features: list[dict[str, Any]], **kwargs: Any) -> ImportReport:
    raise NotImplementedError


def import_buildings(session: Session, features: list[dict[str, Any]], **kwargs: Any) -> ImportReport:
    raise NotImplementedError
