"""The registry map of a regency: its villages and every asset layer, offline.

Villages are one GeoJSON layer, filled by how many of the three programme assets (BTS tower,
tourist destination, flagship product) each has (:mod:`maps.palette`), with a hover tooltip
and a click popup. Each asset layer is a FeatureGroup: point layers as icon markers
(clustered when they are many), fibre routes as lines. A layer control, a legend and a scale
bar complete it. Every word is Bahasa Indonesia by default, English with ``lang="en"``
(:mod:`maps.i18n`); features with ``source = 'sample'`` say "sampel" in their popups.

Data come only from :mod:`geo.queries`. Popups and tooltips are rendered here from small
Jinja2 templates with autoescaping, so names and descriptions from imported files are text,
never markup. Village geometry is simplified a little and quantised to 1e-5 degrees (about a
metre) to keep the HTML small.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import folium
import jinja2
import numpy as np
import pandas as pd
from branca.element import Figure
from folium.elements import MacroElement
from folium.plugins import MarkerCluster
from folium.template import Template
from folium.utilities import JsCode
from markupsafe import Markup
from sqlalchemy.orm import Session

import geopandas as gpd
import shapely

from geo import queries
from geo.codes import normalize_code
from geo.errors import AreaNotFound
from geo.store.models import ASSET_LAYERS
from maps import palette
from maps.assets import offline_map
from maps.i18n import field_labels, layer_title, strings

VILLAGE_CLASS = "petadesa-village"
"""CSS class of every drawn village polygon (tests and scripts count them by it)."""
CLUSTER_MIN_FEATURES = 20
"""Point layers with more features than this are clustered."""
SIMPLIFY_TOLERANCE = 5e-5
"""Degrees (about 5 m): invisible at the zooms a regency is read at, a few pixels at z18."""
GRID = 1e-5
"""Coordinates are snapped to this grid (degrees, about 1.1 m) and written with 5 decimals."""
SAMPLE_SOURCE = "sample"

_DETAIL_FIELDS: dict[str, tuple[str, ...]] = {
    "tower": ("operator", "technologies", "height_m", "status"),
    "fibre_route": ("operator", "status", "commissioned_on"),
    "fibre_node": ("node_type", "operator", "status"),
    "hotspot": ("provider", "bandwidth_mbps", "status"),
    "destination": (
        "category",
        "description",
        "facilities",
        "opening_hours",
        "ticket_price_idr",
        "contact",
    ),
    "product_site": ("product", "category", "producer", "certifications"),
    "facility": ("facility_type", "internet_status"),
}
_NAME_FALLBACK = ("facility_type", "product", "node_type", "category")
"""Columns that name an asset whose source gave no name (the importer used its id)."""
_LINK_FIELDS = ("photo_links",)

_TEMPLATE_SOURCES = {
    "badge": (
        '{% macro badge(flag, t) %}{% if flag %} <span class="pd-sample">{{ t.sample }}</span>'
        "{% endif %}{% endmacro %}"
    ),
    "village_tooltip": (
        '{% from "badge" import badge %}<b>{{ v.name }}</b> ({{ v.kind }}){{ badge(v.sample, t) }}'
        "<br>{{ v.code }} &middot; {{ t.district_short }} {{ v.district }}<br>"
        "{% for title, n in programme %}{{ title }}: {{ n }}"
        "{% if not loop.last %} &middot; {% endif %}{% endfor %}"
    ),
    "village_popup": (
        '{% from "badge" import badge %}'
        '<div class="pd-popup"><h4>{{ v.name }}{{ badge(v.sample, t) }}</h4><table>'
        "<tr><th>{{ t.kind }}</th><td>{{ v.kind }}</td></tr>"
        "<tr><th>{{ t.code }}</th><td>{{ v.code }}</td></tr>"
        "<tr><th>{{ t.district }}</th><td>{{ v.district }}</td></tr>"
        "<tr><th>{{ t.area }}</th><td>{{ v.area }} km&sup2;</td></tr>"
        "<tr><th>{{ t.boundary_source }}</th><td>{{ v.source }}</td></tr>"
        "</table><h5>{{ t.assets }}</h5><table>"
        "{% for title, n in counts %}<tr><th>{{ title }}</th><td>{{ n }}</td></tr>{% endfor %}"
        "</table></div>"
    ),
    "asset_tooltip": (
        '{% from "badge" import badge %}<b>{{ a.name }}</b>{{ badge(a.sample, t) }}'
        "<br>{{ a.layer }}"
    ),
    "asset_popup": (
        '{% from "badge" import badge %}'
        '<div class="pd-popup"><h4>{{ a.name }}{{ badge(a.sample, t) }}</h4>'
        '<div class="pd-layer">{{ a.layer }}</div><table>'
        "{% for label, value in a.details %}<tr><th>{{ label }}</th><td>{{ value }}</td></tr>"
        "{% endfor %}"
        "{% for label, urls in a.links %}<tr><th>{{ label }}</th><td>{% for url in urls %}"
        '<a href="{{ url }}" target="_blank" rel="noopener noreferrer">{{ loop.index }}</a> '
        "{% endfor %}</td></tr>{% endfor %}"
        "<tr><th>{{ t.village }}</th><td>{{ a.village }}</td></tr>"
        "<tr><th>{{ t.source }}</th><td>{{ a.source }}</td></tr>"
        "</table></div>"
    ),
    "legend": (
        "<h4>{{ title }}</h4><div>{{ t.legend_fill }}</div>"
        "{% for colour, label in fills %}"
        '<div><i class="pd-fill" style="background:{{ colour }}"></i>{{ label }}</div>'
        "{% endfor %}"
        '<div class="pd-legend-head">{{ t.legend_layers }}</div>'
        "{% for symbol, label in layers %}<div>{{ symbol }} {{ label }}</div>{% endfor %}"
        '{% if has_sample %}<div class="pd-note">{{ t.sample_note }}</div>{% endif %}'
    ),
}
"""Popup, tooltip and legend templates. Autoescaped: imported text is shown, never run."""

_TEMPLATES = jinja2.Environment(
    loader=jinja2.DictLoader(_TEMPLATE_SOURCES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _render(template: str, **context: Any) -> str:
    return _TEMPLATES.get_template(template).render(**context)


@dataclass(frozen=True)
class RegistryData:
    """What the registry map shows, read through :mod:`geo.queries`."""

    title: str
    villages: gpd.GeoDataFrame
    """Villages with their district name and one count column per asset layer."""
    assets: dict[str, gpd.GeoDataFrame]


def registry_map(
    session: Session,
    *,
    regency: str,
    district: str | None = None,
    lang: str = "id",
    basemap: bool = False,
) -> folium.Map:
    """Build the registry map of a regency (or one of its districts), fitted to its villages.

    ``lang`` is ``id`` (Bahasa Indonesia) or ``en``; ``basemap=True`` adds OpenStreetMap tiles
    (online only). Write it with :func:`maps.assets.save_map`. Raises
    :class:`~geo.errors.AreaNotFound` when the area has no villages in the registry.
    """
    words = strings(lang)
    data = load_registry(session, regency=regency, district=district)
    fmap = offline_map(tuple(data.villages.total_bounds), basemap=basemap)
    MapStyle().add_to(fmap)
    village_layer(data.villages, lang).add_to(fmap)
    for layer, frame in data.assets.items():
        asset_layer(layer, frame, data.villages, lang).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    has_sample = _has_sample(data)
    Legend(legend_html(data.title, lang, has_sample=has_sample)).add_to(fmap)
    root = fmap.get_root()
    if isinstance(root, Figure):
        root.title = f"{data.title} \u2013 {words['villages']}"
    return fmap


def load_registry(session: Session, *, regency: str, district: str | None = None) -> RegistryData:
    """Villages (with counts and district names) and linked assets of a regency or district."""
    villages = queries.villages(session, regency=regency, district=district)
    if villages.empty:
        area = district or regency
        raise AreaNotFound(f"no villages of {area} in the registry; import its boundaries first")
    counts = queries.counts_per_village(session, regency=regency, district=district)
    districts = queries.districts(session, regency=regency)
    villages = villages.merge(counts.drop(columns=["name", "district_code"]), on="code")
    names = dict(zip(districts["code"], districts["name"], strict=True))
    villages["district"] = villages["district_code"].map(names).fillna(villages["district_code"])
    assets = {
        layer: queries.assets(session, layer, regency=regency, district=district)
        for layer in ASSET_LAYERS
    }
    return RegistryData(_title(session, regency, district, names), villages, assets)


def _title(session: Session, regency: str, district: str | None, names: Mapping[str, str]) -> str:
    code = normalize_code(regency)
    frame = queries.regencies(session, province=code.split(".")[0])
    match = frame.loc[frame["code"] == code, "name"]
    title = str(match.iloc[0]) if len(match) else code
    if district is not None:
        title = f"{title}: {names.get(normalize_code(district), district)}"
    return title


def _has_sample(data: RegistryData) -> bool:
    frames = [data.villages, *data.assets.values()]
    return any((frame["source"] == SAMPLE_SOURCE).any() for frame in frames if len(frame))


# --------------------------------------------------------------------------------------------
# Villages
# --------------------------------------------------------------------------------------------


def village_layer(villages: gpd.GeoDataFrame, lang: str) -> folium.FeatureGroup:
    """Draw the villages as one GeoJSON layer: fill by programme assets, tooltip, popup."""
    present = dict(zip(villages["code"], _programme_count(villages).astype(int), strict=True))
    texts = FeatureTexts(
        {
            row.code: (village_popup(row, lang), village_tooltip(row, lang))
            for row in villages.itertuples()
        }
    )
    group = folium.FeatureGroup(name=f"{strings(lang)['villages']} ({len(villages)})")
    texts.add_to(group)
    folium.GeoJson(
        _collection(villages["code"], villages.geometry),
        style_function=lambda feature: _village_style(present[feature["id"]]),
        highlight_function=lambda _feature: {"weight": 2.5, "color": palette.HIGHLIGHT_COLOUR},
        on_each_feature=texts.binder(),
        class_name=VILLAGE_CLASS,
        control=False,
    ).add_to(group)
    return group


def _programme_count(villages: pd.DataFrame) -> pd.Series:
    return sum((villages[layer] > 0).astype(int) for layer in palette.PROGRAMME_LAYERS)


def _village_style(present: int) -> dict[str, Any]:
    return {
        "fillColor": palette.programme_fill(present),
        "fillOpacity": palette.FILL_OPACITY,
        "color": palette.BOUNDARY_COLOUR,
        "weight": 0.7,
    }


def village_tooltip(row: Any, lang: str) -> str:
    """Tooltip HTML of a village: name, kind, code, kecamatan, programme asset counts."""
    programme = [
        (layer_title(layer, lang), getattr(row, layer)) for layer in palette.PROGRAMME_LAYERS
    ]
    return _render("village_tooltip", v=_village_view(row), t=strings(lang), programme=programme)


def village_popup(row: Any, lang: str) -> str:
    """Popup HTML of a village: its details and the count of linked assets per layer."""
    counts = [(layer_title(layer, lang), getattr(row, layer)) for layer in ASSET_LAYERS]
    return _render("village_popup", v=_village_view(row), t=strings(lang), counts=counts)


def _village_view(row: Any) -> dict[str, Any]:
    return {
        "name": row.name,
        "kind": row.kind,
        "code": row.code,
        "district": row.district,
        "area": f"{row.area_km2:.2f}",
        "source": row.source,
        "sample": row.source == SAMPLE_SOURCE,
    }


def compact_geometry(geometry: gpd.GeoSeries) -> list[dict[str, Any]]:
    """Simplify (:data:`SIMPLIFY_TOLERANCE`) and snap (:data:`GRID`) geometries to GeoJSON.

    A geometry that would vanish keeps its original shape.
    """
    original = geometry.values
    simplified = shapely.simplify(original, SIMPLIFY_TOLERANCE, preserve_topology=True)
    snapped = shapely.set_precision(simplified, GRID)
    snapped = np.where(shapely.is_empty(snapped), original, snapped)
    decimals = round(-math.log10(GRID))
    rounded = shapely.transform(snapped, lambda coords: np.round(coords, decimals))
    return [shapely.geometry.mapping(geom) for geom in rounded]


def _collection(ids: Any, geometry: gpd.GeoSeries) -> dict[str, Any]:
    features = [
        {"type": "Feature", "id": fid, "properties": {}, "geometry": geom}
        for fid, geom in zip(ids, compact_geometry(geometry), strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


class FeatureTexts(MacroElement):
    """Popup and tooltip HTML per feature id, as one compact script object.

    Kept out of the GeoJSON so that folium's ``tojson`` (which writes every ``<`` as six
    characters) does not multiply the markup; the script is made safe for a ``<script>``
    element by escaping ``</`` and ``<!--`` only. Add it to the map before its layer.
    """

    _template = Template(
        "{% macro script(this, kwargs) %}var {{ this.get_name() }} = {{ this.data }};{% endmacro %}"
    )

    def __init__(self, texts: Mapping[str, tuple[str, str]]) -> None:
        super().__init__()
        self._name = "FeatureTexts"
        data = json.dumps(dict(texts), separators=(",", ":"))
        self.data = data.replace("</", "<\\/").replace("<!--", "<\\u0021--")

    def binder(self) -> JsCode:
        """``onEachFeature`` for the layer: bind the popup and tooltip of the feature's id."""
        return JsCode(
            f"function(feature, layer) {{ var text = {self.get_name()}[feature.id];"
            " if (!text) { return; }"
            " layer.bindPopup(text[0], {maxWidth: 340});"
            " layer.bindTooltip(text[1], {sticky: true}); }"
        )


# --------------------------------------------------------------------------------------------
# Asset layers
# --------------------------------------------------------------------------------------------


def asset_layer(
    layer: str, frame: gpd.GeoDataFrame, villages: pd.DataFrame, lang: str
) -> folium.FeatureGroup:
    """One asset layer as a FeatureGroup: lines, or icon markers (clustered when many)."""
    symbol = palette.layer_symbol(layer)
    label = f"{layer_title(layer, lang)} ({len(frame)})"
    group = folium.FeatureGroup(name=f"{_symbol_html(layer, symbol)} {label}")
    if frame.empty:
        return group
    village_names = dict(zip(villages["code"], villages["name"], strict=True))
    ids = [f"{layer}-{fid}" for fid in frame["id"]]
    texts = FeatureTexts(
        {
            fid: (asset_popup(layer, row, lang, village_names), asset_tooltip(layer, row, lang))
            for fid, row in zip(ids, frame.itertuples(), strict=True)
        }
    )
    texts.add_to(group)
    collection = _collection(ids, frame.geometry)
    if ASSET_LAYERS[layer].model.geometry_type != "POINT":
        _line_layer(layer, collection, symbol, texts).add_to(group)
        return group
    parent: folium.FeatureGroup | MarkerCluster = group
    if len(frame) > CLUSTER_MIN_FEATURES:
        parent = MarkerCluster(icon_create_function=_cluster_icon(layer))
        parent.add_to(group)
    _point_layer(layer, collection, symbol, texts).add_to(parent)
    return group


def _line_layer(
    layer: str, collection: dict, symbol: palette.LayerSymbol, texts: FeatureTexts
) -> folium.GeoJson:
    return folium.GeoJson(
        collection,
        style_function=lambda _f: {"color": symbol.colour, "weight": 3, "opacity": 0.9},
        highlight_function=lambda _f: {"weight": 6},
        on_each_feature=texts.binder(),
        class_name=f"petadesa-{layer}",
        control=False,
    )


def _point_layer(
    layer: str, collection: dict, symbol: palette.LayerSymbol, texts: FeatureTexts
) -> folium.GeoJson:
    icon = folium.DivIcon(
        html=f'<i class="fa-solid fa-{symbol.icon}"></i>',
        icon_size=(24, 24),
        icon_anchor=(12, 12),
        class_name=f"pd-pin pd-pin-{layer}",
    )
    return folium.GeoJson(
        collection, marker=folium.Marker(icon=icon), on_each_feature=texts.binder(), control=False
    )


def _cluster_icon(layer: str) -> str:
    return (
        "function(cluster) { return L.divIcon({"
        "html: '<div><span>' + cluster.getChildCount() + '</span></div>',"
        f" className: 'marker-cluster pd-cluster pd-cluster-{layer}',"
        " iconSize: new L.Point(40, 40)}); }"
    )


def asset_tooltip(layer: str, row: Any, lang: str) -> str:
    """Tooltip HTML of an asset: its name and layer."""
    return _render("asset_tooltip", a=_asset_header(layer, row, lang), t=strings(lang))


def asset_popup(layer: str, row: Any, lang: str, village_names: Mapping[str, str]) -> str:
    """Popup HTML of an asset: name, layer, its attributes, its village and its source."""
    return _render("asset_popup", a=_asset_view(layer, row, lang, village_names), t=strings(lang))


def _asset_header(layer: str, row: Any, lang: str) -> dict[str, Any]:
    return {
        "name": _asset_name(layer, row, lang),
        "layer": layer_title(layer, lang),
        "sample": row.source == SAMPLE_SOURCE,
    }


def _asset_view(layer: str, row: Any, lang: str, village_names: Mapping[str, str]) -> dict:
    labels = field_labels(lang)
    details = [
        (labels[name], _format(getattr(row, name), lang))
        for name in _DETAIL_FIELDS.get(layer, ())
        if _present(getattr(row, name, None))
    ]
    links = [
        (labels[name], _urls(getattr(row, name)))
        for name in _LINK_FIELDS
        if _present(getattr(row, name, None)) and _urls(getattr(row, name))
    ]
    return {
        **_asset_header(layer, row, lang),
        "details": details,
        "links": links,
        "village": _village_label(row.village_code, village_names, lang),
        "source": row.source,
    }


def _asset_name(layer: str, row: Any, lang: str) -> str:
    if _present(row.name) and row.name != row.source_id:
        return str(row.name)
    for name in _NAME_FALLBACK:
        value = getattr(row, name, None)
        if _present(value):
            return str(value)
    return layer_title(layer, lang)


def _village_label(code: str | None, names: Mapping[str, str], lang: str) -> str:
    if not code:
        return strings(lang)["unlinked"]
    return f"{names[code]} ({code})" if code in names else code


def _present(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return not (isinstance(value, str) and not value.strip())


def _format(value: Any, lang: str) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    if isinstance(value, int | np.integer) and abs(int(value)) >= 10_000:
        text = f"{int(value):,}"
        return text.replace(",", ".") if lang == "id" else text
    return str(value)


def _urls(value: Any) -> list[str]:
    parts = str(value).replace(",", " ").replace(";", " ").split()
    return [part for part in parts if part.lower().startswith(("https://", "http://"))]


# --------------------------------------------------------------------------------------------
# Legend and style
# --------------------------------------------------------------------------------------------


def legend_html(title: str, lang: str, *, has_sample: bool) -> str:
    """Render the legend: village fill classes, a symbol per asset layer, the sample note."""
    words = strings(lang)
    fills = [(colour, words[f"present_{n}"]) for n, colour in enumerate(palette.PROGRAMME_FILLS)]
    layers = [
        (_symbol_html(layer, palette.layer_symbol(layer)), layer_title(layer, lang))
        for layer in ASSET_LAYERS
    ]
    return _render(
        "legend", title=title, t=words, fills=fills, layers=layers, has_sample=has_sample
    )


def _symbol_html(layer: str, symbol: palette.LayerSymbol) -> Markup:
    if ASSET_LAYERS.get(layer) and ASSET_LAYERS[layer].model.geometry_type != "POINT":
        return Markup(f'<i class="pd-line" style="background:{symbol.colour}"></i>')
    return Markup(
        f'<span class="pd-pin pd-pin-{layer} pd-pin-small">'
        f'<i class="fa-solid fa-{symbol.icon}"></i></span>'
    )


class Legend(MacroElement):
    """A Leaflet control holding ready-made (escaped) legend HTML; no external assets."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
        {{ this.get_name() }}.onAdd = function () {
            var div = L.DomUtil.create("div", "petadesa-legend");
            div.innerHTML = {{ this.html|tojson }};
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, html: str, position: str = "bottomright") -> None:
        super().__init__()
        self._name = "Legend"
        self.html = str(html)
        self.position = position


class MapStyle(MacroElement):
    """The maps' stylesheet (markers, clusters, popups, legend), from :mod:`maps.palette`."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>{{ this.css }}</style>
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "MapStyle"
        self.css = map_css()


def map_css() -> str:
    """CSS for Petadesa map elements; colours from the palette, nothing fetched."""
    rules = [
        f".leaflet-container{{background:{palette.BACKGROUND_COLOUR}}}",
        ".pd-pin{display:flex;align-items:center;justify-content:center;border-radius:50%;"
        "border:2px solid #fff;box-shadow:0 0 3px rgba(0,0,0,.7);font-size:11px}",
        ".pd-pin-small{display:inline-flex;width:18px;height:18px;font-size:9px;"
        "border-width:1px;vertical-align:middle}",
        ".pd-line{display:inline-block;width:18px;height:4px;vertical-align:middle}",
        ".pd-fill{display:inline-block;width:14px;height:14px;margin-right:4px;"
        f"opacity:{palette.FILL_OPACITY};"
        f"border:1px solid {palette.BOUNDARY_COLOUR};vertical-align:middle}}",
        ".pd-sample{display:inline-block;margin-left:4px;padding:0 4px;border-radius:3px;"
        f"background:{palette.OKABE_ITO['yellow']};color:#000;font-size:.7rem;font-weight:700;"
        "text-transform:uppercase;vertical-align:middle}",
        ".pd-popup,.leaflet-tooltip{font-size:13px;line-height:1.35}"
        ".pd-popup h4{font-size:1rem;font-weight:700;margin:0 0 .3rem}.pd-popup h5{"
        "font-size:.85rem;font-weight:700;margin:.4rem 0 .2rem}.pd-popup th{padding-right:.6rem;"
        "font-weight:600;vertical-align:top}.pd-popup td{vertical-align:top;"
        "overflow-wrap:anywhere}.pd-layer{color:#555}",
        ".petadesa-legend{background:rgba(255,255,255,.93);padding:6px 9px;border-radius:5px;"
        "box-shadow:0 1px 5px rgba(0,0,0,.4);font-size:12px;line-height:1.5;max-width:270px}",
        ".petadesa-legend h4{font-size:13px;font-weight:700;margin:0 0 3px}"
        ".pd-legend-head{font-weight:600;margin-top:4px}.pd-note{margin-top:4px;color:#444;"
        "font-style:italic}",
    ]
    for layer in ASSET_LAYERS:
        rules.append(_layer_css(layer, palette.layer_symbol(layer)))
    return "".join(rules)


def _layer_css(layer: str, symbol: palette.LayerSymbol) -> str:
    red, green, blue = (int(symbol.colour[i : i + 2], 16) for i in (1, 3, 5))
    return (
        f".pd-pin-{layer}{{background:{symbol.colour};color:{symbol.glyph}}}"
        f".pd-cluster-{layer}{{background:rgba({red},{green},{blue},.35)}}"
        f".pd-cluster-{layer} div{{background:{symbol.colour};color:{symbol.glyph}}}"
    )
