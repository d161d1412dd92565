"""OpenCelliD's cell export, grouped into tower sites for the ``tower`` layer.

OpenCelliD (opencellid.org, CC BY-SA 4.0) publishes one row per *cell*: ``radio`` (GSM, UMTS,
LTE, NR, CDMA), ``mcc`` (510 is Indonesia), ``net`` (the operator's MNC), ``area``, ``cell``,
``lon``, ``lat``, ``range`` (metres, estimated from measurements), ``samples`` and more. A site
carries several cells (sectors, technologies, often several operators on one shared tower), and
each cell's position is an estimate, so :func:`read_opencellid` groups the cells lying within
``site_radius_m`` of one another (connected: a chain of close cells is one site) into one tower
each: at the cells' mean position, with the union of their technologies and operators, and the
median of their ranges as ``range_km``. Rows of another country (``mcc``) are left out with one
warning; a row whose radio, code or coordinates cannot be read is refused, naming the row and
the field, as every import does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine

import geopandas as gpd
import shapely

from geo.errors import ImportRejected, UnreadableFile
from geo.geometry import utm_epsg
from geo.ingest.readers import check_size
from geo.ingest.report import ImportReport, Progress, Severity
from geo.settings import ImportSettings

INDONESIA_MCC = 510
RADIO_TECHNOLOGY = {"GSM": "2G", "CDMA": "2G", "UMTS": "3G", "LTE": "4G", "NR": "5G"}
"""OpenCelliD's radio to the registry's technology (CDMA, 1x or EV-DO, counts as the lesser)."""
OPERATORS = {
    1: "Indosat Ooredoo Hutchison",
    3: "StarOne (Indosat)",
    7: "Telkom Flexi",
    8: "XL Axiata (Axis)",
    9: "Smartfren",
    10: "Telkomsel",
    11: "XL Axiata",
    21: "Indosat Ooredoo Hutchison (IM3)",
    27: "Net1 Indonesia",
    28: "Smartfren (Fren)",
    89: "Indosat Ooredoo Hutchison (3)",
}
"""Indonesian MNCs (``net``) and their operators; another MNC is shown as ``MNC <n>``."""
SITE_RADIUS_M = 150.0
REQUIRED = ("radio", "mcc", "net", "area", "cell", "lon", "lat")
SOURCE = "OpenCelliD (CC BY-SA 4.0)"


def read_opencellid(
    path: str | Path,
    *,
    mcc: int = INDONESIA_MCC,
    site_radius_m: float = SITE_RADIUS_M,
    skip_invalid: bool = False,
    settings: ImportSettings | None = None,
) -> tuple[gpd.GeoDataFrame, ImportReport]:
    """The tower sites of an OpenCelliD CSV (optionally gzipped), and the report on its cells.

    Returns a GeoDataFrame for :func:`~geo.ingest.assets.import_assets` (``tower``): name,
    source_id (``ocid:`` and the site's first cell), operator, technologies, range_km,
    status ``on-air``, cells (how many), geometry (EPSG:4326). Raises
    :class:`~geo.errors.ImportRejected` when a row is refused (unless ``skip_invalid``) or no
    cell of ``mcc`` is left.
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableFile(f"no such file: {path}")
    check_size(path, settings)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UnreadableFile(f"{path.name}: not a readable CSV ({exc})") from exc
    table.columns = [c.strip().lower() for c in table.columns]
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise UnreadableFile(
            f"{path.name}: not an OpenCelliD export: no column {', '.join(missing)} "
            f"(expected {', '.join(REQUIRED)}, range, samples)"
        )
    report = ImportReport(target="tower (OpenCelliD cells)", path=str(path), read=len(table))
    cells = _typed_cells(table, report)
    refused = report.rejected_indexes()
    report.rejected = len(refused)
    if refused and not skip_invalid:
        raise ImportRejected(
            f"{len(refused)} of {len(table)} cells refused; nothing was imported", report
        )
    cells = cells.drop(index=sorted(refused))
    foreign = cells["mcc"] != mcc
    if foreign.any():
        codes = ", ".join(str(c) for c in sorted(cells.loc[foreign, "mcc"].unique()))
        report.add(
            Severity.WARNING,
            f"{int(foreign.sum()):,} cells of other countries (mcc {codes}) left out; "
            f"Indonesia is {mcc}",
        )
        cells = cells[~foreign]
    if cells.empty:
        raise ImportRejected(f"{path.name}: no cell of mcc {mcc} to import", report)
    return _sites(cells, site_radius_m), report


def _typed_cells(table: pd.DataFrame, report: ImportReport) -> pd.DataFrame:
    """The cells with typed columns; every unreadable value reported by row and field."""
    out = pd.DataFrame(index=table.index)
    out["radio"] = table["radio"].str.strip().str.upper()
    bad_radio = ~out["radio"].isin(list(RADIO_TECHNOLOGY))
    for i in np.flatnonzero(bad_radio.to_numpy()):
        report.add(
            Severity.ERROR,
            f"radio {table['radio'].iloc[i]!r} is not one of {', '.join(RADIO_TECHNOLOGY)}",
            index=int(i),
            field="radio",
        )
    for column in ("mcc", "net", "area", "cell"):
        out[column] = pd.to_numeric(table[column], errors="coerce")
        for i in np.flatnonzero(out[column].isna().to_numpy()):
            report.add(
                Severity.ERROR,
                f"{column} {table[column].iloc[i]!r} is not a number",
                index=int(i),
                field=column,
            )
    for column, low, high in (("lon", -180.0, 180.0), ("lat", -90.0, 90.0)):
        out[column] = pd.to_numeric(table[column], errors="coerce")
        wrong = out[column].isna() | ~out[column].between(low, high)
        for i in np.flatnonzero(wrong.to_numpy()):
            report.add(
                Severity.ERROR,
                f"{column} {table[column].iloc[i]!r} is not a {column}itude",
                index=int(i),
                field=column,
            )
    reach = table["range"] if "range" in table.columns else pd.Series("", index=table.index)
    out["range_m"] = pd.to_numeric(reach, errors="coerce")
    out["mcc"] = out["mcc"].fillna(-1).astype("int64")
    return out


def _sites(cells: pd.DataFrame, radius: float) -> gpd.GeoDataFrame:
    """Cells within ``radius`` metres of one another (transitively) as one tower site each."""
    points = gpd.GeoSeries(gpd.points_from_xy(cells["lon"], cells["lat"]), crs="EPSG:4326")
    metric = points.to_crs(utm_epsg(float(cells["lon"].mean()), float(cells["lat"].mean())))
    metric = metric.to_numpy()
    left, right = shapely.STRtree(metric).query(metric, predicate="dwithin", distance=radius)
    parent = np.arange(len(metric))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    cells = cells.reset_index(drop=True).assign(site=[root(i) for i in range(len(metric))])
    cells["technology"] = cells["radio"].map(RADIO_TECHNOLOGY)
    cells["operator"] = cells["net"].astype("int64").map(lambda n: OPERATORS.get(n, f"MNC {n}"))
    cells["key"] = (
        cells[["mcc", "net", "area", "cell"]].astype("int64").astype(str).agg("-".join, axis=1)
    )
    order = ("2G", "3G", "4G", "5G")
    rows = []
    for _, group in cells.groupby("site", sort=True):
        techs = set(group["technology"])
        reach = group["range_m"].dropna()
        rows.append(
            {
                "name": f"OpenCelliD site {sorted(group['key'])[0]}",
                "source_id": "ocid:" + sorted(group["key"])[0],
                "operator": ", ".join(sorted(set(group["operator"]))),
                "technologies": ",".join(t for t in order if t in techs),
                "range_km": (
                    float(np.clip(reach.median() / 1000.0, 0.1, 100.0)) if len(reach) else None
                ),
                "status": "on-air",
                "cells": len(group),
                "lon": float(group["lon"].mean()),
                "lat": float(group["lat"].mean()),
            }
        )
    sites = pd.DataFrame(rows)
    geometry = gpd.points_from_xy(sites.pop("lon"), sites.pop("lat"))
    frame = gpd.GeoDataFrame(sites, geometry=geometry, crs="EPSG:4326")
    frame.attrs["source_name"] = SOURCE
    frame.attrs["label"] = "OpenCelliD cells"
    return frame


def import_opencellid(
    engine: Engine,
    path: str | Path,
    *,
    mcc: int = INDONESIA_MCC,
    site_radius_m: float = SITE_RADIUS_M,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> tuple[ImportReport, ImportReport]:
    """Group an OpenCelliD export into sites and import them as towers (one transaction).

    Returns the report on the cells and the import's report on the sites. Importing the same
    export again changes nothing (each site's id is its first cell).
    """
    from geo.ingest.assets import import_assets  # noqa: PLC0415 - assets imports the frame

    sites, cells = read_opencellid(
        path, mcc=mcc, site_radius_m=site_radius_m, skip_invalid=skip_invalid
    )
    sites = sites.drop(columns="cells")  # how many cells each site has: not a tower column
    report = import_assets(
        engine, "tower", sites, source_name=SOURCE, skip_invalid=skip_invalid, progress=progress
    )
    return cells, report
