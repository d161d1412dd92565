"""Ookla's open speed-test tiles, read by window into the ``speed_tile`` layer.

*Speedtest by Ookla Global Fixed and Mobile Network Performance Maps* (CC BY-NC-SA 4.0) is
published per quarter and network type, as Parquet (a WKT ``tile`` column) and as zipped
shapefiles, named ``2024-07-01_performance_mobile_tiles.parquet`` (the quarter's first day,
``mobile`` or ``fixed``). One row per Web Mercator tile at zoom 16 that had tests:
``quadkey``, ``avg_d_kbps``, ``avg_u_kbps``, ``avg_lat_ms``, ``tests``, ``devices``.

A quarter's world file holds millions of tiles, so :func:`read_ookla_tiles` reads only those
over the region: the region's tiles at a coarse zoom give quadkey prefixes, and Parquet skips
the row groups outside their ranges (the files are sorted by quadkey). The tile's square is
made from its quadkey (:mod:`morecantile`, the WebMercatorQuad grid), so the Parquet and the
shapefile give the same geometry. A quadkey that is not zoom 16 digits 0-3 is refused, naming
the row; values out of range are refused by the import frame, naming the quadkey and field.
"""

from __future__ import annotations

import datetime as dt
import re
from itertools import islice
from pathlib import Path

import morecantile
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Engine

import geopandas as gpd
import shapely

from geo.errors import ImportRejected, UnreadableFile
from geo.ingest.readers import check_size, read_features
from geo.ingest.report import ImportReport, Progress, Severity
from geo.ingest.validation import LAT_RANGE, LON_RANGE
from geo.settings import ImportSettings

ZOOM = 16
COLUMNS = ("quadkey", "avg_d_kbps", "avg_u_kbps", "avg_lat_ms", "tests", "devices")
SOURCE = "Speedtest by Ookla Open Data (CC BY-NC-SA 4.0)"
PREFIX_TILES = 64
"""At most this many quadkey prefixes cover a region (a coarser zoom is taken until they do)."""
_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})_performance_(mobile|fixed)_tiles", re.IGNORECASE)
_TMS = morecantile.tms.get("WebMercatorQuad")
INDONESIA = (LON_RANGE[0], LAT_RANGE[0], LON_RANGE[1], LAT_RANGE[1])


def period_and_network(path: Path) -> tuple[dt.date | None, str | None]:
    """The quarter's first day and the network type, from an Ookla file name (else ``None``)."""
    found = _NAME.search(path.name) or _NAME.search(str(path))
    if not found:
        return None, None
    return dt.date.fromisoformat(found.group(1)), found.group(2).lower()


def read_ookla_tiles(
    path: str | Path,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    period: dt.date | None = None,
    network: str | None = None,
    skip_invalid: bool = False,
    settings: ImportSettings | None = None,
) -> tuple[gpd.GeoDataFrame, ImportReport]:
    """The tiles of an Ookla file over ``bbox`` (lon/lat; default Indonesia), and its report.

    ``period`` (the quarter's first day) and ``network`` (``mobile``, ``fixed``) default to
    what the file's name says; a name that says neither must be given them. Returns a
    GeoDataFrame for :func:`~geo.ingest.assets.import_assets` (``speed_tile``): name,
    source_id and quadkey, network, period_start, the averages, tests, devices and the tile's
    square (EPSG:4326). Raises :class:`~geo.errors.ImportRejected` when a row is refused
    (unless ``skip_invalid``) or no tile lies over the region.
    """
    path = Path(path)
    if not path.exists():
        raise UnreadableFile(f"no such file: {path}")
    named_period, named_network = period_and_network(path)
    period, network = period or named_period, (network or named_network or "").lower() or None
    if period is None or network is None:
        raise UnreadableFile(
            f"{path.name}: the quarter and network are not in the file name "
            "(Ookla names files 2024-07-01_performance_mobile_tiles.parquet); "
            "give them (--period 2024-07-01 --network mobile)"
        )
    if network not in ("mobile", "fixed"):
        raise UnreadableFile(f"network {network!r} is not mobile or fixed")
    region = bbox or INDONESIA
    table = _read(path, region, settings)
    report = ImportReport(target="speed_tile (Ookla tiles)", path=str(path), read=len(table))
    x, y, ok = quadkey_tiles(table["quadkey"])
    for i in np.flatnonzero(~ok).tolist():
        report.add(
            Severity.ERROR,
            f"quadkey {table['quadkey'].iloc[i]!r} is not a zoom-{ZOOM} quadkey (digits 0-3)",
            index=int(i),
            field="quadkey",
        )
    refused = report.rejected_indexes()
    report.rejected = len(refused)
    if refused and not skip_invalid:
        raise ImportRejected(
            f"{len(refused)} of {len(table)} tiles refused; nothing was imported", report
        )
    inside = ok & _over(x, y, region)
    outside = int((ok & ~inside).sum())
    if outside:
        report.add(Severity.WARNING, f"{outside:,} tiles outside the region left out")
    table, x, y = table[inside].reset_index(drop=True), x[inside], y[inside]
    if table.empty:
        raise ImportRejected(f"{path.name}: no tile over the region {_shown(region)}", report)
    return _frame(table, x, y, period, network), report


def quadkey_tiles(quadkeys: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tile columns and rows of zoom-16 quadkeys, and which quadkeys are valid.

    Vectorised over the digits (a quarter's world file has millions of tiles): digit ``d`` at
    position ``i`` adds ``d & 1`` to the column's bit and ``d >> 1`` to the row's bit
    ``ZOOM - 1 - i`` (Bing Maps' tile system, as :meth:`morecantile.TileMatrixSet.quadkey`).
    """
    text = quadkeys.astype(str).str.strip().to_numpy(dtype=f"<U{ZOOM + 1}")
    valid = np.char.str_len(text) == ZOOM
    padded = np.where(valid, text, "0" * ZOOM).astype(f"S{ZOOM}")
    digits = np.frombuffer(padded.tobytes(), dtype=np.uint8).reshape(-1, ZOOM) - ord("0")
    valid &= (digits <= 3).all(axis=1)  # uint8: a character below "0" wraps around too
    digits = np.where(valid[:, None], digits, 0).astype(np.int64)
    weights = 1 << np.arange(ZOOM - 1, -1, -1, dtype=np.int64)
    return (digits & 1) @ weights, (digits >> 1) @ weights, valid


def _read(path: Path, region: tuple[float, ...], settings: ImportSettings | None) -> pd.DataFrame:
    """The file's rows that may lie over ``region``: Parquet by quadkey range, else whole."""
    check_size(path, settings)
    if path.suffix.lower() != ".parquet":
        frame = read_features(path, settings=settings)
        frame.columns = [c.lower() if c != frame.geometry.name else c for c in frame.columns]
        table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    else:
        try:
            schema = pq.read_schema(path)
            names = {n.lower(): n for n in schema.names}
            wanted = [names[c] for c in COLUMNS if c in names]
            data = pq.read_table(path, columns=wanted, filters=_prefix_filter(region, names))
        except (pa.ArrowInvalid, OSError) as exc:
            raise UnreadableFile(f"{path.name}: not a readable Parquet file ({exc})") from exc
        table = data.to_pandas()
        table.columns = [c.lower() for c in table.columns]
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise UnreadableFile(
            f"{path.name}: not an Ookla tile file: no column {', '.join(missing)} "
            f"(expected {', '.join(COLUMNS)})"
        )
    return table


def _prefix_filter(region: tuple[float, ...], names: dict[str, str]) -> pc.Expression | None:
    """Quadkey ranges covering ``region``: ``prefix <= quadkey < prefix + '4'`` OR'd."""
    if "quadkey" not in names:
        return None
    zoom = ZOOM
    tiles = list(islice(_TMS.tiles(*region, zooms=[zoom]), PREFIX_TILES + 1))
    while len(tiles) > PREFIX_TILES and zoom > 1:
        zoom -= 1
        tiles = list(islice(_TMS.tiles(*region, zooms=[zoom]), PREFIX_TILES + 1))
    field = pc.field(names["quadkey"])
    expression = None
    for tile in tiles:
        prefix = _TMS.quadkey(tile)
        part = (field >= prefix) & (field < prefix + "4")
        expression = part if expression is None else expression | part
    return expression


def _over(x: np.ndarray, y: np.ndarray, region: tuple[float, ...]) -> np.ndarray:
    """Tiles that touch the region (by tile index, so a tile on its edge is kept)."""
    west, south, east, north = region
    top_left = _TMS.tile(west, north, ZOOM)
    bottom_right = _TMS.tile(east, south, ZOOM)
    return (x >= top_left.x) & (x <= bottom_right.x) & (y >= top_left.y) & (y <= bottom_right.y)


def _frame(
    table: pd.DataFrame, x: np.ndarray, y: np.ndarray, period: dt.date, network: str
) -> gpd.GeoDataFrame:
    """The tiles as the ``speed_tile`` layer's columns, each with its square."""
    # a tile's edges are its column's and row's: each distinct one looked up once
    columns, column_of = np.unique(x, return_inverse=True)
    rows, row_of = np.unique(y, return_inverse=True)
    lons = np.array([_TMS.bounds(morecantile.Tile(int(c), 0, ZOOM))[::2] for c in columns])
    lats = np.array([_TMS.bounds(morecantile.Tile(0, int(r), ZOOM))[1::2] for r in rows])
    west, east = lons[column_of].T if len(x) else (np.empty(0), np.empty(0))
    south, north = lats[row_of].T if len(y) else (np.empty(0), np.empty(0))
    quadkeys = table["quadkey"].astype(str).str.strip()
    frame = pd.DataFrame(
        {
            "name": "tile " + quadkeys,
            "source_id": quadkeys,
            "quadkey": quadkeys,
            "network": network,
            "period_start": period,
            **{c: table[c].to_numpy() for c in COLUMNS[1:]},
        }
    )
    out = gpd.GeoDataFrame(frame, geometry=shapely.box(west, south, east, north), crs="EPSG:4326")
    out.attrs["source_name"] = f"{SOURCE} {period.isoformat()} {network}"
    out.attrs["label"] = "Ookla tiles"
    return out


def _shown(region: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in region) + ")"


def import_ookla_tiles(
    engine: Engine,
    path: str | Path,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    period: dt.date | None = None,
    network: str | None = None,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> tuple[ImportReport, ImportReport]:
    """Read an Ookla tile file over ``bbox`` and import its tiles (one transaction).

    The tiles' source is the quarter and network (``... 2024-07-01 mobile``), so each
    quarter's tiles are kept beside the others and importing a file again changes nothing.
    Returns the report on the file's rows and the import's report on the tiles.
    """
    from geo.ingest.assets import import_assets  # noqa: PLC0415 - assets imports the frame

    tiles, rows = read_ookla_tiles(
        path, bbox=bbox, period=period, network=network, skip_invalid=skip_invalid
    )
    report = import_assets(
        engine,
        "speed_tile",
        tiles,
        source_name=tiles.attrs["source_name"],
        skip_invalid=skip_invalid,
        progress=progress,
    )
    return rows, report
