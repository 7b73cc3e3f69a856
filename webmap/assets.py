"""URLs of the files under static/, with a digest of their content: a phone never keeps
running yesterday's script (and its offline queue) against today's server."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import click
from flask import Flask, Response, current_app, request, url_for


@functools.cache
def _digest(folder: str, path: str) -> str:
    try:
        return hashlib.sha256((Path(folder) / path).read_bytes()).hexdigest()[:12]
    except OSError:
        return "0"  # a missing file: Flask answers 404 for it as before


def static_url(path: str) -> str:
    return url_for("static", filename=path, v=_digest(current_app.static_folder or "", path))


def buffered(response: Response) -> Response:
    """A file from static/ read whole, so it is compressed like any answer (the largest,
    Leaflet, is 150 KB) and its file closed when the answer is done."""
    if (request.endpoint == "static" and response.status_code == 200 and response.is_streamed
            and response.mimetype in current_app.config["COMPRESS_MIMETYPES"]):
        response.direct_passthrough = False
        response.make_sequence()
    return response


def missing(app: Flask) -> list[str]:
    """The files a served page needs that this installation lacks: the vendored front-end
    packages static/vendor.json lists (a map without them is blank: `L is not defined`) and
    the compiled catalog of each language but the source one (without it the UI is English)."""
    static = Path(app.static_folder or "")
    try:
        packages = json.loads((static / "vendor.json").read_text())["packages"]
    except (OSError, ValueError, KeyError):
        return [str(static / "vendor.json")]
    lacking = [str(static / "vendor" / target)
               for package in packages for target in package["files"].values()
               if not (static / "vendor" / target).is_file()]
    translations = Path(app.root_path) / "translations"
    lacking += [str(translations / lang / "LC_MESSAGES" / "messages.mo")
                for lang in app.config["LANGUAGES"] if lang != "en"
                if not (translations / lang / "LC_MESSAGES" / "messages.mo").is_file()]
    return lacking


HOW_TO_MAKE = ("make assets translations  (in a checkout; or build the package with `make wheel`, "
               "which carries them)")


def require(app: Flask) -> None:
    """Refuses to serve from an installation that would show a blank or English map."""
    lacking = missing(app)
    if lacking:
        shown = "\n  ".join(lacking[:8]) + ("\n  …" if len(lacking) > 8 else "")
        raise click.ClickException(
            f"Gridwalk cannot serve pages: {len(lacking)} file(s) missing:\n  {shown}\n"
            f"Make them with: {HOW_TO_MAKE}")
