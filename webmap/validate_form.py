"""Form posts read with the same field checks as JSON bodies."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import flash, redirect, request
from flask_babel import gettext
from werkzeug.wrappers import Response

from geo import photos
from geo.errors import N_, BadRequest, GridwalkError
from geo.validate import Fields
from webmap import db
from webmap.i18n import message

# Sent with every form; not a field of the record.
_FORM_ONLY = ("csrf_token",)


def form_data() -> dict[str, str]:
    """The posted form as a plain dict (first value of each field), without the CSRF token."""
    return {k: v for k, v in request.form.items() if k not in _FORM_ONLY}


def form_fields(allowed: Iterable[str]) -> Fields:
    return Fields(form_data(), allowed)


def uploaded_photos() -> list[tuple[str, bytes]]:
    """The files of a multipart post (name, bytes), all named "photos"; each read to one byte
    past the limit, enough to know it is too large."""
    unknown = set(request.files) - {"photos"}
    if unknown:
        raise BadRequest(N_("unknown field: %(field)s"), code="unknown_field", field=sorted(unknown)[0][:40])
    files = []
    for upload in request.files.getlist("photos"):
        try:
            data = upload.stream.read(photos.MAX_BYTES + 1)
        finally:
            upload.close()  # a large upload sits in a temporary file
        if data or upload.filename:  # a form with no file chosen sends an empty, nameless part
            files.append((upload.filename or "photo", data))
    return files


def save_and_return(write: Callable[[], object], back: str, done: str | None = None) -> Response:
    """A form post's write, in the request's transaction: committed with `done` (or "Saved.")
    flashed, or rolled back with the reason flashed; either way back to the page `back`."""
    try:
        write()
    except GridwalkError as error:
        db.session().rollback()
        flash(message(error), "error")
    else:
        flash(done or gettext("Saved."), "ok")
    return redirect(back)
