"""What the coordinates of an imported file mean, and whether each geometry is usable.

Two steps, both reporting into an :class:`~geo.ingest.report.ImportReport`:

1. :func:`to_wgs84` settles the CRS. A file that names its CRS is transformed to EPSG:4326.
   A file that names none is accepted only when its coordinates are plainly longitude/latitude
   inside Indonesia; coordinates that look like swapped latitude/longitude or like projected
   metres are refused with that diagnosis instead of being guessed at.
2. :func:`clean_geometries` refuses empty or wrongly typed geometries, repairs invalid ones
   (reporting what was wrong) and promotes single parts to the layer's multi-part type, keeping
   every part of a multi-part feature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

import geopandas as gpd
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from geo.errors import CRSProblem
from geo.ingest.report import ImportReport, Severity

# Generous envelope of Indonesia (Sabang to Merauke, Miangas to Rote), in degrees.
LON_RANGE = (94.0, 141.5)
LAT_RANGE = (-11.5, 6.5)
WGS84 = CRS.from_epsg(4326)


def _inside(minx, miny, maxx, maxy) -> np.ndarray:  # noqa: ANN001 - numpy arrays
    """Which bounds lie wholly inside the envelope of Indonesia (:data:`LON_RANGE`, ...)."""
    return (
        (minx >= LON_RANGE[0])
        & (maxx <= LON_RANGE[1])
        & (miny >= LAT_RANGE[0])
        & (maxy <= LAT_RANGE[1])
    )


def classify_positions(bounds: np.ndarray) -> np.ndarray:
    """Classify per-feature bounds (n x 4) as ``ok``, ``swapped``, ``metres`` or ``outside``."""
    minx, miny, maxx, maxy = bounds.T
    ok = _inside(minx, miny, maxx, maxy)
    swapped = _inside(miny, minx, maxy, maxx)
    metres = (np.abs(bounds) > 360).any(axis=1)
    out = np.full(len(bounds), "outside", dtype=object)
    out[metres] = "metres"
    out[swapped] = "swapped"
    out[ok] = "ok"
    out[np.isnan(bounds).any(axis=1)] = "empty"
    return out


def _describe(bounds: np.ndarray) -> str:
    """The extent of the non-empty ``bounds`` as text, for a CRS diagnosis."""
    valid = bounds[~np.isnan(bounds).any(axis=1)]
    minx, miny = valid[:, 0].min(), valid[:, 1].min()
    maxx, maxy = valid[:, 2].max(), valid[:, 3].max()
    return f"x {minx:,.4f} to {maxx:,.4f}, y {miny:,.4f} to {maxy:,.4f}"


def _utm_hint(bounds: np.ndarray) -> str:
    """A hint naming the UTM zones when the median position looks like UTM over Indonesia.

    Empty when it looks like neither UTM south nor UTM north.
    """
    valid = bounds[~np.isnan(bounds).any(axis=1)]
    x, y = float(np.median(valid[:, 0])), float(np.median(valid[:, 1]))
    if 100_000 <= x <= 900_000 and 8_700_000 <= y <= 10_000_000:
        return "; they look like UTM south (EPSG:32748-32754, EPSG:32749 for Malang)"
    if 100_000 <= x <= 900_000 and 0 <= y <= 800_000:
        return "; they look like UTM north (EPSG:32646-32653)"
    return ""


def _refuse_without_crs(kinds: np.ndarray, bounds: np.ndarray, note: str | None) -> None:
    """Raise :class:`~geo.errors.CRSProblem` for a file with no CRS and no plain lon/lat feature.

    The message says when every feature looks like swapped axes or like projected metres.
    """
    present = kinds[kinds != "empty"]
    lead = f"{note}; " if note else ""
    where = _describe(bounds)
    if (present == "swapped").all():
        raise CRSProblem(
            f"{lead}the coordinates look like latitude/longitude in swapped order ({where}: "
            "x holds latitudes, y holds longitudes). "
            "Swap the columns or axis order and import again"
        )
    if (present == "metres").all():
        raise CRSProblem(
            f"{lead}the coordinates look like projected metres ({where}){_utm_hint(bounds)}, "
            "but the file names no CRS. Add the CRS (.prj) or pass --crs EPSG:NNNNN"
        )
    raise CRSProblem(
        f"{lead}the file names no CRS and its coordinates ({where}) are not plainly "
        "longitude/latitude inside Indonesia. Add the CRS or pass --crs EPSG:NNNNN"
    )


def to_wgs84(
    gdf: gpd.GeoDataFrame, report: ImportReport, *, assume_crs: str | None = None
) -> gpd.GeoDataFrame:
    """Return the features in EPSG:4326, refusing what cannot be placed with confidence.

    ``assume_crs`` (the CLI's ``--crs``) supplies a CRS for a file that has none.
    Features whose coordinates end up outside Indonesia are reported as errors one by one,
    with a diagnosis when they look swapped or projected.
    """
    note = gdf.attrs.get("crs_note")
    if assume_crs is not None:
        try:
            crs = CRS.from_user_input(assume_crs)
        except CRSError as exc:
            raise CRSProblem(f"--crs {assume_crs!r} is not a CRS pyproj knows") from exc
        if gdf.crs is not None and CRS(gdf.crs) != crs:
            raise CRSProblem(
                f"the file names its CRS ({gdf.crs.to_string()}); --crs {assume_crs} disagrees"
            )
        gdf = gdf.set_crs(crs, allow_override=True)
    if gdf.crs is None:
        bounds = gdf.geometry.bounds.to_numpy()
        kinds = classify_positions(bounds)
        if (kinds == "empty").all():
            return gdf.set_crs(WGS84)
        if not (kinds == "ok").any():
            _refuse_without_crs(kinds, bounds, note)
        # Some features are plainly lon/lat: the others are refused one by one below
        # (a typo in one CSV row should name that row, not condemn the whole file).
        report.add(
            Severity.WARNING,
            (f"{note}; " if note else "")
            + "no CRS named: coordinates are plainly longitude/latitude inside Indonesia, "
            "read as EPSG:4326",
        )
        gdf = gdf.set_crs(WGS84)
    elif not CRS(gdf.crs).equals(WGS84, ignore_axis_order=True):
        try:
            gdf = gdf.to_crs(WGS84)
        except Exception as exc:  # pyproj raises several kinds
            raise CRSProblem(
                f"cannot transform from {gdf.crs.to_string()} to EPSG:4326: {exc}"
            ) from exc
    _report_misplaced(gdf, report)
    return gdf


def _report_misplaced(gdf: gpd.GeoDataFrame, report: ImportReport) -> None:
    """Report each feature outside Indonesia as an error, with what its coordinates look like.

    When every feature looks swapped or projected, the file's CRS is wrong as a whole: raise
    :class:`~geo.errors.CRSProblem` instead.
    """
    bounds = gdf.geometry.bounds.to_numpy()
    kinds = classify_positions(bounds)
    present = kinds[kinds != "empty"]
    if len(present) and (present == "swapped").all():
        raise CRSProblem(
            f"every feature's coordinates look like latitude/longitude in swapped order "
            f"({_describe(bounds)}); the file says {gdf.crs.to_string()} but x holds latitudes"
        )
    if len(present) and (present == "metres").all():
        raise CRSProblem(
            f"the file says {gdf.crs.to_string()} but its coordinates look like projected metres "
            f"({_describe(bounds)}){_utm_hint(bounds)}"
        )
    reasons = {
        "swapped": "coordinates look like swapped latitude/longitude",
        "metres": "coordinates look like projected metres, not degrees",
        "outside": "lies outside Indonesia",
    }
    for index in np.flatnonzero((kinds != "ok") & (kinds != "empty")):
        x, y = bounds[index, 0], bounds[index, 1]
        report.add(
            Severity.ERROR,
            f"{reasons[kinds[index]]} (x={x:.6g}, y={y:.6g})",
            index=int(index),
            field="geometry",
        )


POLYGONAL = ("Polygon", "MultiPolygon")
LINEAR = ("LineString", "MultiLineString")
PUNTAL = ("Point", "MultiPoint")
FAMILY = {"MULTIPOLYGON": POLYGONAL, "MULTILINESTRING": LINEAR, "POINT": PUNTAL}
_TYPE_IDS = {
    "MULTIPOLYGON": shapely.GeometryType.POLYGON,
    "MULTILINESTRING": shapely.GeometryType.LINESTRING,
}
_TARGET_IDS = {
    "MULTIPOLYGON": shapely.GeometryType.MULTIPOLYGON,
    "MULTILINESTRING": shapely.GeometryType.MULTILINESTRING,
    "POINT": shapely.GeometryType.POINT,
}
_MULTI = {"MULTIPOLYGON": shapely.multipolygons, "MULTILINESTRING": shapely.multilinestrings}


def clean_geometries(
    geoms: gpd.GeoSeries,
    target_type: str,
    report: ImportReport,
    ids: Sequence[object] | None = None,
    *,
    missing_reasons: Mapping[int, tuple[str, str]] | None = None,
    indexes: Sequence[int] | None = None,
) -> np.ndarray:
    """Validate, repair and normalise geometries to ``target_type``.

    Returns an object array of shapely geometries with ``None`` where a feature was refused
    (each refusal and each repair is in the report, with the feature's index and id).
    ``missing_reasons`` (index -> (field, reason)) says why a reader left a geometry empty,
    e.g. a CSV latitude that is not a number; the refusal then names that field.
    ``indexes`` are the features' positions in the file when ``geoms`` is a slice of it.
    """
    arr = np.asarray(getattr(geoms, "array", geoms), dtype=object)
    if shapely.has_z(arr).any():
        arr = shapely.force_2d(arr)
    family = FAMILY[target_type]
    out = np.empty(len(arr), dtype=object)
    missing = shapely.is_missing(arr) | shapely.is_empty(arr)
    valid = shapely.is_valid(arr)
    type_ids = shapely.get_type_id(arr)
    # The common case in bulk, without a Python step per feature: valid and already the target.
    ready = valid & ~missing & (type_ids == _TARGET_IDS[target_type])
    out[ready] = arr[ready]
    if target_type in _TYPE_IDS:  # a valid single polygon or line becomes a one-part multi
        single = valid & ~missing & (type_ids == _TYPE_IDS[target_type])
        if single.any():
            out[single] = _MULTI[target_type](arr[single][:, np.newaxis])
            ready |= single
    for j in np.flatnonzero(~ready).tolist():
        geom = arr[j]
        i = j if indexes is None else int(indexes[j])
        fid = None if ids is None else ids[j]
        if missing[j]:
            field, reason = (missing_reasons or {}).get(i, ("geometry", "empty geometry"))
            report.add(Severity.ERROR, reason, index=i, feature_id=fid, field=field)
            continue
        if geom.geom_type not in family:  # before any repair: a wrong type stays wrong
            report.add(
                Severity.ERROR,
                f"is a {geom.geom_type}; this layer takes {' or '.join(family)} geometries",
                index=i,
                feature_id=fid,
                field="geometry",
            )
            continue
        if not valid[j]:
            geom = _repair(geom, target_type, report, i, fid)
            if geom is None:
                continue
        out[j] = _to_target(geom, target_type, report, i, fid)
    return out


def _repair(geom, target_type: str, report: ImportReport, i: int, fid: object):  # noqa: ANN001, ANN202
    """``geom`` made valid, keeping only parts of the target's type; ``None`` if nothing is left.

    The repair, or the refusal, goes in the report with GEOS's reason for the invalidity.
    """
    reason = shapely.is_valid_reason(geom)
    repaired = shapely.make_valid(geom)
    if target_type in _TYPE_IDS:
        parts = shapely.get_parts(repaired)
        parts = parts[shapely.get_type_id(parts) == _TYPE_IDS[target_type]]
        repaired = (
            shapely.multipolygons(parts)
            if target_type == "MULTIPOLYGON"
            else (shapely.multilinestrings(parts))
        )
    if repaired.is_empty or (target_type == "MULTIPOLYGON" and repaired.area == 0):
        report.add(
            Severity.ERROR,
            f"invalid geometry ({reason}) that collapses to nothing when repaired",
            index=i,
            feature_id=fid,
            field="geometry",
        )
        return None
    report.add(
        Severity.REPAIRED,
        f"invalid geometry repaired: {reason}",
        index=i,
        feature_id=fid,
        field="geometry",
    )
    return repaired


def _to_target(geom, target_type: str, report: ImportReport, i: int, fid: object):  # noqa: ANN001, ANN202
    """A valid geometry of the right family as ``target_type``; ``None`` (reported) if it cannot be.

    A polygon or line becomes a one-part multi, a one-point MultiPoint its point; a MultiPoint of
    several points is refused.
    """
    kind = geom.geom_type
    if target_type == "POINT":
        if kind == "MultiPoint":
            if len(geom.geoms) != 1:
                report.add(
                    Severity.ERROR,
                    f"has {len(geom.geoms)} points; give each its own feature",
                    index=i,
                    feature_id=fid,
                    field="geometry",
                )
                return None
            return geom.geoms[0]
        return geom
    if kind.startswith("Multi"):
        return geom
    return (
        shapely.multipolygons([geom])
        if target_type == "MULTIPOLYGON"
        else shapely.multilinestrings([geom])
    )
