"""OGC API – Features at /ogc/: the landing page, conformance, collections and their items
with paging, bbox and datetime, scoped as the JSON API; and GDAL's own OAPIF driver
(what QGIS uses) reading every collection from a live server."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from geo import accounts, catalog
from geo.db import make_engine
from geo.geometry import to_element
from geo.models import Area, Building, Issue
from geo.scope import Scope
from tests.conftest import PASSWORD, box, build_world, create_database, drop_database, log_in_as

# Thirty more buildings in the east grid: more than a page.
EXTRA = [box(109.481 + 0.0002 * (n % 10), 29.981 + 0.0002 * (n // 10),
             109.4811 + 0.0002 * (n % 10), 29.9811 + 0.0002 * (n // 10)) for n in range(30)]


def add_buildings(session: Session, world: Any) -> None:
    session.add_all(Building(source_id=f"X-{n}", name=f"东区{n}栋", area_id=world.grid_east.id, geom=to_element(shape))
                    for n, shape in enumerate(EXTRA))
    session.flush()


def client_as(app, role):  # type: ignore[no-untyped-def]
    client = app.test_client()
    log_in_as(client, f"{role}-user")
    return client


def test_the_landing_page_links_conformance_and_data(app, world, role_users):
    answer = client_as(app, "admin").get("/ogc/")

    assert answer.status_code == 200 and answer.mimetype == "application/json"
    rels = {link["rel"]: link["href"] for link in answer.get_json()["links"]}
    assert rels["conformance"].endswith("/ogc/conformance") and rels["data"].endswith("/ogc/collections")
    conformance = client_as(app, "admin").get("/ogc/conformance").get_json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conformance


def test_collections_list_every_layer_with_its_extent(app, world, role_users):
    body = client_as(app, "admin").get("/ogc/collections").get_json()

    ids = [c["id"] for c in body["collections"]]
    assert ids == list(catalog.COLLECTIONS)
    grids = next(c for c in body["collections"] if c["id"] == "grids")
    assert grids["extent"]["spatial"]["bbox"] == [[109.47, 29.98, 109.51, 30.0]]
    assert any(link["rel"] == "items" for link in grids["links"])
    every = client_as(app, "admin").get("/ogc/collections/areas/items?limit=100").get_json()
    assert {f["properties"]["level"] for f in every["features"]} == {"county", "township", "community", "grid",
                                                                     "compound"}


def test_items_page_through_every_feature_once(app, session, world, role_users):
    add_buildings(session, world)
    client = client_as(app, "admin")
    total = session.scalar(select(func.count()).select_from(Building))

    seen: list[int] = []
    url = "/ogc/collections/buildings/items?limit=7"
    while url:
        page = client.get(url)
        assert page.status_code == 200 and page.mimetype == "application/geo+json"
        body = page.get_json()
        assert body["numberMatched"] == total and body["numberReturned"] == len(body["features"])
        seen += [f["id"] for f in body["features"]]
        following = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = following[0].removeprefix("http://localhost") if following else None

    assert sorted(seen) == seen and len(seen) == len(set(seen)) == total


def test_bbox_and_datetime_narrow_the_items(app, session, world, role_users):
    add_buildings(session, world)
    client = client_as(app, "admin")
    inside = client.get("/ogc/collections/buildings/items?bbox=109.4805,29.9805,109.4835,29.9835&limit=100").get_json()
    assert {f["properties"]["source_id"] for f in inside["features"]} == {f"X-{n}" for n in range(30)}

    early = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
    session.add_all([
        Issue(category="环境卫生", description="早", geom=to_element(box(0, 0, 1, 1).centroid), status="reported",
              area_id=world.grid_east.id, reported_at=early),
        Issue(category="环境卫生", description="晚", geom=to_element(box(0, 0, 1, 1).centroid), status="reported",
              area_id=world.grid_east.id, reported_at=early + dt.timedelta(days=30)),
    ])
    session.flush()
    def described(query: str) -> list[str]:
        body = client.get(f"/ogc/collections/issues/items?{query}").get_json()
        return sorted(f["properties"]["description"] for f in body["features"])
    assert described("datetime=2026-01-05") == ["早"]
    assert described("datetime=../2026-01-20T00:00:00Z") == ["早"]
    assert described("datetime=2026-01-20T00:00:00Z/..") == ["晚"]
    assert described("datetime=2026-01-01T00:00:00Z/2026-03-01T00:00:00Z") == ["早", "晚"]
    # China's offset, with its "+" left unencoded (it arrives as a space): 17:00 here is 09:00 UTC.
    assert described("datetime=2026-01-05T17:00:00+08:00") == ["早"]
    # A bbox with heights (six numbers) is read as its four corners.
    with_heights = client.get("/ogc/collections/buildings/items?bbox=109.4805,29.9805,0,109.4835,29.9835,50&limit=100")
    assert with_heights.get_json()["numberMatched"] == 30


def test_a_user_reads_only_their_area(app, session, world, role_users):
    community = client_as(app, "community").get("/ogc/collections/buildings/items?limit=100").get_json()
    names = {f["properties"]["name"] for f in community["features"]}
    assert "贡水花园1栋" in names and "东门小学" not in names
    assert client_as(app, "community").get(
        f"/ogc/collections/buildings/items/{world.other_building.id}").status_code == 404


def test_coverage_per_grid_carries_its_figures(app, world, role_users):
    body = client_as(app, "admin").get("/ogc/collections/coverage/items?limit=100").get_json()
    west = next(f for f in body["features"] if f["id"] == world.grid_west.id)
    assert set(west["properties"]) >= {"households", "visited", "share", "since", "until"}
    assert west["properties"]["households"] >= 1


def test_no_login_is_401_and_bad_parameters_are_400_in_the_error_shape(app, world, role_users):
    assert app.test_client().get("/ogc/collections").status_code == 401
    client = client_as(app, "viewer")
    for query, code in [("limit=0", "invalid_parameter"), ("limit=abc", "invalid_parameter"),
                        ("offset=-1", "invalid_parameter"), ("bbox=1,2,3", "invalid_bbox"),
                        ("bbox=1,2,nan,4", "invalid_bbox"), ("bbox=10,20,5,30", "invalid_bbox"), ("datetime=yesterday", "invalid_datetime"),
                        ("datetime=2026-02-01/2026-01-01", "invalid_datetime"), ("f=xml", "unknown_format"),
                        ("colour=red", "unknown_parameter")]:
        answer = client.get(f"/ogc/collections/buildings/items?{query}")
        assert answer.status_code == 400, query
        assert answer.get_json()["error"]["code"] == code, query
    assert client.get("/ogc/collections/roads/items").get_json()["error"]["code"] == "unknown_collection"
    assert client.get("/ogc/collections/buildings/items/999999").status_code == 404
    assert client.get("/ogc/collections/buildings/items/x1").status_code == 400


def test_a_browser_gets_pages(app, world, role_users):
    client = client_as(app, "admin")
    page = client.get("/ogc/collections/buildings/items?f=html").get_data(as_text=True)
    assert "贡水花园1栋" in page and "<table" in page
    assert "text/html" in client.get("/ogc/collections", headers={"Accept": "text/html"}).content_type
    assert client.get("/ogc/collections?limit=5").status_code == 200  # only items take parameters
    # A browser's wrong turn gets a page too, not JSON.
    lost = client.get("/ogc/collections/roads", headers={"Accept": "text/html,application/xhtml+xml"})
    assert lost.status_code == 404 and "text/html" in lost.content_type


def test_a_huge_limit_is_served_at_the_most(app, world, role_users):
    body = client_as(app, "admin").get("/ogc/collections/grids/items?limit=99999").get_json()
    self_link = next(link["href"] for link in body["links"] if link["rel"] == "self")
    assert "limit=10000" in self_link


# --- GDAL, as QGIS reads it ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ogc_server() -> Iterator[dict[str, Any]]:
    from webmap import create_app

    name = f"gridwalk_ogc_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    engine = make_engine(url)
    with Session(engine) as s:
        world = build_world(s)
        add_buildings(s, world)
        admin = accounts.create_user(s, "ogc-admin", PASSWORD, "admin")
        _, token = accounts.create_token(s, admin, "qgis")
        grid_user = accounts.create_user(s, "ogc-grid", PASSWORD, "grid", world.grid_east.code)
        _, grid_token = accounts.create_token(s, grid_user, "qgis")
        s.commit()
        counts = {c: catalog.items(s, Scope.system(), c, catalog.Query(limit=1), dt.date.today())[1]
                  for c in catalog.COLLECTIONS}
        grid_counts = {c: catalog.items(s, Scope.of(grid_user), c, catalog.Query(limit=1), dt.date.today())[1]
                       for c in ("buildings",)}
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "ogc-test"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}/ogc", "token": token, "grid_token": grid_token,
           "counts": counts, "grid_counts": grid_counts}
    server.shutdown()
    thread.join()
    app.extensions["gridwalk.sessions"].kw["bind"].dispose()
    engine.dispose()
    drop_database(name)


def ogrinfo(server: dict[str, Any], *args: str, token: str | None = None) -> str:
    if shutil.which("ogrinfo") is None:
        pytest.fail("GDAL's ogrinfo is not installed (make test installs gdal-bin)")
    done = subprocess.run(
        ["ogrinfo", "-ro", "--config", "GDAL_HTTP_HEADERS", f"Authorization: Bearer {token or server['token']}",
         "--config", "CPL_CURL_VERBOSE", "NO", f"OAPIF:{server['url']}", *args],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_ogrinfo_lists_every_collection(ogc_server):
    listed = ogrinfo(ogc_server, "-so", "-q")
    layers = re.findall(r"^\d+: (\S+)", listed, re.M)
    assert layers == list(catalog.COLLECTIONS)


def test_ogrinfo_reads_as_many_features_as_the_database_holds(ogc_server):
    # Small pages, so GDAL follows the next links many times.
    for collection in ("buildings", "areas", "grids", "coverage"):
        listed = ogrinfo(ogc_server, "-oo", "PAGE_SIZE=4", "-al", "-q", collection)
        assert listed.count("OGRFeature(") == ogc_server["counts"][collection], collection


def test_ogrinfo_with_a_grid_officers_token_reads_their_grid_only(ogc_server):
    listed = ogrinfo(ogc_server, "-oo", "PAGE_SIZE=10", "-al", "-q", "buildings", token=ogc_server["grid_token"])
    assert listed.count("OGRFeature(") == ogc_server["grid_counts"]["buildings"] == len(EXTRA)
