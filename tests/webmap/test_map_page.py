"""The map page itself: served from our own static files, small whatever the county's size."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from geo.geometry import to_element
from geo.models import Building
from tests.conftest import box

STATIC = Path(__file__).resolve().parents[2] / "static"
ASSET = re.compile(r'(?:src|href)="([^"]+)"')


def test_every_script_and_stylesheet_comes_from_our_static_folder(logged_in, world):
    page = logged_in.get("/").get_data(as_text=True)
    assets = [url for url in ASSET.findall(page) if not url.startswith(("?", "tel:", "#"))]
    assert any(url.split("?")[0].endswith("leaflet.js") for url in assets)
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", page), "an asset from another host"
    for url in assets:
        if url.startswith("/static/"):
            with logged_in.get(url) as response:
                assert response.status_code == 200, url


def test_our_scripts_are_named_by_their_content_so_no_phone_runs_a_stale_one(logged_in, world):
    page = logged_in.get("/").get_data(as_text=True)
    for name in ("js/gridwalk-map.js", "js/gridwalk-field.js", "js/gridwalk-visits.js", "css/gridwalk.css"):
        digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
        assert f"/static/{name}?v={digest}" in page, name


def test_no_basemap_unless_configured(logged_in, world, app):
    assert "L.tileLayer" not in logged_in.get("/").get_data(as_text=True)
    app.config["TILE_URL"] = "https://tiles.example.cn/{z}/{x}/{y}.png"
    assert "https://tiles.example.cn/{z}/{x}/{y}.png" in logged_in.get("/").get_data(as_text=True)


def test_a_tianditu_basemap_asks_its_own_servers(logged_in, world, app):
    app.config["TILE_URL"] = "https://t{s}.tianditu.gov.cn/vec_w/wmts?tk=KEY&TILECOL={x}&TILEROW={y}&TILEMATRIX={z}"
    app.config["TILE_SUBDOMAINS"] = "01234567"
    response = logged_in.get("/")
    assert '"subdomains": "01234567"' in response.get_data(as_text=True)
    assert "https://*.tianditu.gov.cn" in response.headers["Content-Security-Policy"]


def test_the_page_does_not_grow_with_the_number_of_buildings(logged_in, world, session):
    before = len(logged_in.get("/").data)
    session.add_all(
        Building(name=f"楼{i}", area=world.grid_east,
                 geom=to_element(box(109.481 + (i % 40) * 0.0002, 29.981 + (i // 40) * 0.0002,
                                     109.4811 + (i % 40) * 0.0002, 29.9811 + (i // 40) * 0.0002)))
        for i in range(1000)
    )
    session.flush()
    after = len(logged_in.get("/").data)
    assert before < 25_000  # the whole page, site menu included: far under the 50 KB a phone on 3G loads at once
    assert abs(after - before) < 64, (before, after)


def test_the_page_speaks_chinese_by_default_and_english_on_request(logged_in, world):
    page = logged_in.get("/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page  # Chinese glyphs, not Japanese ones
    assert "L.control.scale({imperial: false})" in page  # metres, not feet
    for text in ("网格通", "社区", "网格", "小区", "楼栋", "图例", "退出登录", "已超期"):
        assert text in page, text
    english = logged_in.get("/?lang=en").get_data(as_text=True)
    assert "Log out" in english and "Legend" in english
    assert '<html lang="en">' in english
    assert "Log out" in logged_in.get("/").get_data(as_text=True)  # the choice sticks


def test_layers_load_from_the_api_not_from_the_page(logged_in, world):
    page = logged_in.get("/").get_data(as_text=True)
    assert "贡水花园1栋" not in page  # no data inlined
    assert "Gridwalk.attach(" in page
    assert '"api": "/api/v1"' in page or '"api":"/api/v1"' in page


def test_the_service_worker_is_served_from_the_root_and_never_kept_stale(client, logged_in, world):
    with client.get("/sw.js") as worker:  # before logging in, too: the browser checks it on every load
        assert worker.status_code == 200 and worker.mimetype == "text/javascript"
        assert worker.headers["Cache-Control"] == "no-cache"
        assert b"caches.delete(PAGES)" in worker.data  # logging out forgets the kept page
    # Named by the basemap hosts its policy allows: a new host installs it afresh.
    plain = re.search(r'"serviceWorker": "(/sw\.js\?v=\w+)"', logged_in.get("/").get_data(as_text=True))
    assert plain
    client.application.config["BASEMAPS"] = "osm"
    assert f'"serviceWorker": "{plain.group(1)}"' not in logged_in.get("/").get_data(as_text=True)
