"""Reading user files into GeoDataFrames: GeoJSON, GeoPackage, zipped Shapefile, KML, CSV.

Readers only read; deciding what the coordinates mean (CRS, swapped axes) is
:mod:`geo.ingest.validation`'s job. Every failure is an :class:`~geo.errors.UnreadableFile` or
:class:`~geo.errors.FileTooLarge` with a sentence a field worker can act on.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import geopandas as gpd
import pyogrio
import shapely

from geo.errors import FileTooLarge, UnreadableFile
from geo.settings import ImportSettings

VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".kml", ".shp", ".fgb"}
LAT_NAMES = ("lat", "latitude", "lintang", "y", "kantor_desa_lat")
LON_NAMES = ("lon", "lng", "long", "longitude", "bujur", "x", "kantor_desa_lon")


Reader = Callable[..., gpd.GeoDataFrame]
"""Reads one file: called as ``reader(path, layer=..., lat_field=..., lon_field=...)``."""


@dataclass(frozen=True)
class _Registered:
    """A reader registered for a suffix, with the format's name for error messages."""

    reader: Reader
    description: str


_READERS: dict[str, _Registered] = {}


def register_reader(suffix: str, reader: Reader, description: str) -> None:
    """Make :func:`read_features` read files ending in ``suffix`` with ``reader``.

    For formats this module does not know itself, such as one upstream dataset's dump
    (:mod:`geo.ingest.sources.cahyadsn` registers ``.sql``). ``description`` completes the
    "use GeoJSON, GeoPackage, ..." sentence of an unsupported-format error.
    """
    _READERS[suffix.lower()] = _Registered(reader, description)


def check_size(path: Path, settings: ImportSettings | None = None) -> None:
    """Refuse a file over the configured limit before reading any of it."""
    limit = (settings or ImportSettings()).max_file_bytes
    size = path.stat().st_size
    if size > limit:
        raise FileTooLarge(
            f"{path.name} is {_size_text(size)}, over the import limit of {_size_text(limit)} "
            "(PETADESA_IMPORT_MAX_FILE_BYTES)"
        )


def _size_text(size: int) -> str:
    """Bytes for humans; small limits stay exact instead of showing as '0.0 MiB'."""
    if size < 2**20:
        return f"{size:,} bytes"
    return f"{size / 2**20:,.1f} MiB"


def read_features(
    path: str | Path,
    *,
    layer: str | None = None,
    settings: ImportSettings | None = None,
    lat_field: str | None = None,
    lon_field: str | None = None,
    only_columns: Collection[str] | None = None,
) -> gpd.GeoDataFrame:
    """Read any supported file into a GeoDataFrame, CRS as the file states it (maybe none).

    ``layer`` picks a layer of a multi-layer file (GeoPackage, KML); ``lat_field`` and
    ``lon_field`` name the coordinate columns of a CSV when they are not called lat/lon.
    ``only_columns``: of a GDAL-read file, read only the attribute columns with these names
    (compared case-insensitively) and the geometry; strings are most of the reading time.
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableFile(f"no such file: {path}")
    check_size(path, settings)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv_points(path, lat_field=lat_field, lon_field=lon_field)
    if suffix == ".zip":
        return _read_zipped_shapefile(path, layer)
    if suffix in _READERS:
        return _READERS[suffix].reader(path, layer=layer, lat_field=lat_field, lon_field=lon_field)
    if suffix not in VECTOR_SUFFIXES:
        more = "".join(f", {r.description}" for r in _READERS.values())
        raise UnreadableFile(
            f"{path.name}: unsupported format {suffix or '(no extension)'}; use GeoJSON, "
            f"GeoPackage, a zipped Shapefile, KML, CSV with lat/lon columns{more}"
        )
    return _read_vector(path, path.name, layer, only_columns)


TABLE_SUFFIXES = {".csv", ".xlsx", ".ods", ".dbf", *VECTOR_SUFFIXES}


def read_table(
    path: str | Path, *, layer: str | None = None, settings: ImportSettings | None = None
) -> pd.DataFrame:
    """Read a table of records (a village census): CSV, or a sheet or layer GDAL opens.

    Every cell of a CSV is read as text (codes keep their leading zeros); a spreadsheet keeps
    its cell types. Geometry, where the file has any, is not read.
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableFile(f"no such file: {path}")
    check_size(path, settings)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise UnreadableFile(
            f"{path.name}: unsupported format {suffix or '(no extension)'} for a table; use CSV, "
            "XLSX, ODS, DBF, or a GeoPackage or GeoJSON layer"
        )
    if suffix == ".csv":
        try:
            return pd.read_csv(
                path, dtype=str, keep_default_na=False, encoding="utf-8-sig", sep=_separator(path)
            )
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise UnreadableFile(f"{path.name}: not a readable CSV ({exc})") from exc
    try:
        layer = layer or str(pyogrio.list_layers(path)[0][0])
        # a spreadsheet's first row is its header, even when the second is text too
        options = {"HEADERS": "FORCE"} if suffix in (".xlsx", ".ods") else {}
        frame = pyogrio.read_dataframe(path, layer=layer, read_geometry=False, **options)
        return pd.DataFrame(frame)
    except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, ...
        raise UnreadableFile(f"{path.name}: cannot be read ({_gdal_reason(exc)})") from exc


def _separator(path: Path) -> str:
    """``;`` for a CSV whose header has semicolons and no commas, else ``,``.

    Excel in an Indonesian locale writes semicolons (the comma is its decimal mark).
    """
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        header = f.readline()
    return ";" if ";" in header and "," not in header else ","


def _read_vector(
    path: Path | str, label: str, layer: str | None, only_columns: Collection[str] | None = None
) -> gpd.GeoDataFrame:
    """Read one layer of a file GDAL opens; only the ``only_columns`` attributes if given.

    ``label`` names the file in errors; a layer without a geometry column is refused.
    """
    layer = layer or _single_layer(path, label)
    try:
        columns = None
        if only_columns is not None:
            wanted = {c.lower() for c in only_columns}
            fields = pyogrio.read_info(path, layer=layer)["fields"]
            columns = [str(f) for f in fields if str(f).lower() in wanted]
        gdf = pyogrio.read_dataframe(path, layer=layer, columns=columns)
    except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, ...
        raise UnreadableFile(f"{label}: cannot be read ({_gdal_reason(exc)})") from exc
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name is None:
        raise UnreadableFile(f"{label}: has no geometry column")
    return gdf


def _single_layer(path: Path | str, label: str) -> str | None:
    """The layer to read when none is named: the only spatial one, else the first.

    Refuses a file with no layer, or with several spatial layers to choose from.
    """
    try:
        layers = pyogrio.list_layers(path)
    except Exception as exc:
        raise UnreadableFile(f"{label}: cannot be read ({_gdal_reason(exc)})") from exc
    if len(layers) == 0:
        raise UnreadableFile(f"{label}: holds no layer")
    spatial = [str(name) for name, gtype in layers if gtype is not None]
    if len(spatial) > 1:
        raise UnreadableFile(
            f"{label}: holds {len(spatial)} layers ({', '.join(spatial)}); choose one with --layer"
        )
    return spatial[0] if spatial else str(layers[0][0])


def _gdal_reason(exc: Exception) -> str:
    """First line of a GDAL error, white space collapsed, cut to 300 characters."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"\s+", " ", text)[:300]


def _read_zipped_shapefile(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    """Read the Shapefile in a zip through GDAL's ``/vsizip/``; ``layer`` picks one by name.

    A missing ``.shx`` or ``.dbf`` refuses the file; a missing ``.prj`` is noted in
    ``attrs["crs_note"]`` for the CRS diagnosis.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except zipfile.BadZipFile as exc:
        raise UnreadableFile(f"{path.name}: not a valid zip archive") from exc
    shps = [n for n in names if n.lower().endswith(".shp")]
    if not shps:
        raise UnreadableFile(f"{path.name}: the zip holds no .shp file")
    if layer is None and len(shps) > 1:
        raise UnreadableFile(
            f"{path.name}: holds {len(shps)} shapefiles ({', '.join(shps)}); "
            "choose one with --layer"
        )
    shp = next((n for n in shps if Path(n).stem == layer), shps[0]) if layer else shps[0]
    stem = shp[: -len(".shp")]
    missing = [
        ext for ext in (".shx", ".dbf") if not any(n.lower() == (stem + ext).lower() for n in names)
    ]
    if missing:
        raise UnreadableFile(f"{path.name}: {shp} lacks its {' and '.join(missing)} part(s)")
    gdf = _read_vector(f"/vsizip/{path}/{shp}", f"{path.name}:{shp}", None)
    has_prj = any(n.lower() == (stem + ".prj").lower() for n in names)
    gdf.attrs["crs_note"] = None if has_prj else f"{shp} has no .prj file"
    return gdf


def _find_column(
    columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str
) -> str:
    """The CSV column of ``what``: ``wanted``, else the first of ``candidates`` (any case).

    Raises :class:`~geo.errors.UnreadableFile` pointing to ``--lat-field`` or ``--lon-field``.
    """
    lowered = {c.lower(): c for c in columns}
    if wanted is not None:
        if wanted in columns:
            return wanted
        raise UnreadableFile(
            f"CSV has no column {wanted!r} for {what}; columns: {', '.join(columns)}"
        )
    for name in candidates:
        if name in lowered:
            return lowered[name]
    raise UnreadableFile(
        f"CSV has no {what} column (looked for {', '.join(candidates)}); name it with "
        f"--{'lat' if what == 'latitude' else 'lon'}-field. Columns: {', '.join(columns)}"
    )


def _coordinate_errors(
    df: pd.DataFrame, *parsed: tuple[str, pd.Series]
) -> dict[int, tuple[str, str]]:
    """Row index -> (column, reason) for the first coordinate of a row that is not a number."""
    errors: dict[int, tuple[str, str]] = {}
    for column, values in parsed:
        for index in np.flatnonzero(values.isna().to_numpy()):
            raw = df[column].iloc[index].strip()
            reason = f"{column} is blank" if not raw else f"{column} {raw!r} is not a number"
            errors.setdefault(int(index), (column, reason))
    return errors


def _decimal_numbers(text: pd.Series) -> pd.Series:
    """Numbers of a text column, ``NaN`` where not a number; a decimal comma is read too.

    The comma is replaced only where the plain reading failed (0.16 s for 200,000 rows).
    """
    numbers = pd.to_numeric(text, errors="coerce")
    failed = numbers.isna().to_numpy()
    if failed.any():
        retried = pd.to_numeric(text[failed].str.replace(",", ".", regex=False), errors="coerce")
        numbers[failed] = retried
    return numbers


def read_csv_points(
    path: Path, *, lat_field: str | None = None, lon_field: str | None = None
) -> gpd.GeoDataFrame:
    """Read a CSV with latitude/longitude columns as points (CRS left unset: see validation).

    A row whose coordinates are blank or not numbers gets an empty geometry, so validation
    reports it by its row index instead of the whole file failing here; what was wrong with
    it is kept in ``attrs["coordinate_errors"]`` (row index -> (column, reason)).
    """
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UnreadableFile(f"{path.name}: not a readable CSV ({exc})") from exc
    columns = list(df.columns)
    lat_col = _find_column(columns, lat_field, LAT_NAMES, "latitude")
    lon_col = _find_column(columns, lon_field, LON_NAMES, "longitude")
    lat, lon = _decimal_numbers(df[lat_col]), _decimal_numbers(df[lon_col])
    points = shapely.points(lon.to_numpy(), lat.to_numpy())
    points[(lat.isna() | lon.isna()).to_numpy()] = shapely.Point()
    gdf = gpd.GeoDataFrame(df.drop(columns=[lat_col, lon_col]), geometry=points, crs=None)
    gdf.attrs["coordinate_fields"] = {"lat": lat_col, "lon": lon_col}
    gdf.attrs["coordinate_errors"] = _coordinate_errors(df, (lat_col, lat), (lon_col, lon))
    gdf.attrs["crs_note"] = "CSV coordinates are read as WGS 84 longitude/latitude"
    return gdf
