"""Benchmark: making an offline copy (GET /api/v1/offline/<id>/copy, geo.offline.copy) of the
largest grid and the largest community that fit on a phone, for their officer, against the
bare read of the same buildings as GeoJSON (/api/v1/buildings over the area's box, one
query) measured in the same run. Prints the time, the copy's bytes and the ratio.

    DATABASE_URL=postgresql://… python bench/offline.py [--scale 50] [--runs 5]

The database gets the demo county at --scale if it has none (`make bench-offline`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from bench.county import open_county  # noqa: E402
from geo import features, offline  # noqa: E402
from geo.features import BBox  # noqa: E402
from geo.scope import Scope  # noqa: E402

LIMITS = offline.Limits()

# The largest area of a level whose buildings still fit a copy.
LARGEST = text("""
    WITH RECURSIVE under(area_id, top) AS (
        SELECT id, id FROM areas WHERE level = :level
        UNION ALL SELECT a.id, u.top FROM areas a JOIN under u ON a.parent_id = u.area_id
    )
    SELECT u.top, count(b.id) AS n FROM under u JOIN buildings b ON b.area_id = u.area_id
    GROUP BY u.top HAVING count(b.id) <= :cap ORDER BY n DESC LIMIT 1
""")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    opened = open_county(args.scale, "bench-offline")
    if opened is None:
        return 2
    engine, factory = opened
    print("| area | buildings | copy ms | bytes | bare GeoJSON ms | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for level in ("grid", "community"):
        with factory() as session:
            area_id, n = session.execute(LARGEST, {"level": level, "cap": LIMITS.buildings}).one()
            box = session.execute(text("SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) "
                                       "FROM areas WHERE id = :i"), {"i": area_id}).one()
        scope = Scope(role="community", area_id=area_id)  # the area's own officer
        copies, bare = [], []
        size = 0
        for run in range(args.runs + 1):  # the first run warms the caches and is not counted
            with factory() as session:
                t0 = time.perf_counter()
                kept = offline.copy(session, scope, area_id, LIMITS)
                body = json.dumps(kept, ensure_ascii=False, separators=(",", ":")).encode()
                t_copy = time.perf_counter() - t0
            with factory() as session:
                t0 = time.perf_counter()
                features.buildings(session, BBox(*box), scope, LIMITS.buildings)
                t_bare = time.perf_counter() - t0
            if run:
                copies.append(t_copy * 1000)
                bare.append(t_bare * 1000)
            size = len(body)
        assert len(kept["buildings"]) == n
        c, b = statistics.median(copies), statistics.median(bare)
        print(f"| largest {level} | {n} | {c:.0f} | {size / 1e6:.2f} MB | {b:.0f} | {c / b:.1f}× |")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
