"""Gridwalk's web side: the app factory, its blueprints and the CLI."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask_compress import Compress
from werkzeug.middleware.proxy_fix import ProxyFix

from webmap import basemaps


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    # Vendored Leaflet and plugins, our JS and CSS. In a checkout webmap/static is a link to
    # the top-level static/; a wheel carries the files themselves (`make wheel`).
    static = Path(__file__).resolve().parent / "static"
    from webmap.db import App

    app = App(__name__, static_folder=str(static), static_url_path="/static")
    app.config.from_mapping(
        DATABASE_URL=os.environ.get("DATABASE_URL"),
        # A streaming replica of DATABASE_URL for the map's reads (webmap.db.read_session).
        DATABASE_READ_URL=os.environ.get("DATABASE_READ_URL"),
        TIMEZONE=os.environ.get("GRIDWALK_TIMEZONE", "Asia/Shanghai"),
        SECRET_KEY=os.environ.get("SECRET_KEY"),
        # Basemaps offered, first shown first (webmap.basemaps): tianditu, tianditu-imagery,
        # amap, amap-imagery, tencent, osm, custom. None unless configured.
        BASEMAPS=os.environ.get("BASEMAPS", ""),
        TIANDITU_KEY=os.environ.get("TIANDITU_KEY", ""),
        # "custom": a county's own tile server, and the datum its tiles are drawn in.
        TILE_URL=os.environ.get("TILE_URL", ""),
        TILE_DATUM=os.environ.get("TILE_DATUM", "wgs84"),
        # Where residents reach this server (a building sticker's QR code leads there); by
        # default the address a request came in on.
        PUBLIC_URL=os.environ.get("GRIDWALK_PUBLIC_URL", ""),
        # Notifications by e-mail (geo.notify; `gridwalk notify run` sends them) and by
        # webhook, each body signed with WEBHOOK_SECRET (X-Gridwalk-Signature).
        SMTP_HOST=os.environ.get("SMTP_HOST", ""),
        SMTP_PORT=os.environ.get("SMTP_PORT", "25"),
        SMTP_FROM=os.environ.get("SMTP_FROM", ""),
        SMTP_USER=os.environ.get("SMTP_USER", ""),
        SMTP_PASSWORD=os.environ.get("SMTP_PASSWORD", ""),
        SMTP_TLS=os.environ.get("SMTP_TLS", ""),
        WEBHOOK_SECRET=os.environ.get("WEBHOOK_SECRET", ""),
        TILE_ATTRIBUTION=os.environ.get("TILE_ATTRIBUTION", ""),
        # What {s} in TILE_URL stands for, one letter or digit each (Tianditu: 01234567).
        TILE_SUBDOMAINS=os.environ.get("TILE_SUBDOMAINS", "abc"),
        MAP_CENTER=(29.99, 109.478),
        BABEL_DEFAULT_LOCALE="zh",
        LANGUAGES=("zh", "en"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("GRIDWALK_SECURE_COOKIES", "") == "1",
        # The cookie may live this long; the login itself ends sooner when unused (geo.accounts).
        PERMANENT_SESSION_LIFETIME=dt.timedelta(days=30),
        MAX_CONTENT_LENGTH=32 * 1024 * 1024,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
        # How many reverse proxies (nginx …) stand in front: their X-Forwarded-For and
        # X-Forwarded-Proto are then believed, so a failed login is counted against the
        # officer's address, not the proxy's. 0: the app faces the network itself.
        PROXIES=int(os.environ.get("GRIDWALK_PROXIES") or 0),
        # The offline map (geo.offline): how long a phone keeps a copy of an area, and the
        # largest area it takes.
        OFFLINE_DAYS=int(os.environ.get("GRIDWALK_OFFLINE_DAYS") or 7),
        OFFLINE_MAX_BUILDINGS=int(os.environ.get("GRIDWALK_OFFLINE_MAX_BUILDINGS") or 3000),
    )
    app.config.update(
        # Text answers compressed (zstd, brotli or gzip, as the client accepts), pages too: their
        # CSRF token is masked afresh on each page, which is what BREACH would otherwise read.
        COMPRESS_MIMETYPES=[
            "text/html", "text/css", "text/javascript", "application/javascript", "text/plain",
            "text/csv", "text/xml", "application/xml", "application/json", "application/geo+json",
            "application/schema+json", "application/vnd.oai.openapi+json", "application/manifest+json",
            "image/svg+xml", "application/vnd.mapbox-vector-tile",
        ],
        COMPRESS_MIN_SIZE=1024,
        # No compressing of streams: files from static/ are read whole first (assets.buffered).
        COMPRESS_STREAMS=False,
    )
    if test_config is not None:
        app.config.from_mapping(test_config)
    basemaps.configured(app.config, check_file=True)  # a basemap that cannot work stops the app here (ConfigError)
    if app.config["PROXIES"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXIES"],  # type: ignore[method-assign]
                                x_proto=app.config["PROXIES"])
    if not app.config["SECRET_KEY"]:
        # Sessions will not survive a restart nor be shared between processes.
        app.logger.warning("SECRET_KEY is not set: using a random key for this process only")
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    from webmap import (
        account,
        admin,
        api,
        assets,
        auth,
        boards,
        cli,
        community,
        db,
        errors,
        fieldwork,
        i18n,
        mapview,
        notifications,
        ogc,
        open311,
        residents,
        security,
        tiles,
    )

    db.init_app(app)
    Compress(app)
    app.after_request(assets.buffered)  # runs before Compress's own hook: the last added runs first
    i18n.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    app.jinja_env.globals["static_url"] = assets.static_url
    app.register_blueprint(auth.bp)
    app.register_blueprint(mapview.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(open311.bp)
    app.register_blueprint(ogc.bp)
    app.register_blueprint(fieldwork.bp)
    app.register_blueprint(community.bp)
    app.register_blueprint(tiles.bp)
    app.register_blueprint(residents.bp)
    app.register_blueprint(boards.bp)
    app.register_blueprint(notifications.bp)
    cli.init_app(app)
    lacking = assets.missing(app)
    if lacking:
        # Served anyway by a bare WSGI server (gunicorn 'webmap:create_app()'): say it loudly.
        app.logger.error("%d asset file(s) missing, pages will be blank or English: %s. Make them with: %s",
                         len(lacking), ", ".join(lacking[:4]), assets.HOW_TO_MAKE)
    return app
