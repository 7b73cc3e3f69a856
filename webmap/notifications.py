"""The bell: /notifications lists what the user was told (geo.notify), newest first, and
marks it read; every page's bar shows how many are unread."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError

from geo import notify
from webmap import db
from webmap.auth import login_required

bp = Blueprint("notifications", __name__)


@bp.get("/notifications")
@login_required
def index() -> str:
    return render_template("notifications.html", title=_("Notifications"),
                           notifications=notify.listing(db.session(), g.user.id))


@bp.post("/notifications/read")
@login_required
def read() -> Any:
    """Mark one (`id`) or all of the user's notifications read; an issue's opens it on the map."""
    one = request.form.get("id", type=int)
    notify.mark_read(db.session(), g.user.id, [one] if one else None)
    issue = request.form.get("issue_id", type=int)
    if issue:
        return redirect(url_for("map.index") + f"#issue={issue}", code=303)
    return redirect(url_for("notifications.index"), code=303)


@bp.get("/notifications/unread")
@login_required
def unread_count() -> Any:
    """The bar's count, asked again by a page left open (gridwalk-page.js)."""
    return jsonify(unread=notify.unread(db.session(), g.user.id))


@bp.app_context_processor
def unread() -> dict[str, Any]:
    """The bar's count, for a logged-in user's pages (one indexed count)."""
    user, session = g.get("user"), g.get("db")
    # An error page after a failed write has a session that can no longer query: no count there.
    if user is None or session is None or not session.is_active:
        return {"unread_notifications": 0}
    try:
        return {"unread_notifications": notify.unread(session, user.id)}
    except SQLAlchemyError:
        return {"unread_notifications": 0}
