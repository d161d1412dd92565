"""A small scanner of MySQL dumps: the rows of ``INSERT INTO <table> ... VALUES (...),(...);``.

Upstream datasets of Indonesian areas are often published as MySQL dumps
(``cahyadsn/wilayah_boundaries`` for boundaries, ``cahyadsn/wilayah`` for the code list). This
module knows the dump dialect only, no dataset: readers of one dataset build on
:func:`iter_insert_rows` and :func:`load_text`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from geo.errors import UnreadableFile

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
    """A token as an error message shows it: quoted, cut to 40 characters, or end of file."""
    if kind == "eof":
        return "end of file (truncated?)"
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _name(text: str) -> str:
    """A table or column name without its backquotes, in lower case."""
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
    """The column names of an INSERT's ``(a, b, ...)``, read after its ``(``."""
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
    """Value of one literal the fast path matched: a string, ``NULL`` or a number."""
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
    """UTF-8 text of ``data`` (a BOM dropped); else unreadable, naming the line of the bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UnreadableFile(f"{label}, line {line}: not UTF-8 text ({exc.reason})") from exc
