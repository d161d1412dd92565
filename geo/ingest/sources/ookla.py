"""Ookla's open speed-test tiles, read by window into the ``speed_tile`` layer.

*Speedtest by Ookla Global Fixed and Mobile Network Performance Maps* (CC BY-NC-SA 4.0) is
published per quarter and network type, as Parquet (a WKT ``tile`` column) and as zipped
shapefiles, named ``2024-07-01_performance_mobile_tiles.parquet`` (the quarter's first day,
``mobile`` or ``fixed``). One row per Web Mercator tile at zoom 16 that had tests:
``quadkey``, ``avg_d_kbps``, ``avg_u_kbps``, ``avg_lat_ms``, ``tests``, ``devices``.

A quarter's world file holds millions of tiles, so :func:`read_ookla_tiles` reads only those
over the region: of a Parquet file, the quadkey and number columns of the rows whose quadkey
lies in the ranges of the region's tiles at a coarser zoom (row groups outside them are
skipped where the file's statistics allow); of a shapefile, the features over the region's
box (GDAL's spatial filter). Being read by window, a world file is not held to the import
size limit; the tiles kept are held to the feature limit. The tile's square is made from its
quadkey (:mod:`morecantile`, the WebMercatorQuad grid), so both forms give the same geometry.
A quadkey read that is not 16 digits 0-3 is refused, naming it; values out of range are
refused by the import frame, naming the quadkey and field. :func:`import_ookla_tiles` keeps
only the tiles over the registry's regencies (the box of Indonesia's villages also holds
Singapore, Brunei, Timor-Leste...).
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
import pyogrio
import shapely

from geo.codes import normalize_code
from geo.errors import AreaNotFound, FileTooLarge, ImportRejected, UnreadableFile
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
    """The quarter's first day and the network type, from an Ookla file name (else ``None``).

    Raises :class:`~geo.errors.UnreadableFile` when the name holds a date that is not one.
    """
    found = _NAME.search(path.name) or _NAME.search(str(path))
    if not found:
        return None, None
    try:
        return dt.date.fromisoformat(found.group(1)), found.group(2).lower()
    except ValueError:
        raise UnreadableFile(f"{path.name}: {found.group(1)} is not a date") from None


def check_quarter(period: dt.date) -> dt.date:
    """``period`` if it is a quarter's first day (Ookla's files are per quarter); else raise."""
    if period.day != 1 or period.month not in (1, 4, 7, 10):
        raise UnreadableFile(
            f"{period.isoformat()} is not the first day of a quarter (Ookla's files are "
            "per quarter: YYYY-01-01, -04-01, -07-01 or -10-01)"
        )
    return period


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
    check_quarter(period)
    region = bbox or INDONESIA
    table = _read(path, region)
    limit = (settings or ImportSettings()).max_features
    if len(table) > limit:
        raise FileTooLarge(
            f"{path.name}: {len(table):,} tiles over the region, over the limit of {limit:,} "
            "features (PETADESA_IMPORT_MAX_FEATURES)"
        )
    report = ImportReport(target="speed_tile (Ookla tiles)", path=str(path), read=len(table))
    table["quadkey"] = quadkey_text(table["quadkey"])
    x, y, ok = quadkey_tiles(table["quadkey"])
    for i in np.flatnonzero(~ok).tolist():
        quadkey = table["quadkey"].iloc[i]
        report.add(
            Severity.ERROR,
            f"quadkey {quadkey!r} is not a zoom-{ZOOM} quadkey (16 digits 0-3)",
            index=int(i),
            feature_id=quadkey,
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


def quadkey_text(values: pd.Series) -> pd.Series:
    """Quadkeys as text: a column read as numbers (the digits survive) back to 16 digits."""
    if pd.api.types.is_numeric_dtype(values):
        return pd.Series(
            [
                "" if pd.isna(v) else f"{int(v):0{ZOOM}d}" if float(v).is_integer() else str(v)
                for v in values
            ],
            index=values.index,
        )
    return values.astype(str).str.strip()


def quadkey_tiles(quadkeys: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tile columns and rows of zoom-16 quadkeys, and which quadkeys are valid.

    Vectorised over the digits (a quarter's world file has millions of tiles): digit ``d`` at
    position ``i`` adds ``d & 1`` to the column's bit and ``d >> 1`` to the row's bit
    ``ZOOM - 1 - i`` (Bing Maps' tile system, as :meth:`morecantile.TileMatrixSet.quadkey`).
    """
    text = quadkeys.astype(str)
    valid = text.str.fullmatch(f"[0-3]{{{ZOOM}}}").to_numpy(dtype=bool)
    padded = np.where(valid, text.to_numpy(dtype=object), "0" * ZOOM).astype(f"S{ZOOM}")
    digits = np.frombuffer(padded.tobytes(), dtype=np.uint8).reshape(-1, ZOOM) - ord("0")
    digits = digits.astype(np.int64)
    weights = 1 << np.arange(ZOOM - 1, -1, -1, dtype=np.int64)
    return (digits & 1) @ weights, (digits >> 1) @ weights, valid


def _read(path: Path, region: tuple[float, ...]) -> pd.DataFrame:
    """The file's rows that may lie over ``region``: Parquet by quadkey range, else by box."""
    if path.suffix.lower() != ".parquet":
        try:
            fields = {f.lower(): f for f in pyogrio.read_info(path)["fields"]}
            wanted = [fields[c] for c in COLUMNS if c in fields]
            frame = pyogrio.read_dataframe(path, bbox=tuple(region), columns=wanted)
        except pyogrio.errors.DataSourceError as exc:
            raise UnreadableFile(f"{path.name}: not a readable tile file ({exc})") from exc
        table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        table.columns = [c.lower() for c in table.columns]
    else:
        try:
            schema = pq.read_schema(path)
            names = {n.lower(): n for n in schema.names}
            wanted = [names[c] for c in COLUMNS if c in names]
            text = "quadkey" in names and pa.types.is_string(
                schema.field(names["quadkey"]).type
            )  # quadkeys stored as numbers cannot be read by range: read whole, then cut
            ranges = _prefix_filter(region, names) if text else None
            data = pq.read_table(path, columns=wanted, filters=ranges)
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
    regency: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    period: dt.date | None = None,
    network: str | None = None,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> tuple[ImportReport, ImportReport]:
    """Import the tiles of an Ookla file over the registry's regencies (one transaction).

    Over ``regency`` when given (:class:`~geo.errors.AreaNotFound` when the registry has
    none of that code), else over every regency of the registry; only tiles over a regency's
    boundary are kept. ``bbox`` narrows the read further. With no regency in the registry the
    tiles of all Indonesia are read and kept (they are linked when boundaries come). The
    tiles' source is the quarter and network (``... 2024-07-01 mobile``), so each quarter is
    kept beside the others and importing a file again changes nothing. Returns the report on
    the file's rows and the import's report on the tiles.
    """
    from geo import queries  # noqa: PLC0415 - queries imports the models
    from geo.ingest.assets import import_assets  # noqa: PLC0415 - assets imports the frame
    from geo.store.db import transaction  # noqa: PLC0415

    with transaction(engine) as session:
        areas = queries.regencies(session)
    if regency is not None:
        code = normalize_code(regency)
        areas = areas[areas["code"] == code]
        if areas.empty:
            raise AreaNotFound(f"no regency {code} in the registry: import its boundaries first")
    region = tuple(float(v) for v in areas.total_bounds) if len(areas) else INDONESIA
    if bbox is not None:
        region = _intersection(region, bbox)
    tiles, rows = read_ookla_tiles(
        path, bbox=region, period=period, network=network, skip_invalid=skip_invalid
    )
    if len(areas):
        tree = shapely.STRtree(areas.geometry.to_numpy())
        over = np.zeros(len(tiles), dtype=bool)
        over[np.unique(tree.query(tiles.geometry.to_numpy(), predicate="intersects")[0])] = True
        if (~over).any():
            rows.add(
                Severity.WARNING,
                f"{int((~over).sum()):,} tiles over no regency of the registry left out",
            )
            tiles = tiles[over].reset_index(drop=True)
        if tiles.empty:
            raise ImportRejected(f"{Path(path).name}: no tile over the registry's regencies", rows)
    report = import_assets(
        engine,
        "speed_tile",
        tiles,
        source_name=tiles.attrs["source_name"],
        skip_invalid=skip_invalid,
        progress=progress,
    )
    return rows, report


def _intersection(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float, float, float]:
    """The overlap of two lon/lat boxes (a box of no area where they do not overlap)."""
    west, south = max(a[0], b[0]), max(a[1], b[1])
    return (west, south, max(west, min(a[2], b[2])), max(south, min(a[3], b[3])))
