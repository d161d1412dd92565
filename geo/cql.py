r"""CQL2 filters (OGC Common Query Language) as SQLAlchemy conditions, on both backends.

Text and JSON are parsed by :mod:`pygeofilter` (its CQL2 parsers); this module walks the parsed
tree into a SQLAlchemy condition over a collection's queryable columns, every literal a bound
parameter. What it translates:

- comparisons ``= <> < <= > >=``, ``AND``, ``OR``, ``NOT``, ``IS [NOT] NULL`` (Basic CQL2);
- ``[NOT] LIKE`` (``%`` any characters, ``_`` one, ``\\`` escapes, case-sensitive on both
  backends), ``[NOT] BETWEEN``, ``[NOT] IN`` (Advanced Comparison Operators);
- ``S_INTERSECTS``, ``S_DISJOINT``, ``S_CONTAINS``, ``S_WITHIN``, ``S_TOUCHES``,
  ``S_CROSSES``, ``S_OVERLAPS``, ``S_EQUALS`` between the collection's ``geometry`` and a
  literal geometry or ``BBOX`` in CRS84 (Basic and Advanced Spatial Functions).

Anything else (temporal operators, arithmetic, functions, arrays) is refused with
:class:`CQLError` naming it, as is a property that is not a queryable.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from pygeofilter import ast, values
from pygeofilter.backends.evaluator import Evaluator, handle
from pygeofilter.parsers.cql2_json import parse as parse_json
from pygeofilter.parsers.cql2_text import parse as parse_text
from sqlalchemy import and_, func, not_, or_
from sqlalchemy.orm import Session

import shapely
from shapely.geometry import shape

from geo.store.backend import backend_of
from geo.store.models import SRID

LANGUAGES = ("cql2-text", "cql2-json")
_COMPARE = {
    ast.ComparisonOp.EQ: lambda a, b: a == b,
    ast.ComparisonOp.NE: lambda a, b: a != b,
    ast.ComparisonOp.LT: lambda a, b: a < b,
    ast.ComparisonOp.LE: lambda a, b: a <= b,
    ast.ComparisonOp.GT: lambda a, b: a > b,
    ast.ComparisonOp.GE: lambda a, b: a >= b,
}
_SPATIAL = {
    "INTERSECTS": func.ST_Intersects,
    "DISJOINT": func.ST_Disjoint,
    "CONTAINS": func.ST_Contains,
    "WITHIN": func.ST_Within,
    "TOUCHES": func.ST_Touches,
    "CROSSES": func.ST_Crosses,
    "OVERLAPS": func.ST_Overlaps,
    "EQUALS": func.ST_Equals,
}


class CQLError(ValueError):
    """A filter that cannot be parsed, names an unknown property, or uses what is not served."""


def parse(text: str | Mapping[str, Any], language: str = "cql2-text") -> ast.Node:
    """The filter's syntax tree; :class:`CQLError` when it is not valid ``language``."""
    if language not in LANGUAGES:
        raise CQLError(f"filter-lang {language!r} is not one of {', '.join(LANGUAGES)}")
    try:
        if language == "cql2-json":
            document = json.loads(text) if isinstance(text, str) else text
            return parse_json(document)
        return parse_text(str(text))
    except CQLError:
        raise
    except Exception as exc:  # lark's and the JSON parser's errors: all say "not a filter"
        raise CQLError(f"not a {language} filter: {_first_line(exc)}") from None


def to_condition(
    session: Session,
    tree: ast.Node,
    queryables: Mapping[str, Any],
    geometry: Any,
) -> Any:
    """The SQLAlchemy condition of ``tree`` over ``queryables`` (name -> column expression).

    ``geometry`` is the collection's geometry column, the queryable ``geometry``.
    """
    try:
        return _ToSQL(session, queryables, geometry).evaluate(tree)
    except (TypeError, AttributeError) as exc:  # literals pygeofilter cannot compare
        raise CQLError(f"this filter cannot be served: {exc}") from None


class _ToSQL(Evaluator):
    """pygeofilter's tree walked into SQLAlchemy: each handler gets its children evaluated."""

    def __init__(self, session: Session, queryables: Mapping[str, Any], geometry: Any) -> None:
        self.session, self.queryables, self.geometry = session, queryables, geometry

    def adopt(self, node: Any, *sub_args: Any) -> Any:
        """Anything without a handler: not served."""
        raise CQLError(f"{type(node).__name__} is not supported in filters here")

    @handle(ast.Not)
    def negation(self, node: ast.Not, sub: Any) -> Any:
        return not_(sub)

    @handle(ast.And, ast.Or)
    def combination(self, node: ast.Combination, lhs: Any, rhs: Any) -> Any:
        return and_(lhs, rhs) if isinstance(node, ast.And) else or_(lhs, rhs)

    @handle(ast.Comparison, subclasses=True)
    def comparison(self, node: ast.Comparison, lhs: Any, rhs: Any) -> Any:
        column = _property(lhs, node)
        return _COMPARE[node.op](column, _typed(column, rhs))

    @handle(ast.Between)
    def between(self, node: ast.Between, lhs: Any, low: Any, high: Any) -> Any:
        column = _property(lhs, node)
        condition = column.between(_typed(column, low), _typed(column, high))
        return not_(condition) if node.not_ else condition

    @handle(ast.Like)
    def like(self, node: ast.Like, lhs: Any) -> Any:
        column = _property(lhs, node)
        if not isinstance(node.pattern, str) or _kind(column) is not str:
            raise CQLError("LIKE compares a text property with a text pattern")
        if node.pattern.replace("\\\\", "").endswith("\\"):
            raise CQLError(f"LIKE pattern {node.pattern!r} ends in an escape")
        condition = backend_of(self.session).like(column, node.pattern)
        return not_(condition) if node.not_ else condition

    @handle(ast.In)
    def in_(self, node: ast.In, lhs: Any, *options: Any) -> Any:
        column = _property(lhs, node)
        typed = [_typed(column, option) for option in options]
        return column.not_in(typed) if node.not_ else column.in_(typed)

    @handle(ast.IsNull)
    def is_null(self, node: ast.IsNull, lhs: Any) -> Any:
        column = _property(lhs, node)
        return column.is_not(None) if node.not_ else column.is_(None)

    @handle(ast.SpatialComparisonPredicate, subclasses=True)
    def spatial(self, node: ast.SpatialComparisonPredicate, lhs: Any, rhs: Any) -> Any:
        return _SPATIAL[node.op.name](lhs, rhs)

    @handle(ast.BBox)
    def bbox(self, node: ast.BBox, lhs: Any) -> Any:
        return func.ST_Intersects(
            lhs, _literal(shapely.box(node.minx, node.miny, node.maxx, node.maxy))
        )

    @handle(ast.Function)
    def function(self, node: ast.Function, *arguments: Any) -> Any:
        """CQL2's ``BBOX(west, south, east, north)`` literal; no other function is served.

        pygeofilter's text parser reads the literal as a function call.
        """
        numbers = all(isinstance(a, int | float) and not isinstance(a, bool) for a in arguments)
        if node.name.lower() == "bbox" and numbers and len(arguments) in (4, 6):
            half = len(arguments) // 2  # 6: with heights, which a 2D registry leaves out
            west, south, east, north = (*arguments[:2], *arguments[half : half + 2])
            return _literal(shapely.box(west, south, east, north))
        raise CQLError(f"function {node.name}() is not supported in filters here")

    @handle(ast.Attribute)
    def attribute(self, node: ast.Attribute) -> Any:
        if node.name == "geometry":
            return self.geometry
        try:
            return self.queryables[node.name]
        except KeyError:
            known = ", ".join(["geometry", *self.queryables])
            raise CQLError(f"unknown property {node.name!r}; queryables: {known}") from None

    @handle(str, float, int, bool, dt.date, dt.datetime)
    def literal(self, node: Any) -> Any:
        return node

    @handle(values.Geometry)
    def geometry_literal(self, node: values.Geometry) -> Any:
        return _literal(shape(node.__geo_interface__))

    @handle(values.Envelope)
    def envelope(self, node: values.Envelope) -> Any:
        return _literal(shapely.box(node.x1, node.y1, node.x2, node.y2))


def _literal(geom: Any) -> Any:
    """A geometry of the filter as a bound WKB parameter in EPSG:4326 (CRS84 order)."""
    if geom.is_empty or not geom.is_valid:
        raise CQLError(f"the filter's geometry is not valid: {shapely.is_valid_reason(geom)}")
    return func.ST_GeomFromWKB(shapely.to_wkb(geom), SRID)


def _property(value: Any, node: Any) -> Any:
    """The property a predicate tests (a literal there is refused)."""
    if not hasattr(value, "type") or not hasattr(value, "key"):
        raise CQLError(f"{type(node).__name__} needs a property on its left, not {value!r}")
    return value


def _kind(column: Any) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _typed(column: Any, value: Any) -> Any:
    """``value`` as the column's type (a number for a number, a date for a date), or refused.

    Both backends then answer alike: PostgreSQL refuses ``name = 5``, SQLite compares anyway.
    """
    kind = _kind(column)
    name = getattr(column, "key", "property")
    wrong = CQLError(f"{name} is {getattr(kind, '__name__', 'untyped')}, not {value!r}")
    if kind is None or value is None:
        return value
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
        return value
    if kind is str:
        if not isinstance(value, str):
            raise wrong
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise wrong
        return value
    if kind in (dt.date, dt.datetime):
        try:
            parsed = (
                value
                if isinstance(value, dt.date)
                else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            )
        except ValueError:
            raise wrong from None
        if isinstance(parsed, dt.datetime) and parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)  # stored as naive UTC
        if kind is dt.date and isinstance(parsed, dt.datetime):
            return parsed.date()
        return parsed
    return value


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
