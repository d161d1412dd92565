"""Load the wheels' own PROJ, GEOS and GDAL before SpatiaLite makes Debian's global.

SQLite loads an extension with ``RTLD_GLOBAL``, so once a GeoPackage connection has loaded
``mod_spatialite``, the system's PROJ and GEOS that it links are first in line for every
symbol looked up by a library loaded after it. The wheels of rasterio, pyproj, pyogrio, shapely
and exactextract each bundle their own PROJ, GEOS or GDAL; loaded after SpatiaLite, theirs
bound to the system copy instead (a rasterio CRS read from WKT then crashed inside PROJ with a
segmentation fault). Python loads extensions with ``RTLD_NOW``, so what matters is the order:
:func:`bind_now` imports those extension modules, and importing ``geo`` calls it, so before any
GeoPackage connection (which only ``geo`` makes). A library imported before ``geo`` in the same
process is loaded already, which is as good. GDAL's own bindings (``osgeo``, for the viewshed)
link the same system PROJ and GEOS as SpatiaLite and need nothing.
"""

from __future__ import annotations

import importlib
import os
import sys

NATIVE_MODULES = (
    "shapely",
    "pyproj",
    "pyogrio",
    "rasterio",
    "rasterio.crs",
    "rasterio.warp",
    "rasterio.features",
    "rasterio.vrt",
    "rasterio.io",
    "exactextract._exactextract",
)
"""The extension modules (and so their bundled libraries) to bind before SpatiaLite loads."""

_bound = False


def bind_now() -> None:
    """Import :data:`NATIVE_MODULES`, each bound at load (``RTLD_NOW``), once."""
    global _bound
    if _bound:
        return
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | os.RTLD_NOW)  # Python's default already; said, not assumed
    try:
        for name in NATIVE_MODULES:
            try:
                importlib.import_module(name)
            except ImportError:  # an optional one missing: nothing of it to load
                continue
    finally:
        sys.setdlopenflags(flags)
    _bound = True
