"""Benchmark: recording a household visit as POST /api/v1/visits does it (validation, the
household in the party member's scope, whether they hold it, the insert and the commit)
against the bare INSERT of the same row and its commit, in the same run on the same
households.

    DATABASE_URL=postgresql://… python bench/visit_record.py [--scale 50] [--n 300]

The database gets the demo county at --scale if it has none. Prints p50/p95 of both and
their ratio. Visits recorded here are deleted afterwards.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from bench.county import open_county  # noqa: E402
from bench.issue_create import summary  # noqa: E402
from geo import visits  # noqa: E402
from geo.models import User  # noqa: E402
from geo.scope import Scope  # noqa: E402

BARE_INSERT = text("""
    INSERT INTO visits (household_id, person_id, visited_on, hours, note, by_assignee, recorded_by_id, client_id)
    VALUES (:household, :person, current_date, 1, :note, true, :user, :client)
""")


def measure(engine: Engine, factory: sessionmaker[Session], n: int) -> dict[str, Any]:
    """Record `n` visits as the demo party member, interleaved with the bare INSERT on the
    same households. Times in ms."""
    note = f"bench {uuid.uuid4().hex[:8]}"
    with factory() as session:
        user = session.query(User).filter_by(username="party").one()
        scope = Scope.of(user)
        households = session.scalars(text("""
            SELECT h.id FROM households h JOIN buildings b ON b.id = h.building_id
            WHERE h.active AND b.area_id IN (WITH RECURSIVE t AS (SELECT id FROM areas WHERE id = :a
                  UNION ALL SELECT a.id FROM areas a JOIN t ON a.parent_id = t.id) SELECT id FROM t)
            ORDER BY md5(h.id::text) LIMIT :n"""), {"a": user.area_id, "n": n}).all()
    bare_ms: list[float] = []
    record_ms: list[float] = []
    try:
        for household in households:
            with engine.connect() as conn:
                t0 = time.perf_counter()
                conn.execute(BARE_INSERT, {"household": household, "person": scope.person_id, "note": note,
                                           "user": scope.user_id, "client": str(uuid.uuid4())})
                conn.commit()
                bare_ms.append((time.perf_counter() - t0) * 1000)
            with factory() as session:
                t0 = time.perf_counter()
                recorded = visits.record(session, scope, {"household_id": household, "hours": 1, "note": note,
                                                          "client_id": str(uuid.uuid4())})
                session.commit()
                visits.visit_data(recorded.visit)  # what the endpoint answers with
                record_ms.append((time.perf_counter() - t0) * 1000)
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM visits WHERE note = :note"), {"note": note})
    return {"n": len(record_ms), "bare": summary(bare_ms), "record": summary(record_ms)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=50)
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    opened = open_county(args.scale, "bench")
    if opened is None:
        return 2
    engine, factory = opened
    got = measure(engine, factory, args.n)
    engine.dispose()
    b, r = got["bare"], got["record"]
    print(f"visits recorded: {got['n']}")
    print(f"bare INSERT        p50 {b['p50']:7.2f} ms   p95 {b['p95']:7.2f} ms   mean {b['mean']:7.2f} ms")
    print(f"record a visit     p50 {r['p50']:7.2f} ms   p95 {r['p95']:7.2f} ms   mean {r['mean']:7.2f} ms")
    print(f"ratio (record / bare INSERT)   p50 {r['p50'] / b['p50']:5.1f}×   p95 {r['p95'] / b['p95']:5.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
