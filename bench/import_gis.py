"""Benchmark: importing building footprints from a GeoPackage, `gridwalk import buildings`
with all its checks (validity in shapely and PostGIS, the area each building falls in, the
20 m edge tolerance, matching earlier imports), against `ogr2ogr` loading the same file into
the same PostGIS with no checks at all, measured in the same run. Target: at most 2×.

    DATABASE_URL=postgresql://… python bench/import_gis.py [--buildings 100000]

DATABASE_URL names a server where the benchmark may create (and then drop) a database of
its own; `make bench-import` starts the local one. The footprints are OSM-like: 6 to 9
vertices, about 12 m across, in 100 grids of a county, in WGS 84.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
GRIDWALK = ROOT / ".venv" / "bin" / "gridwalk"
WEST, SOUTH = 109.40, 29.90
GRIDS_PER_SIDE = 10  # 100 grids in 10 communities of one township
GRID_DEGREES = 0.01  # about 1 km


def footprints(count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` small irregular polygons spread evenly over the grids."""
    per_side = int(np.ceil(np.sqrt(count)))
    step = GRIDS_PER_SIDE * GRID_DEGREES / per_side
    index = np.arange(count)
    cx = WEST + (index % per_side + 0.5) * step
    cy = SOUTH + (index // per_side + 0.5) * step
    shapes = []
    for x, y, vertices in zip(cx, cy, rng.integers(6, 10, count), strict=True):
        angles = np.sort(rng.uniform(0, 2 * np.pi, vertices))
        radius = rng.uniform(0.25, 0.4, vertices) * step
        ring = np.column_stack([x + radius * np.cos(angles), y + radius * np.sin(angles)])
        shapes.append(shapely.Polygon(ring))
    return shapely.multipolygons(np.asarray(shapes, dtype=object).reshape(-1, 1))


def write_gpkg(path: Path, count: int) -> None:
    shapes = footprints(count, np.random.default_rng(7))
    ids = np.asarray([f"osm-{n}" for n in range(count)], dtype=object)
    pyogrio.raw.write(path, shapely.to_wkb(shapes), [ids], ["osm_id"], layer="buildings",
                      geometry_type="MultiPolygon", crs="EPSG:4326")


def load_areas(url: str) -> None:
    """The county, one township, 10 communities and 100 grids the footprints fall in."""
    def box(x0: float, y0: float, x1: float, y1: float) -> str:
        return f"SRID=4326;MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))"

    side = GRIDS_PER_SIDE * GRID_DEGREES
    engine = create_engine(url)
    with engine.begin() as db:
        insert = text("INSERT INTO areas (code, name, level, parent_id, geom) VALUES "
                      "(:code, :code, :level, (SELECT id FROM areas WHERE code = :parent), :geom)")
        db.execute(insert, {"code": "C", "level": "county", "parent": None,
                            "geom": box(WEST - 0.01, SOUTH - 0.01, WEST + side + 0.01, SOUTH + side + 0.01)})
        db.execute(insert, {"code": "T", "level": "township", "parent": "C",
                            "geom": box(WEST, SOUTH, WEST + side, SOUTH + side)})
        for row in range(GRIDS_PER_SIDE):
            y0 = SOUTH + row * GRID_DEGREES
            db.execute(insert, {"code": f"T-{row}", "level": "community", "parent": "T",
                                "geom": box(WEST, y0, WEST + side, y0 + GRID_DEGREES)})
            for col in range(GRIDS_PER_SIDE):
                x0 = WEST + col * GRID_DEGREES
                db.execute(insert, {"code": f"T-{row}-{col}", "level": "grid", "parent": f"T-{row}",
                                    "geom": box(x0, y0, x0 + GRID_DEGREES, y0 + GRID_DEGREES)})
    engine.dispose()


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{command[0]} failed:\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buildings", type=int, default=100_000)
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL")
    if not server:
        sys.exit("set DATABASE_URL (or run `make bench-import`)")
    name = f"gridwalk_bench_import_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as db:
        db.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name)
    plain = url.render_as_string(hide_password=False)
    env = {**os.environ, "DATABASE_URL": plain}
    try:
        with create_engine(url).begin() as db:
            db.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        subprocess.run([str(GRIDWALK), "db", "upgrade"], env=env, check=True, capture_output=True)
        load_areas(plain)
        with tempfile.TemporaryDirectory() as scratch:
            gpkg = Path(scratch) / "footprints.gpkg"
            write_gpkg(gpkg, args.buildings)
            size = gpkg.stat().st_size / 2**20
            pg = (f"PG:host={url.host} port={url.port} dbname={name} user={url.username}"
                  + (f" password={url.password}" if url.password else ""))
            ogr, _ = timed(["ogr2ogr", "-f", "PostgreSQL", pg, str(gpkg), "buildings", "-nln", "ogr_footprints",
                            "-nlt", "MULTIPOLYGON", "-lco", "GEOMETRY_NAME=geom", "-lco", "SPATIAL_INDEX=GIST"], env)
            first, out = timed([str(GRIDWALK), "import", "buildings", str(gpkg), "--id-field", "osm_id"], env)
            again, _ = timed([str(GRIDWALK), "import", "buildings", str(gpkg), "--id-field", "osm_id"], env)
        with create_engine(url).connect() as db:
            stored = db.scalar(text("SELECT count(*) FROM buildings"))
            raw = db.scalar(text("SELECT count(*) FROM ogr_footprints"))
    finally:
        with admin.connect() as db:
            db.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(f"{args.buildings} footprints, GeoPackage of {size:.1f} MiB")
    print(f"  ogr2ogr into PostGIS (no checks):     {ogr:7.2f} s  ({raw} rows)")
    print(f"  gridwalk import buildings (checked):  {first:7.2f} s  ({stored} stored)  "
          f"ratio {first / ogr:.2f}× (target ≤ 2×)")
    print(f"  the same file again (all updates):    {again:7.2f} s  ratio {again / ogr:.2f}×")
    print("  " + out.strip().splitlines()[0] if out.strip() else "")


if __name__ == "__main__":
    main()
