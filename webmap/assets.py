"""URLs of the files under static/, with a digest of their content: a phone never keeps
running yesterday's script (and its offline queue) against today's server."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from flask import current_app, url_for


@functools.cache
def _digest(folder: str, path: str) -> str:
    try:
        return hashlib.sha256((Path(folder) / path).read_bytes()).hexdigest()[:12]
    except OSError:
        return "0"  # a missing file: Flask answers 404 for it as before


def static_url(path: str) -> str:
    return url_for("static", filename=path, v=_digest(current_app.static_folder or "", path))
