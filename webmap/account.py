"""The user's own page: password change and API tokens (shown once, revocable)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    session,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from geo import accounts
from geo.errors import GridwalkError
from webmap import db
from webmap.auth import login_required
from webmap.i18n import message
from webmap.names import role_names
from webmap.validate_form import form_fields, save_and_return

bp = Blueprint("account", __name__, url_prefix="/account")


def _page(new_token: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template(
        "account.html",
        title=_("My account"),
        tokens=accounts.tokens_of(db.session(), g.user),
        new_token=new_token,
        role_names=role_names(),
        tz=ZoneInfo(current_app.config["TIMEZONE"]),
    ), status


@bp.get("/")
@login_required
def index() -> tuple[str, int]:
    return _page()


@bp.post("/password")
@login_required
def password() -> Response:
    fields = form_fields(("current_password", "new_password"))
    return save_and_return(lambda: accounts.change_password(
        db.session(), g.user,
        fields.text("current_password", max_length=1024, required=True),
        fields.text("new_password", max_length=1024, required=True),
        keep=session.get("login"),
    ), url_for("account.index"), _("Password changed; other devices are logged out."))


@bp.post("/tokens")
@login_required
def create_token() -> tuple[str, int] | Response:
    fields = form_fields(("name",))
    try:
        _row, token = accounts.create_token(db.session(), g.user, fields.text("name", max_length=100))
    except GridwalkError as error:
        db.session().rollback()
        flash(message(error), "error")
        return redirect(url_for("account.index"))
    return _page(new_token=token, status=201)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Response:
    return save_and_return(lambda: accounts.revoke_token(db.session(), token_id, g.user), url_for("account.index"),
                           _("Token revoked."))


