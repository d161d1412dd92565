"""Bind the wheels' own PROJ, GEOS and GDAL before SpatiaLite makes Debian's global.

SQLite loads an extension with ``RTLD_GLOBAL``, so once a GeoPackage connection has loaded
``mod_spatialite``, the system's PROJ and GEOS that it links are first in line for every
symbol looked up afterwards. The wheels of rasterio, pyproj, pyogrio, shapely and exactextract
each bundle their own PROJ, GEOS or GDAL, and a function of theirs called for the first time
after that point can bind to the system copy instead: a rasterio CRS read from WKT then
crashed inside PROJ (segmentation fault). Loading those libraries with ``RTLD_NOW`` binds every
symbol at load time, to their own copies: :func:`bind_now` does so, and importing ``geo``
calls it, so before any GeoPackage connection (which only ``geo`` makes). A library imported
before ``geo`` in the same process stays as it was loaded.
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
    """Import :data:`NATIVE_MODULES` with ``RTLD_NOW`` (once; those already imported stay)."""
    global _bound
    if _bound:
        return
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | os.RTLD_NOW)
    try:
        for name in NATIVE_MODULES:
            try:
                importlib.import_module(name)
            except ImportError:  # an optional one missing: nothing of it to bind
                continue
    finally:
        sys.setdlopenflags(flags)
    _bound = True
