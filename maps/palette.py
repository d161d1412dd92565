"""The one palette of every Petadesa map: colour-blind-safe colours and an icon per layer.

Categorical colours are the Okabe-Ito set (distinguishable with every common colour-vision
deficiency); each asset layer also has its own Font Awesome icon, so colour is never the only
cue. Village fills are a four-step ColorBrewer YlGnBu ramp (colour-blind safe and readable in
greyscale): how many of the three programme assets (BTS tower, destination, flagship product)
a village has. Later maps (connectivity classes) add their scales here, beside these.
"""

from __future__ import annotations

from dataclasses import dataclass

# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}

BOUNDARY_COLOUR = "#4D4D4D"
HIGHLIGHT_COLOUR = "#000000"
BACKGROUND_COLOUR = "#F4F3EE"
"""Map background when there is no basemap (offline): a light neutral, not Leaflet's grey."""


@dataclass(frozen=True)
class LayerSymbol:
    """How an asset layer is drawn: colour, glyph colour on it, Font Awesome 6 icon name."""

    colour: str
    glyph: str
    icon: str


LAYER_SYMBOLS: dict[str, LayerSymbol] = {
    "tower": LayerSymbol(OKABE_ITO["blue"], "#FFFFFF", "tower-cell"),
    "fibre_route": LayerSymbol(OKABE_ITO["orange"], "#000000", "route"),
    "fibre_node": LayerSymbol(OKABE_ITO["orange"], "#000000", "network-wired"),
    "hotspot": LayerSymbol(OKABE_ITO["sky_blue"], "#000000", "wifi"),
    "destination": LayerSymbol(OKABE_ITO["bluish_green"], "#FFFFFF", "mountain-sun"),
    "product_site": LayerSymbol(OKABE_ITO["reddish_purple"], "#000000", "store"),
    "facility": LayerSymbol(OKABE_ITO["vermillion"], "#FFFFFF", "building-columns"),
}
"""One symbol per layer of :data:`geo.store.models.ASSET_LAYERS` (fibre shares a colour)."""

FALLBACK_SYMBOL = LayerSymbol(OKABE_ITO["black"], "#FFFFFF", "location-dot")

PROGRAMME_LAYERS = ("tower", "destination", "product_site")
"""The assets a village is coloured by: one BTS, one destination, one flagship product."""

PROGRAMME_FILLS = ("#FFFFCC", "#A1DAB4", "#41B6C4", "#225EA8")
"""Fill for a village with 0, 1, 2 or all 3 of :data:`PROGRAMME_LAYERS` (YlGnBu, 4 classes)."""
FILL_OPACITY = 0.7
"""Village fills let boundaries and a basemap show through; legend swatches use the same."""


def layer_symbol(layer: str) -> LayerSymbol:
    """Return the symbol of an asset layer (a neutral one for a layer the palette lacks)."""
    return LAYER_SYMBOLS.get(layer, FALLBACK_SYMBOL)


def programme_fill(present: int) -> str:
    """Fill colour for a village that has ``present`` (0-3) of the programme assets."""
    if not 0 <= present < len(PROGRAMME_FILLS):
        raise ValueError(f"present must be 0..{len(PROGRAMME_FILLS) - 1}, got {present}")
    return PROGRAMME_FILLS[present]
