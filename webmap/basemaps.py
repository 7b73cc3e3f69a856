"""The basemaps a county may offer under the map, each with the datum its tiles are drawn in.

Tianditu (天地图, CGCS2000: WGS 84 to well within a metre) and OSM draw as they are. AMap
(高德) and Tencent (腾讯) draw in GCJ-02: on one of those the map's whole frame is GCJ-02
(static/js/gridwalk-basemap.js), so every layer, marker, GPS fix and tap is shifted out and
back, and the vector tiles come in that datum (geo.tiles). The database stays WGS 84.

Chosen with BASEMAPS, a comma list of the names below in the order the layer control
offers them (the first is shown at first; "none" is always offered). "custom" is TILE_URL
with TILE_DATUM, TILE_SUBDOMAINS and TILE_ATTRIBUTION: a county's own tile server. "county"
is TILE_FILE, an MBTiles or PMTiles file Gridwalk serves itself (webmap.tilefile), drawn in
TILE_DATUM. Without BASEMAPS, "custom" is offered when TILE_URL is set, else no basemap.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from flask_babel import lazy_gettext as _l

from geo.tiles import DATUMS
from webmap import tilefile

_TIANDITU = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
             "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
             "&TILECOL={x}&tk={key}")
_TIANDITU_ATTRIBUTION = "© 天地图 · 国家地理信息公共服务平台"


@dataclass(frozen=True)
class Basemap:
    key: str
    name: Any  # a lazy message: the layer control's label, in the user's language
    url: str
    datum: str
    attribution: str
    subdomains: str = "abc"
    labels: str = ""  # place names drawn over it, a second tile layer (Tianditu's annotations)
    max_native_zoom: int = 18
    needs_key: bool = False
    # Its tiles may be kept by the offline map: the county's own, not a provider's, whose
    # terms forbid fetching tiles in bulk.
    offline: bool = False

    def with_key(self, key: str) -> Basemap:
        return replace(self, url=self.url.replace("{key}", key), labels=self.labels.replace("{key}", key))


def _tianditu(key: str, name: Any, layer: str, labels: str) -> Basemap:
    return Basemap(key, name, _TIANDITU.replace("{layer}", layer), labels=_TIANDITU.replace("{layer}", labels),
                   datum="wgs84", attribution=_TIANDITU_ATTRIBUTION, subdomains="01234567", needs_key=True)


PROVIDERS = {
    "tianditu": _tianditu("tianditu", _l("Tianditu map"), "vec", "cva"),
    "tianditu-imagery": _tianditu("tianditu-imagery", _l("Tianditu imagery"), "img", "cia"),
    "amap": Basemap("amap", _l("AMap"), "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1"
                    "&style=8&x={x}&y={y}&z={z}", datum="gcj02", attribution="© 高德地图", subdomains="1234"),
    "amap-imagery": Basemap("amap-imagery", _l("AMap imagery"),
                            "https://webst0{s}.is.autonavi.com/appmaptile?style=6&x={x}&y={y}&z={z}",
                            labels="https://webst0{s}.is.autonavi.com/appmaptile?style=8&x={x}&y={y}&z={z}",
                            datum="gcj02", attribution="© 高德地图", subdomains="1234"),
    "tencent": Basemap("tencent", _l("Tencent map"),
                       "https://rt{s}.map.gtimg.com/tile?z={z}&x={x}&y={-y}&styleid=1000&scene=0",
                       datum="gcj02", attribution="© 腾讯地图", subdomains="0123"),
    "osm": Basemap("osm", _l("OpenStreetMap"), "https://tile.openstreetmap.org/{z}/{x}/{y}.png", datum="wgs84",
                   attribution="© OpenStreetMap contributors", subdomains="abc", max_native_zoom=19),
}
NAMES = (*PROVIDERS, "custom", "county", "none")
FILE_URL = "/tiles/basemap/{z}/{x}/{y}"  # webmap.tiles serves TILE_FILE there
MAX_ZOOM = 22
_TIANDITU_KEY = re.compile(r"[0-9a-f]{32}")


class ConfigError(ValueError):
    """The basemap settings cannot work: the app does not start, and says which setting."""


def configured(config: Mapping[str, Any], *, check_file: bool = False) -> list[Basemap]:
    """The basemaps to offer, checked: an unknown name, a missing or malformed Tianditu key,
    a custom one without TILE_URL or with an unknown datum is refused here, at start; and,
    with `check_file` (at start), a county file that cannot be served."""
    names = [n.strip() for n in (config.get("BASEMAPS") or "").split(",") if n.strip()]
    if not names:
        names = ["custom"] if config.get("TILE_URL") else []
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise ConfigError(f"BASEMAPS: no basemap called {', '.join(unknown)}; there are {', '.join(NAMES)}")
    key = (config.get("TIANDITU_KEY") or "").strip()
    chosen = []
    for name in dict.fromkeys(names):
        if name == "none":
            continue
        if name == "custom":
            chosen.append(_custom(config))
            continue
        if name == "county":
            chosen.append(_county(config, check_file))
            continue
        basemap = PROVIDERS[name]
        if basemap.needs_key:
            if not _TIANDITU_KEY.fullmatch(key):
                raise ConfigError(f"BASEMAPS has {name}: TIANDITU_KEY must be the 32 hexadecimal digits of a "
                                  "Tianditu browser key (console.tianditu.gov.cn)")
            basemap = basemap.with_key(key)
        chosen.append(basemap)
    return chosen


def _datum(config: Mapping[str, Any]) -> str:
    datum = config.get("TILE_DATUM") or "wgs84"
    if datum not in DATUMS:
        raise ConfigError(f"TILE_DATUM is one of {', '.join(DATUMS)}, not {datum}")
    return datum


def _custom(config: Mapping[str, Any]) -> Basemap:
    url = config.get("TILE_URL") or ""
    if not re.match(r"https?://", url) or not all(part in url for part in ("{x}", "{z}")):
        raise ConfigError("BASEMAPS has custom: TILE_URL must be an http(s) URL with {z}, {x} and {y}")
    datum = _datum(config)
    return Basemap("custom", _l("Basemap"), url, datum=datum, attribution=config.get("TILE_ATTRIBUTION") or " ",
                   subdomains=config.get("TILE_SUBDOMAINS") or "abc", offline=True)


def tile_file(config: Mapping[str, Any]) -> tilefile.TileFile:
    """The county's own basemap file (BASEMAPS has county), checked."""
    if not config.get("TILE_FILE"):
        raise ConfigError("BASEMAPS has county: TILE_FILE must name an MBTiles or PMTiles file")
    try:
        return tilefile.open_file(config["TILE_FILE"])
    except tilefile.TileFileError as e:
        raise ConfigError(str(e)) from None


def _county(config: Mapping[str, Any], check_file: bool) -> Basemap:
    try:
        top = tile_file(config).max_zoom
    except ConfigError:
        if check_file:
            raise
        top = 18  # gone since the start: its tiles answer 503 until it is back
    return Basemap("county", _l("County basemap"), FILE_URL, datum=_datum(config),
                   attribution=config.get("TILE_ATTRIBUTION") or " ", subdomains="a", max_native_zoom=top,
                   offline=True)


def client(basemaps: list[Basemap]) -> list[dict[str, Any]]:
    """The basemaps for a page that makes its own Leaflet layers (the drawing page)."""
    return [{"key": b.key, "name": str(b.name), "url": b.url, "datum": b.datum, "labels": b.labels,
             "subdomains": b.subdomains, "attribution": b.attribution, "maxNativeZoom": b.max_native_zoom,
             "offline": b.offline}
            for b in basemaps]


def urls(basemaps: list[Basemap]) -> list[str]:
    """Every tile URL template the page may load images from (for the CSP)."""
    return [url for b in basemaps for url in (b.url, b.labels) if url]
