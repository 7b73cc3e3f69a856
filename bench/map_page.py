"""The map page in Chromium, on a whole county: the HTML's size, the time until the first
buildings are painted and the JS heap once the map has settled, through `gridwalk serve`.

    DATABASE_URL=postgresql://… python bench/map_page.py [--reps 5]

Each repetition is a fresh browser context (no HTTP cache, no service worker) opening `/`
at the county's default view (zoom 15) as a county officer (API token). "First buildings"
is the moment a canvas of the buildings' tile layer holds a painted pixel, read from the
page itself every animation frame; it is measured with the tile cache emptied ("cold")
and with it filled by the previous repetitions ("warm"). Targets: HTML ≤ 50 KB, first
buildings ≤ 0.6 s, JS heap ≤ 25 MiB.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from bench.county import officer_token, open_county  # noqa: E402
from bench.serving import Served  # noqa: E402

CHROMIUM = "/usr/bin/chromium"

# performance.now() once a canvas of the buildings' tile layer has a painted pixel; false before.
PAINTED = """() => {
  const group = window.Gridwalk && Gridwalk.ctx && Gridwalk.ctx.layers.buildings;
  if (!group) return false;
  let painted = false;
  group.eachLayer((layer) => {
    const box = layer.getContainer && layer.getContainer();
    if (!box || painted) return;
    for (const canvas of box.querySelectorAll("canvas")) {
      if (!canvas.width) continue;
      const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) { painted = true; return; }
    }
  });
  return painted ? performance.now() : false;
}"""


def measure(port: int, token: str, reps: int, empty_cache: Callable[[], None]) -> dict[str, dict[str, list[float]]]:
    """HTML bytes, first buildings (ms) and JS heap (bytes) of each repetition, with the tile
    cache emptied before each ("cold") and then filled ("warm")."""
    from playwright.sync_api import sync_playwright

    figures: dict[str, dict[str, list[float]]] = {"cold": {}, "warm": {}}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--enable-precise-memory-info"])
        for kind in ("cold", "warm"):
            for rep in range(reps + 1):  # the first is a warm-up, not counted
                if kind == "cold":
                    empty_cache()
                context = browser.new_context(viewport={"width": 1280, "height": 800}, service_workers="block",
                                              extra_http_headers={"Authorization": f"Bearer {token}"})
                page = context.new_page()
                answer = page.goto(f"http://127.0.0.1:{port}/")
                assert answer is not None and answer.status == 200, answer and answer.status
                html = len(answer.body())
                first = page.wait_for_function(PAINTED, polling="raf", timeout=30_000).json_value()
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(500)
                heap = page.evaluate("performance.memory.usedJSHeapSize")
                context.close()
                if rep:
                    for name, value in (("html", html), ("first", first), ("heap", heap)):
                        figures[kind].setdefault(name, []).append(value)
        browser.close()
    return figures


def emptier(factory: sessionmaker[Session]) -> Callable[[], None]:
    def empty_cache() -> None:
        with factory() as session:
            session.execute(text("DELETE FROM tile_cache"))
            session.commit()
    return empty_cache


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=50)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    opened = open_county(args.scale, "bench-map")
    if opened is None:
        return 2
    engine, factory = opened
    with factory() as session:
        buildings = session.scalar(text("SELECT count(*) FROM buildings"))
        token = officer_token(session, "bench-map")
        session.commit()
    empty_cache = emptier(factory)
    served = Served(engine.url.render_as_string(hide_password=False), 3, "bench-map")
    try:
        figures = measure(served.port, token, args.reps, empty_cache)
    finally:
        served.stop()
        empty_cache()
        engine.dispose()

    print(f"buildings {buildings:,}; Chromium 1280×800 at the default view (zoom 15); {args.reps} reps each; "
          "median / max")
    print(f"{'tile cache':>10}  {'HTML bytes':>10}  {'first buildings ms':>19}  {'JS heap MiB':>12}")
    worst_first, worst_heap, html = 0.0, 0.0, 0
    for kind, got in figures.items():
        html = max(got["html"])
        first = f"{statistics.median(got['first']):.0f} / {max(got['first']):.0f}"
        heap = f"{statistics.median(got['heap']) / 2**20:.1f} / {max(got['heap']) / 2**20:.1f}"
        print(f"{kind:>10}  {html:10,}  {first:>19}  {heap:>12}")
        worst_first = max(worst_first, statistics.median(got["first"]))
        worst_heap = max(worst_heap, statistics.median(got["heap"]) / 2**20)
    met = html <= 50_000 and worst_first <= 600 and worst_heap <= 25
    print(f"targets (HTML ≤ 50 KB, first buildings ≤ 600 ms, heap ≤ 25 MiB): {'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
