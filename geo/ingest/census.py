"""Importing a village census: BPS PODES (*Potensi Desa*), or any table with the same answers.

One row per village, keyed by its Kemendagri code (``kode_kemendagri``; never BPS's own id,
whose district and village numbers differ from Kemendagri's). The answers kept are those the
connectivity and product work needs, each read from its PODES field or from a column named
as the registry names it (:data:`ANSWERS`):

============================  =========  ===================================================
registry column               PODES      answers
============================  =========  ===================================================
``signal_strength``           R1005C     1 very strong, 2 strong, 3 weak, 4 no signal
``mobile_internet``           R1005D     1 5G/4G/LTE (``4G``), 2 3G/H/H+/EVDO (``3G``),
                                         3 2.5G/EDGE/GPRS (``2G``), 4 none
``bts_count``                 R1005A     BTS towers in the village
``operator_count``            R1005B     mobile operators reaching the village
``mobile_phone_use``          R1003B     1 most residents, 2 few, 3 none
``office_internet``           R1006B     internet at the village office: 1 working,
                                         2 rarely working, 3 not working, 4 none
``has_flagship_product``      R1203A     1 yes, 2 no
``flagship_food``             R1203B1    flagship food product (text; ``-`` is none)
``flagship_nonfood``          R1203B2    flagship non-food product
``flagship_exported``         R1203C     1 mostly, 2 partly, 3 no (0: no product)
``office_lat``/``office_lon``  R307B      the village office's GPS point
============================  =========  ===================================================

A class cell holds the PODES answer code or the registry's word (``4G``, ``very_strong``...).
A refused row names its village code and the field: an unknown village code, a code that is
not a village's, an answer out of range, a count below zero, a village twice. The census
names a survey (``PODES 2024``); importing it again replaces the answers of the villages it
lists (an answer the new file lacks becomes empty; villages it does not list keep theirs), and
a later survey is kept beside it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.orm import Session

from geo.codes import InvalidCode, Level, level_of, normalize_code
from geo.errors import ImportRejected
from geo.ingest.boundaries import same_name
from geo.ingest.frame import (
    Features,
    Importer,
    ImportOptions,
    is_blank,
    mark_duplicates,
    run_import,
    validate_feature,
)
from geo.ingest.report import ImportReport, Progress, Severity
from geo.ingest.validation import LAT_RANGE, LON_RANGE
from geo.store.models import AreaCode, Village, VillageCensus, utcnow
from geo.store.writes import changed_fields


@dataclass(frozen=True)
class Answer:
    """One census answer: its registry column, PODES field, other names and how it is read."""

    column: str
    podes: str | None
    aliases: tuple[str, ...]
    kind: str
    """``code`` (Kemendagri), ``text``, ``class`` (answer code -> word), ``count``, ``number``."""
    what: str
    """What the answer is about, for messages: ``mobile signal strength``."""
    classes: Mapping[int, Any] = field(default_factory=dict)
    limits: tuple[float, float] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The column names that hold this answer in a file, the PODES field first."""
        return (*((self.podes,) if self.podes else ()), self.column, *self.aliases)


_YES_NO = {1: True, 2: False}
ANSWERS: tuple[Answer, ...] = (
    Answer(
        "village_code",
        "R106B",
        ("kode_kemendagri", "kode_desa", "kode_wilayah", "kode"),
        "code",
        "Kemendagri village code",
    ),
    Answer("name", None, ("nama_desa", "village_name", "nama"), "text", "village name"),
    Answer("bps_code", None, ("iddesa_bps", "id_desa_bps", "idbps"), "text", "BPS village id"),
    Answer(
        "signal_strength",
        "R1005C",
        ("sinyal_telepon",),
        "class",
        "mobile signal strength",
        {1: "very_strong", 2: "strong", 3: "weak", 4: "none"},
    ),
    Answer(
        "mobile_internet",
        "R1005D",
        ("sinyal_internet",),
        "class",
        "mobile internet signal",
        {1: "4G", 2: "3G", 3: "2G", 4: "none"},
    ),
    Answer("bts_count", "R1005A", ("jumlah_bts",), "count", "BTS towers", limits=(0, 1000)),
    Answer("operator_count", "R1005B", ("jumlah_operator",), "count", "operators", limits=(0, 50)),
    Answer(
        "mobile_phone_use",
        "R1003B",
        (),
        "class",
        "mobile phone use",
        {1: "most", 2: "few", 3: "none"},
    ),
    Answer(
        "office_internet",
        "R1006B",
        ("internet_kantor_desa",),
        "class",
        "internet at the village office",
        {1: "working", 2: "rarely_working", 3: "not_working", 4: "none"},
    ),
    Answer(
        "has_flagship_product",
        "R1203A",
        ("produk_unggulan",),
        "class",
        "flagship product",
        _YES_NO,
    ),
    Answer("flagship_food", "R1203B1", (), "text", "flagship food product"),
    Answer("flagship_nonfood", "R1203B2", (), "text", "flagship non-food product"),
    Answer(
        "flagship_exported",
        "R1203C",
        (),
        "class",
        "flagship product exported",
        {0: None, 1: "mostly", 2: "partly", 3: "no"},
    ),
    Answer(
        "office_lat",
        "R307B_LAT",
        ("kantor_desa_lat",),
        "number",
        "village office latitude",
        limits=LAT_RANGE,
    ),
    Answer(
        "office_lon",
        "R307B_LONG",
        ("kantor_desa_lon",),
        "number",
        "village office longitude",
        limits=LON_RANGE,
    ),
)
"""The answers a census file can give, in the registry's column order."""

_WORDS = {"yes": True, "ya": True, "true": True, "no": False, "tidak": False, "false": False}
_YEAR = re.compile(r"(?<![0-9])(19[5-9][0-9]|20[0-9]{2})(?![0-9])")


def import_census(
    engine: Engine,
    source: str | Path | pd.DataFrame,
    *,
    survey: str | None = None,
    survey_year: int | None = None,
    field_map: dict[str, str] | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> ImportReport:
    """Import a village census (one row per village) into ``village_census``, in one transaction.

    ``survey`` names it (default ``PODES <year>`` for a file with PODES fields and a year in its
    name, else the file's name); ``survey_year`` defaults to the year in the survey's name.
    ``field_map`` maps registry columns (:data:`ANSWERS`) to file columns when neither the
    PODES field nor a known name matches. ``options`` are the fields of
    :class:`~geo.ingest.frame.ImportOptions` (``source_name``, ``file_layer``,
    ``skip_invalid``, ``settings``). Raises :class:`~geo.errors.ImportRejected` (nothing
    written) when a row is refused, unless ``skip_invalid``.
    """
    importer = CensusImporter(survey=survey, survey_year=survey_year, field_map=field_map)
    return run_import(engine, importer, source, ImportOptions(**options), progress)


def validate_census_row(
    properties: dict[str, Any],
    session: Session | None = None,
    *,
    survey: str = "census",
    field_map: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Validate one village's census answers as a file import would; return its typed row.

    With a ``session`` the village code is checked against the registry too. Raises
    :class:`~geo.errors.ImportRejected` whose report names the field and the reason.
    """
    importer = CensusImporter(survey=survey, field_map=field_map)
    features = validate_feature(importer, properties, None, session=session)
    [row] = features.state
    row.pop("_index", None)
    return row


def survey_name(columns: list[str], label: str) -> str:
    """The default survey of a file.

    ``PODES <year>`` for a file with PODES answer fields and a year in its name, ``PODES``
    without one, else the file's name without its suffix.
    """
    stem = Path(label).stem
    podes = {a.podes.lower() for a in ANSWERS if a.podes and a.kind == "class"}
    if podes & {c.lower() for c in columns}:
        year = _YEAR.search(stem)
        return f"PODES {year.group(1)}" if year else "PODES"
    return stem


class CensusImporter(Importer):
    """The frame's hooks for a village census: answers typed, village codes checked, upsert."""

    target = "census"
    spatial = False

    def __init__(
        self,
        *,
        survey: str | None = None,
        survey_year: int | None = None,
        field_map: dict[str, str] | None = None,
    ) -> None:
        self.survey, self.survey_year = survey, survey_year
        self.field_map = field_map or {}

    def prepare(self, features: Features, step: Progress) -> None:
        """Match the columns, type every answer, refuse duplicate villages."""
        table, report = features.gdf, features.report
        step(f"reading the answers of {len(table):,} villages")
        survey = (self.survey or survey_name(features.columns, features.label)).strip()
        year = self.survey_year
        if year is None and (found := _YEAR.search(survey)):
            year = int(found.group(1))
        report.target = f"census {survey}"
        _refuse_bad_map(self.field_map, features.columns, report)
        matched = _match(features.columns, self.field_map)
        if "village_code" not in matched:
            names = ", ".join(ANSWERS[0].names)
            raise ImportRejected(
                f"{Path(features.label).name}: no village code column (looked for {names}); "
                "name it with --map village_code=COLUMN",
                report,
            )
        _warn_unused(features.columns, matched, report)
        rows: list[dict[str, Any] | None] = []
        for i, record in enumerate(table.to_dict("records")):
            rows.append(_typed_row(i, record, matched, report))
        for row, origin in zip(rows, features.origins, strict=True):
            if row is not None:
                # every answer, None where the file has none: a survey imported again is
                # replaced, not merged with what an earlier file of it said
                for answer in ANSWERS:
                    row.setdefault(answer.column, None)
                row.update(source=origin, survey=survey, survey_year=year)
        keys = [None if row is None else row["village_code"] for row in rows]
        first = mark_duplicates(keys, report, what="village", field=matched["village_code"])
        features.state = [row for row, keep in zip(rows, first.tolist(), strict=True) if keep]
        self._code_field = matched["village_code"]
        self._name_field = matched.get("name")

    def check(self, session: Session, features: Features, step: Progress) -> None:
        """Refuse villages not in the registry; warn of names that differ from the registry's."""
        report, rows = features.report, features.state
        if not rows:
            return
        step("checking the village codes against the registry")
        codes = sorted({r["village_code"] for r in rows})
        names: dict[str, str] = {}
        for chunk in _chunks(codes):  # a national census: 84,000 codes, more than one IN holds
            names.update(
                session.execute(
                    select(Village.code, Village.name).where(
                        Village.in_force(), Village.code.in_(chunk)
                    )
                ).all()
            )
        missing = sorted(set(codes) - set(names))
        listed: set[str] = set()
        for chunk in _chunks(missing):
            listed |= set(
                session.execute(select(AreaCode.code).where(AreaCode.code.in_(chunk))).scalars()
            )
        kept = []
        for row in rows:
            code, index = row["village_code"], row.pop("_index")
            if code not in names:
                reason = (
                    f"village {code} is in the code list but its boundary is not in the "
                    "registry; import the village boundaries first"
                    if code in listed
                    else f"unknown village code {code} (not in the registry nor the code list)"
                )
                report.add(
                    Severity.ERROR, reason, index=index, feature_id=code, field=self._code_field
                )
                continue
            if row.get("name") is None:
                row["name"] = names[code]
            elif not same_name(row["name"], names[code]):
                report.add(
                    Severity.WARNING,
                    f"name {row['name']!r} differs from the registry's {names[code]!r}",
                    index=index,
                    feature_id=code,
                    field=self._name_field,
                )
            kept.append(row)
        features.state = kept

    def remaining(self, features: Features) -> int | None:
        """A census with no village left is refused."""
        return len(features.state)

    def write(self, session: Session, features: Features, step: Progress) -> None:
        """Insert the villages new to this survey, update the changed, count the unchanged."""
        rows, report = features.state, features.report
        step(f"writing {len(rows):,} villages")
        for row in rows:
            row.pop("_index", None)  # validated without a session: not checked
        fields = [c for c in rows[0] if c not in ("survey", "village_code")] if rows else []
        table = VillageCensus.__table__
        stored = {
            item["village_code"]: item
            for item in session.execute(
                select(table).where(table.c.survey == rows[0]["survey"])
            ).mappings()
        }
        inserts, updates = [], []
        now = utcnow()
        for row in rows:
            old = stored.get(row["village_code"])
            if old is None:
                inserts.append(row)
            elif changed_fields(dict(old), row, fields):
                updates.append({**row, "_id": old["id"], "version": old["version"] + 1})
            else:
                report.unchanged += 1
        if inserts:
            session.execute(insert(table), inserts)
        if updates:
            columns = [c for c in updates[0] if c not in ("_id", "village_code", "survey")]
            stmt = (
                update(table)
                .where(table.c.id == bindparam("_id"))
                .values({c: bindparam(c) for c in columns} | {"updated_at": now})
            )
            session.execute(stmt, updates)
        report.inserted, report.updated = len(inserts), len(updates)


def _chunks(items: list[str], size: int = 5_000) -> list[list[str]]:
    """``items`` in lists of at most ``size`` (bound parameters per statement are limited)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def _refuse_bad_map(field_map: Mapping[str, str], columns: list[str], report: ImportReport) -> None:
    """Refuse a ``field_map`` naming a registry column or a file column that does not exist."""
    for column, source in field_map.items():
        if column not in _BY_COLUMN:
            known = ", ".join(_BY_COLUMN)
            raise ImportRejected(
                f"--map {column}=...: not a census column; use one of {known}", report
            )
        if source not in columns:
            raise ImportRejected(
                f"--map {column}={source}: the file has no column {source!r}; "
                f"columns: {', '.join(columns)}",
                report,
            )


def _match(columns: list[str], field_map: Mapping[str, str]) -> dict[str, str]:
    """Registry column -> file column, by ``field_map``, PODES field or name (any case)."""
    lowered = {c.lower(): c for c in columns}
    matched: dict[str, str] = {}
    taken: set[str] = set()
    for answer in ANSWERS:
        source = field_map.get(answer.column)
        if source is None:
            source = next(
                (
                    lowered[n.lower()]
                    for n in answer.names
                    if lowered.get(n.lower()) not in (None, *taken)
                ),
                None,
            )
        if source is not None:
            matched[answer.column] = source
            taken.add(source)
    return matched


def _warn_unused(columns: list[str], matched: Mapping[str, str], report: ImportReport) -> None:
    """Note how many of the file's columns are not census answers the registry keeps."""
    unused = [c for c in columns if c not in set(matched.values()) and c.lower() != "source"]
    if unused:
        shown = ", ".join(unused[:12]) + (
            f" and {len(unused) - 12} more" if len(unused) > 12 else ""
        )
        report.add(Severity.WARNING, f"columns not stored (not a census answer kept): {shown}")


_BY_COLUMN = {a.column: a for a in ANSWERS}


def _typed_row(
    index: int, record: Mapping[str, Any], matched: Mapping[str, str], report: ImportReport
) -> dict[str, Any] | None:
    """One village's typed answers (``None`` when any is refused, each refusal reported)."""
    raw_code = record[matched["village_code"]]
    shown_id = None if is_blank(raw_code) else str(raw_code).strip()
    row: dict[str, Any] = {"_index": index}
    ok = True
    for column, source in matched.items():
        answer = _BY_COLUMN[column]
        value = record[source]
        try:
            row[column] = None if is_blank(value) else _typed(answer, value, source)
        except (ValueError, InvalidCode) as exc:
            report.add(Severity.ERROR, str(exc), index=index, feature_id=shown_id, field=source)
            ok = False
    if ok and row.get("village_code") is None:
        report.add(
            Severity.ERROR,
            "no village code",
            index=index,
            feature_id=None,
            field=matched["village_code"],
        )
        ok = False
    return row if ok else None


def _typed(answer: Answer, value: Any, source: str) -> Any:
    """One answer typed; ValueError (or InvalidCode) says what is wrong with it."""
    text = str(value).strip()
    if answer.kind == "code":
        if isinstance(value, float) and value.is_integer():  # a spreadsheet's number cell
            text = str(int(value))
        code = normalize_code(text)
        level = level_of(code)
        if level is not Level.VILLAGE:
            raise ValueError(f"{code} is a {level} code, not a village's")
        return code
    if answer.kind == "text":
        return text
    if answer.kind == "class":
        return _answer_class(answer, text, source)
    number = _number(text, answer, source)
    if answer.kind == "count":
        if not number.is_integer():
            raise ValueError(f"{source} {text!r} is not a whole number of {answer.what}")
        number = int(number)
    low, high = answer.limits or (float("-inf"), float("inf"))
    if not low <= number <= high:
        raise ValueError(f"{source} {text} is outside {low:g}..{high:g} ({answer.what})")
    return number


def _number(text: str, answer: Answer, source: str) -> float:
    """A number, a decimal comma read too; ValueError naming the field otherwise."""
    try:
        return float(text.replace(",", "."))
    except ValueError:
        raise ValueError(f"{source} {text!r} is not a number ({answer.what})") from None


def _answer_class(answer: Answer, text: str, source: str) -> Any:
    """The registry's word for an answer given as its PODES code or as the word itself."""
    words = {str(w).lower(): w for w in answer.classes.values() if w is not None}
    if answer.classes is _YES_NO:
        words |= _WORDS
    if text.lower() in words:
        return words[text.lower()]
    try:
        number = float(text.replace(",", "."))
    except ValueError:
        number = None
    if number is not None and number.is_integer() and int(number) in answer.classes:
        return answer.classes[int(number)]
    choices = ", ".join(
        f"{code} {word if word is not None else 'not applicable'}"
        for code, word in answer.classes.items()
    )
    raise ValueError(f"{source} {text!r} is not a {answer.what} answer ({choices})")
