"""Benchmark: reporting an issue as POST /api/v1/issues does it (validation, routing by
location, insert, first event, audit, commit, and the answer's issue detail) against the
bare routing SQL — the point-in-polygon lookups and the assignment query alone —
measured in the same run on the same points.

    DATABASE_URL=postgresql://… python bench/issue_create.py [--scale 10] [--n 300]

The database gets the demo county at --scale if it has none (`make bench-report` prepares one).
Prints p50/p95 of both and their ratio. Issues created here are deleted afterwards.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from bench.county import open_county  # noqa: E402
from geo import issues  # noqa: E402
from geo.models import User  # noqa: E402
from geo.scope import Scope  # noqa: E402

# One round trip: the building and the areas under the point (GiST), and the current
# assignments on them (two index lookups).
BARE_ROUTING = text("""
    WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g),
    b AS (SELECT buildings.id FROM buildings, p
          WHERE ST_Covers(buildings.geom, p.g) ORDER BY ST_Area(buildings.geom), buildings.id LIMIT 1),
    a AS (SELECT areas.id FROM areas, p WHERE ST_Covers(areas.geom, p.g))
    SELECT (SELECT id FROM b), (SELECT array_agg(id) FROM a),
      (SELECT array_agg(unit_id) FROM (
         SELECT s.unit_id FROM assignments s WHERE s.area_id IN (SELECT id FROM a)
           AND s.valid_from <= current_date AND (s.valid_to IS NULL OR s.valid_to > current_date)
         UNION ALL
         SELECT s.unit_id FROM assignments s WHERE s.building_id IN (SELECT id FROM b)
           AND s.valid_from <= current_date AND (s.valid_to IS NULL OR s.valid_to > current_date)) u)
""")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(ms: list[float]) -> dict[str, float]:
    """p50, p95 and mean of timings in ms."""
    return {"p50": percentile(ms, 0.5), "p95": percentile(ms, 0.95), "mean": statistics.mean(ms)}


def points(session: Session, n: int) -> list[tuple[float, float]]:
    """Half in buildings, half on open ground of the grids: what officers report."""
    rng = random.Random(7)
    inside = session.execute(text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM buildings ORDER BY id) s"
    )).all()
    grids = session.execute(text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_DumpPoints(ST_GeneratePoints(geom, 20, 7))).geom p "
        "FROM areas WHERE level = 'grid' ORDER BY id) s"
    )).all()
    return [tuple(rng.choice(inside if i % 2 else grids)) for i in range(n)]  # type: ignore[misc]


def measure(engine: Engine, factory: sessionmaker[Session], n: int) -> dict[str, Any]:
    """Report `n` issues as the grid officer, interleaved with the bare routing SQL on the
    same points; the issues are deleted afterwards. Times in ms."""
    with factory() as session:
        grid_user = session.query(User).filter_by(username="grid").one()
        scope = Scope.of(grid_user)
        sample = points(session, n)

    routing_ms: list[float] = []
    report_ms: list[float] = []
    created: list[int] = []
    # Interleaved, so both see the same caches and the same load.
    for lon, lat in sample:
        with engine.connect() as conn:
            t0 = time.perf_counter()
            conn.execute(BARE_ROUTING, {"lon": lon, "lat": lat}).one()
            routing_ms.append((time.perf_counter() - t0) * 1000)
        with factory() as session:
            t0 = time.perf_counter()
            filed = issues.report(session, scope, {"lon": lon, "lat": lat, "category": "环境卫生",
                                                   "description": "基准测试", "client_id": str(uuid.uuid4())})
            session.commit()
            issues.detail(session, scope, filed.issue)  # what the endpoint answers with
            report_ms.append((time.perf_counter() - t0) * 1000)
            created.append(filed.issue.id)

    with engine.begin() as conn:
        events = list(conn.execute(text("SELECT id FROM issue_events WHERE issue_id = ANY(:ids)"),
                                   {"ids": created}).scalars())
        conn.execute(text("DELETE FROM audit_log WHERE (table_name = 'issues' AND record_id = ANY(:issues)) "
                          "OR (table_name = 'issue_events' AND record_id = ANY(:events))"),
                     {"issues": created, "events": events})
        conn.execute(text("DELETE FROM issues WHERE id = ANY(:ids)"), {"ids": created})
    return {"n": len(report_ms), "routing": summary(routing_ms), "report": summary(report_ms)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    opened = open_county(args.scale, "bench-report")
    if opened is None:
        return 2
    engine, factory = opened
    with factory() as session:
        buildings = session.scalar(text("SELECT count(*) FROM buildings"))
    got = measure(engine, factory, args.n)
    engine.dispose()
    r, i = got["routing"], got["report"]
    print(f"buildings in the county: {buildings:,}; issues reported: {got['n']}")
    print(f"bare routing SQL   p50 {r['p50']:7.2f} ms   p95 {r['p95']:7.2f} ms   mean {r['mean']:7.2f} ms")
    print(f"report an issue    p50 {i['p50']:7.2f} ms   p95 {i['p95']:7.2f} ms   mean {i['mean']:7.2f} ms")
    print(f"ratio (report / bare routing)   p50 {i['p50'] / r['p50']:5.1f}×   p95 {i['p95'] / r['p95']:5.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
