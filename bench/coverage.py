"""Benchmark: county-wide visit coverage for a 30-day window (per grid, and per
community), as GET /api/v1/coverage computes it, against one hand-written SQL aggregate
measured in the same run. Target: at most 1 s, and at most 1.2× the hand-written query.

    DATABASE_URL=postgresql://… python bench/coverage.py [--scale 50] [--runs 7]

The database gets the demo county at --scale if it has none (`make bench-coverage`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from bench.county import open_county  # noqa: E402
from geo import coverage  # noqa: E402
from geo.scope import Scope  # noqa: E402

# The aggregate as one would write it by hand: visited households in the window, every
# active household mapped to its area at the level (through the area tree), counted.
HAND_WRITTEN = text("""
    WITH RECURSIVE under(area_id, target) AS (
        SELECT id, id FROM areas WHERE level = :level
        UNION ALL
        SELECT a.id, u.target FROM areas a JOIN under u ON a.parent_id = u.area_id
    ),
    visited AS (
        SELECT household_id, max(visited_on) AS last FROM visits
        WHERE visited_on BETWEEN :since AND :until GROUP BY household_id
    )
    SELECT u.target, count(h.id), count(v.household_id), max(v.last)
    FROM households h
    JOIN buildings b ON b.id = h.building_id
    JOIN under u ON u.area_id = b.area_id
    LEFT JOIN visited v ON v.household_id = h.id
    WHERE h.active
    GROUP BY u.target
""")


def measure(engine: Engine, factory: sessionmaker[Session], runs: int) -> dict[str, dict[str, float]]:
    """Median ms of the hand-written aggregate and of geo.coverage, per level, for the last 30
    days; checks that both count the same."""
    with factory() as session:
        today = session.scalar(text("SELECT current_date"))
    since, until = today - dt.timedelta(days=29), today
    out = {}
    for level in ("grid", "community"):
        hand, ours = [], []
        for run in range(runs + 1):  # the first run warms the caches and is not counted
            with engine.connect() as conn:
                t0 = time.perf_counter()
                conn.execute(coverage.SET_WORK_MEM)  # the same memory for both
                expected = conn.execute(HAND_WRITTEN, {"level": level, "since": since, "until": until}).all()
                t_hand = time.perf_counter() - t0
            with factory() as session:
                t0 = time.perf_counter()
                found = coverage.coverage(session, Scope.system(), level, since, until)
                t_ours = time.perf_counter() - t0
            if run:
                hand.append(t_hand * 1000)
                ours.append(t_ours * 1000)
        assert {r[0]: (r[1], r[2]) for r in expected} == {r["id"]: (r["households"], r["visited"]) for r in found}
        out[level] = {"places": len(found), "hand_ms": statistics.median(hand), "gridwalk_ms": statistics.median(ours)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=50)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    opened = open_county(args.scale, "bench-coverage")
    if opened is None:
        return 2
    engine, factory = opened
    with factory() as session:
        sizes = session.execute(text(
            "SELECT (SELECT count(*) FROM buildings), (SELECT count(*) FROM households), (SELECT count(*) FROM visits)"
        )).one()
    print(f"buildings {sizes[0]:,}  households {sizes[1]:,}  visits {sizes[2]:,}  window: the last 30 days")
    for level, got in measure(engine, factory, args.runs).items():
        h, o = got["hand_ms"], got["gridwalk_ms"]
        verdict = "ok" if o <= 1000 and o <= 1.2 * h else "MISSES THE TARGET"
        print(f"{level:>9}: {got['places']:5} places  hand-written {h:7.1f} ms  gridwalk {o:7.1f} ms  "
              f"ratio {o / h:4.2f}×  ({verdict}: ≤ 1000 ms and ≤ 1.2×)")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
