"""Folium maps of the registry that work offline (imports geo/, knows nothing of HTTP).

Build a map with a builder (:func:`maps.registry.registry_map`), write it with
:func:`maps.assets.save_map` (linked to an ``assets/`` folder beside it, or ``inline=True``
for one self-contained file).
"""

from maps.assets import MapAssetsMissing, UnknownMapAsset, render_html, save_map
from maps.registry import registry_map

__all__ = ["MapAssetsMissing", "UnknownMapAsset", "registry_map", "render_html", "save_map"]
