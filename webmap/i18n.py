"""Languages: Simplified Chinese by default, English on request (?lang=en, then kept in
the session)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import Babel, get_locale, gettext

from geo.errors import GridwalkError


def select_locale() -> str:
    # Outside a request (the CLI) the default language applies.
    chosen = session.get("lang") if has_request_context() else None
    return chosen if chosen in current_app.config["LANGUAGES"] else current_app.config["BABEL_DEFAULT_LOCALE"]


def _remember_language() -> None:
    # Every page and API call may switch language; the choice sticks for the session.
    asked = request.args.get("lang")
    if asked in current_app.config["LANGUAGES"]:
        session["lang"] = asked


def init_app(app: Flask) -> None:
    directory = Path(__file__).resolve().parent / "translations"
    Babel(app, locale_selector=select_locale, default_translation_directories=str(directory))
    app.before_request(_remember_language)

    @app.context_processor
    def _language() -> dict[str, object]:
        return {"lang": str(get_locale() or "zh"), "languages": app.config["LANGUAGES"]}


def message(error: GridwalkError) -> str:
    """The error's message in the request's language, its placeholders filled in."""
    text = gettext(error.message)
    return text % error.params if error.params else text
