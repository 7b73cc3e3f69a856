"""Security headers on every response, with a Content-Security-Policy that lets a page run
only our own scripts and styles (inline ones carry this response's nonce) and fetch only
from this site and the configured basemaps' tile hosts."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request

from webmap import basemaps

_INLINE = re.compile(r"<(script|style)(?![^>]*\bsrc=)(?![^>]*\bnonce=)")


def nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def with_nonces(html: str) -> str:
    """Give every inline <script> and <style> of a page we built (the Folium map) this
    response's nonce. Only for HTML we generated: user text never reaches those tags."""
    return _INLINE.sub(lambda m: f'<{m.group(1)} nonce="{nonce()}"', html)


def tile_source(tile_url: str) -> str:
    """The CSP source for a tile URL template: scheme and host. A host label holding {s}
    (t{s}.tianditu.gov.cn) becomes a wildcard for everything left of the labels after it,
    the only wildcard CSP knows (https://*.tianditu.gov.cn)."""
    if not tile_url:
        return ""
    parts = urlsplit(tile_url.replace("{s}", "subdomain"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    labels = parts.netloc.split(".")
    marked = [i for i, label in enumerate(labels) if "subdomain" in label]
    if marked:
        rest = labels[marked[-1] + 1:]
        if len(rest) < 2:  # *.cn would allow a whole country: no tiles rather than that
            return ""
        return f"{parts.scheme}://*." + ".".join(rest)
    return f"{parts.scheme}://{parts.netloc}"


def _headers(response: Response) -> Response:
    offered = basemaps.urls(basemaps.configured(current_app.config))
    tiles = " ".join(dict.fromkeys(filter(None, map(tile_source, offered))))
    policy = "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce()}'",
        f"style-src 'self' 'nonce-{nonce()}'",
        f"img-src 'self' data: blob: {tiles}".strip(),
        # The offline map fetches the basemap's tiles to keep them (gridwalk-offline.js, sw.js).
        f"connect-src 'self' {tiles}".strip(),
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])
    headers = response.headers
    headers.setdefault("Content-Security-Policy", policy)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "geolocation=(self), camera=(self), microphone=()")
    if current_app.config["SESSION_COOKIE_SECURE"]:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint not in ("static", "api.issue_photo"):
        # Pages and answers may hold personal data: no copies in shared caches.
        headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    app.after_request(_headers)
    app.jinja_env.globals["csp_nonce"] = nonce
