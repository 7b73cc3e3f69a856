"""Load test on loopback: simulated officers using `gridwalk serve` at once for a bounded time,
optionally with PostgreSQL restarted in the middle of the run.

    DATABASE_URL=postgresql://… python bench/load.py [--officers 50] [--seconds 60] [--restart-db DIR]

Each officer repeats, with 0.2–1 s between actions: a map move (the buildings and grids of a
viewport as GeoJSON), four building tiles, a tap (/api/v1/lookup), a report with a photo
(POST /api/v1/issues, multipart) or a household visit (POST /api/v1/visits). A write that
fails (no answer, 5xx) is sent again with the same client_id, as the phone's queue does,
until it is acknowledged. At the end the database is asked what it holds: every write the
clients were told was stored must be there, once.

--restart-db DIR stops the cluster in DIR (scripts/postgis.sh) a third of the way in and
starts it again ten seconds later: the app must recover by itself.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import math
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.county import open_county  # noqa: E402
from bench.serving import Served  # noqa: E402


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((640, 480), 40).convert("RGB").save(out, "JPEG", quality=80)
    return out.getvalue()


def multipart(fields: dict[str, str], photo: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename="p.jpg"\r\n'
                 "Content-Type: image/jpeg\r\n\r\n".encode() + photo + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.retries = 0
        self.failed_at: list[float] = []
        self.acknowledged: dict[str, set[str]] = {"report": set(), "visit": set()}

    def note(self, name: str, ms: float, ok: bool) -> None:
        with self.lock:
            self.times[name].append(ms)
            if not ok:
                self.errors[name] += 1
                self.failed_at.append(time.monotonic())


def request(port: int, method: str, path: str, token: str, body: bytes | None = None,
            content_type: str | None = None) -> tuple[int, bytes]:
    """Status and body; status 0 when no answer came (refused, reset, timeout)."""
    headers = {"Authorization": f"Bearer {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        conn.close()


def officer(port: int, world: dict, stats: Stats, stop_at: float, grace_until: float, seed: int) -> None:
    rng = random.Random(seed)
    photo = world["photo"]
    while time.monotonic() < stop_at:
        lon, lat = rng.choice(world["points"])
        action = rng.choices(("map", "tiles", "lookup", "report", "visit"), (30, 30, 25, 8, 7))[0]
        if action == "map":
            d = 0.004
            box = f"{lon - d:.6f},{lat - d:.6f},{lon + d:.6f},{lat + d:.6f}"
            for name, path in (("buildings", f"/api/v1/buildings?bbox={box}"),
                               ("grids", f"/api/v1/areas?level=grid&bbox={box}")):
                t0 = time.perf_counter()
                status, _ = request(port, "GET", path, world["grid_token"])
                stats.note(name, (time.perf_counter() - t0) * 1000, status == 200)
        elif action == "tiles":
            x, y = tile_of(lon, lat, 16)
            for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
                t0 = time.perf_counter()
                status, _ = request(port, "GET", f"/tiles/buildings/16/{x + dx}/{y + dy}.mvt", world["grid_token"])
                stats.note("tile", (time.perf_counter() - t0) * 1000, status == 200)
        elif action == "lookup":
            t0 = time.perf_counter()
            status, _ = request(port, "GET", f"/api/v1/lookup?lon={lon:.7f}&lat={lat:.7f}", world["grid_token"])
            stats.note("lookup", (time.perf_counter() - t0) * 1000, status == 200)
        else:
            client_id = str(uuid.uuid4())
            if action == "report":
                body, kind = multipart({"lon": f"{lon:.7f}", "lat": f"{lat:.7f}", "category": world["category"],
                                        "description": f"load {world['run']}", "client_id": client_id}, photo)
                path, token = "/api/v1/issues", world["grid_token"]
            else:
                body = json.dumps({"household_id": rng.choice(world["households"]), "hours": 0.5,
                                   "note": f"load {world['run']}", "client_id": client_id}).encode()
                kind, path, token = "application/json", "/api/v1/visits", world["party_token"]
            first = True
            while time.monotonic() < grace_until:  # the phone's queue: again, same id, until stored
                t0 = time.perf_counter()
                status, _ = request(port, "POST", path, token, body, kind)
                stats.note(action, (time.perf_counter() - t0) * 1000, status in (200, 201))
                if status in (200, 201):
                    with stats.lock:
                        stats.acknowledged[action].add(client_id)
                    break
                if 400 <= status < 500:
                    break  # refused: a bug in this script or the app, counted as an error
                if not first:
                    with stats.lock:
                        stats.retries += 1
                first = False
                time.sleep(1)
        time.sleep(rng.uniform(0.2, 1.0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=50)
    parser.add_argument("--officers", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--restart-db", metavar="DIR", help="the cluster's data directory, restarted mid-run")
    args = parser.parse_args()
    opened = open_county(args.scale, "bench-load")
    if opened is None:
        return 2
    engine, factory = opened
    from geo import accounts
    from geo.models import User

    run = uuid.uuid4().hex[:8]
    with factory() as session:
        tokens = {}
        for name in ("grid", "party"):
            user = session.query(User).filter_by(username=name).one()
            tokens[name] = accounts.create_token(session, user, f"load {run}")[1]
            area = user.area_id
        grid = session.query(User).filter_by(username="grid").one()
        points = session.execute(text("""
            SELECT ST_X(p), ST_Y(p) FROM (
              SELECT ST_PointOnSurface(b.geom) AS p FROM buildings b
              WHERE b.area_id IN (WITH RECURSIVE t AS (SELECT id FROM areas WHERE id = :a
                                  UNION ALL SELECT a.id FROM areas a JOIN t ON a.parent_id = t.id) SELECT id FROM t)
              ORDER BY md5(b.id::text) LIMIT 500) s"""), {"a": grid.area_id}).all()
        households = session.scalars(text("""
            SELECT h.id FROM households h JOIN buildings b ON b.id = h.building_id
            WHERE h.active AND b.area_id IN (WITH RECURSIVE t AS (SELECT id FROM areas WHERE id = :a
                  UNION ALL SELECT a.id FROM areas a JOIN t ON a.parent_id = t.id) SELECT id FROM t)
            ORDER BY md5(h.id::text) LIMIT 2000"""), {"a": area}).all()
        category = session.scalar(text("SELECT code FROM issue_categories WHERE active ORDER BY code LIMIT 1"))
        session.commit()
    world = {"run": run, "points": points, "households": households, "category": category, "photo": jpeg(),
             "grid_token": tokens["grid"], "party_token": tokens["party"]}

    url = engine.url.render_as_string(hide_password=False)
    served = Served(url, args.workers, f"load-{run}")
    port = served.port

    stats = Stats()
    started = time.monotonic()
    stop_at = started + args.seconds
    threads = [threading.Thread(target=officer, args=(port, world, stats, stop_at, stop_at + 60, i))
               for i in range(args.officers)]
    for t in threads:
        t.start()
    restart, back = "", 0.0
    if args.restart_db:
        time.sleep(args.seconds / 3)
        down = time.monotonic()
        subprocess.run([str(ROOT / "scripts" / "postgis.sh"), "stop", args.restart_db], check=True)
        time.sleep(10)
        port_of = str(engine.url.port)
        subprocess.run([str(ROOT / "scripts" / "postgis.sh"), "start", args.restart_db, port_of,
                        engine.url.database or "postgres"], check=True)
        back = time.monotonic()
        restart = f"PostgreSQL stopped at {down - started:.0f} s for {back - down:.0f} s; "
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    served.stop()

    total = sum(len(v) for v in stats.times.values())
    errors = sum(stats.errors.values())
    print(f"{args.officers} officers, {elapsed:.0f} s, {args.workers} workers: {total:,} requests, "
          f"{total / elapsed:.1f} req/s, {errors} failed answers, {stats.retries} writes sent again")
    if restart:
        # Recovery: a request that failed once the cluster was back is one the app should not have lost.
        after = [t for t in stats.failed_at if t > back + 1]
        print(restart.rstrip("; ") + f"; failed answers more than 1 s after it was back: {len(after)}")
    print(f"{'endpoint':>10}  {'requests':>8}  {'p50 ms':>7}  {'p95 ms':>7}  failed")
    for name, times in sorted(stats.times.items()):
        ordered = sorted(times)
        p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
        print(f"{name:>10}  {len(times):8}  {statistics.median(times):7.1f}  {p95:7.1f}  {stats.errors[name]}")
    with factory() as session:
        issues = session.scalars(text("SELECT client_id FROM issues WHERE description = :d"),
                                 {"d": f"load {run}"}).all()
        visits = session.scalars(text("SELECT client_id FROM visits WHERE note = :d"), {"d": f"load {run}"}).all()
    lost = 0
    for kind, stored in (("report", issues), ("visit", visits)):
        told = stats.acknowledged[kind]
        missing = len(told - set(stored))
        twice = len(stored) - len(set(stored))
        lost += missing + twice
        print(f"{kind}s: {len(told)} acknowledged, {len(stored)} stored, {missing} lost, {twice} stored twice")
    print("ok" if lost == 0 else "WRITES LOST OR DOUBLED")
    engine.dispose()
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
