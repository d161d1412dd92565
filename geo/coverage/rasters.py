"""The user's rasters: a DEM, a population grid, an operator's coverage or signal raster.

A raster is a GeoTIFF (or anything GDAL reads) in any CRS. :func:`open_raster` checks it
against the region it is meant for, reading block by block over the region's window only (a
national DEM is never read whole for a regency), and refuses with a sentence naming the file
and the problem: unreadable, no CRS, no overlap with the region, only nodata there, a
population grid with negative counts, a DEM with heights no terrain has. What passes is a
:class:`Raster`: its path, grid, provenance (a SHA-256 digest of the file, whether it is a
seeded sample) and the window it covers.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

import rasterio
from rasterio.errors import RasterioIOError
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from geo.errors import CRSProblem, RasterRejected, UnreadableFile

SAMPLE_TAG = "PETADESA_SAMPLE"
"""GeoTIFF metadata item that marks a seeded sample raster (its value says what it stands for)."""
DEM_RANGE_M = (-450.0, 9000.0)
"""Heights a DEM of Indonesia may hold (the deepest land pit to above Puncak Jaya)."""
SIGNAL_DBM_RANGE = (-160.0, -20.0)
"""Received signal a signal raster may hold, in dBm (RSRP, RSCP or RSSI)."""


class RasterKind(StrEnum):
    """What a raster holds."""

    DEM = "dem"
    """Terrain height in metres (SRTM, Copernicus GLO-30, DEMNAS)."""
    POPULATION = "population"
    """People per cell (WorldPop 100 m, HRSL 30 m)."""
    SIGNAL = "signal"
    """An operator's coverage (a 0/1 mask) or signal (dBm) raster of one technology."""


@dataclass(frozen=True)
class Raster:
    """A checked raster: where it is, its grid and CRS, and where it came from."""

    path: Path
    kind: RasterKind
    crs: Any
    """The raster's CRS (``rasterio.crs.CRS``)."""
    transform: Any
    width: int
    height: int
    nodata: float | None
    digest: str
    """``sha256:<hex>`` of the file: a run records which input it read."""
    sample: str | None
    """What a seeded sample raster stands for (its :data:`SAMPLE_TAG`); ``None`` for real data."""
    window: Window
    """The part of the raster over the region (what the analysis reads)."""
    value_range: tuple[float, float] = (math.nan, math.nan)
    """The lowest and highest value over the region (nodata left out)."""

    def provenance(self) -> dict[str, Any]:
        """What a run records of this input."""
        return {
            "kind": str(self.kind),
            "path": str(self.path),
            "digest": self.digest,
            "crs": self.crs.to_string(),
            "resolution": [abs(self.transform.a), abs(self.transform.e)],
            "sample": self.sample,
        }


def open_raster(
    path: str | Path,
    kind: RasterKind | str,
    region: tuple[float, float, float, float],
) -> Raster:
    """Check ``path`` as a ``kind`` raster for the region whose lon/lat bounds are ``region``.

    Raises :class:`~geo.errors.UnreadableFile` (not a raster), :class:`~geo.errors.CRSProblem`
    (no CRS) or :class:`~geo.errors.RasterRejected` (no overlap, only nodata, negative
    population counts, impossible heights), each naming the file.
    """
    path, kind = Path(path), RasterKind(kind)
    if not path.is_file():
        raise UnreadableFile(f"no such file: {path}")
    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise UnreadableFile(f"{path.name}: not a raster GDAL can read ({exc})") from exc
    with src:
        if src.crs is None:
            raise CRSProblem(
                f"{path.name} has no CRS: say which it is with "
                f"gdal_edit.py -a_srs EPSG:4326 {path.name} (or the CRS it was made in)"
            )
        window = _region_window(src, path, region)
        value_range = _check_values(src, window, path, kind)
        sample = src.tags().get(SAMPLE_TAG)
        return Raster(
            path=path.resolve(),
            kind=kind,
            crs=src.crs,
            transform=src.transform,
            width=src.width,
            height=src.height,
            nodata=src.nodata,
            digest=file_digest(path),
            sample=sample,
            window=window,
            value_range=value_range,
        )


def file_digest(path: Path) -> str:
    """``sha256:<hex>`` of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def _region_window(src: Any, path: Path, region: tuple[float, float, float, float]) -> Window:
    """The raster's window over the region; refuse a raster that does not reach it."""
    left, bottom, right, top = transform_bounds("EPSG:4326", src.crs, *region, densify_pts=21)
    b = src.bounds
    if right <= b.left or left >= b.right or top <= b.bottom or bottom >= b.top:
        raster = transform_bounds(src.crs, "EPSG:4326", *b, densify_pts=21)
        raise RasterRejected(
            f"{path.name} does not overlap the region: it covers lon {raster[0]:.4f} to "
            f"{raster[2]:.4f}, lat {raster[1]:.4f} to {raster[3]:.4f}; the region is lon "
            f"{region[0]:.4f} to {region[2]:.4f}, lat {region[1]:.4f} to {region[3]:.4f}"
        )
    window = from_bounds(left, bottom, right, top, src.transform)
    # a cell more on every side: the region's edge, through two CRS, may fall a hair inside
    col, row = math.floor(window.col_off) - 1, math.floor(window.row_off) - 1
    width = math.ceil(window.col_off + window.width) + 1 - col
    height = math.ceil(window.row_off + window.height) + 1 - row
    return Window(col, row, width, height).intersection(Window(0, 0, src.width, src.height))


def _check_values(src: Any, window: Window, path: Path, kind: RasterKind) -> tuple[float, float]:
    """Read the window block by block: refuse all-nodata, negative counts, impossible heights.

    A signal raster is a coverage mask (0 and 1) or a received signal in dBm
    (:data:`SIGNAL_DBM_RANGE`). Returns the lowest and highest value.
    """
    valid, low, high = 0, np.inf, -np.inf
    step = 2048
    for row in range(int(window.row_off), int(window.row_off + window.height), step):
        for col in range(int(window.col_off), int(window.col_off + window.width), step):
            block = Window(
                col,
                row,
                min(step, int(window.col_off + window.width) - col),
                min(step, int(window.row_off + window.height) - row),
            )
            data = src.read(1, window=block, masked=True)
            values = data.compressed()
            values = values[np.isfinite(values)]
            if values.size:
                valid += values.size
                low, high = min(low, float(values.min())), max(high, float(values.max()))
    if not valid:
        raise RasterRejected(f"{path.name} holds only nodata over the region")
    if kind is RasterKind.POPULATION and low < 0:
        raise RasterRejected(
            f"{path.name} is not a population grid: it has negative counts (lowest {low:g}) "
            "over the region; people per cell are 0 or more"
        )
    if kind is RasterKind.DEM and (low < DEM_RANGE_M[0] or high > DEM_RANGE_M[1]):
        raise RasterRejected(
            f"{path.name} is not a DEM in metres: heights {low:g} to {high:g} over the region "
            f"(a DEM of Indonesia stays within {DEM_RANGE_M[0]:g} to {DEM_RANGE_M[1]:g}); "
            "is its nodata value set?"
        )
    in_dbm = SIGNAL_DBM_RANGE[0] <= low and high <= SIGNAL_DBM_RANGE[1]
    if kind is RasterKind.SIGNAL and not (low >= 0 and high <= 1) and not in_dbm:
        raise RasterRejected(
            f"{path.name} is neither a coverage mask (0 and 1) nor a signal in dBm "
            f"({SIGNAL_DBM_RANGE[0]:g} to {SIGNAL_DBM_RANGE[1]:g}): its values run from {low:g} "
            f"to {high:g} over the region; is its nodata value set?"
        )
    return low, high
