"""The map page: a Folium map whose layers load from the API, with the building panel."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select

from geo import directory, issues, responsibility, visits
from geo.db import county_today
from geo.models import AREA_LEVELS, ASSIGNMENT_KINDS, ISSUE_STATUSES, Area
from geo.validate import Fields
from webmap import basemaps, db
from webmap.assets import static_url
from webmap.auth import csrf_token, login_required, scope
from webmap.mapbuilder import MapSettings, build_map
from webmap.names import event_names, kind_names, level_names, status_names, step_names
from webmap.security import with_nonces

bp = Blueprint("map", __name__)


def _client_texts() -> dict[str, Any]:
    return {
        "building": _("Building"),
        "households": _("Households"),
        "coverage": _("Visited in the last %(days)s days", days="{days}"),
        "noCoverage": _("No households recorded"),
        "assignments": _("Responsible"),
        "householdAssignees": _("Party members for households here"),
        "householdsHeld": _("{n} households"),
        "noAssignments": _("Nobody is assigned yet"),
        "stickers": _("Building QR stickers"),
        "noticeBoard": _("Notice board (PDF)"),
        "basemapFailed": _("The basemap %(name)s does not load: a wrong key, or its server cannot be reached. "
                           "Choose another under Layers.", name="{name}"),
        "post": _("Post"),
        "duty": _("Duty"),
        "target": _("Target"),
        "call": _("Call"),
        "openIssues": _("Open issues"),
        "deadline": _("Deadline"),
        "overdue": _("Overdue"),
        "nothingHere": _("No grid or building here: this point is outside the mapped area."),
        "loading": _("Loading…"),
        "failed": _("Could not load; check the connection and tap again."),
        "close": _("Close"),
        "zoomIn": _("Zoom in to see buildings"),
        "layers": _("Layers"),
        "tooManyIssues": _("Showing the {n} most pressing issues (overdue first); zoom in for all"),
        "locate": _("Show my location"),
        "unnamed": _("(no name)"),
        "levels": level_names(),
        "kinds": kind_names(),
        "statuses": status_names(),
        "field": _field_texts(),
        "visits": _visit_texts(),
        "offline": _offline_texts(),
    }


def _offline_texts() -> dict[str, Any]:
    return {
        "offer": _("Keep for offline use"),
        "weighing": _("Working out the size of the copy…"),
        "plan": _("An offline copy of {name}: {buildings} buildings, {households} households, {issues} open issues "
                  "and {tiles} basemap tiles, about {mb} MB on this phone."),
        "kept": _("Kept for {days} days, and removed when you log out."),
        "keep": _("Download"),
        "cancel": _("Cancel"),
        "downloading": _("Downloading the copy…"),
        "tilesProgress": _("Basemap tiles {done} of {total}…"),
        "tilesFailed": _("{n} basemap tiles could not be fetched; the map shows the outlines there without them."),
        "failed": _("Could not download the copy; check the connection and try again."),
        "keptOn": _("Kept for offline use: copy of {when}, removed {until}."),
        "update": _("Update"),
        "remove": _("Remove"),
        "usingCopy": _("No network: showing the offline copy of {name} made {when}"),
        "answeredFromCopy": _("From the offline copy of {when}"),
        "expired": _("The offline copy of {name} expired and was removed."),
        "basemapNotKept": _("This basemap's tiles are not kept (its provider's terms): offline, the map shows the "
                            "outlines without it."),
    }


def _visit_texts() -> dict[str, Any]:
    return {
        "record": _("Record a visit"),
        "pick": _("Tap the household visited, then save."),
        "pickFirst": _("Pick the household first."),
        "household": _("Household"),
        "date": _("Date"),
        "hours": _("Time spent"),
        "hoursN": _("{n} h"),
        "note": _("What was discussed"),
        "notePlaceholder": _("Optional"),
        "needs": _("Needs found"),
        "wish": _("The household raised a micro-wish"),
        "wishTitle": _("Wish"),
        "wishExample": _("e.g. fix the stairwell light"),
        "wishDescription": _("Details"),
        "save": _("Save"),
        "cancel": _("Cancel"),
        "recorded": _("Visit to {household}, {building} recorded."),
        "notAssignee": _("You do not hold this household; the visit is marked as by someone else."),
        "wishRaised": _('Micro-wish "{wish}" added to the list.'),
        "another": _("Record another"),
        "coverage": _("Coverage"),
        "visited": _("Visited"),
        "visitedOf": _("{visited} of {total} households"),
        "lastVisit": _("Last visit"),
        "never": _("never"),
        "noHouseholds": _("No households recorded"),
        "unnamed": _("(no name)"),
        "byGrid": _("By grid; zoom in for buildings"),
        "byBuilding": _("By building"),
        "zoomIn": _("Zoom in to see coverage"),
    }


def _field_texts() -> dict[str, Any]:
    return {
        "title": _("Report a problem"),
        "placeHint": _("The pin is where you are; drag it or tap the map to correct it."),
        "dragPin": _("Drag to the problem's place"),
        "locating": _("Finding your position…"),
        "located": _("Position found (within {m} m)"),
        "noFix": _("No position from the phone: drag the pin or tap the map"),
        "placedByHand": _("Placed where you tapped"),
        "category": _("Category"),
        "chooseCategory": _("Choose a category"),
        "description": _("What is wrong"),
        "describe": _("Describe the problem"),
        "photos": _("Photos (up to 3)"),
        "tooManyPhotos": _("At most 3 photos"),
        "onPatrol": _("Found on the patrol under way"),
        "submit": _("Report"),
        "cancel": _("Cancel"),
        "waiting": _("{n} waiting to be sent"),
        "needAttention": _("{n} need your attention"),
        "queueTitle": _("Kept on this phone"),
        "queueEmpty": _("Nothing is waiting."),
        "willSend": _("Will be sent when the network allows."),
        "resend": _("Send again"),
        "discard": _("Discard"),
        "discardSure": _("Discard this report for good?"),
        "notKept": _("This phone could not keep it and it could not be sent; try again."),
        "savedOffline": _("Saved on this phone; it will be sent when the network is back."),
        "loginAgain": _("Saved on this phone; log in again to send it."),
        "failed": _("Could not send; try again."),
        "needsNetwork": _("This needs the network; try again when connected."),
        "sentTo": _("Reported, and sent to the unit and cadres below."),
        "routedTo": _("Sent to"),
        "byResident": _("Reported by a resident at the building's QR code"),
        "isItOneOf": _("Is it one of these open issues nearby?"),
        "addToThis": _("Add to this one"),
        "sameProblem": _("Reported again on the spot"),
        "timeline": _("Timeline"),
        "decision": _("Decision"),
        "attending": _("Units attending"),
        "responsibleUnit": _("Responsible unit"),
        "referTo": _("Refer to unit"),
        "referredTo": _("Referred to"),
        "reason": _("Reason"),
        "note": _("Note"),
        "whatWasDone": _("What was done"),
        "afterPhotos": _("Photos after the work"),
        "takenAt": _("taken {at}"),
        "takenFrom": _("{m} m from the issue"),
        "startPatrol": _("Start patrol"),
        "endPatrol": _("End patrol"),
        "patrol": _("patrol"),
        "patrolTitle": _("Name of the patrol"),
        "patrolUnits": _("Units taking part"),
        "patrolMembers": _("Members taking part"),
        "addNeedsNetwork": _("Adding to an issue needs the network. Submit it as a new report instead: "
                             "it waits on the phone until the network returns."),
        "noMembers": _("Nobody answers for anything in this grid yet"),
        "patrolStarted": _("Patrol of {grid} started; your route is being recorded."),
        "noGridHere": _("None of your grids is at the centre of the map: move the map to the grid to walk."),
        "steps": step_names(),
        "events": event_names(),
        "currentUnit": _("Responsible unit"),
        "nowWith": _("Now with {unit}"),
    }


def _extent() -> list[list[float]] | None:
    """The bounds of the area asked for (?area_id=, from the lists), else of the user's own
    area, so a grid member opens on their grid."""
    asked = Fields({"area_id": request.args.get("area_id")}, ("area_id",)).integer("area_id") \
        if request.args.get("area_id") else None
    if asked is not None and db.session().scalar(select(Area.id).where(Area.id == asked, scope().outlines(Area.id))):
        area_id = asked
    elif g.user is None or g.user.area_id is None:
        return None
    else:
        area_id = g.user.area_id
    box = responsibility.area_bounds(db.session(), area_id)
    return [[box[1], box[0]], [box[3], box[2]]] if box else None


@bp.get("/sw.js")
def service_worker() -> Response:
    """The service worker that opens the map without a network. Served from the root so that
    it may serve the map page; checked for a new version on every load."""
    response = send_from_directory(current_app.static_folder or "", "sw.js", mimetype="text/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/")
@login_required
def index() -> str:
    config = current_app.config
    layer_names = {
        "communities": _("Communities"),
        "grids": _("Grids"),
        "compounds": _("Compounds"),
        "buildings": _("Buildings"),
        "issues": _("Open issues"),
        "coverage": _("Visit coverage"),
        "none": _("No basemap"),
    }
    today = county_today(db.session()).isoformat()
    settings = MapSettings(
        center=tuple(config["MAP_CENTER"]),  # type: ignore[arg-type]
        basemaps=basemaps.configured(config),
        layer_names=layer_names,
        client={
            "api": url_for("api.lookup").rsplit("/", 1)[0],
            # {layer}/{z}/{x}/{y}.mvt under it.
            "tiles": url_for("tiles.tile", layer="L", z=0, x=0, y=0).split("/L/", 1)[0],
            "loginUrl": url_for("auth.login"),
            "patrolUrl": url_for("fieldwork.patrol", patrol_id=0),
            "stickersUrl": url_for("residents.stickers", area_id=0).replace("/0/", "/{id}/"),
            "boardUrl": url_for("boards.notice_board", area_id=0).replace("/0/", "/{id}/"),
            # Known at page load, so a report can be written with no network at all.
            "categories": [{"code": c.code, "name": c.name} for c in issues.categories(db.session())],
            "csrf": csrf_token(),
            "fitBounds": _extent(),
            # The county's day, so the coverage windows and a visit's date do not depend
            # on the phone's clock.
            "today": today,
            "timezone": current_app.config["TIMEZONE"],
            # A visit is recorded as the person the login belongs to.
            "canVisit": g.user.role in visits.RECORDERS and g.user.person_id is not None,
            "personId": g.user.person_id,
            # What this login left in the phone's queue is sent by this login only.
            "userId": g.user.id,
            # The user's own area (None: the whole county), for what is offered in its panels.
            "areaId": None if scope().county_wide else scope().area_id,
            # Opens the map again without a network (browsers allow it over HTTPS or on localhost).
            # Named by the tile hosts its Content-Security-Policy lets it fetch from: a new
            # basemap host installs the worker again (its policy is fixed at install).
            "serviceWorker": url_for("map.service_worker", v=hashlib.sha256(
                " ".join(basemaps.urls(basemaps.configured(config))).encode()).hexdigest()[:12]),
            "texts": _client_texts(),
        },
        chrome_html=render_template(
            "map_chrome.html",
            level_names=level_names(),
            status_names=status_names(),
            levels=AREA_LEVELS,
            kinds=ASSIGNMENT_KINDS,
            statuses=ISSUE_STATUSES,
            categories=issues.categories(db.session()),
            units=directory.all_units(db.session()),
            reports=g.user.role in issues.REPORTERS,
            patrols=g.user.role in issues.WORKERS,
            today=today,
        ),
        title=_("Gridwalk · grid responsibility map"),
    )
    return with_nonces(build_map(settings, static_url))
