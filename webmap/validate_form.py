"""Form posts read with the same field checks as JSON bodies."""

from __future__ import annotations

from collections.abc import Iterable

from flask import request

from geo.validate import Fields

# Sent with every form; not a field of the record.
_FORM_ONLY = ("csrf_token",)


def form_data() -> dict[str, str]:
    """The posted form as a plain dict (first value of each field), without the CSRF token."""
    return {k: v for k, v in request.form.items() if k not in _FORM_ONLY}


def form_fields(allowed: Iterable[str]) -> Fields:
    return Fields(form_data(), allowed)
