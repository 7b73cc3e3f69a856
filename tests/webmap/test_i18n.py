"""Every user-facing text has a Simplified Chinese translation."""

from __future__ import annotations

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from tests.conftest import ROOT

KEYWORDS = {"_": None, "gettext": None, "N_": None, "lazy_gettext": None}


def source_messages() -> set[str]:
    with open(ROOT / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_has_a_chinese_translation():
    with open(ROOT / "webmap/translations/zh/LC_MESSAGES/messages.po", "rb") as f:
        catalog = read_po(f, locale="zh")
    translated = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}
    messages = source_messages()
    assert len(messages) > 50
    missing = sorted(m for m in messages if m not in translated)
    assert not missing, f"untranslated: {missing}"


def test_no_message_hides_inside_an_f_string():
    # The extractor cannot see _("…") inside an f-string, so such a text is never translated.
    import re

    hidden = [
        f"{path.name}:{n}"
        for path in [*ROOT.joinpath("webmap").glob("*.py"), *ROOT.joinpath("geo").glob("*.py")]
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"""\bf["'][^"']*\{\s*(_|gettext|N_)\(""", line)
    ]
    assert not hidden
