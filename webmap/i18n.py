"""Languages: Simplified Chinese by default, English on request (?lang=en, then kept in
the session)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, request, session
from flask_babel import Babel, get_locale, gettext

from geo.errors import GridwalkError


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    asked = request.args.get("lang")
    if asked in languages:
        session["lang"] = asked
    chosen = session.get("lang")
    return chosen if chosen in languages else current_app.config["BABEL_DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    directory = Path(__file__).resolve().parent / "translations"
    Babel(app, locale_selector=select_locale, default_translation_directories=str(directory))

    @app.context_processor
    def _language() -> dict[str, object]:
        return {"lang": str(get_locale() or "zh"), "languages": app.config["LANGUAGES"]}


def message(error: GridwalkError) -> str:
    """The error's message in the request's language, its placeholders filled in."""
    text = gettext(error.message)
    return text % error.params if error.params else text
