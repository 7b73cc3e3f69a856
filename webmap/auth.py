"""Logging in and out, who the current user is (session cookie or bearer token), and CSRF
protection for every cookie-authenticated write."""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from geo import accounts, audit
from geo.errors import N_, Forbidden, TooManyRequests, Unauthorized
from geo.scope import Scope
from webmap import db
from webmap.i18n import message

bp = Blueprint("auth", __name__)

F = TypeVar("F", bound=Callable[..., Any])
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _secret() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_token() -> str:
    """The session's CSRF secret as a page carries it: masked by a fresh random pad each time,
    so a compressed page never repeats it (BREACH guesses a secret byte by byte from the size
    of compressed answers that reflect the guess beside it)."""
    secret = _secret().encode()
    pad = secrets.token_bytes(len(secret))
    return base64.urlsafe_b64encode(pad + bytes(a ^ b for a, b in zip(pad, secret))).decode()


def _unmasked(sent: str) -> str:
    """The secret in a token from csrf_token(); a bare secret (a script that read the session)
    is taken as is."""
    try:
        raw = base64.urlsafe_b64decode(sent.encode())
    except (ValueError, binascii.Error):
        return sent
    half = len(raw) // 2
    if len(raw) % 2 or half == 0:
        return sent
    return bytes(a ^ b for a, b in zip(raw[:half], raw[half:])).decode("latin-1")


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "current_user": g.get("user")}


@bp.before_app_request
def load_user() -> None:
    g.user = None
    g.via_token = False
    if request.endpoint == "static":
        return
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    if token is None and request.path.startswith("/open311/"):
        # Open311 clients send their key as a parameter.
        token = request.values.get("api_key")
    if token is not None:
        if request.method in _UNSAFE and not request.path.startswith(("/api/", "/open311/")):
            # The pages' forms (accounts, passwords, tokens …) are for people logged in with a
            # password; a token may read pages (downloads), never post them.
            raise Forbidden(N_("log in with your password to do this; an API token may not"), code="session_only")
        user = accounts.user_for_token(db.session(), token)
        if user is None:
            raise Unauthorized(N_("the API token is not valid"), code="invalid_token")
        g.user, g.via_token = user, True
    elif "login" in session:
        # The login must still be open in the database: logging out, a password change
        # or an administrator ends it for every app process at once.
        user = accounts.session_user(db.session(), session["login"])
        if user is not None:
            g.user = user  # its use noted, with the request's own writes
        else:
            session.clear()
    if g.user is not None:
        audit.set_actor(db.session(), user_id=g.user.id, username=g.user.username,
                        via="token" if g.via_token else "web")
    if request.method in _UNSAFE and not g.via_token:
        if g.user is None and request.path.startswith(("/api/", "/open311/")):
            # An ended login (or none): say so, so a phone knows to log in again rather
            # than take the refusal as final.
            raise Unauthorized(N_("log in or send an API token"))
        sent = _unmasked(request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or "")
        expected = session.get("csrf") or ""
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            raise Forbidden(N_("the form has expired or did not come from this site: reload and try again"),
                            code="csrf")


def scope() -> Scope:
    """What the current user may see and change."""
    if g.user is None:
        raise Unauthorized(N_("log in or send an API token"))
    return Scope.of(g.user)


def login_required(view: F) -> F:
    """Pages send an anonymous visitor to the login page; the API answers 401."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.user is None:
            if request.path.startswith("/api/"):
                raise Unauthorized(N_("log in or send an API token"))
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _safe_next(target: str | None) -> str:
    # Only a path on this site: a login link must not bounce the user to another host.
    # Browsers read "/\\host" and "///host" as "//host" and drop tabs and newlines.
    if target:
        cleaned = "".join(c for c in target.replace("\\", "/") if c not in "\t\r\n")
        if cleaned.startswith("/") and not cleaned.startswith("//") and not urlsplit(cleaned).netloc:
            return cleaned
    return url_for("map.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int, dict[str, str]]:
    error, status = None, 200
    if request.method == "POST":
        try:
            user = accounts.authenticate(
                db.session(), request.form.get("username", ""), request.form.get("password", ""),
                address=request.remote_addr,
            )
        except (Unauthorized, TooManyRequests) as exc:
            # The one write kept while the answer is an error: the count of failed tries.
            db.session().commit()
            error, status = message(exc), exc.status
        else:
            token = accounts.open_session(db.session(), user, request.headers.get("User-Agent", ""))
            lang = session.get("lang")
            session.clear()  # a fresh session on login: no fixation
            session.permanent = True
            session["login"] = token
            _secret()  # a new one, for the new session
            if lang:
                session["lang"] = lang
            return redirect(_safe_next(request.args.get("next")))
    headers = {"Retry-After": str(int(accounts.LOCKOUT.total_seconds()))} if status == 429 else {}
    return render_template("login.html", error=error, title=gettext("Log in")), status, headers


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    if "login" in session:
        accounts.end_session(db.session(), session["login"])
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"))
