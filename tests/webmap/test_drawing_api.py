"""The drawing endpoints: what the map's drawing tools send, the answers and errors they
get back, and the audit trail a drawn grid leaves."""

from __future__ import annotations

from sqlalchemy import select

from geo.models import Area, AuditEntry
from tests.conftest import box, client_as


def test_an_officer_draws_a_grid_and_it_is_audited(app, session, world, role_users):
    officer = client_as(app, "community")
    # The east grid is redrawn smaller, then a new grid is drawn in the strip it gave up.
    east = world.grid_east
    smaller = officer.put(f"/api/v1/areas/{east.id}/geometry", json={
        "version": east.version, "geometry": box(109.48, 29.98, 109.49, 29.995).__geo_interface__})
    assert smaller.status_code == 200, smaller.get_json()
    counted = officer.post("/api/v1/households/count", json={"geometry": box(109.48, 29.995, 109.49, 30.0).__geo_interface__})
    assert counted.status_code == 200 and set(counted.get_json()) == {"buildings", "households"}

    created = officer.post("/api/v1/areas", json={
        "parent_id": world.community.id, "name": "文澜三网格",
        "geometry": box(109.48, 29.995, 109.49, 30.0).__geo_interface__})

    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["code"], body["level"], body["name"]) == ("T4228250101-03", "grid", "文澜三网格")
    entries = session.scalars(select(AuditEntry).where(AuditEntry.table_name == "areas")).all()
    assert {(e.action, e.record_id) for e in entries} >= {("update", east.id), ("create", body["id"])}
    redrawn = next(e for e in entries if e.record_id == east.id)
    assert redrawn.before["geom"] != redrawn.after["geom"]  # the old outline, to draw again to undo


def test_drawing_errors_come_in_the_one_shape_and_change_nothing(app, session, world, role_users):
    officer = client_as(app, "community")
    before = session.scalars(select(Area.id)).all()

    overlapping = officer.post("/api/v1/areas", json={
        "parent_id": world.community.id, "geometry": box(109.47, 29.98, 109.49, 30.0).__geo_interface__})
    broken = officer.post("/api/v1/areas", json={"parent_id": world.community.id, "geometry": {"type": "Polygon"}})
    stale = officer.put(f"/api/v1/areas/{world.grid_east.id}/geometry", json={
        "version": world.grid_east.version + 5, "geometry": box(109.48, 29.98, 109.49, 29.99).__geo_interface__})
    split_nothing = officer.post(f"/api/v1/areas/{world.grid_east.id}/split", json={
        "version": world.grid_east.version, "line": {"type": "LineString", "coordinates": [[109.0, 29.0], [109.1, 29.1]]}})
    outside = officer.post("/api/v1/areas", json={
        "parent_id": world.other_community.id, "geometry": box(109.50, 29.98, 109.51, 29.99).__geo_interface__})
    viewer = client_as(app, "viewer").post("/api/v1/areas", json={
        "parent_id": world.community.id, "geometry": box(109.48, 29.995, 109.49, 30.0).__geo_interface__})

    assert [r.status_code for r in (overlapping, broken, stale, split_nothing, outside, viewer)] == [
        400, 400, 409, 400, 403, 403]
    for answer in (overlapping, broken, stale, split_nothing, outside, viewer):
        assert set(answer.get_json()["error"]) == {"code", "message"}
    assert overlapping.get_json()["error"]["code"] == "overlaps_sibling"
    assert session.scalars(select(Area.id)).all() == before
