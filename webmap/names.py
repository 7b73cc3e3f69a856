"""The names users read for the domain's codes (levels, kinds, states, roles), translated."""

from __future__ import annotations

from flask_babel import gettext as _


def level_names() -> dict[str, str]:
    return {
        "county": _("County"),
        "township": _("Township"),
        "community": _("Community"),
        "grid": _("Grid"),
        "compound": _("Compound"),
    }


def kind_names() -> dict[str, str]:
    return {
        "standing_committee": _("County leader for the community"),
        "department": _("Department for the big party committee"),
        "unit": _("Unit for the compound or building"),
        "party_member": _("Party member for households"),
    }


def status_names() -> dict[str, str]:
    return {
        "reported": _("Reported"),
        "meeting": _("On-site meeting"),
        "resolved": _("Resolved"),
        "closed": _("Verified and closed"),
        "referred": _("Referred"),
    }


def role_names() -> dict[str, str]:
    return {
        "admin": _("Administrator"),
        "county": _("County officer"),
        "township": _("Township officer"),
        "community": _("Community officer"),
        "grid": _("Grid member"),
        "party": _("Party member"),
        "viewer": _("Viewer"),
    }
