"""Builds the map page as a Folium map.

The page holds no data: its layers are empty Folium feature groups that
static/js/gridwalk-map.js fills, areas and buildings with vector tiles (/tiles/…), issues
from the API for the current viewport, so the page is the same few kilobytes whatever the
county's size. Every script and stylesheet comes
from static/ (Folium's CDN defaults are replaced per map instance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import folium
from branca.element import Element
from folium.elements import JSCSSMixin
from folium.plugins import LocateControl, MarkerCluster
from folium.template import Template
from markupsafe import escape

from geo.features import MAX_BBOX_SPAN
from geo.tiles import LAYERS as TILE_LAYERS
from webmap.basemaps import Basemap
from webmap.i18n import html_lang

# The data layers, in drawing order, with the zoom from which each is drawn and the API
# layer (for its widest viewport) each comes from. Buildings come in tiles from the zoom the
# tile layer starts at: a tile holds what a GeoJSON answer for a wider view could not.
LAYERS = ("communities", "grids", "compounds", "buildings", "issues")
MIN_ZOOM = {"communities": 10, "grids": 12, "compounds": 14, "buildings": TILE_LAYERS["buildings"].min_zoom,
            "issues": 12}
SOURCE = {"communities": "areas", "grids": "areas", "compounds": "areas", "buildings": "buildings",
          "issues": "issues"}


@dataclass
class MapSettings:
    center: tuple[float, float]
    zoom: int = 15
    basemaps: list[Basemap] = field(default_factory=list)  # the first is shown at first
    layer_names: dict[str, str] = field(default_factory=dict)
    # Client-side settings handed to Gridwalk.attach (API root, texts, CSRF token …).
    client: dict[str, Any] = field(default_factory=dict)
    chrome_html: str = ""
    title: str = "Gridwalk"


class DataLayers(JSCSSMixin):
    """Hands the map and its empty layers to our script, which loads them by viewport."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            Gridwalk.attach({{ this._parent.get_name() }}, {{ this.config|tojson }}, {
            {%- for key, layer in this.layers.items() %}
                {{ key|tojson }}: {{ layer.get_name() }},
            {%- endfor %}
            }, {
            {%- for key, layer in this.basemaps.items() %}
                {{ key|tojson }}: {{ layer.get_name() }},
            {%- endfor %}
            });
        {% endmacro %}
        """
    )

    def __init__(self, layers: dict[str, Any], basemaps: dict[str, Any], config: dict[str, Any],
                 static: Callable[[str], str]):
        super().__init__()
        self._name = "DataLayers"
        self.layers = layers
        self.basemaps = basemaps
        self.config = config
        self.default_js = [("vectorgrid", static("vendor/vectorgrid/Leaflet.VectorGrid.bundled.min.js")),
                           ("gridwalk_basemap", static("js/gridwalk-basemap.js")),
                           ("gridwalk_page", static("js/gridwalk-page.js")),
                           ("gridwalk_map", static("js/gridwalk-map.js")),
                           ("gridwalk_offline", static("js/gridwalk-offline.js")),
                           ("gridwalk_field", static("js/gridwalk-field.js")),
                           ("gridwalk_visits", static("js/gridwalk-visits.js"))]
        self.default_css = [("gridwalk_css", static("css/gridwalk.css"))]


def build_map(settings: MapSettings, static: Callable[[str], str]) -> str:
    """The whole map page as HTML. `static(path)` gives the URL of a file under static/."""
    m = folium.Map(
        location=settings.center,
        zoom_start=settings.zoom,
        tiles=None,
        prefer_canvas=True,
        control_scale=True,
    )
    # Folium hands zoom limits to its default tiles only; with none, the map needs them
    # itself (the marker clusters refuse a map without a maximum zoom).
    m.options.update(max_zoom=20, min_zoom=8)
    m.default_js = [("leaflet", static("vendor/leaflet/leaflet.js"))]
    m.default_css = [("leaflet_css", static("vendor/leaflet/leaflet.css"))]
    basemaps = add_basemaps(m, settings.basemaps, settings.layer_names.get("none", "none"))

    layers: dict[str, Any] = {}
    for key in LAYERS:
        name = settings.layer_names.get(key, key)
        if key == "issues":
            group = MarkerCluster(name=name, options={"maxClusterRadius": 40, "disableClusteringAtZoom": 18})
            group.default_js = [("markercluster", static("vendor/markercluster/leaflet.markercluster.js"))]
            group.default_css = [
                ("markercluster_css", static("vendor/markercluster/MarkerCluster.css")),
                ("markercluster_default_css", static("vendor/markercluster/MarkerCluster.Default.css")),
            ]
        else:
            group = folium.FeatureGroup(name=name)
        group.add_to(m)
        layers[key] = group

    # Visit coverage (a choropleth of grids, or of buildings close up): off until chosen.
    coverage = folium.FeatureGroup(name=settings.layer_names.get("coverage", "coverage"), show=False)
    coverage.add_to(m)
    layers["coverage"] = coverage

    locate = LocateControl(
        position="topleft",
        strings={"title": settings.client.get("texts", {}).get("locate", "")},
        flyTo=True,
        keepCurrentZoomLevel=False,
        initialZoomLevel=17,
    )
    locate.default_js = [("locatecontrol", static("vendor/locatecontrol/L.Control.Locate.min.js"))]
    locate.default_css = [("locatecontrol_css", static("vendor/locatecontrol/L.Control.Locate.min.css"))]
    locate.add_to(m)
    folium.LayerControl(position="topright", collapsed=True).add_to(m)

    config = dict(settings.client, minZoom=MIN_ZOOM,
                  maxSpan={key: MAX_BBOX_SPAN[SOURCE[key]] for key in LAYERS})
    DataLayers(layers, basemaps, config, static).add_to(m)

    return _render(m, settings.title, settings.chrome_html, static)


def add_basemaps(m: folium.Map, basemaps: list[Basemap], none_name: str) -> dict[str, Any]:
    """The basemaps as the layer control's choices, the first shown; "none" after them.
    Each carries its datum (and Tianditu its place names) for gridwalk-basemap.js."""
    added: dict[str, Any] = {}
    for i, basemap in enumerate(basemaps):
        added[basemap.key] = folium.TileLayer(
            basemap.url, attr=basemap.attribution, name=str(basemap.name), show=i == 0, max_zoom=20,
            max_native_zoom=basemap.max_native_zoom, subdomains=basemap.subdomains, z_index=1,
            datum=basemap.datum, labels=basemap.labels, basemap=basemap.key, gw_name=str(basemap.name),
            offline=basemap.offline,
        ).add_to(m)
    if basemaps:
        added["none"] = folium.FeatureGroup(name=none_name, overlay=False, show=False).add_to(m)
    return added


def _render(m: folium.Map, title: str, chrome_html: str, static: Callable[[str], str]) -> str:
    """The page around a map: its title, icon and our chrome (bar, panel …)."""
    figure = m.get_root()
    figure.header.add_child(Element(f"<title>{escape(title)}</title>"), name="title")
    figure.header.add_child(
        Element(f'<link rel="icon" href="{escape(static("icon.svg"))}" type="image/svg+xml">'), name="icon"
    )
    figure.html.add_child(Element(chrome_html), name="chrome")
    # Folium's page template has no lang attribute, and its scale bar adds feet and miles;
    # ours say which language they speak, and measure in metres.
    html = figure.render().replace("<html>", f'<html lang="{html_lang()}">', 1)
    return html.replace("L.control.scale()", "L.control.scale({imperial: false})")


STATUS_COLOURS = {"reported": "#e74c3c", "meeting": "#f39c12", "resolved": "#2e86c1", "referred": "#8e44ad",
                  "closed": "#7f8c8d"}


def build_patrol_page(patrol: dict[str, Any], grid: dict[str, Any] | None, chrome_html: str, title: str,
                      static: Callable[[str], str]) -> str:
    """A patrol's page: its route and the issues it found on a small Folium map (one
    patrol's data is small enough to inline), with the summary beside it."""
    points = [(i["lat"], i["lon"]) for i in patrol["issues"]]
    if patrol["track"]:
        points += [(lat, lon) for lon, lat in patrol["track"]["coordinates"]]
    m = folium.Map(location=points[0] if points else (29.99, 109.478), zoom_start=17, tiles=None,
                   prefer_canvas=True, control_scale=True)
    m.options.update(max_zoom=20, min_zoom=8)
    m.default_js = [("leaflet", static("vendor/leaflet/leaflet.js"))]
    m.default_css = [("leaflet_css", static("vendor/leaflet/leaflet.css"))]
    if grid is not None:
        folium.GeoJson(grid, style_function=lambda _: {"color": "#1f618d", "weight": 2, "dashArray": "6 4",
                                                       "fill": False}).add_to(m)
    if patrol["track"]:
        folium.PolyLine([(lat, lon) for lon, lat in patrol["track"]["coordinates"]], color="#8e44ad",
                        weight=5, opacity=0.8).add_to(m)
    for number, issue in enumerate(patrol["issues"], 1):
        folium.CircleMarker((issue["lat"], issue["lon"]), radius=9, color="#fff", weight=2, fill=True,
                            fill_color=STATUS_COLOURS.get(issue["status"], "#555"), fill_opacity=1,
                            tooltip=str(number)).add_to(m)
    if len(points) > 1:
        # Room at the bottom right for the summary panel (a bottom sheet on phones).
        m.fit_bounds([[min(p[0] for p in points), min(p[1] for p in points)],
                      [max(p[0] for p in points), max(p[1] for p in points)]],
                     padding_top_left=(30, 30), padding_bottom_right=(30, 320))
    m.get_root().header.add_child(
        Element(f'<link rel="stylesheet" href="{escape(static("css/gridwalk.css"))}">'), name="css"
    )
    m.get_root().header.add_child(
        Element(f'<script src="{escape(static("js/gridwalk-page.js"))}" defer></script>'), name="page_js"
    )
    return _render(m, title, chrome_html, static)
