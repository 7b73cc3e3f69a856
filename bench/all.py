"""`make bench`: Gridwalk beside the peers of `../shared/peers/`, on one county, in one run.

    DATABASE_URL=postgresql://… python bench/all.py [--scale 50] [--duration 20] [--quick]

The database gets the demo county at --scale if it has none (the load is timed). The
peers' tables are filled from it (bench/peers.py), so every figure is on the same data:

  point lookup, viewport features (300 m, 2 km), building tiles z14–z17
      raw PostGIS (psycopg2, the floor), the hand-written Flask + psycopg2 server and
      pygeoapi (each gunicorn, 2 sync workers), and `gridwalk serve --workers 2` as a county
      officer (bearer token: login and scope checks on). Sequential latency, then wrk
      throughput, by the harness's own code.
  the map page
      Gridwalk's `/` in Chromium (bench/map_page.py) beside the harness's Folium maps: all
      buildings inline (naive), VectorGrid over the hand-written server's tiles, and a bbox fetch.
  reporting an issue, recording a visit, county coverage for 30 days
      in process, each beside its hand-written SQL (bench/issue_create.py, visit_record.py,
      coverage.py).

Prints a Markdown report and writes it to docs/bench/RESULTS.md (--out), with the raw
figures in var/bench/results.json. Ratios are Gridwalk's requests/s over the peer's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench import coverage, issue_create, map_page, peers, visit_record  # noqa: E402
from bench.county import officer_token, open_county  # noqa: E402

GRIDWALK_PORT = 5004
GRIDWALK_WORKERS = 2  # as the peers' gunicorn


def phase(name: str, started: float) -> None:
    print(f"[bench] {name}  (+{time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    t0 = time.monotonic()
    opened = open_county(args.scale, "bench")
    if opened is None:
        sys.exit(2)
    engine, factory = opened
    res: dict[str, Any] = {"started": dt.datetime.now().isoformat(timespec="seconds"), "quick": args.quick,
                           "county_ready_s": round(time.monotonic() - t0, 1), "cores": os.cpu_count()}
    res["commit"] = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                                   capture_output=True, text=True).stdout.strip()
    with factory() as session:
        res["county"] = dict(session.execute(text(
            "SELECT (SELECT count(*) FROM buildings) AS buildings, (SELECT count(*) FROM areas) AS areas, "
            "(SELECT count(*) FROM households) AS households, (SELECT count(*) FROM visits) AS visits"
        )).one()._mapping)
        token = officer_token(session, "bench-all")
        session.commit()
    empty_cache = map_page.emptier(factory)

    phase("peers' tables from the county", started)
    h = peers.harness(engine.url.port or 5432)
    meta, points = peers.prepare(h, engine)
    res["data"] = meta
    quick = args.quick
    bbox_reps = {"bbox300m": 20, "bbox2km": 5} if quick else {"bbox300m": 200, "bbox2km": 60}
    tile_reps = 20 if quick else 200
    duration = 3 if quick else args.duration
    work = ROOT / "var" / "bench"
    www = work / "www"
    www.mkdir(parents=True, exist_ok=True)
    assets = www / "assets"
    if not assets.exists():
        assets.symlink_to(Path(os.environ["SCRATCH"]) / "assets")

    phase("raw PostGIS", started)
    res["raw"] = h.bench_raw.run(meta, points, bbox_reps, tile_reps)

    servers: list[Any] = []
    try:
        phase("start the servers", started)
        pyg = h.servers.start_pygeoapi(str(work), meta["town_bbox"])
        servers.append(pyg)
        ref = h.servers.start_flask_ref(str(work))
        servers.append(ref)
        auth = {"Authorization": f"Bearer {token}"}
        gw = h.servers.Server("gridwalk", [str(ROOT / ".venv" / "bin" / "gridwalk"), "serve", "--port",
                                           str(GRIDWALK_PORT), "--workers", str(GRIDWALK_WORKERS)],
                              GRIDWALK_PORT, str(work), env={"SECRET_KEY": secrets.token_hex(16)},
                              cwd=str(ROOT), headers=auth)
        servers.append(gw.start("/api/v1/lookup?lon=0&lat=0"))
        peers.sign_tiles(h, GRIDWALK_PORT, token)
        gridwalk = peers.gridwalk_target(h, GRIDWALK_PORT, token)
        targets = [(h.bench_http.PYGEOAPI(pyg.port), pyg), (h.bench_http.FLASK_REF(ref.port), ref), (gridwalk, gw)]
        # The hand-written server has no lookup: it gets the raw lookup SQL's figures only.
        empty_cache()  # Gridwalk's first pass over the tiles renders them; later ones are cached
        for target, _ in targets:
            phase(f"latency {target.name}", started)
            res.setdefault("latency", {})[target.name] = h.bench_http.latency(
                target, meta, res["raw"], bbox_reps, tile_reps, budget_s=5 if quick else 30, points=points)
        res["lookup_check"] = peers.check_lookups(h, gridwalk, points)
        for target, server in targets:
            phase(f"throughput {target.name}", started)
            res.setdefault("throughput", {})[target.name] = h.bench_http.throughput(
                target, meta, str(work), server, duration=duration, points=points)

        phase("map pages in Chromium", started)
        res["map_page"] = map_page.measure(GRIDWALK_PORT, token, 2 if quick else 5, empty_cache)
        static = h.servers.StaticServer(str(www)).start()
        try:
            res["folium"] = h.bench_folium.run(str(www), static.port, ref.port, meta["n_buildings"],
                                               naive_reps=1, other_reps=2 if quick else 5, naive_timeout_s=240)
        finally:
            static.stop()
    finally:
        for server in servers:
            server.stop()
        empty_cache()

    n = 40 if quick else 300
    phase("reporting an issue", started)
    res["report"] = issue_create.measure(engine, factory, n)
    phase("recording a visit", started)
    res["visit"] = visit_record.measure(engine, factory, n)
    phase("coverage", started)
    res["coverage"] = coverage.measure(engine, factory, 2 if quick else 7)
    engine.dispose()
    res["elapsed_s"] = round(time.monotonic() - started)
    return res


# ---- the report --------------------------------------------------------------------------

PEERS = (("flask_ref", "the hand-written server"), ("pygeoapi", "pygeoapi"))


def _rps(res: dict, server: str, job: str) -> float | None:
    got = res["throughput"].get(server, {}).get(job) or {}
    return got.get("req_per_s") if not got.get("errors") else None


def _ratio(ours: float | None, theirs: float | None) -> str:
    if not ours or not theirs:
        return "–"
    x = ours / theirs
    return f"{x:,.0f}×" if x >= 100 else f"{x:.1f}×" if x >= 10 else f"{x:.2f}×"


def _num(v: float | None, unit: str = "") -> str:
    if v is None:
        return "–"
    return (f"{v:,.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}") + unit


def _lat(d: dict | None) -> str:
    if not d or not d.get("n"):
        return "–"
    return f"{_num(d['median_ms'])} / {_num(d['p95_ms'])} ms"


def _verdict(ok: bool | None) -> str:
    return "–" if ok is None else "met" if ok else "**missed**"


def report(res: dict[str, Any]) -> str:
    c, d = res["county"], res["data"]
    lines = [
        f"# Gridwalk beside its peers: one run on one county ({res['started'][:10]})", "",
        f"`make bench` on commit `{res['commit']}`, {res['cores']} cores shared by PostgreSQL, the servers, "
        f"the load generator and Chromium{' (QUICK smoke run: few repetitions)' if res['quick'] else ''}. "
        f"County: {c['buildings']:,} buildings, {c['areas']:,} areas, {c['households']:,} households, "
        f"{c['visits']:,} visits (loaded or found in {res['county_ready_s']} s). The peers read the same buildings "
        f"and responsible people, copied into their own tables (bench/peers.py). Tiles are sampled in the "
        f"town of {d['town_buildings']:,} buildings; viewports are centred on its middle "
        f"({d['center'][0]:.4f}, {d['center'][1]:.4f}). Whole run: {res['elapsed_s'] / 60:.0f} min.", "",
        "Gridwalk is `gridwalk serve --workers 2` (gthread) answering a county officer with a bearer token, "
        "so every request pays login and scope checks; the peers are gunicorn with 2 sync workers and no "
        "login. Throughput is wrk with 8 connections; latency is one request at a time "
        "(median / p95). Ratios are Gridwalk's requests/s over the peer's.", "",
        "## Reading the map", "",
        "| measure | raw PostGIS, one query (median / p95) | hand-written server | pygeoapi | Gridwalk "
        "| Gridwalk ÷ hand-written | Gridwalk ÷ pygeoapi | target | |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    raw, lat = res["raw"], res["latency"]
    gw_lookup = lat["gridwalk"].get("lookup")
    check = res["lookup_check"]
    lines.append(
        f"| point → responsible people, latency (median / p95) | {_lat(raw['point_lookup'])} | – | – | {_lat(gw_lookup)} "
        f"| – | – | p95 ≤ 3 ms | {_verdict(gw_lookup['p95_ms'] <= 3 if gw_lookup else None)} |")
    lines.append(f"| point lookup, req/s | – | – | – | {_num(_rps(res, 'gridwalk', 'lookup'))} | – | – | | |")
    for job, label in (("bbox300m", "viewport 300 m"), ("bbox2km", "viewport 2 km")):
        ours = _rps(res, "gridwalk", job)
        ref, pyg = _rps(res, "flask_ref", job), _rps(res, "pygeoapi", job)
        ok = None if not (ours and ref and pyg) else ours >= 0.7 * ref and ours >= 15 * pyg
        lines.append(
            f"| {label}, req/s ({raw['bbox'][job]['features']:,} buildings) | "
            f"{_lat(raw['bbox'][job])} | {_num(ref)} | {_num(pyg)} | {_num(ours)} | {_ratio(ours, ref)} | "
            f"{_ratio(ours, pyg)} | ≥ 0.7×, ≥ 15× | {_verdict(ok)} |")
    for z in peers.ZOOMS:
        job = f"tiles_z{z}"
        ours = _rps(res, "gridwalk", job)
        ref, pyg = _rps(res, "flask_ref", job), _rps(res, "pygeoapi", job)
        ok = None if not (ours and ref and pyg) else ours >= ref and ours >= 200 * pyg
        feats = raw["tiles"][f"z{z}"]["features_per_tile"].get("median")
        lines.append(
            f"| tiles z{z}, req/s (median {_num(feats)} buildings a tile) | {_lat(raw['tiles'][f'z{z}'])} | "
            f"{_num(ref)} | {_num(pyg)} | {_num(ours)} | {_ratio(ours, ref)} | {_ratio(ours, pyg)} | "
            f"≥ 1.0×, ≥ 200× | {_verdict(ok)} |")
    lines += ["", f"Every one of the {check['inside_points']} lookup points placed inside a building was answered "
              f"with that building: {check['right_building']} right, {check['wrong_or_none']} wrong or none.", ""]
    errors = {s: sum((r or {}).get("errors", 0) for r in jobs.values() if isinstance(r, dict))
              for s, jobs in res["throughput"].items()}
    lines += [f"Errors under wrk: {', '.join(f'{s} {n}' for s, n in errors.items())}. A figure shown as – "
              "had errors or was not measured; see var/bench/results.json.", ""]

    mp, fol = res["map_page"], res["folium"]
    lines += ["## The map page in Chromium (1280×800)", "",
              "| page | HTML | first buildings | JS heap |", "| --- | --- | --- | --- |"]
    for kind in ("cold", "warm"):
        got = mp[kind]
        lines.append(f"| Gridwalk `/`, zoom 15, tile cache {'emptied' if kind == 'cold' else 'filled'} | "
                     f"{max(got['html']):,} bytes | {statistics.median(got['first']):,.0f} ms | "
                     f"{statistics.median(got['heap']) / 2**20:.1f} MiB |")
    for name, label in (("naive", "Folium, every building inline"), ("mvt", "Folium + VectorGrid tiles"),
                        ("bbox", "Folium + bbox fetch")):
        summary = fol[f"{name}_page"]["summary"]
        build = fol.get(f"{name}_build", {})
        size = build.get("html_bytes") or build.get("bytes")
        first = (summary.get("first_features_ms") or {}).get("median")
        heap = (summary.get("js_heap_used_bytes") or {}).get("median")
        failed = "" if summary["ok"] else " (failed: see results.json)"
        lines.append(f"| {label}, zoom 16{failed} | {f'{size:,} bytes' if size else '–'} | "
                     f"{_num(first, ' ms')} | {_num(heap / 2**20 if heap else None, ' MiB')} |")
    first_worst = max(statistics.median(mp[k]["first"]) for k in mp)
    heap_worst = max(statistics.median(mp[k]["heap"]) for k in mp) / 2**20
    html = max(max(mp[k]["html"]) for k in mp)
    lines += ["", f"Targets: HTML ≤ 50 KB ({_verdict(html <= 50_000)}), first buildings ≤ 0.6 s "
              f"({_verdict(first_worst <= 600)}), JS heap ≤ 25 MiB ({_verdict(heap_worst <= 25)}). Gridwalk's "
              "first buildings is the first painted pixel of its buildings' tile layer; the Folium pages' is "
              "the first building `<path>` in the map pane.", ""]

    rp, vs = res["report"], res["visit"]
    lines += ["## Writing and counting", "",
              "| measure | hand-written | Gridwalk | ratio | target | |", "| --- | --- | --- | --- | --- | --- |"]
    ratio = rp["report"]["p50"] / rp["routing"]["p50"]
    lines.append(f"| report an issue (p50; {rp['n']} reports) | {rp['routing']['p50']:.2f} ms (the bare routing SQL) "
                 f"| {rp['report']['p50']:.2f} ms | {ratio:.1f}× | ≤ 5× | {_verdict(ratio <= 5)} |")
    lines.append(f"| record a visit (p50; {vs['n']} visits) | {vs['bare']['p50']:.2f} ms (the bare INSERT) "
                 f"| {vs['record']['p50']:.2f} ms | {vs['record']['p50'] / vs['bare']['p50']:.1f}× | | |")
    for level, got in res["coverage"].items():
        x = got["gridwalk_ms"] / got["hand_ms"]
        lines.append(f"| coverage of the county, 30 days, by {level} ({got['places']:,}) | {got['hand_ms']:.0f} ms "
                     f"| {got['gridwalk_ms']:.0f} ms | {x:.2f}× | ≤ 1 s, ≤ 1.2× | "
                     f"{_verdict(got['gridwalk_ms'] <= 1000 and x <= 1.2)} |")
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=50)
    parser.add_argument("--duration", type=int, default=20, help="seconds of wrk per endpoint")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few repetitions, 3 s of wrk")
    parser.add_argument("--out", default=str(ROOT / "docs" / "bench" / "RESULTS.md"))
    parser.add_argument("--report-only", metavar="JSON", help="write the report of an earlier run's results")
    args = parser.parse_args()
    raw = ROOT / "var" / "bench" / "results.json"
    if args.report_only:
        res = json.loads(Path(args.report_only).read_text())
    else:
        res = measure(args)
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_text(json.dumps(res, indent=1, ensure_ascii=False, default=str))
    md = report(res)
    # A smoke run's report stays beside its raw figures unless told otherwise.
    out = raw.with_suffix(".md") if res["quick"] and args.out == parser.get_default("out") else Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(md)
    print(md)
    print(f"written to {out} (raw figures: {raw})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
