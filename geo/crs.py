"""The coordinate reference systems features are served in (OGC API Features Part 2).

The registry stores EPSG:4326 in longitude, latitude order, which is CRS84. A client may ask
for EPSG:4326 itself (latitude first, as the EPSG definition orders its axes), Web Mercator
(EPSG:3857) or the WGS 84 UTM zone of any part of Indonesia (zones 46-54, north and south),
and may give a box in any of them. CRSs are named by their OGC URIs
(``http://www.opengis.net/def/crs/EPSG/0/32749``); :func:`parse_crs` reads those and the
``EPSG:32749`` short form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import geopandas as gpd
import shapely
from pyproj import CRS, Transformer

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"
UTM_ZONES = range(46, 55)
"""The UTM zones Indonesia spans (Sabang at 95 E to Merauke at 141 E)."""
SUPPORTED_EPSG = (4326, 3857, *(32600 + z for z in UTM_ZONES), *(32700 + z for z in UTM_ZONES))
_URI = re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/0/(?P<code>\d+)$")
_SHORT = re.compile(r"^EPSG:(?P<code>\d+)$", re.IGNORECASE)


class UnsupportedCRS(ValueError):
    """A CRS the service does not serve, or text that names no CRS."""


@dataclass(frozen=True)
class ServedCRS:
    """A CRS features can be served or queried in: its URI and EPSG code (``None``: CRS84)."""

    uri: str
    epsg: int | None

    @property
    def lat_first(self) -> bool:
        """Whether coordinates are latitude, longitude (EPSG:4326 by its definition)."""
        return self.epsg == 4326

    @property
    def decimals(self) -> int:
        """Decimals coordinates are served with: about a centimetre (degrees 7, metres 2)."""
        return 7 if self.epsg in (None, 4326) else 2


def supported_uris() -> list[str]:
    """The URIs of every CRS served, CRS84 first."""
    return [CRS84, *(_EPSG_URI.format(code=code) for code in SUPPORTED_EPSG)]


def parse_crs(text: str | None) -> ServedCRS:
    """The CRS a ``crs`` or ``bbox-crs`` parameter names (``None``: CRS84).

    Raises :class:`UnsupportedCRS` naming what is served.
    """
    if text is None or text.strip() in ("", CRS84, "OGC:CRS84"):
        return ServedCRS(CRS84, None)
    value = text.strip()
    found = _URI.match(value) or _SHORT.match(value)
    code = int(found.group("code")) if found else None
    if code is None or code not in SUPPORTED_EPSG:
        raise UnsupportedCRS(
            f"crs {text!r} is not served; use CRS84, EPSG 4326 or 3857, or a UTM zone of "
            f"Indonesia (EPSG 32646-32654, 32746-32754), as {_EPSG_URI.format(code=32749)}"
        )
    return ServedCRS(_EPSG_URI.format(code=code), code)


def to_served(frame: gpd.GeoDataFrame, crs: ServedCRS) -> gpd.GeoDataFrame:
    """``frame`` (EPSG:4326, longitude first) in ``crs``, axes in that CRS's order."""
    if crs.epsg is None:
        return frame
    out = frame.to_crs(crs.epsg) if crs.epsg != 4326 else frame.copy()
    if crs.lat_first:
        out.geometry = shapely.transform(out.geometry.to_numpy(), lambda xy: xy[:, ::-1])
    return out


def bbox_to_lonlat(values: tuple[float, float, float, float], crs: ServedCRS) -> tuple[float, ...]:
    """A box given in ``crs`` (its axis order) as longitude/latitude bounds."""
    if crs.epsg is None:
        return values
    if crs.lat_first:
        south, west, north, east = values
        return west, south, east, north
    transformer = Transformer.from_crs(CRS.from_epsg(crs.epsg), 4326, always_xy=True)
    return tuple(float(v) for v in transformer.transform_bounds(*values, densify_pts=21))
