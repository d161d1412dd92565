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

# ASCII digits only: ``\d`` and ``str.isdigit`` also take Arabic-Indic, fullwidth... digits.
_CODE = re.compile(r"^[0-9]{2}(\.[0-9]{2}(\.[0-9]{2}(\.[0-9]{4})?)?)?$")
_WIDTHS = (2, 2, 2, 4)
"""Digits per part, from the province down."""
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

    Codes are ASCII: other Unicode digits (``٣٥.٠٧``, ``３５０７``) are refused too. Raises
    :class:`InvalidCode` for anything else.
    """
    text = str(value).strip() if value is not None else ""
    if _CODE.match(text):
        return text
    if text.isascii() and text.isdigit() and len(text) in _NODOT_LENGTHS:
        parts, pos = [], 0
        for width in _NODOT_LENGTHS[len(text)]:
            parts.append(text[pos : pos + width])
            pos += width
        return ".".join(parts)
    raise InvalidCode(f"{_shown(text)} is not a Kemendagri code (expected e.g. 35.07.01.2001)")


def _shown(text: str, limit: int = 32) -> str:
    """``repr`` of a refused value, cut short so that a huge input is not echoed back."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def code_pattern(level: Level) -> str:
    r"""Regular expression of the codes of one level, dotted or not, in ASCII digits.

    ``^([0-9]{2}\.[0-9]{2}|[0-9]{4})$`` for a regency: the forms :func:`normalize_code` accepts
    for that level (it also strips surrounding blanks). ``[0-9]``, never ``\d``, which some
    engines read as any Unicode digit; the same text in Python, JSON Schema and ECMAScript.
    """
    widths = _WIDTHS[: LEVELS.index(level) + 1]
    if len(widths) == 1:
        return f"^[0-9]{{{widths[0]}}}$"
    dotted = r"\.".join(f"[0-9]{{{width}}}" for width in widths)
    return f"^({dotted}|[0-9]{{{sum(widths)}}})$"


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
