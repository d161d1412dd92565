"""Petadesa domain layer: settings, models, storage, import, linking and queries.

Nothing here imports FastAPI or Folium; notebooks and the CLI use this package directly.
"""

from geo.native import bind_now

bind_now()  # before any GeoPackage connection loads SpatiaLite (see geo.native)
