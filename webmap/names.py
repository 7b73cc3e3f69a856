"""The names users read for the domain's codes (levels, kinds, states, roles), translated."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_babel import gettext as _

if TYPE_CHECKING:
    from geo.sheets import SheetReport


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
        "unit": _("Unit for the grid, compound or building"),
        "party_member": _("Party member for households"),
    }


def unit_kind_names() -> dict[str, str]:
    """What each kind of unit (directory.UNIT_KINDS) is called on a page."""
    return {
        "department": _("Department"),
        "township": _("Township"),
        "community": _("Community"),
        "school": _("School"),
        "hospital": _("Hospital"),
        "company": _("Company"),
        "other": _("Other unit"),
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


def step_names() -> dict[str, str]:
    """The buttons for the steps of an issue's workflow."""
    return {
        "meeting": _("Hold an on-site meeting"),
        "resolve": _("Mark resolved"),
        "verify": _("Verify and close"),
        "refer": _("Refer"),
        "reopen": _("Reopen"),
        "comment": _("Comment"),
    }


def wish_step_names() -> dict[str, str]:
    return {
        "claim": _("Claim"),
        "fulfil": _("Mark fulfilled"),
        "withdraw": _("Withdraw"),
        "rate": _("Record rating"),
    }


def target_names() -> dict[str, str]:
    """What an assignment can be for."""
    return {**level_names(), "building": _("Building"), "household": _("Household")}


def code_names(param: str) -> dict[str, str]:
    """The names for an error message's parameter that holds a domain code, by the
    parameter's name (issue_status, wish_step …); empty for any other parameter."""
    return {
        "issue_status": status_names,
        "issue_step": step_names,
        "issue_steps": step_names,
        "wish_status": wish_status_names,
        "wish_step": wish_step_names,
        "assignment_kind": kind_names,
        "target_level": target_names,
        "target_levels": target_names,
        "sheet_kind": sheet_kind_names,
    }.get(param, dict)()


def event_names() -> dict[str, str]:
    """The steps as they stand in an issue's timeline."""
    return {
        "reported": _("Found and reported"),
        "meeting": _("On-site meeting"),
        "resolve": _("Resolved"),
        "verify": _("Verified and closed"),
        "refer": _("Referred"),
        "reopen": _("Reopened"),
        "comment": _("Comment"),
    }


def wish_status_names() -> dict[str, str]:
    return {
        "open": _("Open"),
        "claimed": _("Claimed"),
        "fulfilled": _("Fulfilled"),
        "withdrawn": _("Withdrawn"),
    }


def work_names() -> dict[str, str]:
    """The kinds of community work that count towards a party member's year."""
    return {
        "visit": _("Household visits"),
        "patrol": _("Patrols"),
        "wish": _("Wishes fulfilled"),
        "service": _("Volunteer service"),
    }


def sheet_kind_names() -> dict[str, str]:
    """What a spreadsheet to import holds."""
    return {"units": _("Units"), "people": _("People"), "households": _("Households"),
            "assignments": _("Responsibilities (assignments)")}


def outcome_names() -> dict[str, str]:
    """What became of a spreadsheet's accepted row."""
    return {"created": _("new"), "updated": _("updated"), "unchanged": _("unchanged")}


def sheet_summary(report: SheetReport) -> str:
    return _(
        "%(accepted)s rows accepted (%(created)s new, %(updated)s updated, %(unchanged)s unchanged), "
        "%(refused)s refused, in %(seconds)s s",
        accepted=len(report.accepted), created=report.created, updated=report.updated,
        unchanged=report.unchanged, refused=len(report.refused), seconds=round(report.seconds, 1),
    )
