"""Kemendagri area codes (*kode wilayah*).

A code names one area of the administrative hierarchy *provinsi > kabupaten/kota > kecamatan >
desa/kelurahan*: ``35`` (Jawa Timur), ``35.07`` (Kabupaten Malang), ``35.07.01`` (Kecamatan
Donomulyo), ``35.07.01.2001`` (Desa Tulungrejo). The regency part is ``01``-``69`` for a
*kabupaten* and ``71``-``99`` for a *kota*; the four-digit village part starts with ``2`` for a
*desa* (village with its own elected government) and ``1`` for a *kelurahan* (urban ward).
BPS statistics codes differ from these; Petadesa joins on the Kemendagri code only.
"""

from __future__ import annotations

import re
from enum import StrEnum

from geo.errors import PetadesaError

_CODE = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")
_NODOT_LENGTHS = {2: (2,), 4: (2, 2), 6: (2, 2, 2), 10: (2, 2, 2, 4)}


class Level(StrEnum):
    """Level of the administrative hierarchy, from the top."""

    PROVINCE = "province"
    REGENCY = "regency"
    DISTRICT = "district"
    VILLAGE = "village"


LEVELS: tuple[Level, ...] = (Level.PROVINCE, Level.REGENCY, Level.DISTRICT, Level.VILLAGE)


class InvalidCode(PetadesaError, ValueError):
    """A string that is not a Kemendagri area code."""

    code = "invalid_code"


def normalize_code(value: object) -> str:
    """Return the dotted form of a Kemendagri code (``3507012001`` -> ``35.07.01.2001``).

    Raises :class:`InvalidCode` for anything else.
    """
    text = str(value).strip() if value is not None else ""
    if _CODE.match(text):
        return text
    if text.isdigit() and len(text) in _NODOT_LENGTHS:
        parts, pos = [], 0
        for width in _NODOT_LENGTHS[len(text)]:
            parts.append(text[pos : pos + width])
            pos += width
        return ".".join(parts)
    raise InvalidCode(f"{text!r} is not a Kemendagri code (expected e.g. 35.07.01.2001)")


def level_of(code: str) -> Level:
    """Level of a dotted code: 1 part province, 2 regency, 3 district, 4 village."""
    return LEVELS[code.count(".")]


def parent_of(code: str) -> str | None:
    """Code of the area one level up, or ``None`` for a province."""
    return code.rsplit(".", 1)[0] if "." in code else None


def kind_of(code: str) -> str:
    """Official kind of the area: provinsi, kabupaten/kota, kecamatan, desa/kelurahan."""
    level = level_of(code)
    if level is Level.PROVINCE:
        return "provinsi"
    if level is Level.REGENCY:
        return "kota" if int(code[3:5]) >= 71 else "kabupaten"
    if level is Level.DISTRICT:
        return "kecamatan"
    return "kelurahan" if code[-4] == "1" else "desa"


def ancestors_of(code: str) -> list[str]:
    """Codes of every area above this one, nearest first."""
    out = []
    parent = parent_of(code)
    while parent is not None:
        out.append(parent)
        parent = parent_of(parent)
    return out
