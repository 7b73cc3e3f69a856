"""The OpenAPI 3.1 description of /api/v1/, served at /api/v1/openapi.json. A test checks
that it lists every route and that real answers match its schemas."""

from __future__ import annotations

from typing import Any

from geo.features import DEFAULT_LIMIT, MAX_BBOX_SPAN, MAX_LIMIT
from geo.models import AREA_LEVELS, ASSIGNMENT_KINDS, ISSUE_SOURCES, ISSUE_STATUSES, ROLES

J = dict[str, Any]


def ref(name: str) -> J:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: J) -> J:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(required: list[str] | None = None, **properties: J) -> J:
    return {"type": "object", "properties": properties, "required": required or list(properties)}


STRING, INTEGER, NUMBER, BOOLEAN = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}
DATE = {"type": "string", "format": "date"}
DATETIME = {"type": "string", "format": "date-time"}
GEOMETRY = {"type": "object", "description": "a GeoJSON geometry in WGS 84", "required": ["type", "coordinates"]}

SCHEMAS: J = {
    "Error": obj(error=obj(code=STRING, message=STRING)),
    "Person": obj(id=INTEGER, name=STRING, title=STRING,
                  phone={"type": "string", "description": "masked (138****1234) outside the caller's scope"}),
    "UnitRef": obj(id=INTEGER, name=STRING),
    "Assignment": obj(
        ["id", "kind", "unit", "person", "post", "duty", "target", "valid_from", "valid_to"],
        id=INTEGER, kind={"enum": list(ASSIGNMENT_KINDS)}, unit=nullable(ref("UnitRef")),
        person=nullable(ref("Person")), post=STRING, duty=STRING, target=STRING, valid_from=DATE,
        valid_to=nullable(DATE),
        on=obj(type={"enum": ["area", "building", "household"]}, id=INTEGER),
        version=INTEGER,
    ),
    "DrawnArea": obj(
        ["id", "code", "name", "level", "parent_id", "version", "geometry"],
        id=INTEGER, code=STRING, name=STRING, level={"enum": list(AREA_LEVELS)}, parent_id=nullable(INTEGER),
        version=INTEGER, geometry=GEOMETRY,
    ),
    "AreaCard": obj(
        ["id", "code", "name", "level", "parent_id", "assignments"],
        id=INTEGER, code=STRING, name=STRING, level={"enum": list(AREA_LEVELS)}, parent_id=nullable(INTEGER),
        assignments={"type": "array", "items": ref("Assignment")},
        ancestors={"type": "array", "items": ref("AreaCard")},
    ),
    "OfflinePlan": obj(
        ["area", "bounds", "buildings", "households", "issues", "bytes", "days"],
        area=obj(["id", "name", "level"], id=INTEGER, name=STRING, level={"enum": ["community", "grid", "compound"]}),
        bounds={"type": "array", "items": NUMBER, "minItems": 4, "maxItems": 4},
        buildings=INTEGER, households=INTEGER, issues=INTEGER, bytes=INTEGER, days=INTEGER,
    ),
    "OfflineCopy": obj(
        ["area", "bounds", "made_at", "expires_at", "user_id", "buildings", "households", "outlines", "area_cards",
         "issues", "issue_details"],
        area={"type": "object"}, bounds={"type": "array", "items": NUMBER}, made_at=DATETIME, expires_at=DATETIME,
        user_id=nullable(INTEGER),
        buildings={"type": "array", "description": "BuildingCards without their areas, kept once in area_cards",
                   "items": {"type": "object", "required": ["id", "area_id", "assignments", "household_count",
                                                            "coverage", "open_issues", "geometry"]}},
        households={"type": "object", "description": "by building id: the households as the visit form lists them",
                    "additionalProperties": {"type": "array", "items": {"type": "object"}}},
        outlines={"type": "array", "items": obj(["id", "level", "geometry"], id=INTEGER, level=STRING,
                                                 geometry=GEOMETRY)},
        area_cards={"type": "object", "additionalProperties": ref("AreaCard")},
        issues={"type": "object", "description": "the open issues, a GeoJSON FeatureCollection as /issues gives"},
        issue_details={"type": "object", "description": "by issue id: the most pressing open issues' details, "
                       "with no steps allowed", "additionalProperties": ref("IssueDetail")},
    ),
    "BuildingCard": obj(
        ["id", "source_id", "name", "address", "areas", "assignments", "household_count", "coverage",
         "open_issues", "geometry"],
        id=INTEGER, source_id=nullable(STRING), name=STRING, address=STRING, floors=nullable(INTEGER),
        use=STRING, area_id=nullable(INTEGER), geometry={"type": "object"},
        areas={"type": "array", "items": ref("AreaCard")},
        assignments={"type": "array", "items": ref("Assignment")},
        household_count=INTEGER, active_household_count=INTEGER,
        household_assignees={"type": "array", "items": obj(person=ref("Person"), households=INTEGER)},
        coverage=obj(since=DATE, days=INTEGER, visited=INTEGER, households=INTEGER, share=nullable(NUMBER)),
        open_issues={"type": "array", "items": obj(
            id=INTEGER, category=STRING, status={"enum": list(ISSUE_STATUSES)}, description=STRING,
            reported_at=DATETIME, deadline=nullable(DATE))},
    ),
    "Lookup": obj(lon=NUMBER, lat=NUMBER, building=nullable(ref("BuildingCard")),
                  areas={"type": "array", "items": ref("AreaCard")}),
    "FeatureCollection": obj(
        ["type", "features", "numberReturned", "truncated"],
        type={"const": "FeatureCollection"}, numberReturned=INTEGER, truncated=BOOLEAN,
        features={"type": "array", "items": obj(["type", "id", "geometry", "properties"],
                                                type={"const": "Feature"}, id=INTEGER,
                                                geometry={"type": "object"}, properties={"type": "object"})},
    ),
    "Unit": obj(id=INTEGER, name=STRING, kind=STRING, phone=STRING, version=INTEGER),
    "PersonRecord": obj(id=INTEGER, name=STRING, unit=nullable(ref("UnitRef")), title=STRING, phone=STRING,
                        is_party_member=BOOLEAN, version=INTEGER),
    "User": obj(id=INTEGER, username=STRING, role={"enum": list(ROLES)},
                area=nullable(obj(id=INTEGER, code=STRING, name=STRING)), person_id=nullable(INTEGER),
                active=BOOLEAN, locked=BOOLEAN, version=INTEGER),
    "Token": obj(["id", "name", "created_at", "last_used_at", "revoked_at"], id=INTEGER, name=STRING,
                 created_at=DATETIME, last_used_at=nullable(DATETIME), revoked_at=nullable(DATETIME),
                 token={"type": "string", "description": "only in the answer that creates it"}),
    "AuditEntry": obj(id=INTEGER, at=DATETIME, user_id=nullable(INTEGER), username=STRING, via=STRING,
                      action=STRING, table=STRING, record_id=nullable(INTEGER),
                      before=nullable({"type": "object"}), after=nullable({"type": "object"})),
    "IssueDetail": obj(
        ["id", "category", "status", "description", "lon", "lat", "building", "areas", "unit", "reported_at",
         "deadline", "overdue", "routed_to", "events", "photos", "version", "allowed"],
        id=INTEGER, client_id=nullable(STRING), category=STRING, category_name=STRING,
        status={"enum": list(ISSUE_STATUSES)}, description=STRING, lon=NUMBER, lat=NUMBER,
        building=nullable(obj(id=INTEGER, name=STRING, address=STRING)),
        areas={"type": "array", "items": obj(id=INTEGER, name=STRING, level={"enum": list(AREA_LEVELS)})},
        unit=nullable(ref("UnitRef")), patrol_id=nullable(INTEGER), reported_at=DATETIME,
        reported_by=nullable(STRING), source={"enum": list(ISSUE_SOURCES)}, deadline=nullable(DATE),
        overdue=BOOLEAN, closed_at=nullable(DATETIME),
        routed_to=nullable(obj(unit=nullable(ref("UnitRef")), people={"type": "array", "items": ref("Person")})),
        events={"type": "array", "items": obj(
            ["id", "kind", "at", "by", "note", "data", "photo_ids"],
            id=INTEGER, kind=STRING, at=DATETIME, by=nullable(STRING), unit=nullable(ref("UnitRef")),
            note=STRING, data={"type": "object"}, lon=nullable(NUMBER), lat=nullable(NUMBER),
            photo_ids={"type": "array", "items": INTEGER})},
        photos={"type": "array", "items": obj(
            ["id", "event_id", "taken_at", "lon", "lat", "metres"],
            id=INTEGER, event_id=nullable(INTEGER), taken_at=nullable(DATETIME), lon=nullable(NUMBER),
            lat=nullable(NUMBER), metres=nullable(INTEGER))},
        version=INTEGER, allowed={"type": "array", "items": STRING},
    ),
    "IssueReport": {"type": "object", "additionalProperties": False, "required": ["lon", "lat", "category"],
                    "properties": {"lon": NUMBER, "lat": NUMBER, "category": STRING, "description": STRING,
                                   "client_id": STRING, "patrol_id": INTEGER,
                                   "photos": {"type": "array", "maxItems": 3,
                                              "items": {"type": "string", "format": "binary"}}}},
    "IssueStep": {"type": "object", "additionalProperties": False, "required": ["kind", "version"],
                  "properties": {"kind": {"enum": ["meeting", "resolve", "verify", "refer", "reopen", "comment"]},
                                 "version": INTEGER, "note": STRING, "decision": STRING, "unit_id": INTEGER,
                                 "deadline": DATE, "attending_unit_ids": {"type": "array", "items": INTEGER},
                                 "attending_person_ids": {"type": "array", "items": INTEGER},
                                 "lon": NUMBER, "lat": NUMBER,
                                 "photos": {"type": "array", "maxItems": 3,
                                            "items": {"type": "string", "format": "binary"}}}},
    "Nearby": obj(id=INTEGER, category=STRING, status=STRING, description=STRING, reported_at=DATETIME,
                  metres=NUMBER),
    "Patrol": obj(
        ["id", "title", "area", "started_at", "ended_at", "units", "members", "track", "issues", "found",
         "solved_on_the_spot", "on_the_spot_rate"],
        id=INTEGER, title=STRING, area=nullable(obj(id=INTEGER, name=STRING, code=STRING)), started_at=DATETIME,
        ended_at=nullable(DATETIME), units={"type": "array", "items": ref("UnitRef")},
        members={"type": "array", "items": obj(id=INTEGER, name=STRING, title=STRING)},
        track=nullable({"type": "object"}),
        issues={"type": "array", "items": obj(id=INTEGER, category=STRING, status=STRING, description=STRING,
                                              lon=NUMBER, lat=NUMBER)},
        found=INTEGER, solved_on_the_spot=INTEGER, on_the_spot_rate=nullable(NUMBER),
    ),
    "PatrolSummary": obj(id=INTEGER, title=STRING, area_id=INTEGER, started_at=DATETIME,
                         ended_at=nullable(DATETIME)),
    "Coverage": obj(level=STRING, since=DATE, until=DATE, places={"type": "array", "items": obj(
        id=INTEGER, name=STRING, level=STRING, households=INTEGER, visited=INTEGER, share=nullable(NUMBER),
        last_visit=nullable(DATE))}),
    "Week": obj(week=DATE, visited=INTEGER, households=INTEGER, share=nullable(NUMBER)),
    # Where the caller sees no personal data (a viewer): no household id, no flat number.
    "NotVisited": obj(household_id=nullable(INTEGER), building_id=INTEGER, building=STRING, address=nullable(STRING),
                      last_visit=nullable(DATE), days=nullable(INTEGER)),
    "HouseholdChoice": obj(id=INTEGER, unit_no=INTEGER, floor=INTEGER, room=STRING, address=STRING,
                           residents=INTEGER, active=BOOLEAN, head_name=STRING, phone=STRING, mine=BOOLEAN),
    "Visit": obj(id=INTEGER, household_id=INTEGER, person_id=INTEGER, visited_on=DATE, hours=NUMBER, note=STRING,
                 needs=STRING, by_assignee=BOOLEAN, client_id=nullable(STRING)),
    "VisitWrite": {"type": "object", "additionalProperties": False, "required": ["household_id", "hours"],
                   "properties": {"household_id": INTEGER, "person_id": INTEGER, "visited_on": DATE,
                                  "hours": NUMBER, "note": STRING, "needs": STRING, "wish_title": STRING,
                                  "wish_description": STRING, "client_id": STRING}},
    # description, address and note are null where the caller sees no personal data (a viewer).
    "Wish": obj(id=INTEGER, title=STRING, description=nullable(STRING), status={"enum": ["open", "claimed", "fulfilled",
                                                                                "withdrawn"]},
                raised_on=DATE, building=STRING, address=nullable(STRING), area_id=nullable(INTEGER),
                claimed_by=nullable(STRING), claimed_on=nullable(DATE), promised_on=nullable(DATE),
                fulfilled_on=nullable(DATE), note=nullable(STRING), rating=nullable(INTEGER), version=INTEGER, late=BOOLEAN,
                photo_ids={"type": "array", "items": INTEGER}),
    "WishStep": {"type": "object", "additionalProperties": False, "required": ["version"],
                 "properties": {"version": INTEGER, "note": STRING, "rating": INTEGER, "promised_on": DATE,
                                "unit_id": INTEGER,
                                "photos": {"type": "array", "maxItems": 3,
                                           "items": {"type": "string", "format": "binary"}}}},
    "Summary": {"type": "object", "required": ["person", "year", "by_kind", "sessions", "hours", "behind", "stars"],
                "properties": {"person": {"type": "object"}, "year": INTEGER, "by_kind": {"type": "object"},
                               "sessions": INTEGER, "hours": NUMBER, "required": {"type": "object"},
                               "behind": BOOLEAN, "service_hours_total": NUMBER,
                               "stars": {"type": "integer", "minimum": 0, "maximum": 5},
                               "registered": {"type": "object"}}},
    "UnitWrite": {"type": "object", "additionalProperties": False, "properties": {
        "name": STRING, "kind": STRING, "phone": STRING, "version": INTEGER}},
    "PersonWrite": {"type": "object", "additionalProperties": False, "properties": {
        "name": STRING, "unit_id": nullable(INTEGER), "title": STRING, "phone": STRING,
        "is_party_member": BOOLEAN, "version": INTEGER}},
    "UserWrite": {"type": "object", "additionalProperties": False, "properties": {
        "username": STRING, "password": STRING, "role": {"enum": list(ROLES)}, "area_code": STRING,
        "person_id": nullable(INTEGER), "active": BOOLEAN, "version": INTEGER}},
    "AssignmentCreate": {"type": "object", "additionalProperties": False, "required": ["kind"], "properties": {
        "kind": {"enum": list(ASSIGNMENT_KINDS)}, "area_id": INTEGER, "building_id": INTEGER,
        "household_id": INTEGER, "unit_id": INTEGER, "person_id": INTEGER, "post": STRING, "duty": STRING,
        "target": STRING, "valid_from": DATE, "valid_to": DATE}},
    "AssignmentUpdate": {"type": "object", "additionalProperties": False, "required": ["version"],
                         "properties": {"post": STRING, "duty": STRING, "target": STRING, "version": INTEGER}},
    "AssignmentEnd": {"type": "object", "additionalProperties": False, "required": ["version"],
                      "properties": {"valid_to": DATE, "version": INTEGER}},
}


def _param(name: str, schema: J, where: str = "query", required: bool = False, text: str = "") -> J:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema,
            "description": text}


def _json(schema: J) -> J:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> J:
    text = {400: "bad input", 401: "not logged in", 403: "outside the caller's role or area", 404: "not found",
            409: "a stale version or a state that forbids it", 415: "not JSON"}
    return {str(s): {"description": text[s], **_json(ref("Error"))} for s in (401, *statuses)}


def _op(summary: str, answer: J | None, *, status: int = 200, params: list[J] | None = None,
        body: J | None = None, errors: tuple[int, ...] = (400,)) -> J:
    op: J = {"summary": summary, "parameters": params or [],
             "responses": {str(status): {"description": "OK", **(_json(answer) if answer else {})},
                           **_errors(*errors)}}
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
    return op


BBOX = _param("bbox", STRING, text="minlon,minlat,maxlon,maxlat (WGS 84)")
LIMIT = _param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT})
PAGE = _param("page", {"type": "integer", "minimum": 1, "maximum": 10000})
Q = _param("q", STRING, text="part of the name")
GEOJSON = {"content": {"application/geo+json": {"schema": ref("FeatureCollection")}}}


def _geojson_op(summary: str, params: list[J]) -> J:
    return {"summary": summary, "parameters": params,
            "responses": {"200": {"description": "OK", **GEOJSON}, **_errors(400)}}


def _id(name: str) -> J:
    return _param(name, INTEGER, "path")


def _retry_safe(op: J) -> J:
    """A create that a client_id makes safe to send again: 201 the first time, then 200
    with the same record."""
    op["responses"]["200"] = {**op["responses"]["201"], "description": "already stored under this client_id"}
    return op


def _photo_op(owner: str) -> J:
    return {"summary": "A photo: the small JPEG, or the file as sent with size=original",
            "parameters": [_id(owner), _id("photo_id"), _param("size", {"enum": ["display", "original"]})],
            "responses": {"200": {"description": "the image", "content": {
                "image/*": {"schema": {"type": "string", "format": "binary"}}}}, **_errors(400, 404)}}


def spec() -> J:
    array = lambda name: {"type": "array", "items": ref(name)}  # noqa: E731
    paths: J = {
        "/lookup": {"get": _op("The building and every area at a point, innermost first, with who is responsible",
                               ref("Lookup"), params=[_param("lon", NUMBER, required=True),
                                                      _param("lat", NUMBER, required=True)])},
        "/buildings": {"get": _geojson_op(
            f"Building footprints in a viewport (at most {MAX_BBOX_SPAN['buildings']}° across)",
            [{**BBOX, "required": True}, LIMIT])},
        "/buildings/{building_id}": {"get": _op("One building: areas, responsibility, households, coverage, "
                                                "open issues", ref("BuildingCard"), params=[_id("building_id")],
                                                errors=(404,))},
        "/areas": {"get": _geojson_op("Areas, by level and viewport",
                                      [_param("level", {"enum": list(AREA_LEVELS)}), BBOX, LIMIT]),
                   "post": _op("Draw a grid in a community (or a compound in a grid): inside it within 1 % or "
                               "20 m; slivers over a neighbour are trimmed, more overlap is refused",
                               ref("DrawnArea"), status=201, errors=(400, 403, 404, 409, 415),
                               body=obj(["parent_id", "geometry"], parent_id=INTEGER, name=STRING, code=STRING,
                                        geometry=GEOMETRY))},
        "/areas/{area_id}/geometry": {"put": _op(
            "Redraw a grid's or compound's outline; buildings follow by containment",
            ref("DrawnArea"), params=[_id("area_id")], errors=(400, 403, 404, 409, 415),
            body=obj(["geometry", "version"], geometry=GEOMETRY, version=INTEGER))},
        "/areas/{area_id}/split": {"post": _op(
            "Split a grid along a line from edge to edge: the larger part keeps it, the other is new",
            obj(["kept", "new"], kept=ref("DrawnArea"), new=ref("DrawnArea")), status=201,
            params=[_id("area_id")], errors=(400, 403, 404, 409, 415),
            body=obj(["line", "version"], line=GEOMETRY, version=INTEGER, name=STRING, code=STRING))},
        "/areas/merge": {"post": _op(
            "Merge two touching siblings into the first; what referred to the second moves to it",
            ref("DrawnArea"), errors=(400, 403, 404, 409, 415),
            body=obj(["ids", "versions"], ids={"type": "array", "items": INTEGER, "minItems": 2, "maxItems": 2},
                     versions={"type": "array", "items": INTEGER, "minItems": 2, "maxItems": 2}))},
        "/households/count": {"post": _op(
            "Buildings and active households standing in a polygon (while drawing a grid)",
            obj(["buildings", "households"], buildings=INTEGER, households=INTEGER), errors=(400, 415),
            body=obj(["geometry"], geometry=GEOMETRY))},
        "/areas/{area_id}": {"get": _op("One area with its assignments and the areas above it", ref("AreaCard"),
                                        params=[_id("area_id")], errors=(404,))},
        "/offline/{area_id}": {"get": _op(
            "What an offline copy of a community, grid or compound in the user's own area would hold and weigh "
            "(bytes as kept on the phone); an area too large for a phone is refused (area_too_large)",
            ref("OfflinePlan"), params=[_id("area_id")], errors=(400, 404))},
        "/offline/{area_id}/copy": {"get": _op(
            "The offline copy of the area: its buildings' cards, households, outlines, the cards above it and "
            "its open issues; the phone drops it at expires_at", ref("OfflineCopy"), params=[_id("area_id")],
            errors=(400, 404))},
        "/areas/{area_id}/people": {"get": _op(
            "The people answering for something in the area (it, an area, building or household under it): "
            "whom a patrol takes along. Names and posts, no phones.",
            {"type": "array", "items": obj(["id", "name", "title", "unit"], id=INTEGER, name=STRING, title=STRING,
                                           unit=nullable(STRING))},
            params=[_id("area_id")], errors=(403, 404))},
        "/issues": {
            "get": _geojson_op("Issues as points, filtered like the issue list", [
                _param("status", STRING, text="comma-separated states; 'open' = every state but closed"),
                BBOX, _param("category", STRING), _param("unit_id", INTEGER),
                _param("area_id", INTEGER, text="this area and everything under it"), _param("since", DATE),
                _param("until", DATE), _param("overdue", BOOLEAN),
                _param("sort", {"enum": ["reported_at", "deadline", "status", "category", "id", "urgency"]},
                       text="urgency: overdue first, then the nearest deadline, then the newest (the map's order)"),
                _param("order", {"enum": ["asc", "desc"]}), LIMIT, _param("offset", INTEGER)]),
            "post": {**_retry_safe(_op("Report an issue; routed by its location. JSON, or multipart with up to 3 "
                                       "photos. A client_id already used answers 200 with the first issue.",
                                       ref("IssueDetail"), status=201, errors=(400, 403, 404, 409, 415))),
                     "requestBody": {"required": True, "content": {
                         "application/json": {"schema": ref("IssueReport")},
                         "multipart/form-data": {"schema": ref("IssueReport")}}}},
        },
        "/issues/nearby": {"get": _op("Open issues within 50 m (of a category): is it one of these?",
                                      array("Nearby"), params=[_param("lon", NUMBER, required=True),
                                                               _param("lat", NUMBER, required=True),
                                                               _param("category", STRING)])},
        "/issues/{issue_id}": {"get": _op("One issue with its routing, timeline and photos", ref("IssueDetail"),
                                          params=[_id("issue_id")], errors=(404,))},
        "/issues/{issue_id}/events": {"post": {
            **_op("Take a step (meeting, resolve, verify, refer, reopen) or comment, as the version you saw",
                  ref("IssueDetail"), status=201, params=[_id("issue_id")], errors=(400, 403, 404, 409, 415)),
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": ref("IssueStep")},
                "multipart/form-data": {"schema": ref("IssueStep")}}}}},
        "/issues/{issue_id}/photos/{photo_id}": {"get": _photo_op("issue_id")},
        "/categories": {"get": _op("The issue categories to choose from", {"type": "array", "items": obj(
            code=STRING, name=STRING)}, errors=())},
        "/patrols": {
            "get": _op("Recent patrols in the caller's area (running=1: under way)", array("PatrolSummary"),
                       params=[_param("running", STRING)], errors=()),
            "post": _op("Start a patrol of a grid", ref("Patrol"), status=201,
                        body=obj(["area_id"], area_id=INTEGER, title=STRING,
                                 unit_ids={"type": "array", "items": INTEGER},
                                 person_ids={"type": "array", "items": INTEGER}),
                        errors=(400, 403, 404, 415)),
        },
        "/patrols/{patrol_id}": {"get": _op("A patrol: route, issues found, share solved on the spot",
                                            ref("Patrol"), params=[_id("patrol_id")], errors=(404,))},
        "/patrols/{patrol_id}/track": {"post": _op(
            "Store the route walked so far ([lon, lat] positions; simplified to 5 m)", ref("Patrol"),
            params=[_id("patrol_id")], body=obj(track={"type": "array"}), errors=(400, 403, 404, 409, 415))},
        "/patrols/{patrol_id}/end": {"post": _op(
            "End a patrol, with its route", ref("Patrol"), params=[_id("patrol_id")],
            body={"type": "object", "properties": {"track": {"type": "array"}}}, errors=(400, 403, 404, 409, 415))},
        "/me": {"get": _op("The caller's account", ref("User"), errors=())},
        "/me/password": {"post": _op("Change the caller's password (other logins end)",
                                     obj(changed=BOOLEAN), errors=(400, 415),
                                     body=obj(current_password=STRING, new_password=STRING))},
        "/tokens": {
            "get": _op("The caller's API tokens", array("Token"), errors=()),
            "post": _op("Create an API token; the answer holds it, once", ref("Token"), status=201,
                        body={"type": "object", "properties": {"name": STRING}}, errors=(400, 415)),
        },
        "/tokens/{token_id}": {"delete": _op("Revoke a token", ref("Token"), params=[_id("token_id")],
                                             errors=(404,))},
        "/units": {
            "get": _op("Units (all=1: every unit, unpaged)", array("Unit"), params=[Q, PAGE, _param("all", STRING)]),
            "post": _op("Create a unit (administrators)", ref("Unit"), status=201, body=ref("UnitWrite"),
                        errors=(400, 403, 409, 415)),
        },
        "/units/{unit_id}": {
            "get": _op("One unit", ref("Unit"), params=[_id("unit_id")], errors=(404,)),
            "patch": _op("Change a unit (administrators; send the version you saw)", ref("Unit"),
                         params=[_id("unit_id")], body=ref("UnitWrite"), errors=(400, 403, 404, 409, 415)),
        },
        "/people": {
            "get": _op("People; phones masked unless county-wide", array("PersonRecord"),
                       params=[Q, _param("unit_id", INTEGER), PAGE]),
            "post": _op("Create a person (administrators)", ref("PersonRecord"), status=201,
                        body=ref("PersonWrite"), errors=(400, 403, 404, 415)),
        },
        "/people/{person_id}": {
            "get": _op("One person", ref("PersonRecord"), params=[_id("person_id")], errors=(404,)),
            "patch": _op("Change a person (administrators)", ref("PersonRecord"), params=[_id("person_id")],
                         body=ref("PersonWrite"), errors=(400, 403, 404, 409, 415)),
        },
        "/users": {
            "get": _op("Accounts (administrators)", array("User"), params=[Q, PAGE], errors=(400, 403)),
            "post": _op("Create an account (administrators, logged in with a password: not with an API token)",
                        ref("User"), status=201, body=ref("UserWrite"),
                        errors=(400, 403, 404, 409, 415)),
        },
        "/users/{user_id}": {
            "get": _op("One account (administrators)", ref("User"), params=[_id("user_id")], errors=(403, 404)),
            "patch": _op("Change an account (administrators, logged in with a password: not with an API token)",
                         ref("User"), params=[_id("user_id")],
                         body=ref("UserWrite"), errors=(400, 403, 404, 409, 415)),
        },
        "/assignments": {
            "get": _op("Assignments in the caller's area (current ones unless all=1)", array("Assignment"),
                       params=[_param(n, INTEGER) for n in ("area_id", "building_id", "household_id",
                                                           "person_id")]
                       + [_param("all", STRING), PAGE]),
            "post": _op("Make a unit and/or person responsible for an area, building or household",
                        ref("Assignment"), status=201, body=ref("AssignmentCreate"),
                        errors=(400, 403, 404, 415)),
        },
        "/assignments/{assignment_id}": {
            "get": _op("One assignment", ref("Assignment"), params=[_id("assignment_id")], errors=(404,)),
            "patch": _op("Correct the post, duty or target of a current assignment", ref("Assignment"),
                         params=[_id("assignment_id")], body=ref("AssignmentUpdate"),
                         errors=(400, 403, 404, 409, 415)),
        },
        "/assignments/{assignment_id}/end": {
            "post": _op("End an assignment (it stays as history)", ref("Assignment"),
                        params=[_id("assignment_id")], body=ref("AssignmentEnd"),
                        errors=(400, 403, 404, 409, 415)),
        },
        "/export/{layer}.{fmt}": {"get": {
            "summary": "A layer or list as a file, whole (up to 200,000 rows), scoped and masked as on screen: "
                       "areas (level=), buildings, issues (the issue list's filters), coverage (level=, since=, "
                       "until=, area_id=), people, units. CSV and XLSX carry geometry as WKT; XLSX adds each "
                       "row's centroid, and leaves out a WKT longer than a cell with a note. people and units "
                       "have no geometry: csv or xlsx only.",
            "parameters": [_param("layer", {"enum": ["areas", "buildings", "issues", "coverage", "people", "units"]},
                                  "path"),
                           _param("fmt", {"enum": ["geojson", "gpkg", "csv", "xlsx"]}, "path"),
                           _param("level", STRING), BBOX, _param("since", DATE), _param("until", DATE),
                           _param("area_id", INTEGER), _param("status", STRING), _param("category", STRING)],
            "responses": {"200": {"description": "the file, named LAYER-YYYY-MM-DD.FMT", "content": {
                "application/geo+json": {"schema": ref("FeatureCollection")},
                "application/geopackage+sqlite3": {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}}}},
                **_errors(400, 404)}}},
        "/coverage": {"get": _op(
            "Visit coverage per place: active households visited at least once in the window",
            ref("Coverage"), params=[_param("level", {"enum": ["building", "compound", "grid", "community",
                                                               "township"]}),
                                     _param("since", DATE), _param("until", DATE), BBOX,
                                     _param("area_id", INTEGER)])},
        "/coverage/weekly": {"get": _op("An area's coverage week by week (the dashboard's chart)", array("Week"),
                                        params=[_param("area_id", INTEGER, required=True),
                                                _param("weeks", INTEGER)], errors=(400, 404))},
        "/not-visited": {"get": _op("Active households not visited for N days (by a person, or in an area)",
                                    array("NotVisited"), params=[_param("days", INTEGER),
                                                                 _param("person_id", INTEGER),
                                                                 _param("area_id", INTEGER)])},
        "/buildings/{building_id}/households": {"get": _op(
            "A building's households to choose from (names and phones masked outside the user's area)",
            array("HouseholdChoice"), params=[_id("building_id")], errors=(403, 404))},
        "/visits": {"post": _retry_safe(_op(
            "Record a household visit (and a micro-wish it raised). A client_id this login already used answers "
            "200 with the visit stored then.", ref("Visit"), status=201, body=ref("VisitWrite"),
            errors=(400, 403, 404, 409, 415)))},
        "/wishes": {"get": _op("Micro-wishes in the user's area", array("Wish"),
                               params=[_param("status", STRING), _param("area_id", INTEGER),
                                       _param("overdue", BOOLEAN), PAGE])},
        "/wishes/{wish_id}/{step}": {"post": {
            **_op("claim (promised_on, unit_id), fulfil (note and/or up to 3 photos, as multipart), withdraw (note) "
                  "or rate (rating) a wish", obj(id=INTEGER, status=STRING, version=INTEGER),
                  params=[_id("wish_id"), _param("step", {"enum": ["claim", "fulfil", "withdraw", "rate"]}, "path")],
                  errors=(400, 403, 404, 409, 415)),
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": ref("WishStep")},
                "multipart/form-data": {"schema": ref("WishStep")}}}}},
        "/wishes/{wish_id}/photos/{photo_id}": {"get": _photo_op("wish_id")},
        "/people/{person_id}/summary": {"get": _op(
            "A party member's year: sessions and hours against 8 and 40; volunteer hours and stars",
            ref("Summary"), params=[_id("person_id"), _param("year", INTEGER)], errors=(400, 404))},
        "/people/{person_id}/registration": {"post": _op(
            "Record an in-service party member's registration with a community (在职党员报到)",
            obj(id=INTEGER, registered_area_id=INTEGER, registered_on=nullable(DATE), version=INTEGER),
            params=[_id("person_id")], body=obj(["area_id", "version"], area_id=INTEGER, registered_on=DATE,
                                                version=INTEGER),
            errors=(400, 403, 404, 409, 415))},
        "/accountability/behind": {"get": _op(
            "Party members short of 8 sessions or 40 hours in the year, by unit or community",
            {"type": "array", "items": obj(id=INTEGER, name=STRING, title=STRING, group=STRING, sessions=INTEGER,
                                           hours=NUMBER)},
            params=[_param("year", INTEGER), _param("group", {"enum": ["unit", "community"]})])},
        "/volunteers": {"get": _op("Volunteers by cumulative service hours, with stars", {"type": "array", "items": obj(
            id=INTEGER, name=STRING, unit=STRING, hours=NUMBER, stars=INTEGER)}, errors=())},
        "/service-records": {"post": _op(
            "Record volunteer service hours (verified by the recording officer, never by the volunteer)",
            obj(id=INTEGER, person_id=INTEGER, served_on=DATE, activity=STRING, hours=NUMBER,
                verified_by=nullable(INTEGER)),
            status=201, body=obj(["person_id", "activity", "hours"], person_id=INTEGER, served_on=DATE,
                                 activity=STRING, hours=NUMBER),
            errors=(400, 403, 404, 415))},
        "/audit": {"get": _op("The audit log, newest first (administrators)", array("AuditEntry"),
                              params=[_param("user", STRING), _param("table", STRING), _param("action", STRING),
                                      _param("record_id", INTEGER), _param("since", DATE),
                                      _param("until", DATE), PAGE], errors=(400, 403))},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Gridwalk API", "version": "1",
                 "description": "Grid responsibility map. Log in with a session cookie (writes then need the "
                                "X-CSRF-Token header) or send Authorization: Bearer TOKEN. Errors always "
                                "have the shape {\"error\": {\"code\", \"message\"}}."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}, {"session": []}],
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
        "paths": paths,
    }
