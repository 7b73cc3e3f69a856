"""Benchmark: vector tiles of buildings at zoom 14–17, as GET /tiles/buildings/{z}/{x}/{y}.mvt
answers them (a logged-in county officer, token auth, scope checks, the cache), against the
hand-written tile SQL a GIS team would put behind a server (ST_AsMVT over the whole table,
no scope, no cache; the peers' SQL), bare and behind a hand-written Flask + psycopg2 route,
measured in the same run on the same tiles.

    DATABASE_URL=postgresql://… python bench/tiles.py [--scale 50] [--tiles 60]

Five figures per zoom: the bare SQL; the hand-written server (one Flask route running it on
a psycopg2 connection, no login); Gridwalk with an empty cache (each tile made and stored);
Gridwalk again (each tile from the cache); and Gridwalk making the same tiles for a GCJ-02
basemap (?datum=gcj02, the per-tile affine shift), with what that costs over WGS 84. Both servers are called through their WSGI app in
this process (Flask's test client), not through a socket, so the ratios compare the work,
not the network. Target (issue 10): tiles at least as fast as the hand-written server.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg2  # noqa: E402
from flask import Flask, Response  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.county import officer_token, open_county  # noqa: E402

# The tile as one writes it by hand (peers/common.py): every building meeting the tile.
HAND_WRITTEN = text("""
    SELECT ST_AsMVT(t, 'buildings', 4096, 'geom') FROM (
        SELECT id, name, use, area_id,
               ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(:z, :x, :y), 4096, 64, true) AS geom
        FROM buildings WHERE geom && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326)
    ) t
""")


def hand_written_server(url: str) -> Flask:
    """What a GIS team writes in an afternoon: one route, one connection, the SQL above."""
    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    conn.autocommit = True
    sql = str(HAND_WRITTEN).replace(":z", "%(z)s").replace(":x", "%(x)s").replace(":y", "%(y)s")
    server = Flask("hand_written")

    @server.get("/<int:z>/<int:x>/<int:y>.mvt")
    def tile(z: int, x: int, y: int) -> Response:
        with conn.cursor() as cur:
            cur.execute(sql, {"z": z, "x": x, "y": y})
            return Response(bytes(cur.fetchone()[0]), mimetype="application/vnd.mapbox-vector-tile")

    return server


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def stats(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return f"{statistics.median(ordered):7.2f} / {p95:7.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=50)
    parser.add_argument("--tiles", type=int, default=60, help="tiles sampled per zoom")
    args = parser.parse_args()
    opened = open_county(args.scale, "bench-tiles")
    if opened is None:
        return 2
    engine, factory = opened
    from webmap import create_app

    with factory() as session:
        buildings = session.scalar(text("SELECT count(*) FROM buildings"))
        # Tiles where the buildings are: around a seeded sample of them.
        points = session.execute(text(
            "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) AS c FROM buildings "
            "ORDER BY md5(id::text) LIMIT 2000) s")).all()
        token = officer_token(session, "bench-tiles")
        session.execute(text("DELETE FROM tile_cache"))
        session.commit()
    url = engine.url.render_as_string(hide_password=False)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    client = app.test_client()
    reference = hand_written_server(url).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    print(f"buildings {buildings:,}; {args.tiles} tiles per zoom around them; median / p95 in ms")
    print(f"{'zoom':>4}  {'bare SQL':>17}  {'hand-written srv':>17}  {'gridwalk, made':>17}  "
          f"{'gridwalk, cached':>17}  {'gcj02, made':>17}  {'made/srv':>8}  {'cached/srv':>10}  {'gcj02/made':>10}  tile")
    rng = random.Random(7)
    worst = 0.0
    for z in (14, 15, 16, 17):
        tiles = sorted({tile_of(lon, lat, z) for lon, lat in points})
        rng.shuffle(tiles)
        tiles = tiles[:args.tiles]
        bare, served, made, cached, shifted, counts = [], [], [], [], [], []
        with engine.connect() as conn:
            for x, y in tiles[:3]:  # warm-up, not counted
                conn.execute(HAND_WRITTEN, {"z": z, "x": x, "y": y}).scalar()
            for x, y in tiles:
                t0 = time.perf_counter()
                body = conn.execute(HAND_WRITTEN, {"z": z, "x": x, "y": y}).scalar()
                bare.append((time.perf_counter() - t0) * 1000)
                counts.append(len(body or b""))
        for x, y in tiles[:3]:
            reference.get(f"/{z}/{x}/{y}.mvt")
        for the_client, path, timings, auth, query in (
                (reference, "", served, {}, ""), (client, "/tiles/buildings", made, headers, ""),
                (client, "/tiles/buildings", cached, headers, ""),
                (client, "/tiles/buildings", shifted, headers, "?datum=gcj02")):
            for x, y in tiles:
                t0 = time.perf_counter()
                response = the_client.get(f"{path}/{z}/{x}/{y}.mvt{query}", headers=auth)
                timings.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, response.data
        s, m, c = statistics.median(served), statistics.median(made), statistics.median(cached)
        g = statistics.median(shifted)
        worst = max(worst, c / s)
        print(f"{z:>4}  {stats(bare)}  {stats(served)}  {stats(made)}  {stats(cached)}  {stats(shifted)}  "
              f"{m / s:7.2f}×  {c / s:9.2f}×  {g / m:9.2f}×  {statistics.median(counts) / 1024:.1f} KiB")
    verdict = "ok" if worst <= 1.0 else "MISSES THE TARGET"
    print(f"cached tiles, slowest zoom: {worst:.2f}× the hand-written server's time ({verdict}: ≤ 1.0×)")
    with factory() as session:
        session.execute(text("DELETE FROM tile_cache"))
        session.commit()
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
