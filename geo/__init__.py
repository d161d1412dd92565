"""Petadesa domain layer: settings, models, storage, import, linking and queries.

Nothing here imports FastAPI or Folium; notebooks and the CLI use this package directly.
"""
