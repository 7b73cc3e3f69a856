"""The peers of `../shared/peers/` (raw PostGIS, a hand-written Flask + psycopg2 server,
pygeoapi, Folium maps) run on Gridwalk's own county, so that `make bench` measures them
beside Gridwalk on the same data in the same run.

The harness is used as a library, unchanged. Its tables are filled from the benchmark's
Gridwalk database into a database `bench` in the same cluster (the name its pygeoapi
configuration uses):
  buildings        every building, with the same id;
  people           the cadres, with their unit's name;
  building_people  whom the building answers to: the current assignments on the building
                   and on the area it lies in (its grid or compound).
The "town" whose tiles are sampled is the extent of the buildings of the township with the
most of them, and the viewports are centred on the middle of those buildings.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import psycopg2
from sqlalchemy import Engine

ROOT = Path(__file__).resolve().parent.parent
HARNESS = Path(os.environ.get("GRIDWALK_PEERS", ROOT.parent / "shared" / "peers"))
DATABASE = "bench"
ZOOMS = (14, 15, 16, 17)

SCHEMA = """
    DROP TABLE IF EXISTS building_people, people, buildings CASCADE;
    CREATE TABLE buildings (id int PRIMARY KEY, name text NOT NULL, address text NOT NULL,
                            floors smallint NOT NULL, use text NOT NULL, grid_id int,
                            geom geometry(MultiPolygon, 4326) NOT NULL);
    CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL, unit text NOT NULL, phone text NOT NULL);
    CREATE TABLE building_people (building_id int NOT NULL REFERENCES buildings(id),
                                  person_id int NOT NULL REFERENCES people(id),
                                  role text NOT NULL, PRIMARY KEY (building_id, person_id));
"""
# (table, the query on Gridwalk's database that fills it)
COPIES = (
    ("buildings", "SELECT id, name, address, coalesce(floors, 1), use, area_id, geom FROM buildings"),
    ("people", "SELECT p.id, p.name, coalesce(u.name, ''), p.phone FROM people p LEFT JOIN units u ON u.id = p.unit_id"),
    ("building_people", """
        SELECT building_id, person_id, min(post) FROM (
          SELECT s.building_id, s.person_id, s.post FROM assignments s
          WHERE s.building_id IS NOT NULL AND s.person_id IS NOT NULL
            AND s.valid_from <= current_date AND (s.valid_to IS NULL OR s.valid_to > current_date)
          UNION ALL
          SELECT b.id, s.person_id, s.post FROM buildings b JOIN assignments s ON s.area_id = b.area_id
          WHERE s.person_id IS NOT NULL
            AND s.valid_from <= current_date AND (s.valid_to IS NULL OR s.valid_to > current_date)) r
        GROUP BY building_id, person_id"""),
)
INDEXES = """
    CREATE INDEX buildings_geom_gist ON buildings USING gist (geom);
    CREATE INDEX building_people_person ON building_people (person_id);
"""
# The township with the most buildings: the extent and the middle of its buildings.
TOWN = """
    SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), ST_X(c), ST_Y(c), n FROM (
      SELECT ST_Extent(b.geom) AS e, ST_Centroid(ST_Collect(ST_Centroid(b.geom))) AS c, count(*) AS n
      FROM buildings b JOIN areas t ON t.level = 'township' AND ST_Intersects(t.geom, ST_Centroid(b.geom))
      GROUP BY t.id ORDER BY count(*) DESC LIMIT 1) s
"""
INSIDE = """
    SELECT id, ST_X(p), ST_Y(p) FROM (SELECT id, ST_PointOnSurface(geom) AS p FROM buildings
                                      ORDER BY md5(id::text) LIMIT %(n)s) s
"""


def harness(pg_port: int) -> types.SimpleNamespace:
    """The harness's modules, pointed at database `bench` of our cluster, and at z14–z17."""
    if not (HARNESS / "bench_http.py").exists():
        sys.exit(f"the peers harness is not at {HARNESS} (set GRIDWALK_PEERS)")
    os.environ["BENCH_DSN"] = f"host=127.0.0.1 port={pg_port} dbname={DATABASE} user=postgres"
    os.environ["PGPORT"] = str(pg_port)
    os.environ.setdefault("SCRATCH", "/tmp/peers")
    sys.path.insert(0, str(HARNESS))
    import bench_folium  # type: ignore[import-not-found]
    import bench_http  # type: ignore[import-not-found]
    import bench_raw  # type: ignore[import-not-found]
    import common  # type: ignore[import-not-found]
    import servers  # type: ignore[import-not-found]

    bench_raw.ZOOMS = bench_http.ZOOMS = ZOOMS
    return types.SimpleNamespace(common=common, bench_raw=bench_raw, bench_http=bench_http,
                                 bench_folium=bench_folium, servers=servers, dsn=os.environ["BENCH_DSN"])


def _dsn(engine: Engine, database: str) -> str:
    url = engine.url
    return f"host={url.host} port={url.port} dbname={database} user={url.username}"


def prepare(h: types.SimpleNamespace, engine: Engine, points: int = 1000) -> tuple[dict[str, Any], list[dict]]:
    """Fill the peers' database from ours; returns the harness's meta and lookup points:
    half inside buildings (the building's id given), half anywhere in the town."""
    admin = psycopg2.connect(_dsn(engine, "postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {DATABASE}")
    admin.close()
    source = psycopg2.connect(_dsn(engine, engine.url.database or ""))
    target = psycopg2.connect(h.dsn)
    try:
        with source.cursor() as src, target.cursor() as dst:
            dst.execute("SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis")
            dst.execute(SCHEMA)
            counts = {}
            for table, query in COPIES:
                with tempfile.TemporaryFile() as buffer:
                    src.copy_expert(f"COPY ({query}) TO STDOUT", buffer)
                    buffer.seek(0)
                    dst.copy_expert(f"COPY {table} FROM STDIN", buffer)
                counts[table] = dst.rowcount
            dst.execute(INDEXES)
            target.commit()
            src.execute(TOWN)
            x0, y0, x1, y1, cx, cy, in_town = src.fetchone()
            src.execute(INSIDE, {"n": points // 2})
            inside = src.fetchall()
        target.autocommit = True
        with target.cursor() as dst:
            dst.execute("VACUUM ANALYZE")
    finally:
        source.close()
        target.close()
    rng = random.Random(7)
    found = [{"lon": lon, "lat": lat, "kind": "inside", "building": bid} for bid, lon, lat in inside]
    found += [{"lon": rng.uniform(x0, x1), "lat": rng.uniform(y0, y1), "kind": "uniform"}
              for _ in range(points - len(inside))]
    rng.shuffle(found)
    # The harness's viewports and maps are centred on its LON0/LAT0: ours is the town's middle.
    h.common.VIEWPORTS.update(bbox300m=h.common.viewport(300, cx, cy), bbox2km=h.common.viewport(2000, cx, cy))
    h.bench_folium.LON0, h.bench_folium.LAT0 = cx, cy
    meta = {"n_buildings": counts["buildings"], "n_people": counts["people"],
            "n_assignments": counts["building_people"], "town_bbox": [x0, y0, x1, y1],
            "town_buildings": in_town, "center": [cx, cy]}
    return meta, found


def sign_tiles(h: types.SimpleNamespace, port: int, token: str) -> None:
    """The harness's tile series sends no headers; Gridwalk's tiles need its bearer token."""
    plain = h.bench_http.get

    def get(p: int, path: str, timeout: int = 120, headers: dict | None = None) -> Any:
        if p == port and not headers:
            headers = {"Authorization": f"Bearer {token}"}
        return plain(p, path, timeout=timeout, headers=headers)

    h.bench_http.get = get


def gridwalk_target(h: types.SimpleNamespace, port: int, token: str) -> Any:
    return h.bench_http.Target("gridwalk", port, "/api/v1/buildings?limit=10000&bbox={bbox}",
                               "/tiles/buildings/{z}/{x}/{y}.mvt", "/api/v1/lookup?lon={lon}&lat={lat}",
                               headers={"Authorization": f"Bearer {token}"})


def check_lookups(h: types.SimpleNamespace, target: Any, points: list[dict]) -> dict[str, int]:
    """Every point placed inside a building must be answered with that building."""
    out = {"inside_points": 0, "right_building": 0, "wrong_or_none": 0}
    for p in points:
        if p["kind"] != "inside":
            continue
        status, body, _ = h.bench_http.get(target.port, target.lookup(p), headers=target.headers)
        building = json.loads(body).get("building") if status == 200 else None
        out["inside_points"] += 1
        out["right_building" if building and building.get("id") == p["building"] else "wrong_or_none"] += 1
    return out
