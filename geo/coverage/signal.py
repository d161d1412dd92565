"""An operator's coverage or signal raster, merged into the modelled coverage.

Operators (and regulators' drive tests) publish coverage as rasters, one per technology:
either a **mask** (1 where the technology is offered, 0 where not) or the **received signal**
in dBm (RSRP for 4G and 5G, RSCP for 3G, RSSI for 2G). A cell counts as covered by the
technology where the mask is at least 0.5 or the signal at least the technology's usable
minimum (:data:`MIN_DBM`, the usual planning edges; ``min_dbm`` overrides it). The raster
is read over the region's grid (nearest cell, so a mask stays a mask) and merged into the
best-technology grid: each cell keeps the better of the model and the operator. Cells off
the DEM stay off it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rasterio.enums import Resampling

from geo.coverage.grid import Grid, warp_to_grid
from geo.coverage.model import OUTSIDE, TECHNOLOGY_CODES
from geo.coverage.rasters import Raster, RasterKind, open_raster
from geo.errors import RasterRejected

MIN_DBM = {"2G": -100.0, "3G": -105.0, "4G": -110.0, "5G": -110.0}
"""The weakest signal counted as usable coverage, per technology."""


@dataclass(frozen=True)
class SignalInput:
    """One operator raster: its file, the technology it shows, and the usable minimum."""

    path: Path
    technology: str
    min_dbm: float | None = None
    """Overrides :data:`MIN_DBM` for a raster in dBm (ignored for a mask)."""

    @property
    def threshold(self) -> float:
        """The usable minimum in dBm: ``min_dbm``, else the technology's :data:`MIN_DBM`."""
        return self.min_dbm if self.min_dbm is not None else MIN_DBM[self.technology]

    def __post_init__(self) -> None:
        if self.technology not in TECHNOLOGY_CODES:
            known = ", ".join(TECHNOLOGY_CODES)
            raise ValueError(f"technology {self.technology!r} is not one of {known}")


def is_mask(raster: Raster) -> bool:
    """Whether a signal raster is a 0/1 coverage mask (else it holds dBm)."""
    low, high = raster.value_range
    return low >= 0.0 and high <= 1.0


def covered_codes(raster: Raster, grid: Grid, signal: SignalInput) -> np.ndarray:
    """The technology's code where the raster says it is usable, 0 elsewhere (uint8, grid)."""
    values = warp_to_grid(raster, grid, Resampling.nearest)
    if is_mask(raster):
        usable = values >= 0.5
    else:
        usable = values >= (
            signal.min_dbm if signal.min_dbm is not None else MIN_DBM[signal.technology]
        )
    return np.where(usable, np.uint8(TECHNOLOGY_CODES[signal.technology]), np.uint8(0))


def open_signals(
    signals: list[SignalInput],
    region: tuple[float, float, float, float],
    *,
    optional: bool = False,
) -> list[tuple[SignalInput, Raster]]:
    """Check each operator raster over ``region`` (before anything is modelled).

    Raises what :func:`~geo.coverage.rasters.open_raster` raises, naming the file; with
    ``optional`` a raster that does not reach the region (or holds only nodata there) is
    left out instead: a run by regency checks every raster over the whole region first.
    """
    opened = []
    for signal in signals:
        try:
            opened.append((signal, open_raster(signal.path, RasterKind.SIGNAL, region)))
        except RasterRejected:
            if not optional:
                raise
    return opened


def merge_signals(
    best: np.ndarray, grid: Grid, opened: list[tuple[SignalInput, Raster]]
) -> list[dict[str, Any]]:
    """Merge each opened operator raster into ``best`` (in place); their provenance."""
    inputs = []
    for signal, raster in opened:
        codes = covered_codes(raster, grid, signal)
        on_dem = best != OUTSIDE
        best[on_dem] = np.maximum(best[on_dem], codes[on_dem])
        record = raster.provenance()
        record["technology"] = signal.technology
        if is_mask(raster):
            record["values"] = "coverage mask"
        else:
            record["values"] = "signal dBm"
            record["min_dbm"] = signal.threshold
        inputs.append(record)
    return inputs
