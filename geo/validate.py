"""Reading fields out of a request body (a JSON object or a form), each checked, with a
message that names the field. Everything arrives as untrusted text or JSON values."""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from geo.errors import N_, BadRequest

# Control, format (RTL marks, zero-width joiners), surrogate, private-use and unassigned
# characters: never wanted in a name or a note, and the usual tools of text spoofing.
_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
_PHONE = re.compile(r"^\+?[0-9][0-9\- ]{2,30}$")
# Names of people, units and logins hold letters, marks, digits, spaces and punctuation;
# never symbols such as emoji.
_SYMBOL_CATEGORIES = {"So", "Sk", "Sm"}
_USERNAME = re.compile(r"^[\w.@-]+$")
# The id a phone gives a record it may have to send again (a UUID, usually).
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
# A plain ASCII decimal: float() alone would also take "１０９", "1_0", "nan" or "inf".
DECIMAL = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?\s*", re.ASCII)
MAX_ID = 2**31 - 1


def printable(text: str, limit: int = 40) -> str:
    """Text safe to echo in a message: no control, invisible or unpaired characters."""
    return "".join(c if unicodedata.category(c) not in _FORBIDDEN_CATEGORIES else "?" for c in text[:limit])


class Fields:
    """The fields of one request body; unknown fields are refused, so a typo is not
    silently ignored."""

    def __init__(self, data: Any, allowed: Iterable[str]) -> None:
        if not isinstance(data, Mapping):
            raise BadRequest(N_("the body must be a JSON object"), code="invalid_body")
        unknown = sorted(str(k) for k in data if k not in set(allowed))
        if unknown:
            raise BadRequest(N_("unknown field: %(field)s"), code="unknown_field", field=printable(unknown[0]))
        self.data = data

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def _raw(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if isinstance(value, str) and value.strip() == "":
            value = None
        if value is None and required:
            raise BadRequest(N_("%(field)s is required"), code="missing_field", field=name)
        return value

    def text(self, name: str, *, max_length: int, required: bool = False, multiline: bool = False) -> str:
        value = self._raw(name, required)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise BadRequest(N_("%(field)s must be text"), field=name)
        value = normalised(value, multiline=multiline)
        if len(value) > max_length:
            raise BadRequest(N_("%(field)s has at most %(n)s characters"), field=name, n=max_length)
        for char in value:
            if multiline and char in "\n\t":
                continue
            if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
                raise BadRequest(N_("%(field)s contains a control or invisible character"), field=name)
        return value

    def name(self, name: str, *, max_length: int, required: bool = False) -> str:
        """A name of a person, unit or place: text without symbols or emoji."""
        value = self.text(name, max_length=max_length, required=required)
        if any(unicodedata.category(c) in _SYMBOL_CATEGORIES for c in value):
            raise BadRequest(N_("%(field)s may not contain symbols or emoji"), field=name)
        return value

    def username(self, name: str, *, required: bool = False) -> str:
        value = self.text(name, max_length=64, required=required)
        if value and not _USERNAME.match(value):
            raise BadRequest(N_("%(field)s may hold letters, digits and . _ - @ only"), field=name)
        return value

    def client_id(self, name: str = "client_id") -> str | None:
        """The id the sender gave the record, so that a retry is recognised; optional."""
        value = self.text(name, max_length=64) or None
        if value is not None and not _CLIENT_ID.match(value):
            raise BadRequest(N_("client_id must be 8 to 64 letters, digits or . _ : -"), code="bad_client_id")
        return value

    def phone(self, name: str) -> str:
        value = self.text(name, max_length=32)
        if value and not _PHONE.match(value):
            raise BadRequest(N_("%(field)s must be a phone number (digits, spaces, dashes)"), field=name)
        return value

    def integer(self, name: str, *, required: bool = False, minimum: int = 1, maximum: int = MAX_ID) -> int | None:
        value = self._raw(name, required)
        if value is None:
            return None
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,12}", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadRequest(N_("%(field)s must be a whole number"), field=name)
        if not minimum <= value <= maximum:
            raise BadRequest(N_("%(field)s must be between %(min)s and %(max)s"), field=name,
                             min=minimum, max=maximum)
        return value

    def ids(self, name: str, *, most: int = 100) -> list[int]:
        """A list of ids: a JSON list, or comma-separated text from a form."""
        raw = self.data.get(name)
        if raw in (None, "", []):
            return []
        if isinstance(raw, str):
            raw = [part.strip() for part in raw.split(",") if part.strip()]
        if not isinstance(raw, list) or len(raw) > most:
            raise BadRequest(N_("%(field)s must be a list of ids"), field=name)
        return [Fields({name: v}, (name,)).integer(name, required=True) or 0 for v in raw]

    def number(self, name: str, *, required: bool = False) -> float | None:
        """A finite number, given as a JSON number or as decimal text."""
        raw = self._raw(name, required)
        if raw is None:
            return None
        if isinstance(raw, str) and DECIMAL.fullmatch(raw):
            raw = float(raw)
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise BadRequest(N_("%(field)s must be a number"), field=name)
        return float(raw)

    def date(self, name: str, *, required: bool = False) -> dt.date | None:
        value = self._raw(name, required)
        if value is None:
            return None
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise BadRequest(N_("%(field)s must be a date (YYYY-MM-DD)"), field=name)
        try:
            day = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise BadRequest(N_("%(field)s must be a date (YYYY-MM-DD)"), field=name) from None
        if not 1900 <= day.year <= 2200:
            raise BadRequest(N_("%(field)s must be a date (YYYY-MM-DD)"), field=name)
        return day

    def boolean(self, name: str, *, default: bool = False) -> bool:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if value in ("true", "on", "1", 1):
            return True
        if value in ("false", "off", "0", 0):
            return False
        raise BadRequest(N_("%(field)s must be true or false"), field=name)

    def choice(self, name: str, choices: Iterable[str], *, required: bool = False) -> str | None:
        value = self._raw(name, required)
        options = tuple(choices)
        if value is None:
            return None
        if value not in options:
            raise BadRequest(N_("%(field)s must be one of %(choices)s"), field=name, choices=", ".join(options))
        return value


def normalised(value: str, *, multiline: bool = False) -> str:
    """Text as it is stored: NFC, trimmed and, if multi-line, with one kind of line break
    (browsers send a form's and a FormData's line breaks as CRLF)."""
    value = unicodedata.normalize("NFC", value.strip())
    if multiline:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def storable_id(record_id: int) -> bool:
    """Whether an id could name a row at all: a URL may carry any number, a column not."""
    return 0 < record_id <= MAX_ID
