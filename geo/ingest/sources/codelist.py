"""The Kemendagri code list (*kode wilayah*) as published by ``cahyadsn/wilayah``.

Two forms are read: the CSV kept beside the repository (``kode,kode_nodot,nama,level,jenis,
kode_induk``) and upstream's ``db/wilayah.sql`` (``INSERT INTO wilayah (kode,nama) VALUES
('11','Aceh'),...;``). Level, kind and parent are derived from the code itself
(:mod:`geo.codes`), not taken from the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from geo.codes import InvalidCode, kind_of, level_of, normalize_code, parent_of
from geo.errors import UnreadableFile
from geo.ingest.sources.download import download
from geo.ingest.sources.sqldump import iter_insert_rows, load_text
from geo.settings import BoundarySourceSettings

CODE_LIST_COLUMNS = ("code", "name", "level", "kind", "parent_code")
CODE_LIST_TABLE = "wilayah"


def read_code_list(path: str | os.PathLike[str], *, prefix: str | None = None) -> pd.DataFrame:
    """Read the Kemendagri code list, CSV or upstream SQL form.

    Returns columns ``code`` (dotted), ``name``, ``level`` (a :class:`geo.codes.Level` value:
    province, regency, district, village), ``kind`` (provinsi, kabupaten, kota, kecamatan,
    desa, kelurahan) and ``parent_code`` (``None`` for a province), in file order.

    The form is chosen by suffix (``.csv`` / ``.sql``), else by the first line. ``prefix``
    (e.g. ``"35"`` or ``"35.07"``) keeps that area and everything under it. Every row is
    checked: a bad code, an empty name or a duplicated code raises
    :class:`~geo.errors.UnreadableFile` naming the line and the value.
    """
    path = Path(path)
    label = path.name
    lines, raw_codes, names = _read_sql(path) if _is_sql(path) else _read_csv(path)
    codes = [_code(value, line, label) for line, value in zip(lines, raw_codes, strict=True)]
    _check_rows(codes, names, lines, label)
    if prefix is not None:
        keep = _under(codes, normalize_code(prefix))
        codes = [c for c, k in zip(codes, keep, strict=True) if k]
        names = [n for n, k in zip(names, keep, strict=True) if k]
    return pd.DataFrame(
        {
            "code": codes,
            "name": names,
            "level": [level_of(c).value for c in codes],
            "kind": [kind_of(c) for c in codes],
            "parent_code": [parent_of(c) for c in codes],
        },
        columns=list(CODE_LIST_COLUMNS),
    )


def _is_sql(path: Path) -> bool:
    """Whether the file is the SQL form: by suffix, else by a first line not starting ``kode``."""
    suffix = path.suffix.lower()
    if suffix in (".sql", ".csv"):
        return suffix == ".sql"
    try:
        with path.open(encoding="utf-8-sig") as stream:
            first = stream.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableFile(f"cannot open {path}: {exc}") from exc
    return not first.lower().startswith("kode")


def _read_csv(path: Path) -> tuple[list[int], list[object], list[object]]:
    """Line numbers, codes and names of the CSV form (columns ``kode`` and ``nama``)."""
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, usecols=["kode", "nama"], encoding="utf-8-sig"
        )
    except FileNotFoundError as exc:
        raise UnreadableFile(f"cannot open {path}: no such file") from exc
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise UnreadableFile(
            f"{path.name}: not a code list CSV with columns kode, nama ({exc})"
        ) from exc
    # Line 1 is the header; the code list has no multi-line fields.
    lines = list(range(2, len(frame) + 2))
    return lines, frame["kode"].tolist(), frame["nama"].tolist()


def _read_sql(path: Path) -> tuple[list[int], list[object], list[object]]:
    """Line numbers, codes and names of the ``INSERT INTO wilayah`` rows of the SQL form."""
    text, label = load_text(path)
    lines: list[int] = []
    codes: list[object] = []
    names: list[object] = []
    rows = iter_insert_rows(text, CODE_LIST_TABLE, default_columns=("kode", "nama"), label=label)
    for line, row in rows:
        if "kode" not in row or "nama" not in row:
            raise UnreadableFile(f"{label}, line {line}: INSERT INTO wilayah lacks kode or nama")
        lines.append(line)
        codes.append(row["kode"])
        names.append(row["nama"])
    return lines, codes, names


def _code(value: object, line: int, label: str) -> str:
    """The dotted code of a ``kode`` value; a bad one makes the file unreadable, naming the line."""
    try:
        return normalize_code(value)
    except InvalidCode as exc:
        raise UnreadableFile(f"{label}, line {line}: kode {exc}") from exc


def _check_rows(codes: list[str], names: Sequence[object], lines: list[int], label: str) -> None:
    """Refuse a code list with no codes, an empty name, or a code that appears twice."""
    if not codes:
        raise UnreadableFile(f"{label}: no codes found (empty or cut short?)")
    for code, name, line in zip(codes, names, lines, strict=True):
        if not isinstance(name, str) or not name.strip():
            raise UnreadableFile(
                f"{label}, line {line}: nama of {code} is {name!r}, expected a non-empty name"
            )
    duplicated = pd.Series(codes).duplicated(keep=False)
    if duplicated.any():
        where = duplicated.to_numpy().nonzero()[0]
        first = codes[where[0]]
        at = [lines[i] for i in where if codes[i] == first]
        raise UnreadableFile(
            f"{label}: kode {first} appears more than once (lines {', '.join(map(str, at))})"
        )


def _under(codes: Iterable[str], prefix: str) -> list[bool]:
    """For each code, whether it is ``prefix`` itself or an area under it."""
    below = prefix + "."
    return [c == prefix or c.startswith(below) for c in codes]


UPSTREAM_COMMIT = "b7ad440a1322e7be3189a16a8cac35f7d4c3d7f7"
"""Pinned commit of cahyadsn/wilayah (MIT), whose ``db/wilayah.sql`` is the national code list."""
UPSTREAM_URL = "https://raw.githubusercontent.com/cahyadsn/wilayah/{commit}/db/wilayah.sql"
MIRROR_NAMES = ("wilayah.sql", "kode_wilayah.csv")


def fetch_code_list(
    *,
    settings: BoundarySourceSettings | None = None,
    mirror_dir: Path | None = None,
    base_url: str | None = None,
) -> Path:
    """Local path of the Kemendagri code list: cache, then a mirror folder, then the network.

    A mirror may hold the upstream ``wilayah.sql`` or the ``kode_wilayah.csv`` form. The
    project knows no checksum for this file, so none is checked. Raises
    :class:`~geo.errors.SourceUnavailable` when none of the three has it.
    """
    settings = settings or BoundarySourceSettings()
    cached = settings.cache_dir / f"{UPSTREAM_COMMIT[:12]}_wilayah.sql"
    if cached.is_file():
        return cached
    for folder in (mirror_dir, settings.mirror_dir):
        for name in MIRROR_NAMES if folder else ():
            if (Path(folder) / name).is_file():
                return Path(folder) / name
    base = base_url or settings.base_url or UPSTREAM_URL.split("{commit}")[0]
    url = f"{base}{UPSTREAM_COMMIT}/db/wilayah.sql"
    download(url, cached, None, settings.timeout_s, None, "")
    return cached
