"""The open national boundary dataset ``cahyadsn/wilayah_boundaries``: reader and fetcher.

Upstream publishes one MySQL dump per regency (``db/kel/<prov>/wilayah_boundaries_kel_35.07.sql``)
with rows ``INSERT INTO wilayah_boundaries(kode,nama,lat,lng,path) VALUES (...),(...);``. ``kode``
is the Kemendagri code (*kode wilayah*), ``lat``/``lng`` a point upstream calls the centroid (not
always inside the polygon), and ``path`` a JSON array of rings in **[lat, lng]** order with either
Polygon (``[[[lat,lng],...]]``) or MultiPolygon (``[[[[lat,lng],...]]]``) nesting.

The same dump dialect is used by ``cahyadsn/wilayah`` for the code list, so the small SQL value
scanner here (:func:`iter_insert_rows`) serves :mod:`geo.sources.codelist` too.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

import shapely
from geopandas import GeoDataFrame, GeoSeries

from geo.codes import InvalidCode, Level, level_of, normalize_code
from geo.errors import ConfigurationError, SourceUnavailable, UnreadableFile
from geo.settings import BoundarySourceSettings

log = logging.getLogger(__name__)

MANIFEST_NAME = "cahyadsn_wilayah_boundaries.json"
BOUNDARY_TABLE = "wilayah_boundaries"
BOUNDARY_COLUMNS = ("kode", "nama", "lat", "lng", "path")
_CHUNK_BYTES = 64 * 1024

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``progress(bytes_done, bytes_total)``; ``bytes_total`` is ``None`` when unknown."""

# --------------------------------------------------------------------------- SQL dump scanner

# Possessive quantifiers keep an unterminated string from backtracking over the whole file.
_TOKEN = re.compile(
    r"(?P<skip>\s++|/\*.*?\*/|--[^\n]*+|\#[^\n]*+)"
    r"|(?P<str>'(?:[^'\\]++|\\.|'')*+'|\"(?:[^\"\\]++|\\.|\"\")*+\")"
    r"|(?P<num>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<word>[A-Za-z_][\w$]*|`[^`]*`)"
    r"|(?P<punct>[(),;])"
    r"|(?P<bad>/\*|'|\")"
    r"|(?P<other>.)",
    re.S,
)
# Fast path: a whole row of plain literals in one match; anything else goes token by token.
_LITERAL_RE = (
    r"'(?:[^'\\]++|\\.|'')*+'|(?:NULL|null)\b|[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
)
_LITERAL = re.compile(_LITERAL_RE, re.S)
_ROW = re.compile(
    rf"\s*+(?P<open>\()\s*+(?P<values>(?:{_LITERAL_RE})(?:\s*+,\s*+(?:{_LITERAL_RE}))*+)"
    r"\s*+\)\s*+(?P<end>[,;])",
    re.S,
)
_ESCAPE = {q: re.compile(rf"\\(.)|{q}{q}", re.S) for q in "'\""}
_ESCAPED = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}
_EOF = ("eof", "", -1)
SqlValue = str | float | None


def _unescape(literal: str) -> str:
    """Body of a quoted SQL string: doubled quotes and MySQL backslash escapes resolved."""
    quote, body = literal[0], literal[1:-1]
    if "\\" not in body and quote * 2 not in body:
        return body
    return _ESCAPE[quote].sub(lambda m: quote if m[1] is None else _ESCAPED.get(m[1], m[1]), body)


class _Lexer:
    """Tokens of a MySQL dump, with line numbers for error messages."""

    def __init__(self, text: str, label: str) -> None:
        self.text, self.label = text, label
        self.pos = 0
        self._line, self._line_pos = 1, 0

    def line_at(self, pos: int) -> int:
        """Line number of ``pos``; positions must be asked for in increasing order."""
        if pos < self._line_pos:
            return self.text.count("\n", 0, pos) + 1
        self._line += self.text.count("\n", self._line_pos, pos)
        self._line_pos = pos
        return self._line

    def error(self, pos: int, reason: str) -> UnreadableFile:
        """Build an :class:`UnreadableFile` naming the file and line of ``pos``."""
        pos = len(self.text) if pos < 0 else pos
        return UnreadableFile(f"{self.label}, line {self.line_at(pos)}: {reason}")

    def next(self) -> tuple[str, str, int]:
        """Next token as ``(kind, text, position)``; kind ``eof`` at the end."""
        text, match = self.text, _TOKEN.match
        while self.pos < len(text):
            token = match(text, self.pos)
            if token is None:  # unreachable: the last alternative matches any character
                raise self.error(self.pos, "unexpected character")
            self.pos = token.end()
            kind = token.lastgroup
            if kind == "skip":
                continue
            if kind == "bad":
                what = "comment" if token[0] == "/*" else "string"
                raise self.error(token.start(), f"unterminated {what} (file truncated?)")
            return str(kind), token[0], token.start()
        return _EOF

    def value(self) -> SqlValue:
        """One literal of a VALUES tuple."""
        kind, text, pos = self.next()
        if kind == "str":
            return _unescape(text)
        if kind == "num":
            return float(text)
        if kind == "word" and text.upper() == "NULL":
            return None
        raise self.error(pos, f"expected a value, found {_shown(kind, text)}")

    def expect(self, *puncts: str) -> str:
        """Consume one of ``puncts`` or raise."""
        kind, text, pos = self.next()
        if kind == "punct" and text in puncts:
            return text
        wanted = " or ".join(repr(p) for p in puncts)
        raise self.error(pos, f"expected {wanted}, found {_shown(kind, text)}")

    def skip_statement(self) -> None:
        """Consume tokens up to and including the next ``;``."""
        while True:
            kind, text, pos = self.next()
            if kind == "eof":
                raise self.error(pos, "file ends inside a statement (truncated?)")
            if kind == "punct" and text == ";":
                return


def _shown(kind: str, text: str) -> str:
    if kind == "eof":
        return "end of file (truncated?)"
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _name(text: str) -> str:
    return text.strip("`").lower()


def _insert_head(lex: _Lexer) -> tuple[str, tuple[str, ...] | None, int]:
    """After ``INSERT``: ``[IGNORE] INTO table [(columns)] VALUES``."""
    kind, text, pos = lex.next()
    if kind == "word" and text.upper() == "IGNORE":
        kind, text, pos = lex.next()
    if not (kind == "word" and text.upper() == "INTO"):
        raise lex.error(pos, f"expected INTO after INSERT, found {_shown(kind, text)}")
    kind, text, pos = lex.next()
    if kind != "word":
        raise lex.error(pos, f"expected a table name, found {_shown(kind, text)}")
    table, columns = _name(text), None
    kind, text, pos = lex.next()
    if kind == "punct" and text == "(":
        columns = _column_list(lex)
        kind, text, pos = lex.next()
    if not (kind == "word" and text.upper() in ("VALUES", "VALUE")):
        raise lex.error(pos, f"expected VALUES, found {_shown(kind, text)}")
    return table, columns, pos


def _column_list(lex: _Lexer) -> tuple[str, ...]:
    columns = []
    while True:
        kind, text, pos = lex.next()
        if kind != "word":
            raise lex.error(pos, f"expected a column name, found {_shown(kind, text)}")
        columns.append(_name(text))
        if lex.expect(",", ")") == ")":
            return tuple(columns)


def _tuples(lex: _Lexer, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, SqlValue]]]:
    """Read the ``(...),(...);`` part of an INSERT: ``(line, {column: value})`` per tuple."""
    while True:
        row = _ROW.match(lex.text, lex.pos)
        if row is not None:
            lex.pos = row.end()
            pos, end = row.start("open"), row["end"]
            values = [_literal(text) for text in _LITERAL.findall(row["values"])]
        else:
            pos, values, end = _tuple_by_tokens(lex)
        if len(values) != len(columns):
            raise lex.error(
                pos, f"row has {len(values)} values, expected {len(columns)} ({', '.join(columns)})"
            )
        yield lex.line_at(pos), dict(zip(columns, values, strict=True))
        if end == ";":
            return


def _literal(text: str) -> SqlValue:
    if text[0] == "'":
        return _unescape(text)
    return None if text.upper() == "NULL" else float(text)


def _tuple_by_tokens(lex: _Lexer) -> tuple[int, list[SqlValue], str]:
    """Slow path of :func:`_tuples` (comments inside a row, or an error to report)."""
    kind, text, pos = lex.next()
    if not (kind == "punct" and text == "("):
        raise lex.error(pos, f"expected '(' starting a row, found {_shown(kind, text)}")
    values: list[SqlValue] = []
    while True:
        values.append(lex.value())
        if lex.expect(",", ")") == ")":
            break
    return pos, values, lex.expect(",", ";")


def iter_insert_rows(
    text: str,
    table: str,
    *,
    default_columns: Sequence[str] | None = None,
    label: str = "<sql>",
) -> Iterator[tuple[int, dict[str, SqlValue]]]:
    """Rows of every ``INSERT INTO <table> ... VALUES (...),(...);`` in a MySQL dump.

    Yields ``(line, {column: value})``: strings unescaped (``''`` and backslash escapes), numbers
    as float, ``NULL`` as ``None``. Other statements (comments, DROP, CREATE, DELETE, inserts
    into other tables) are skipped. ``default_columns`` names the values of an INSERT without
    a column list. Raises :class:`~geo.errors.UnreadableFile` with ``label`` and the line number
    for anything malformed, including a file that ends inside a statement.
    """
    lex, table = _Lexer(text, label), table.lower()
    while True:
        kind, word, pos = lex.next()
        if kind == "eof":
            return
        if kind == "punct" and word == ";":
            continue
        if not (kind == "word" and word.upper() == "INSERT"):
            lex.skip_statement()
            continue
        name, columns, head = _insert_head(lex)
        if name != table:
            lex.skip_statement()
            continue
        columns = columns or (tuple(default_columns) if default_columns else None)
        if columns is None:
            raise lex.error(head, f"INSERT INTO {table} has no column list")
        yield from _tuples(lex, columns)


def load_text(path_or_text: str | os.PathLike[str] | bytes) -> tuple[str, str]:
    """``(text, label)`` of a file or of SQL given as a string.

    A path object is read as a file; so is a ``str``, unless it contains a newline or starts
    with ``INSERT``, when it is the SQL itself. ``label`` names the file in error messages.
    """
    if isinstance(path_or_text, bytes):
        return _decode(path_or_text, "<sql>"), "<sql>"
    if isinstance(path_or_text, str) and (
        "\n" in path_or_text or path_or_text.lstrip()[:6].upper() == "INSERT"
    ):
        return path_or_text, "<sql>"
    path = Path(path_or_text)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"cannot open {path}: {exc.strerror or exc}") from exc
    return _decode(data, path.name), path.name


def _decode(data: bytes, label: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UnreadableFile(f"{label}, line {line}: not UTF-8 text ({exc.reason})") from exc


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
    missing = [c for c in BOUNDARY_COLUMNS if c not in row]
    if missing:
        raise UnreadableFile(f"{where}: INSERT lacks column(s) {', '.join(missing)}")


def _code(value: SqlValue, where: str) -> str:
    try:
        return normalize_code(value)
    except InvalidCode as exc:
        raise UnreadableFile(f"{where}: kode {exc}") from exc


def _text(value: SqlValue, column: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UnreadableFile(f"{where}: {column} is {value!r}, expected a non-empty string")
    return value


def _number(value: SqlValue, column: str, where: str) -> float:
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
    return Path(__file__).resolve().parents[2] / "data" / "boundaries"


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
        _check_digest(found, digest, expected)
        _copy_atomically(found, cached)
        return result("mirror", digest)
    hint = f" (not in mirror {mirror})" if mirror is not None else ""
    return result("network", _download(url, cached, expected, settings.timeout_s, progress, hint))


def _regency(value: str) -> str:
    code = normalize_code(value)
    if level_of(code) is not Level.REGENCY:
        raise InvalidCode(f"{code!r} is not a regency code (expected e.g. 35.07)")
    return code


def sha256_of(path: Path) -> str:
    """Hex sha256 digest of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _in_mirror(mirror: Path, manifest: BoundaryManifest, code: str) -> Path | None:
    name = manifest.upstream_name(code)
    for candidate in (mirror / name, mirror / "db" / "kel" / code[:2] / name):
        if candidate.is_file():
            return candidate
    return None


def _check_digest(path: Path | str, digest: str, expected: str | None) -> None:
    if expected is not None and digest != expected:
        raise SourceUnavailable(
            f"{path} does not match the pinned upstream file: sha256 expected {expected}, "
            f"got {digest}"
        )


def _temporary_beside(target: Path) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise ConfigurationError(f"cannot write to boundary cache {target.parent}: {exc}") from exc
    os.close(fd)
    return Path(name)


def _copy_atomically(source: Path, target: Path) -> None:
    temporary = _temporary_beside(target)
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _download(
    url: str,
    target: Path,
    expected: str | None,
    timeout_s: float,
    progress: ProgressCallback | None,
    hint: str,
) -> str:
    temporary = _temporary_beside(target)
    try:
        with temporary.open("wb") as out:
            digest = _stream(url, out, timeout_s, progress, hint)
        _check_digest(url, digest, expected)
        os.replace(temporary, target)
        return digest
    finally:
        temporary.unlink(missing_ok=True)


def _stream(
    url: str, out: BinaryIO, timeout_s: float, progress: ProgressCallback | None, hint: str
) -> str:
    digest, done = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310
            total = response.length
            while chunk := response.read(_CHUNK_BYTES):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except urllib.error.HTTPError as exc:
        raise SourceUnavailable(f"{url} answered HTTP {exc.code} {exc.reason}{hint}") from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise SourceUnavailable(
            f"could not reach {url}: {reason}{hint}; use --mirror DIR or try again online"
        ) from exc
    if total is not None and done != total:
        raise SourceUnavailable(f"download of {url} was cut short: {done} of {total} bytes")
    return digest.hexdigest()
