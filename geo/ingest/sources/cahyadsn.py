"""The open national boundary dataset ``cahyadsn/wilayah_boundaries``: reader and fetcher.

Upstream publishes one MySQL dump per regency (``db/kel/<prov>/wilayah_boundaries_kel_35.07.sql``)
with rows ``INSERT INTO wilayah_boundaries(kode,nama,lat,lng,path) VALUES (...),(...);``. ``kode``
is the Kemendagri code (*kode wilayah*), ``lat``/``lng`` a point upstream calls the centroid (not
always inside the polygon), and ``path`` a JSON array of rings in **[lat, lng]** order with either
Polygon (``[[[lat,lng],...]]``) or MultiPolygon (``[[[[lat,lng],...]]]``) nesting.

The dump is scanned by :mod:`geo.ingest.sources.sqldump`, and fetched at a pinned commit by
:mod:`geo.ingest.sources.download`. Importing this module registers :func:`read_upstream_sql`
as the reader of ``.sql`` files (:func:`geo.ingest.readers.register_reader`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

import shapely
from geopandas import GeoDataFrame, GeoSeries

from geo.codes import InvalidCode, Level, level_of, normalize_code
from geo.errors import ConfigurationError, UnreadableFile
from geo.ingest.readers import register_reader
from geo.ingest.sources.download import (
    ProgressCallback,
    check_digest,
    copy_atomically,
    download,
    sha256_of,
)
from geo.ingest.sources.sqldump import SqlValue, iter_insert_rows, load_text
from geo.settings import BoundarySourceSettings

log = logging.getLogger(__name__)

MANIFEST_NAME = "cahyadsn_wilayah_boundaries.json"
BOUNDARY_TABLE = "wilayah_boundaries"
BOUNDARY_COLUMNS = ("kode", "nama", "lat", "lng", "path")

# --------------------------------------------------------------------------- boundary reader


def read_upstream_sql(path_or_text: str | os.PathLike[str] | bytes) -> GeoDataFrame:
    """Read an upstream ``wilayah_boundaries_kel_<prov>.<kab>.sql`` dump as it is published.

    Returns one row per area with columns ``code`` (dotted Kemendagri code), ``name``,
    ``source_lat``, ``source_lng`` (upstream's "centroid", not guaranteed inside the polygon)
    and ``geometry``: a MultiPolygon in (lon, lat) order, EPSG:4326, with every part kept and
    nothing repaired (invalid geometries are left for validation).

    ``path_or_text`` is a path, or the SQL itself (see :func:`load_text`). Raises
    :class:`~geo.errors.UnreadableFile` with the line number for a malformed row, bad JSON,
    a bad code, coordinates not in [lat, lng] order, a truncated file, or no rows at all.
    """
    text, label = load_text(path_or_text)
    codes, names, lats, lngs, rings_per_row = [], [], [], [], []
    for line, row in iter_insert_rows(text, BOUNDARY_TABLE, label=label):
        where = f"{label}, line {line}"
        _require_columns(row, where)
        codes.append(_code(row["kode"], where))
        names.append(_text(row["nama"], "nama", where))
        lats.append(_number(row["lat"], "lat", where))
        lngs.append(_number(row["lng"], "lng", where))
        rings_per_row.append(_parse_path(row["path"], where))
    if not codes:
        raise UnreadableFile(f"{label}: no INSERT INTO {BOUNDARY_TABLE} rows (empty or cut short?)")
    geometry = GeoSeries(_multipolygons(rings_per_row), crs="EPSG:4326")
    frame = {"code": codes, "name": names, "source_lat": lats, "source_lng": lngs}
    return GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


def _require_columns(row: Mapping[str, SqlValue], where: str) -> None:
    """Refuse a row that lacks any of :data:`BOUNDARY_COLUMNS`."""
    missing = [c for c in BOUNDARY_COLUMNS if c not in row]
    if missing:
        raise UnreadableFile(f"{where}: INSERT lacks column(s) {', '.join(missing)}")


def _code(value: SqlValue, where: str) -> str:
    """The dotted Kemendagri code of a ``kode`` value; a bad one makes the file unreadable."""
    try:
        return normalize_code(value)
    except InvalidCode as exc:
        raise UnreadableFile(f"{where}: kode {exc}") from exc


def _text(value: SqlValue, column: str, where: str) -> str:
    """The value of ``column`` if it is a non-empty string; else the file is unreadable."""
    if not isinstance(value, str) or not value.strip():
        raise UnreadableFile(f"{where}: {column} is {value!r}, expected a non-empty string")
    return value


def _number(value: SqlValue, column: str, where: str) -> float:
    """The value of ``column`` as a float, ``NaN`` for ``NULL``; else the file is unreadable."""
    if value is None:
        return float("nan")
    try:
        return float(value)
    except ValueError as exc:
        raise UnreadableFile(f"{where}: {column} is {value!r}, expected a number") from exc


def _parse_path(value: SqlValue, where: str) -> list[list[np.ndarray]]:
    """``path`` literal -> polygons -> rings as (n, 2) arrays in (lon, lat) order."""
    if not isinstance(value, str):
        raise UnreadableFile(f"{where}: path is {value!r}, expected a JSON string")
    try:
        nested = json.loads(value)
    except json.JSONDecodeError as exc:
        reason = f"{exc.msg} at char {exc.pos}"
        raise UnreadableFile(f"{where}: path is not valid JSON ({reason})") from exc
    return [
        [_ring(ring, where, part, index) for index, ring in enumerate(poly)]
        for part, poly in enumerate(_polygon_list(nested, where))
    ]


def _polygon_list(nested: Any, where: str) -> list[list[Any]]:
    """Polygon nesting ``[[[lat,lng],...]]`` becomes a one-part MultiPolygon nesting."""
    try:
        first = nested[0][0][0]
    except (TypeError, IndexError, KeyError):
        raise UnreadableFile(f"{where}: path is not a nested array of rings") from None
    polygons = nested if isinstance(first, list) else [nested]
    for poly in polygons:
        if not isinstance(poly, list) or not poly:
            raise UnreadableFile(f"{where}: path has an empty or malformed polygon")
    return polygons


def _ring(ring: object, where: str, part: int, index: int) -> np.ndarray:
    """One ring of ``[lat, lng]`` pairs as an (n, 2) array in (lon, lat) order.

    Refused when malformed, too short, not finite, or plainly not in [lat, lng] order.
    """
    name = f"ring {index + 1} of part {part + 1}"
    try:
        coords = np.asarray(ring, dtype=float)
    except (TypeError, ValueError):
        raise UnreadableFile(f"{where}: {name} is not a list of [lat, lng] pairs") from None
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise UnreadableFile(f"{where}: {name} is not a list of [lat, lng] pairs")
    closed = len(coords) > 1 and (coords[0] == coords[-1]).all()
    if len(coords) < (4 if closed else 3):
        raise UnreadableFile(f"{where}: {name} has {len(coords)} points, too few for a ring")
    if not np.isfinite(coords).all():
        raise UnreadableFile(f"{where}: {name} has a non-finite coordinate")
    if np.abs(coords[:, 0]).max() > 90 or np.abs(coords[:, 1]).max() > 180:
        raise UnreadableFile(
            f"{where}: {name} is not in [lat, lng] order (first point {coords[0].tolist()})"
        )
    return coords[:, ::-1]


def _multipolygons(rings_per_row: list[list[list[np.ndarray]]]) -> np.ndarray:
    """Build every MultiPolygon at once with shapely's vectorised constructors."""
    rings, ring_of_poly, poly_of_row = [], [], []
    poly_id = 0
    for row_id, polygons in enumerate(rings_per_row):
        for poly in polygons:
            rings.extend(poly)
            ring_of_poly.extend([poly_id] * len(poly))
            poly_of_row.append(row_id)
            poly_id += 1
    lengths = np.fromiter((len(r) for r in rings), dtype=np.intp, count=len(rings))
    coords = np.concatenate(rings)
    linear = shapely.linearrings(coords, indices=np.repeat(np.arange(len(rings)), lengths))
    polygons = shapely.polygons(linear, indices=np.asarray(ring_of_poly, dtype=np.intp))
    return shapely.multipolygons(polygons, indices=np.asarray(poly_of_row, dtype=np.intp))


# --------------------------------------------------------------------------- manifest


def boundaries_data_dir() -> Path:
    """``data/boundaries/`` of the repository: manifest and checksums of boundary sources."""
    return Path(__file__).resolve().parents[3] / "data" / "boundaries"


@dataclass(frozen=True)
class BoundaryManifest:
    """What the project pins of ``cahyadsn/wilayah_boundaries``: commit, URLs, checksums."""

    commit: str
    raw_base_url: str
    url_pattern: str
    licence: str
    sha256: Mapping[str, str]

    def upstream_name(self, regency_code: str) -> str:
        """Upstream file name of a regency, e.g. ``wilayah_boundaries_kel_35.07.sql``."""
        return f"wilayah_boundaries_kel_{regency_code}.sql"

    def url(self, regency_code: str, base_url: str | None = None) -> str:
        """Raw download URL of a regency file at the pinned commit."""
        prov, kab = regency_code.split(".")
        base = base_url or self.raw_base_url
        return self.url_pattern.format(
            raw_base_url=base if base.endswith("/") else base + "/",
            commit=self.commit,
            prov=prov,
            kab=kab,
        )


def load_manifest(path: Path | None = None) -> BoundaryManifest:
    """Read the manifest (default ``data/boundaries/cahyadsn_wilayah_boundaries.json``)."""
    path = path or boundaries_data_dir() / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return BoundaryManifest(
            commit=data["commit"],
            raw_base_url=data["raw_base_url"],
            url_pattern=data["url_pattern"],
            licence=data["licence"],
            sha256=dict(data["sha256"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"boundary source manifest {path} is unusable: {exc}") from exc


# --------------------------------------------------------------------------- fetcher


@dataclass(frozen=True)
class FetchResult:
    """Where a regency's upstream file ended up and how it got there."""

    regency_code: str
    path: Path
    """The file in the cache directory."""
    origin: Literal["mirror", "cache", "network"]
    sha256: str
    verified: bool
    """True when the manifest knows this regency's checksum and the file matched it."""
    url: str


def fetch_regency(
    regency_code: str,
    *,
    settings: BoundarySourceSettings | None = None,
    mirror_dir: Path | None = None,
    progress: ProgressCallback | None = None,
    base_url: str | None = None,
) -> FetchResult:
    """Get the upstream boundary file of one regency (*kabupaten/kota*) into the cache.

    Tried in order: the cache (``settings.cache_dir``, file named by short commit and upstream
    name) when its checksum is good; the mirror directory (``mirror_dir``, else
    ``settings.mirror_dir``) holding files by upstream name, flat or in upstream's
    ``db/kel/<prov>/`` layout; the network at the pinned commit (``base_url`` replaces
    ``https://raw.githubusercontent.com/cahyadsn/wilayah_boundaries/``). Downloads go to a
    temporary file renamed into place; ``progress(bytes_done, bytes_total)`` is called as
    bytes arrive.

    The sha256 is checked against the manifest: a mismatch raises
    :class:`~geo.errors.SourceUnavailable` naming expected and actual digests; a regency the
    manifest has no checksum for is accepted with ``verified=False``. An unreachable network
    raises :class:`~geo.errors.SourceUnavailable` too. A code that is not a regency raises
    :class:`~geo.codes.InvalidCode`.
    """
    code = _regency(regency_code)
    settings = settings or BoundarySourceSettings()
    manifest = load_manifest()
    expected = manifest.sha256.get(code)
    url = manifest.url(code, base_url or settings.base_url)
    cached = settings.cache_dir / f"{manifest.commit[:12]}_{manifest.upstream_name(code)}"

    def result(origin: Literal["mirror", "cache", "network"], digest: str) -> FetchResult:
        """The :class:`FetchResult` of the cached file, got from ``origin``."""
        return FetchResult(code, cached, origin, digest, expected is not None, url)

    if cached.is_file():
        digest = sha256_of(cached)
        if expected in (None, digest):
            return result("cache", digest)
        log.warning(
            "cached %s has sha256 %s, expected %s: fetching again", cached, digest, expected
        )
    mirror = mirror_dir or settings.mirror_dir
    found = _in_mirror(Path(mirror), manifest, code) if mirror is not None else None
    if found is not None:
        digest = sha256_of(found)
        check_digest(found, digest, expected)
        copy_atomically(found, cached)
        return result("mirror", digest)
    hint = f" (not in mirror {mirror})" if mirror is not None else ""
    return result("network", download(url, cached, expected, settings.timeout_s, progress, hint))


def _regency(value: str) -> str:
    """``value`` as a dotted regency code; :class:`~geo.codes.InvalidCode` for another level."""
    code = normalize_code(value)
    if level_of(code) is not Level.REGENCY:
        raise InvalidCode(f"{code!r} is not a regency code (expected e.g. 35.07)")
    return code


def _in_mirror(mirror: Path, manifest: BoundaryManifest, code: str) -> Path | None:
    """The regency's upstream file in ``mirror``, flat or in upstream's ``db/kel/<prov>/``."""
    name = manifest.upstream_name(code)
    for candidate in (mirror / name, mirror / "db" / "kel" / code[:2] / name):
        if candidate.is_file():
            return candidate
    return None


register_reader(
    ".sql",
    lambda path, **_options: read_upstream_sql(path),
    "the upstream .sql of cahyadsn/wilayah_boundaries",
)
