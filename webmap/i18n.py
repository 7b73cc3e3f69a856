"""Languages: Simplified Chinese by default, English on request (?lang=en, then kept in
the session)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, current_app, has_request_context, request, session, url_for
from flask_babel import Babel, get_locale, gettext

from geo.errors import GridwalkError
from webmap.names import code_names


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
        return {"lang": str(get_locale() or "zh"), "html_lang": html_lang(), "languages": app.config["LANGUAGES"]}

    app.jinja_env.globals["here"] = here  # a global, so imported macros see it too


def html_lang() -> str:
    """The page's language as an HTML lang tag: zh-CN lets the browser pick Simplified
    Chinese glyphs (and screen readers the right voice) rather than Japanese ones."""
    lang = str(get_locale() or "zh")
    return "zh-CN" if lang == "zh" else lang


def here(**changes: object) -> str:
    """This page's address with some query parameters changed (None drops one): for the
    language switch, pagers and downloads. Parameters url_for would read as its own
    (endpoint, _external, _method …) are not carried over: they are nobody's filter."""
    args: dict[str, object] = {k: v for k, v in request.args.items() if not k.startswith("_") and k != "endpoint"}
    args.update(changes)
    args = {k: v for k, v in args.items() if v is not None}
    if request.endpoint is None:  # an unknown address: its error page
        return "?" + urlencode(args)
    view_args = request.view_args or {}
    return url_for(request.endpoint, **{k: v for k, v in args.items() if k not in view_args}, **view_args)


def message(error: GridwalkError) -> str:
    """The error's message in the request's language, its placeholders filled in."""
    text = gettext(error.message)
    if not error.params:
        return text
    return text % {key: _named(key, value) for key, value in error.params.items()}


def _named(key: str, value: object) -> object:
    # Domain codes (an issue's status, a step …) are shown by their names, a list of them
    # as a list; anything else as it is.
    names = code_names(key)
    if not names:
        return value
    if isinstance(value, list | tuple):
        return gettext(", ").join(names.get(str(v), str(v)) for v in value)
    return names.get(str(value), value)
