"""A national-scale village file made from Jawa Timur: the province tiled across Indonesia.

No national boundary file lies beside the repository (``../shared/data`` holds Jawa Timur), so
the benchmark's national scale is Jawa Timur copied ``copies`` times, each copy moved by whole
degrees to another place inside Indonesia's envelope and given a province code that does not
exist (40, 41, ...): 10 copies are 84,940 villages, 6,660 districts, 380 regencies and 10
provinces, about the national file's 83,246 villages. Codes, names and geometry defects (the
invalid villages, the overlaps) are copied as they are, so validation has the same work per
village as on the real file. A matching code list is written too.

Files go to ``bench/results/national-<copies>/`` and are made once.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import geopandas as gpd
import shapely

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BOUNDARIES = SHARED / "cahyadsn_wilayah_boundaries"
CODES = SHARED / "cahyadsn_wilayah" / "kode_wilayah.csv"
LEVEL_FILES = {
    "province": "provinsi_35_jawa_timur.geojson",
    "regency": "kabkota_35_jawa_timur.geojson",
    "district": "kecamatan_35_jawa_timur.geojson",
    "village": "desa_35_jawa_timur.gpkg",
}
CODE_COLUMNS = ("kode", "kode_prov", "kode_kab", "kode_kec")
# Jawa Timur spans 110.9-116.3 E, 8.8-5.0 S; these moves keep every copy inside 94-141.5 E,
# 11.5 S - 6.5 N (geo.ingest.validation's envelope of Indonesia).
OFFSETS = [(dx, dy) for dy in (0.0, 6.0) for dx in (-16.5, -11.0, -5.5, 0.0, 5.5, 11.0, 16.5, 22.0)]


def national_files(copies: int) -> dict[str, Path]:
    """Paths of the tiled files per level and of the code list (``codes``), made if missing."""
    if not 1 <= copies <= len(OFFSETS):
        raise ValueError(f"copies must be 1..{len(OFFSETS)}")
    folder = Path(__file__).parent / "results" / f"national-{copies}"
    paths = {level: folder / f"{level}.gpkg" for level in LEVEL_FILES}
    paths["codes"] = folder / "codes.csv"
    if all(p.is_file() for p in paths.values()):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    for level, name in LEVEL_FILES.items():
        source = gpd.read_file(BOUNDARIES / name, engine="pyogrio")
        tiles = [_copy(source, k) for k in range(copies)]
        tiled = gpd.GeoDataFrame(pd.concat(tiles, ignore_index=True), crs=source.crs)
        tiled.to_file(paths[level], layer=level, engine="pyogrio")
    codes = pd.read_csv(CODES, dtype=str, keep_default_na=False)
    jatim = codes[(codes["kode"] == "35") | codes["kode"].str.startswith("35.")]
    copied = []
    for k in range(copies):
        part = jatim.copy()
        for column in ("kode", "kode_induk"):
            part[column] = part[column].map(lambda c, k=k: _recode(c, k))
        part["kode_nodot"] = part["kode"].str.replace(".", "", regex=False)
        copied.append(part)
    pd.concat(copied, ignore_index=True).to_csv(paths["codes"], index=False)
    return paths


def _province(k: int) -> str:
    return f"{40 + k}"


def _recode(code: str, k: int) -> str:
    return _province(k) + code[2:] if code.startswith("35") else code


def _copy(frame: gpd.GeoDataFrame, k: int) -> gpd.GeoDataFrame:
    dx, dy = OFFSETS[k]
    out = frame.copy()
    out["geometry"] = shapely.transform(out.geometry.to_numpy(), lambda xy: xy + [dx, dy])
    for column in CODE_COLUMNS:
        if column in out.columns:
            out[column] = out[column].map(lambda c: _recode(str(c), k))
    if "kode_nodot" in out.columns:
        out["kode_nodot"] = out["kode"].str.replace(".", "", regex=False)
    return out
