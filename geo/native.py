"""Load the wheels' own PROJ, GEOS and GDAL before SpatiaLite makes Debian's global.

SQLite loads an extension with ``RTLD_GLOBAL``, so once a GeoPackage connection has loaded
``mod_spatialite``, the system's PROJ and GEOS that it links are first in line for every
symbol looked up by a library loaded after it. The wheels of rasterio, pyproj, pyogrio, shapely
and exactextract each bundle their own PROJ, GEOS or GDAL; loaded after SpatiaLite, theirs
bound to the system copy instead (a rasterio CRS read from WKT then crashed inside PROJ with a
segmentation fault; a GeoPackage read through pyogrio crashed too). So the order matters:
:class:`geo.store.backend.GeoPackage` calls :func:`load_native_libraries` before it makes an
engine, the only place a connection loads SpatiaLite. A process that never opens a GeoPackage
pays nothing. GDAL's own bindings (``osgeo``, for the viewshed) link the same system PROJ and
GEOS as SpatiaLite and need nothing.
"""

from __future__ import annotations

import importlib

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
"""The extension modules (and so their bundled libraries) to load before SpatiaLite."""


def load_native_libraries() -> None:
    """Import :data:`NATIVE_MODULES` (those already imported are left as they are)."""
    for name in NATIVE_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional one missing: nothing of it to load
            continue
