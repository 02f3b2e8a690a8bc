r"""CQL2-JSON → SQLite: the filter language of the STAC API over the embedded index.

The ``cql2`` package parses CQL2 text into CQL2 JSON. Its SQL output (``Expr.to_sql()``,
cql2 0.6) does not serve here, so this module writes the SQLite form itself:

- it pastes literals into the text instead of binding them, escaped PostgreSQL's way:
  ``id = 'O''Brien'`` becomes ``id = E'O\'Brien'``, a syntax error in SQLite;
- its functions are PostgreSQL/PostGIS ones SQLite lacks: ``st_intersects(geometry,
  st_makeenvelope(...))``, ``"sar:polarizations" @> ARRAY['VV']``, ``x = SOME(ARRAY[...])``,
  ``CAST('...' AS TIMESTAMP WITH TIME ZONE)``;
- it names properties as they are (``"sar:polarizations"``), where the index has columns of
  its own (a polarization bit mask, timestamps in µs) and an R*Tree for the footprint.

pygeofilter's SQL backend (``to_sql_where``) pastes strings unescaped (``f"'{value}'"``),
which is an injection; its SQLAlchemy backend needs SQLAlchemy and a spatial SQL extension.

The operators the API advertises:

- logical ``and``, ``or``, ``not``; comparison ``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``,
  ``isNull`` (basic CQL2);
- ``like``, ``between``, ``in`` (advanced comparison operators);
- ``s_intersects`` on ``geometry`` (basic spatial functions: a point, a bbox or a polygon);
- ``a_equals``, ``a_contains``, ``a_containedBy``, ``a_overlaps`` on ``sar:polarizations``
  (array functions; the index keeps polarizations as a bit mask).

Only the queryables in :data:`QUERYABLES` may be named. Values are bound as SQL parameters,
never formatted into the statement. Comparisons with a NULL column are false (SQL three-valued
logic, as CQL2: an item without the property does not match, nor does its negation).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import shapely
import shapely.geometry
from shapely.geometry.base import BaseGeometry

from cube.errors import InputError

POLARIZATION_BITS = {"VV": 1, "VH": 2, "HH": 4, "HV": 8}


@dataclass(frozen=True)
class Queryable:
    """One filterable property: its SQL column and JSON-schema type."""

    column: str
    kind: str  # "string", "integer", "number", "timestamp", "polarizations", "geometry"
    description: str
    enum: tuple[str, ...] | None = None


QUERYABLES: dict[str, Queryable] = {
    "id": Queryable("i.item_id", "string", "Item ID"),
    "collection": Queryable("i.collection", "string", "Collection ID"),
    "geometry": Queryable("geometry", "geometry", "Footprint (lon/lat, WGS84)"),
    "datetime": Queryable("i.datetime_us", "timestamp",
                          "Acquisition time (UTC); null on pair items, which have start/end"),
    "start_datetime": Queryable("i.start_us", "timestamp", "Start of the acquisition (UTC)"),
    "end_datetime": Queryable("i.end_us", "timestamp", "End of the acquisition (UTC)"),
    "platform": Queryable("i.platform", "string", "sentinel-1a, -1b, -1c or -1d"),
    "sat:relative_orbit": Queryable("i.relative_orbit", "integer", "Relative orbit (track) number"),
    "sat:absolute_orbit": Queryable("i.absolute_orbit", "integer",
                                    "Absolute orbit number (null on pair items)"),
    "sat:orbit_state": Queryable("i.orbit_state", "string", "Orbit direction",
                                 ("ascending", "descending")),
    "sar:polarizations": Queryable("i.pol_mask", "polarizations", "Polarizations of the item"),
    "sarcube:burst_id": Queryable("i.burst_id", "string", "ESA burst ID, t{track}_{burst}_{swath}"),
    "sarcube:swath": Queryable("i.swath", "string", "Sub-swath", ("IW1", "IW2", "IW3")),
    "sarcube:temporal_baseline_days": Queryable(
        "i.temporal_baseline_days", "number", "Days between reference and secondary (pair items)"),
    "sarcube:bperp_m": Queryable(
        "i.bperp_m", "number", "Perpendicular baseline, m (pair items, ISCE2 convention)"),
}

_COMPARISON = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_ALIASES = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "lte": "<=", "gt": ">", "ge": ">=",
            "gte": ">=", "!=": "<>", "a_containedby": "a_containedBy", "isnull": "isNull"}


def to_timestamp_us(value: str | _dt.datetime | _dt.date) -> int:
    """Microseconds since 1970-01-01 UTC of an RFC 3339 timestamp or a date (naive = UTC)."""
    if isinstance(value, str):
        text = value.strip().replace("z", "Z")
        try:
            if len(text) == 10:
                value = _dt.date.fromisoformat(text)
            else:
                value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InputError(f"{value!r} is not an RFC 3339 timestamp or date") from exc
    if not isinstance(value, _dt.datetime):
        value = _dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.UTC)
    delta = value - _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def polarization_mask(values: Any) -> int:
    """Bit mask of a list of polarization names (VV=1, VH=2, HH=4, HV=8)."""
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list | tuple):
        raise InputError(f"polarizations must be a list of strings, got {values!r}")
    mask = 0
    for v in values:
        bit = POLARIZATION_BITS.get(str(v).upper())
        if bit is None:
            raise InputError(f"unknown polarization {v!r}: use one of {sorted(POLARIZATION_BITS)}")
        mask |= bit
    return mask


def query_geometry(value: Any) -> BaseGeometry:
    """A shapely geometry from a GeoJSON geometry or a CQL2 ``{"bbox": [...]}`` literal."""
    if isinstance(value, dict) and "type" in value:  # a GeoJSON geometry (its own "bbox" aside)
        try:
            geom = shapely.geometry.shape(value)
        except (ValueError, TypeError, AttributeError, KeyError, shapely.errors.ShapelyError) as exc:
            raise InputError(f"not a valid GeoJSON geometry: {exc}") from exc
        if geom.is_empty:
            raise InputError("the geometry is empty")
        _check_lonlat(shapely.get_coordinates(geom), "the geometry")
        return geom
    if isinstance(value, dict) and "bbox" in value:
        return bbox_geometry(value["bbox"])
    raise InputError(f"expected a GeoJSON geometry or a bbox, got {value!r}")


def _check_lonlat(xy: Any, what: str) -> None:
    """InputError unless every (lon, lat) is finite, |lat| ≤ 90 and |lon| ≤ 360.

    A longitude a little past ±180 wraps, as some clients write near the antimeridian; 1e308
    overflows.
    """
    for x, y in xy:
        if not (-360.0 <= x <= 360.0 and -90.0 <= y <= 90.0):  # NaN fails too
            raise InputError(f"{what}: ({x}, {y}) is not lon/lat degrees (|lon| ≤ 360, |lat| ≤ 90)")


def bbox_geometry(bbox: Any) -> BaseGeometry:
    """Polygon (or two, across the antimeridian) of a 4- or 6-number bbox."""
    try:
        nums = [float(v) for v in bbox]
    except (TypeError, ValueError) as exc:
        raise InputError(f"bbox must be 4 or 6 numbers, got {bbox!r}") from exc
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4:
        raise InputError(f"bbox must be 4 or 6 numbers, got {bbox!r}")
    minx, miny, maxx, maxy = nums
    _check_lonlat([(minx, miny), (maxx, maxy)], f"bbox {bbox!r}")
    if miny > maxy:
        raise InputError(f"bbox {bbox!r}: south ({miny}) is north of north ({maxy})")
    if minx > maxx:  # crosses the antimeridian
        return shapely.MultiPolygon([shapely.box(minx, miny, 180.0, maxy),
                                     shapely.box(-180.0, miny, maxx, maxy)])
    return shapely.box(minx, miny, maxx, maxy)


@dataclass
class SqlFilter:
    """A WHERE fragment and its parameters."""

    sql: str
    params: list[Any]


class _Translator:
    def __init__(self, spatial: Callable[[BaseGeometry], tuple[str, list[Any]]]):
        self.spatial = spatial
        self.params: list[Any] = []

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    # -- expressions --------------------------------------------------------------------
    def boolean(self, node: Any) -> str:
        if isinstance(node, bool):
            return "1" if node else "0"
        if not isinstance(node, dict) or "op" not in node:
            raise InputError(f"expected a CQL2 boolean expression, got {node!r}")
        op = _ALIASES.get(node["op"].lower(), node["op"]) if isinstance(node["op"], str) else None
        if op is None:
            raise InputError(f"bad operator {node['op']!r}")
        args = node.get("args")
        if not isinstance(args, list):
            raise InputError(f"operator {op!r} needs a list of args")
        lop = op.lower()
        if lop in ("and", "or"):
            if len(args) < 2:
                raise InputError(f"{lop!r} needs at least two arguments")
            return "(" + f" {lop.upper()} ".join(self.boolean(a) for a in args) + ")"
        if lop == "not":
            self._arity(op, args, 1)
            return f"(NOT {self.boolean(args[0])})"
        if op in _COMPARISON:
            self._arity(op, args, 2)
            return self.comparison(_COMPARISON[op], args[0], args[1])
        if lop == "isnull":
            self._arity(op, args, 1)
            q = self.queryable(args[0])
            if q.kind == "geometry":
                return "0"
            return f"({q.column} IS NULL)"
        if lop == "like":
            self._arity(op, args, 2)
            q = self.queryable(args[0])
            if q.kind != "string" or not isinstance(args[1], str):
                raise InputError(f"like applies to a string queryable and a string pattern, got {args!r}")
            return f"({q.column} GLOB {self.bind(_like_to_glob(args[1]))})"
        if lop == "between":
            self._arity(op, args, 3)
            q = self.queryable(args[0])
            lo, hi = self.literal(q, args[1]), self.literal(q, args[2])
            return f"({q.column} BETWEEN {self.bind(lo)} AND {self.bind(hi)})"
        if lop == "in":
            self._arity(op, args, 2)
            q = self.queryable(args[0])
            if not isinstance(args[1], list) or not args[1]:
                raise InputError("'in' needs a non-empty list of values")
            values = [self.bind(self.literal(q, v)) for v in args[1]]
            return f"({q.column} IN ({', '.join(values)}))"
        if lop in ("s_intersects",):
            self._arity(op, args, 2)
            prop, geom = args
            if _is_property(geom) and not _is_property(prop):
                prop, geom = geom, prop
            q = self.queryable(prop)
            if q.kind != "geometry":
                raise InputError(f"s_intersects applies to 'geometry', not {prop!r}")
            sql, params = self.spatial(query_geometry(geom))
            self.params.extend(params)
            return sql
        if lop in ("a_equals", "a_contains", "a_containedby", "a_overlaps"):
            self._arity(op, args, 2)
            prop, values = args
            q = self.queryable(prop)
            if q.kind != "polarizations":
                raise InputError(f"{op} applies to 'sar:polarizations', not {prop!r}")
            m = polarization_mask(values)
            col = q.column
            if lop == "a_equals":
                return f"({col} = {self.bind(m)})"
            if lop == "a_contains":
                return f"(({col} & {self.bind(m)}) = {self.bind(m)})"
            if lop == "a_containedby":
                return f"(({col} & ~{self.bind(m)}) = 0)"
            return f"(({col} & {self.bind(m)}) <> 0)"
        raise InputError(
            f"CQL2 operator {op!r} is not supported here: use and/or/not, =, <>, <, <=, >, >=, "
            "isNull, like, between, in, s_intersects, a_equals, a_contains, a_containedBy, a_overlaps"
        )

    @staticmethod
    def _arity(op: str, args: list, n: int) -> None:
        if len(args) != n:
            raise InputError(f"operator {op!r} takes {n} argument(s), got {len(args)}")

    def queryable(self, node: Any) -> Queryable:
        if not _is_property(node):
            raise InputError(f"expected a property reference {{'property': name}}, got {node!r}")
        name = node["property"]
        if name.startswith("properties."):
            name = name[len("properties."):]
        q = QUERYABLES.get(name)
        if q is None:
            raise InputError(f"{name!r} is not a queryable: use one of {sorted(QUERYABLES)} "
                             "(GET /queryables)")
        return q

    def literal(self, q: Queryable, value: Any) -> Any:
        if _is_property(value):
            raise InputError("property-to-property comparisons are not supported")
        if q.kind == "timestamp":
            if isinstance(value, dict) and ("timestamp" in value or "date" in value):
                return to_timestamp_us(value["timestamp"] if "timestamp" in value else value["date"])
            if isinstance(value, str):
                return to_timestamp_us(value)
            raise InputError(f"{value!r} is not a timestamp (use TIMESTAMP('...'))")
        if q.kind in ("integer", "number"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"{value!r} is not a number")
            return value
        if q.kind == "string":
            if not isinstance(value, str):
                raise InputError(f"{value!r} is not a string")
            return value
        raise InputError(f"cannot compare {q.kind} values with =, <, in or between; "
                         "use the array functions (a_contains ...) or s_intersects")

    def comparison(self, op: str, left: Any, right: Any) -> str:
        if not _is_property(left) and _is_property(right):
            left, right = right, left
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        q = self.queryable(left)
        value = self.literal(q, right)
        return f"({q.column} {op} {self.bind(value)})"


def _is_property(node: Any) -> bool:
    return isinstance(node, dict) and isinstance(node.get("property"), str)


def _like_to_glob(pattern: str) -> str:
    """CQL2 ``like`` pattern (``%``, ``_``, backslash escapes) → case-sensitive SQLite GLOB."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(_glob_literal(pattern[i + 1]))
            i += 2
            continue
        out.append("*" if c == "%" else "?" if c == "_" else _glob_literal(c))
        i += 1
    return "".join(out)


def _glob_literal(c: str) -> str:
    return f"[{c}]" if c in "*?[]" else c


def cql2_to_json(expr: str | dict, lang: str | None = None) -> dict | bool:
    """CQL2 JSON of a filter given as CQL2 text or JSON (string or dict); InputError if invalid."""
    import cql2

    if isinstance(expr, dict | bool):
        return expr  # CQL2 JSON already: translate() checks every operator and operand
    try:
        if (lang or "").lower() == "cql2-json" or (lang is None and expr.lstrip().startswith("{")):
            return json.loads(expr)
        # cql2's validate() (JSON schema) costs ~100 ms a call: translate() checks instead
        return cql2.parse_text(expr).to_json()
    except (cql2.ParseError, cql2.ValidationError, ValueError) as exc:
        raise InputError(f"invalid CQL2 filter: {exc}") from exc


def translate(expr: dict | bool,
              spatial: Callable[[BaseGeometry], tuple[str, list[Any]]]) -> SqlFilter:
    """SQL WHERE fragment of a CQL2-JSON expression.

    Parameters
    ----------
    expr : dict or bool
        CQL2 JSON (as from :func:`cql2_to_json`).
    spatial : callable
        Maps a query geometry (shapely, lon/lat) to ``(sql, params)`` testing the item
        footprint against it; the index supplies an R*Tree pre-filter plus an exact test.
    """
    t = _Translator(spatial)
    sql = t.boolean(expr)
    return SqlFilter(sql, t.params)
