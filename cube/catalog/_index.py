"""The embedded STAC index: one SQLite file with an R*Tree, no server process.

Tables (``docs/stac.md`` has the why and the measurements):

``dates``
    One row per burst ID and date: the SLC STAC item (JSON), its footprint (WKB), the
    searchable columns, compact burst metadata (for baselines) and the baseline of the
    date relative to its burst's *anchor* date (the first date indexed for that burst ID).
``pairs``
    The pairs of dates of one burst ID that get pair-product items (the pair rule,
    :func:`cube.format.pair_in_rule`), with their exact baselines (:mod:`cube.geometry`) and the
    intersection of the two footprints.
``items``
    Every searchable STAC item: one row per SLC date, per (per-date product, date) and per
    (pair product, pair). Product rows are derived from ``dates`` and ``pairs`` in SQL by
    :meth:`StacIndex.refresh`, so changing the product list needs no footprint work.
``items_rtree``
    R*Tree over the items' bounding boxes (kept in step by triggers).

Times are integer microseconds since 1970-01-01 UTC. Polarizations are a bit mask
(VV=1, VH=2, HH=4, HV=8). Writers use one transaction per call; readers open the file
read-only and may run in any thread (one connection per thread).
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
import shapely.geometry
from shapely.geometry.base import BaseGeometry

from cube.catalog._cql2 import (
    QUERYABLES,
    bbox_geometry,
    polarization_mask,
    to_timestamp_us,
    translate,
)
from cube.catalog._items import SLC_COLLECTION
from cube.errors import CubeFormatError, InputError
from cube.format import DAY_US, MAX_PAIR_DAYS, rule_pair_indices

INDEX_FORMAT = "1"

SORTABLES: dict[str, str] = {
    "datetime": "i.sort_us",
    "start_datetime": "i.start_us",
    "end_datetime": "i.end_us",
    "id": "i.item_id",
    "collection": "i.collection",
    "platform": "i.platform",
    "sat:relative_orbit": "i.relative_orbit",
    "sat:absolute_orbit": "i.absolute_orbit",
    "sat:orbit_state": "i.orbit_state",
    "sarcube:burst_id": "i.burst_id",
    "sarcube:swath": "i.swath",
    "sarcube:temporal_baseline_days": "i.temporal_baseline_days",
    "sarcube:bperp_m": "i.bperp_m",
}
"""Sort keys: ``datetime`` sorts by the start time (the same as ``datetime`` for bursts; pair
items have no datetime)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bursts (
    burst_id TEXT PRIMARY KEY,
    anchor_id INTEGER,
    epsg INTEGER,
    grid TEXT
);
CREATE TABLE IF NOT EXISTS dates (
    id INTEGER PRIMARY KEY,
    burst_id TEXT NOT NULL,
    date_key TEXT NOT NULL,
    item_id TEXT NOT NULL,
    datetime_us INTEGER NOT NULL,
    start_us INTEGER NOT NULL,
    end_us INTEGER NOT NULL,
    platform TEXT,
    relative_orbit INTEGER,
    absolute_orbit INTEGER,
    orbit_state TEXT,
    swath TEXT,
    pol_mask INTEGER NOT NULL,
    minx REAL NOT NULL, miny REAL NOT NULL, maxx REAL NOT NULL, maxy REAL NOT NULL,
    wkb BLOB NOT NULL,
    item BLOB NOT NULL,
    burst BLOB,
    bperp_anchor_m REAL,
    bpar_anchor_m REAL,
    UNIQUE (burst_id, date_key)
);
CREATE TABLE IF NOT EXISTS pairs (
    id INTEGER PRIMARY KEY,
    burst_id TEXT NOT NULL,
    ref_id INTEGER NOT NULL,
    sec_id INTEGER NOT NULL,
    days REAL NOT NULL,
    bperp_m REAL,
    bpar_m REAL,
    minx REAL, miny REAL, maxx REAL, maxy REAL,
    wkb BLOB,
    UNIQUE (ref_id, sec_id)
);
CREATE INDEX IF NOT EXISTS pairs_burst ON pairs (burst_id);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    item_id TEXT NOT NULL UNIQUE,
    collection TEXT NOT NULL,
    kind INTEGER NOT NULL,
    date_id INTEGER NOT NULL,
    pair_id INTEGER,
    datetime_us INTEGER,
    start_us INTEGER NOT NULL,
    end_us INTEGER NOT NULL,
    sort_us INTEGER NOT NULL,
    platform TEXT,
    relative_orbit INTEGER,
    absolute_orbit INTEGER,
    orbit_state TEXT,
    burst_id TEXT NOT NULL,
    swath TEXT,
    pol_mask INTEGER NOT NULL,
    temporal_baseline_days REAL,
    bperp_m REAL,
    minx REAL NOT NULL, miny REAL NOT NULL, maxx REAL NOT NULL, maxy REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS items_sort ON items (sort_us, item_id);
CREATE INDEX IF NOT EXISTS items_collection ON items (collection, sort_us);
CREATE INDEX IF NOT EXISTS items_burst ON items (burst_id, sort_us);
CREATE INDEX IF NOT EXISTS items_date ON items (date_id, collection);
CREATE INDEX IF NOT EXISTS items_pair ON items (pair_id, collection);
CREATE VIRTUAL TABLE IF NOT EXISTS items_rtree USING rtree (id, minx, maxx, miny, maxy);
CREATE TRIGGER IF NOT EXISTS items_rtree_insert AFTER INSERT ON items BEGIN
    INSERT INTO items_rtree VALUES (new.id, new.minx, new.maxx, new.miny, new.maxy);
END;
CREATE TRIGGER IF NOT EXISTS items_rtree_delete AFTER DELETE ON items BEGIN
    DELETE FROM items_rtree WHERE id = old.id;
END;
"""

KIND_SLC, KIND_DATE, KIND_PAIR, KIND_BURST = 0, 1, 2, 3


@dataclass(frozen=True)
class ProductInfo:
    """What the index needs to know of an ARD product: its name (= collection) and kind.

    ``per_burst``: one item per burst ID over all its dates (a velocity), anchored on its
    latest date; else one per date, or per pair of the pair rule (``pair``).
    """

    name: str
    pair: bool
    per_burst: bool = False

    @property
    def code(self) -> int:
        """0: an item per date, 1: per pair, 2: per burst ID."""
        return 2 if self.per_burst else int(self.pair)


@dataclass
class DateRecord:
    """One burst date to index.

    ``item``: the SLC STAC item (dict, all polarizations of the date). ``burst``: compact
    ``BurstMetadata`` of the date (for baselines; None: no baselines). ``epsg`` / ``grid``:
    the burst ID's fixed UTM grid (EPSG code, ``BurstGrid`` JSON), kept from the first
    record that has them.
    """

    item: dict[str, Any]
    burst: Any = None
    epsg: int | None = None
    grid: str | None = None


@dataclass
class SearchQuery:
    """An item search (all criteria ANDed). ``geometry`` is lon/lat (shapely); times in µs."""

    collections: list[str] | None = None
    ids: list[str] | None = None
    geometry: BaseGeometry | None = None
    start_us: int | None = None
    end_us: int | None = None
    filter: dict | bool | None = None
    sortby: list[tuple[str, bool]] | None = None  # (queryable name, ascending)
    limit: int = 10
    offset: int = 0


@dataclass
class ItemRow:
    """What the index returns per item: enough to build the STAC item (``_stac_items``)."""

    kind: int
    collection: str
    item_id: str
    burst_id: str
    slc: dict[str, Any]  # the (reference) date's SLC item
    secondary: dict[str, Any] | None = None  # the secondary date's SLC item (pairs)
    days: float | None = None
    bperp_m: float | None = None
    bpar_m: float | None = None
    pair_geometry: dict[str, Any] | None = None
    epsg: int | None = None
    grid: dict[str, Any] | None = None
    start_us: int | None = None  # the item's time span (a per-burst item: first to latest date)
    end_us: int | None = None
    burst_dates: tuple[str, ...] = ()  # every date key of the burst ID, sorted


@dataclass
class SearchPage:
    """One page of results and whether more follow."""

    rows: list[ItemRow]
    more: bool
    offset: int
    limit: int = field(default=10)


# -- spatial predicate ------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _prepared(wkb: bytes) -> BaseGeometry:
    geom = shapely.from_wkb(wkb)
    shapely.prepare(geom)
    return geom


def _intersects(item_wkb: bytes | None, query_wkb: bytes) -> int:
    if item_wkb is None:
        return 0
    return int(_prepared(query_wkb).intersects(shapely.from_wkb(item_wkb)))


def _spatial_sql(geom: BaseGeometry, wkb_expr: str,
                 extent: tuple[float, float, float, float] | None = None) -> tuple[str, list[Any]]:
    """Bounding-box pre-filter over each part's bounds, then the exact test on the footprint.

    The pre-filter goes through the R*Tree when the query covers less than a fifth of the
    index's ``extent`` (lon/lat area); a larger one selects most items anyway, and plain
    column comparisons let SQLite walk the time index instead (a whole-area query with a
    date range: 90 ms through the R*Tree, a few ms without, at 100 000 items).
    """
    parts = list(geom.geoms) if hasattr(geom, "geoms") else [geom]
    boxes, params = [], []
    for part in parts:
        minx, miny, maxx, maxy = part.bounds
        boxes.append("(minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?)")
        params += [maxx, minx, maxy, miny]
    if extent is not None and _area_fraction(geom, extent) > 0.2:
        pre = "(" + " OR ".join(b.replace("minx", "i.minx").replace("maxx", "i.maxx")
                                 .replace("miny", "i.miny").replace("maxy", "i.maxy")
                                 for b in boxes) + ")"
    else:
        pre = f"i.id IN (SELECT id FROM items_rtree WHERE {' OR '.join(boxes)})"
    exact = f"sc_intersects({wkb_expr}, ?)"
    params.append(shapely.to_wkb(geom))
    if len(parts) == 1 and shapely.equals(geom, shapely.box(*geom.bounds)):
        # a box: an item whose bbox lies inside it needs no exact test
        minx, miny, maxx, maxy = geom.bounds
        inside = "(i.minx >= ? AND i.maxx <= ? AND i.miny >= ? AND i.maxy <= ?)"
        return f"({pre} AND ({inside} OR {exact}))", params[:-1] + [minx, maxx, miny, maxy,
                                                                   params[-1]]
    return f"({pre} AND {exact})", params


def _area_fraction(geom: BaseGeometry, extent: tuple[float, float, float, float]) -> float:
    """Fraction of the extent's bbox (lon/lat degrees²) that the query's bbox(es) cover."""
    ext = shapely.box(*extent)
    if ext.area <= 0:
        return 1.0
    parts = list(geom.geoms) if hasattr(geom, "geoms") else [geom]
    covered = shapely.union_all([shapely.box(*p.bounds) for p in parts]).intersection(ext)
    return float(covered.area / ext.area)


# -- the index ----------------------------------------------------------------------------------
class StacIndex:
    """The SQLite STAC index at ``path`` (see the module docstring).

    Open with :meth:`open`; use as a context manager to close it. Reading methods are safe
    from several threads: each thread gets its own read connection.
    """

    def __init__(self, path: str | Path, readonly: bool = True):
        self.path = str(path)
        self.readonly = readonly
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        conn = self._conn()
        if not readonly:
            conn.executescript(_SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta VALUES ('format', ?)", (INDEX_FORMAT,))
        row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if row is None or row[0].split(".")[0] != INDEX_FORMAT.split(".")[0]:
            raise CubeFormatError(f"{self.path}: STAC index format {row[0] if row else '?'}, this "
                                  f"code reads {INDEX_FORMAT}: rebuild it (cube.catalog.rebuild_index)")

    @classmethod
    def open(cls, path: str | Path, readonly: bool = True) -> StacIndex:
        """Open (and, writable, create) the index at ``path``."""
        if readonly and not Path(path).exists():
            raise FileNotFoundError(f"{path}: no STAC index")
        return cls(path, readonly=readonly)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.readonly:
                conn = sqlite3.connect(f"{Path(self.path).resolve().as_uri()}?mode=ro", uri=True,
                                       check_same_thread=False)
            else:
                conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
                conn.execute("PRAGMA journal_mode = DELETE")
            conn.row_factory = sqlite3.Row
            conn.create_function("sc_intersects", 2, _intersects, deterministic=True)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> StacIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------
    def _write(self) -> sqlite3.Connection:
        if self.readonly:
            raise PermissionError(f"{self.path}: the STAC index is open read-only")
        return self._conn()

    def indexed_polarizations(self, burst_id: str, date_key: str) -> int | None:
        """Polarization bit mask of an indexed date (None if not indexed)."""
        row = self._conn().execute("SELECT pol_mask FROM dates WHERE burst_id = ? AND date_key = ?",
                                   (burst_id, date_key)).fetchone()
        return None if row is None else int(row[0])

    def upsert_dates(self, records: Iterable[DateRecord], products: Sequence[ProductInfo],
                     max_pair_days: float = MAX_PAIR_DAYS) -> list[str]:
        """Insert or replace burst dates, then :meth:`refresh` the bursts they belong to.

        Idempotent: the same records give the same index. Returns the burst IDs touched.
        """
        conn = self._write()
        touched: set[str] = set()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for rec in records:
                touched.add(self._upsert_date(conn, rec))
            self._refresh(conn, products, sorted(touched), max_pair_days)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return sorted(touched)

    def refresh(self, products: Sequence[ProductInfo], burst_ids: Iterable[str] | None = None,
                max_pair_days: float = MAX_PAIR_DAYS) -> None:
        """Re-derive pairs and product items (all bursts by default) for ``products``."""
        conn = self._write()
        conn.execute("BEGIN IMMEDIATE")
        try:
            ids = list(burst_ids) if burst_ids is not None else [
                r[0] for r in conn.execute("SELECT burst_id FROM bursts ORDER BY burst_id")]
            self._refresh(conn, products, ids, max_pair_days)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _upsert_date(self, conn: sqlite3.Connection, rec: DateRecord) -> str:
        item = rec.item
        props = item["properties"]
        burst_id = props["sarcube:burst_id"]
        date_key = props["sarcube:date_key"]
        geom = shapely.geometry.shape(item["geometry"])
        minx, miny, maxx, maxy = (float(v) for v in item.get("bbox") or geom.bounds)
        dt = to_timestamp_us(props.get("datetime") or props["start_datetime"])
        start = to_timestamp_us(props.get("start_datetime") or props["datetime"])
        end = to_timestamp_us(props.get("end_datetime") or props["datetime"])
        burst_json = _pack(_compact_burst_json(rec.burst)) if rec.burst is not None else None
        values = dict(
            burst_id=burst_id, date_key=date_key, item_id=item["id"], datetime_us=dt,
            start_us=start, end_us=end, platform=props.get("platform"),
            relative_orbit=props.get("sat:relative_orbit"),
            absolute_orbit=props.get("sat:absolute_orbit"),
            orbit_state=props.get("sat:orbit_state"), swath=props.get("sarcube:swath"),
            pol_mask=polarization_mask(props.get("sar:polarizations", [])),
            minx=minx, miny=miny, maxx=maxx, maxy=maxy, wkb=shapely.to_wkb(geom),
            item=_pack(json.dumps(_strip_links(item), separators=(",", ":"))),
        )
        conn.execute("INSERT OR IGNORE INTO bursts (burst_id) VALUES (?)", (burst_id,))
        if rec.epsg is not None:
            conn.execute("UPDATE bursts SET epsg = ?, grid = ? WHERE burst_id = ? AND epsg IS NULL",
                         (rec.epsg, rec.grid, burst_id))
        old = conn.execute("SELECT id, burst FROM dates WHERE burst_id = ? AND date_key = ?",
                           (burst_id, date_key)).fetchone()
        if old is None:
            cols = ", ".join(values)
            conn.execute(f"INSERT INTO dates ({cols}, burst) VALUES ({', '.join('?' * len(values))}, ?)",
                         (*values.values(), burst_json))
            date_id = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        else:
            date_id = old["id"]
            sets = ", ".join(f"{k} = ?" for k in values)
            conn.execute(f"UPDATE dates SET {sets}, burst = COALESCE(?, burst) WHERE id = ?",
                         (*values.values(), burst_json, date_id))
            # items derived from this date are re-derived by _refresh
            conn.execute("DELETE FROM items WHERE date_id = ? OR pair_id IN "
                         "(SELECT id FROM pairs WHERE ref_id = ? OR sec_id = ?)",
                         (date_id, date_id, date_id))
        self._anchor_baseline(conn, burst_id, date_id)
        return burst_id

    def _anchor_baseline(self, conn: sqlite3.Connection, burst_id: str, date_id: int) -> None:
        """Baseline of a date relative to its burst's anchor (first indexed) date."""
        anchor = conn.execute("SELECT anchor_id FROM bursts WHERE burst_id = ?", (burst_id,)).fetchone()[0]
        row = conn.execute("SELECT burst FROM dates WHERE id = ?", (date_id,)).fetchone()
        if row["burst"] is None:
            return
        if anchor is None:
            conn.execute("UPDATE bursts SET anchor_id = ? WHERE burst_id = ?", (date_id, burst_id))
            anchor = date_id
        if anchor == date_id:
            conn.execute("UPDATE dates SET bperp_anchor_m = 0, bpar_anchor_m = 0 WHERE id = ?", (date_id,))
            return
        ref = conn.execute("SELECT burst FROM dates WHERE id = ?", (anchor,)).fetchone()["burst"]
        b = _baseline(ref, row["burst"])
        conn.execute("UPDATE dates SET bperp_anchor_m = ?, bpar_anchor_m = ? WHERE id = ?",
                     (b[0], b[1], date_id))

    def _refresh(self, conn: sqlite3.Connection, products: Sequence[ProductInfo],
                 burst_ids: Sequence[str], max_pair_days: float) -> None:
        for burst_id in burst_ids:
            self._refresh_pairs(conn, burst_id, max_pair_days)
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS products (name TEXT PRIMARY KEY, pair INTEGER)")
        conn.execute("DELETE FROM temp.products")
        names = set()
        for p in products:
            if p.name == SLC_COLLECTION or p.name in names:
                raise InputError(f"product name {p.name!r} is reserved or repeated")
            names.add(p.name)
            conn.execute("INSERT INTO temp.products VALUES (?, ?)", (p.name, p.code))
        conn.execute("DELETE FROM items WHERE kind > 0 AND collection NOT IN "
                     "(SELECT name FROM temp.products)")
        conn.execute(f"DELETE FROM items WHERE kind = {KIND_DATE} AND collection IN "
                     "(SELECT name FROM temp.products WHERE pair <> 0)")
        conn.execute(f"DELETE FROM items WHERE kind = {KIND_PAIR} AND (collection IN "
                     "(SELECT name FROM temp.products WHERE pair <> 1) "
                     "OR pair_id NOT IN (SELECT id FROM pairs))")
        latest = ("(SELECT x.id FROM dates x WHERE x.burst_id = {0}.burst_id "
                  "ORDER BY x.start_us DESC, x.id DESC LIMIT 1)")
        # per-burst items follow the burst's latest date (they cover every date up to it)
        conn.execute(f"DELETE FROM items WHERE kind = {KIND_BURST} AND (collection NOT IN "
                     "(SELECT name FROM temp.products WHERE pair = 2) "
                     f"OR date_id <> {latest.format('items')})")
        common = ("platform, relative_orbit, orbit_state, burst_id, swath, minx, miny, maxx, maxy")
        conn.execute(f"""
            INSERT INTO items (item_id, collection, kind, date_id, datetime_us, start_us, end_us,
                               sort_us, absolute_orbit, pol_mask, {common})
            SELECT d.item_id, '{SLC_COLLECTION}', {KIND_SLC}, d.id, d.datetime_us, d.start_us,
                   d.end_us, d.start_us, d.absolute_orbit, d.pol_mask, {_prefixed('d', common)}
            FROM dates d
            WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.date_id = d.id AND i.kind = {KIND_SLC})""")
        conn.execute(f"""
            INSERT INTO items (item_id, collection, kind, date_id, datetime_us, start_us, end_us,
                               sort_us, absolute_orbit, pol_mask, {common})
            SELECT d.item_id || '_' || p.name, p.name, {KIND_DATE}, d.id, d.datetime_us,
                   d.start_us, d.end_us, d.start_us, d.absolute_orbit, d.pol_mask,
                   {_prefixed('d', common)}
            FROM dates d JOIN temp.products p ON p.pair = 0
            WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.date_id = d.id AND i.collection = p.name)""")
        conn.execute(f"""
            INSERT INTO items (item_id, collection, kind, date_id, pair_id, datetime_us, start_us,
                               end_us, sort_us, absolute_orbit, pol_mask, temporal_baseline_days,
                               bperp_m, platform, relative_orbit, orbit_state, burst_id, swath,
                               minx, miny, maxx, maxy)
            SELECT r.burst_id || '_' || r.date_key || '_' || s.date_key || '_' || p.name, p.name,
                   {KIND_PAIR}, r.id, q.id, NULL, r.start_us, s.end_us, r.start_us, NULL,
                   r.pol_mask & s.pol_mask, q.days, q.bperp_m, r.platform, r.relative_orbit,
                   r.orbit_state, r.burst_id, r.swath, q.minx, q.miny, q.maxx, q.maxy
            FROM pairs q JOIN dates r ON r.id = q.ref_id JOIN dates s ON s.id = q.sec_id
                 JOIN temp.products p ON p.pair = 1
            WHERE (r.pol_mask & s.pol_mask) <> 0
              AND NOT EXISTS (SELECT 1 FROM items i WHERE i.pair_id = q.id AND i.collection = p.name)""")
        conn.execute(f"""
            INSERT INTO items (item_id, collection, kind, date_id, datetime_us, start_us, end_us,
                               sort_us, absolute_orbit, pol_mask, {common})
            SELECT l.burst_id || '_' || p.name, p.name, {KIND_BURST}, l.id, NULL, f.start_us, l.end_us,
                   f.start_us, NULL, l.pol_mask, {_prefixed('l', common)}
            FROM dates l JOIN temp.products p ON p.pair = 2
                 JOIN (SELECT burst_id, MIN(start_us) AS start_us FROM dates GROUP BY burst_id) f
                      ON f.burst_id = l.burst_id
            WHERE l.id = {latest.format('l')}
              AND NOT EXISTS (SELECT 1 FROM items i WHERE i.kind = {KIND_BURST}
                              AND i.burst_id = l.burst_id AND i.collection = p.name)""")
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('products', ?)",
                     (json.dumps(sorted((p.name, p.code) for p in products)),))

    def _refresh_pairs(self, conn: sqlite3.Connection, burst_id: str, max_pair_days: float) -> None:
        dates = conn.execute("SELECT id, start_us, wkb, burst FROM dates WHERE burst_id = ? "
                             "ORDER BY start_us, id", (burst_id,)).fetchall()
        wanted = {(dates[i]["id"], dates[j]["id"]): (dates[j]["start_us"] - dates[i]["start_us"]) / DAY_US
                  for i, j in rule_pair_indices([d["start_us"] for d in dates], max_pair_days)}
        have = {(row["ref_id"], row["sec_id"]): row["id"] for row in conn.execute(
            "SELECT id, ref_id, sec_id FROM pairs WHERE burst_id = ?", (burst_id,))}
        stale = [pid for key, pid in have.items() if key not in wanted]
        conn.executemany("DELETE FROM items WHERE pair_id = ?", [(p,) for p in stale])
        conn.executemany("DELETE FROM pairs WHERE id = ?", [(p,) for p in stale])
        by_id = {r["id"]: r for r in dates}
        for (ref_id, sec_id), days in wanted.items():
            if (ref_id, sec_id) in have:
                continue
            r, s = by_id[ref_id], by_id[sec_id]
            both = shapely.from_wkb(r["wkb"]).intersection(shapely.from_wkb(s["wkb"]))
            if both.is_empty:
                both = shapely.from_wkb(r["wkb"])
            minx, miny, maxx, maxy = both.bounds
            bperp, bpar = (_baseline(r["burst"], s["burst"]) if r["burst"] and s["burst"]
                           else (None, None))
            conn.execute(
                "INSERT INTO pairs (burst_id, ref_id, sec_id, days, bperp_m, bpar_m, minx, miny, "
                "maxx, maxy, wkb) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (burst_id, ref_id, sec_id, days, bperp, bpar, minx, miny, maxx, maxy,
                 shapely.to_wkb(both)))

    # -- reading ----------------------------------------------------------------------------
    _SELECT = """
        SELECT i.id, i.kind, i.collection, i.item_id, i.burst_id, d.item AS slc, s.item AS secondary,
               q.days, q.bperp_m, q.bpar_m, q.wkb AS pair_wkb, b.epsg, b.grid, i.start_us, i.end_us,
               (SELECT group_concat(x.date_key, ',') FROM dates x WHERE x.burst_id = i.burst_id)
               AS burst_dates
        FROM items i
        JOIN dates d ON d.id = i.date_id
        LEFT JOIN pairs q ON q.id = i.pair_id
        LEFT JOIN dates s ON s.id = q.sec_id
        LEFT JOIN bursts b ON b.burst_id = i.burst_id
    """

    def search(self, query: SearchQuery) -> SearchPage:
        """One page of the items matching ``query``, in its sort order."""
        where, params = self._where(query)
        order = self._order(query.sortby)
        limit = max(1, int(query.limit))
        offset = max(0, int(query.offset))
        # ids first (the sorter carries only the keys), then the page's documents
        cond = " AND ".join(where) or "1"
        joins = (" JOIN dates d ON d.id = i.date_id LEFT JOIN pairs q ON q.id = i.pair_id"
                 if "d.wkb" in cond else "")  # footprints are needed by the exact spatial test only
        sql = f"SELECT i.id FROM items i{joins} WHERE {cond} ORDER BY {order} LIMIT ? OFFSET ?"
        conn = self._conn()
        ids = [r[0] for r in conn.execute(sql, (*params, limit + 1, offset))]
        page = ids[:limit]
        rows = {r["id"]: r for r in conn.execute(
            f"{self._SELECT} WHERE i.id IN ({', '.join('?' * len(page))})", page)} if page else {}
        return SearchPage([_row(rows[i]) for i in page], more=len(ids) > limit, offset=offset,
                          limit=limit)

    def count(self, query: SearchQuery) -> int:
        """Number of items matching ``query`` (ignoring limit and offset)."""
        where, params = self._where(query)
        sql = (f"SELECT count(*) FROM items i JOIN dates d ON d.id = i.date_id "
               f"LEFT JOIN pairs q ON q.id = i.pair_id WHERE {' AND '.join(where) or '1'}")
        return int(self._conn().execute(sql, params).fetchone()[0])

    def _where(self, query: SearchQuery) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        wkb_expr = "COALESCE(q.wkb, d.wkb)"
        if query.collections:
            where.append(f"i.collection IN ({', '.join('?' * len(query.collections))})")
            params += list(query.collections)
        if query.ids:
            where.append(f"i.item_id IN ({', '.join('?' * len(query.ids))})")
            params += list(query.ids)
        if query.geometry is not None:
            sql, p = _spatial_sql(query.geometry, wkb_expr, self._extent())
            where.append(sql)
            params += p
        if query.end_us is not None:
            where.append("i.sort_us <= ?")  # = start_us, and indexed with the default order
            params.append(int(query.end_us))
        if query.start_us is not None:
            where.append("i.end_us >= ?")
            params.append(int(query.start_us))
        if query.filter is not None:
            extent = self._extent()
            flt = translate(query.filter, lambda g: _spatial_sql(g, wkb_expr, extent))
            where.append(flt.sql)
            params += flt.params
        return where, params

    def _extent(self) -> tuple[float, float, float, float] | None:
        """Bounding box of every item (cached until another connection writes)."""
        conn = self._conn()
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        cached = getattr(self._local, "extent", None)
        if cached is not None and cached[0] == version and self.readonly:
            return cached[1]
        row = conn.execute("SELECT min(minx), min(miny), max(maxx), max(maxy) FROM dates").fetchone()
        extent = None if row[0] is None else (row[0], row[1], row[2], row[3])
        self._local.extent = (version, extent)
        return extent

    @staticmethod
    def _order(sortby: list[tuple[str, bool]] | None) -> str:
        terms = []
        for name, ascending in sortby or [("datetime", False)]:
            key = name[len("properties."):] if name.startswith("properties.") else name
            col = SORTABLES.get(key)
            if col is None:
                raise InputError(f"cannot sort by {name!r}: use one of {sorted(SORTABLES)}")
            terms.append(f"{col} {'ASC' if ascending else 'DESC'}")
        if not any(t.startswith("i.item_id ") for t in terms):
            terms.append("i.item_id ASC")
        return ", ".join(terms)

    def get(self, collection: str, item_id: str) -> ItemRow | None:
        """The item ``item_id`` of ``collection`` (None if absent)."""
        row = self._conn().execute(f"{self._SELECT} WHERE i.item_id = ? AND i.collection = ?",
                                   (item_id, collection)).fetchone()
        return None if row is None else _row(row)

    def collection_summary(self, collection: str) -> dict[str, Any] | None:
        """Extent and counts of a collection: bbox, start/end (µs), count (None if empty)."""
        row = self._conn().execute(
            "SELECT count(*), min(minx), min(miny), max(maxx), max(maxy), min(start_us), max(end_us),"
            " group_concat(DISTINCT platform), group_concat(DISTINCT relative_orbit),"
            " group_concat(DISTINCT orbit_state), group_concat(DISTINCT swath),"
            " group_concat(DISTINCT pol_mask) FROM items WHERE collection = ?",
            (collection,)).fetchone()
        if row[0] == 0:
            return None

        def split(v: Any) -> list[str]:
            return sorted(str(v).split(",")) if v is not None else []

        masks = 0
        for m in split(row[11]):
            masks |= int(m)
        return {
            "count": row[0], "bbox": [row[1], row[2], row[3], row[4]],
            "start_us": row[5], "end_us": row[6], "platform": split(row[7]),
            "sat:relative_orbit": sorted(int(v) for v in split(row[8])),
            "sat:orbit_state": split(row[9]), "sarcube:swath": split(row[10]),
            "sar:polarizations": [p for p, b in _POL_BITS if masks & b],
        }

    def burst_ids(self) -> list[str]:
        """Every burst ID in the index."""
        return [r[0] for r in self._conn().execute("SELECT burst_id FROM bursts ORDER BY burst_id")]

    def date_keys(self, burst_id: str) -> list[str]:
        """Date keys of a burst ID, in time order."""
        return [r[0] for r in self._conn().execute(
            "SELECT date_key FROM dates WHERE burst_id = ? ORDER BY start_us", (burst_id,))]

    def pairs(self, burst_id: str, *, max_days: float | None = None, min_days: float = 0.0,
              max_bperp_m: float | None = None, start_us: int | None = None,
              end_us: int | None = None) -> list[dict[str, Any]]:
        """Interferometric pairs (reference earlier than secondary) of ``burst_id``.

        ``max_days`` / ``min_days``: temporal baseline limits, days. ``max_bperp_m``: limit on
        |Bperp|, m (pairs without a baseline are left out when it is given). ``start_us`` /
        ``end_us``: both dates within this interval. Pairs of the pair rule carry the exact
        baseline computed at ingest (``"baseline": "exact"``); others the difference of the
        two dates' baselines to the burst's anchor date (``"anchor_difference"``; the same
        to within millimetres for baselines of a few hundred metres).
        """
        sql = """
            SELECT r.date_key AS ref_key, s.date_key AS sec_key, r.datetime_us AS ref_us,
                   s.datetime_us AS sec_us, (s.start_us - r.start_us) / 86400000000.0 AS days,
                   COALESCE(q.bperp_m, s.bperp_anchor_m - r.bperp_anchor_m) AS bperp_m,
                   COALESCE(q.bpar_m, s.bpar_anchor_m - r.bpar_anchor_m) AS bpar_m,
                   q.id IS NOT NULL AS in_rule, q.bperp_m IS NOT NULL AS exact
            FROM dates r JOIN dates s ON s.burst_id = r.burst_id AND s.start_us > r.start_us
            LEFT JOIN pairs q ON q.ref_id = r.id AND q.sec_id = s.id
            WHERE r.burst_id = ? AND s.start_us - r.start_us >= ?"""
        params: list[Any] = [burst_id, int(min_days * DAY_US)]
        if max_days is not None:
            sql += " AND s.start_us - r.start_us <= ?"
            params.append(int(max_days * DAY_US))
        if start_us is not None:
            sql += " AND r.end_us >= ?"
            params.append(int(start_us))
        if end_us is not None:
            sql += " AND s.start_us <= ?"
            params.append(int(end_us))
        if max_bperp_m is not None:
            sql = f"SELECT * FROM ({sql}) WHERE abs(bperp_m) <= ?"
            params.append(float(max_bperp_m))
        sql += " ORDER BY ref_us, sec_us"
        out = []
        for r in self._conn().execute(sql, params):
            out.append({
                "reference_date_key": r["ref_key"], "secondary_date_key": r["sec_key"],
                "reference_datetime": _iso(r["ref_us"]), "secondary_datetime": _iso(r["sec_us"]),
                "temporal_baseline_days": r["days"], "bperp_m": r["bperp_m"], "bpar_m": r["bpar_m"],
                "in_pair_rule": bool(r["in_rule"]),
                "baseline": ("exact" if r["exact"] else
                             "anchor_difference" if r["bperp_m"] is not None else None),
            })
        return out

    def products(self) -> list[tuple[str, int]]:
        """(name, :attr:`ProductInfo.code`) of the products the items were derived for, sorted."""
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'products'").fetchone()
        return [] if row is None else [(str(n), int(p)) for n, p in json.loads(row[0])]

    def stats(self) -> dict[str, int]:
        """Row counts: bursts, dates, pairs, items."""
        conn = self._conn()
        return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                for t in ("bursts", "dates", "pairs", "items")}

    def version(self) -> tuple[int, int]:
        """(SQLite data_version, items count): changes when another connection writes."""
        conn = self._conn()
        return (int(conn.execute("PRAGMA data_version").fetchone()[0]),
                int(conn.execute("SELECT max(id) FROM items").fetchone()[0] or 0))


_POL_BITS = (("HH", 4), ("HV", 8), ("VH", 2), ("VV", 1))


def _prefixed(alias: str, columns: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


def _iso(us: int | None) -> str | None:
    if us is None:
        return None
    import datetime as _dt

    t = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC) + _dt.timedelta(microseconds=int(us))
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _row(r: sqlite3.Row) -> ItemRow:
    return ItemRow(
        kind=r["kind"], collection=r["collection"], item_id=r["item_id"], burst_id=r["burst_id"],
        slc=json.loads(_unpack(r["slc"])),
        secondary=json.loads(_unpack(r["secondary"])) if r["secondary"] is not None else None,
        days=r["days"], bperp_m=r["bperp_m"], bpar_m=r["bpar_m"],
        pair_geometry=(json.loads(shapely.to_geojson(shapely.from_wkb(r["pair_wkb"])))
                       if r["pair_wkb"] else None),
        epsg=r["epsg"], grid=json.loads(r["grid"]) if r["grid"] else None,
        start_us=r["start_us"], end_us=r["end_us"],
        burst_dates=tuple(sorted(r["burst_dates"].split(","))) if r["burst_dates"] else (),
    )


def _strip_links(item: dict[str, Any]) -> dict[str, Any]:
    out = dict(item)
    out["links"] = []
    return out


def _pack(text: str) -> bytes:
    """zlib-compressed UTF-8 (item JSON compresses about 3×)."""
    return zlib.compress(text.encode(), 6)


def _unpack(blob: bytes) -> str:
    return zlib.decompress(blob).decode()


def _compact_burst_json(burst: Any) -> str:
    """BurstMetadata without the radiometric LUTs and the geolocation grid (for baselines)."""
    if isinstance(burst, str):
        return burst
    compact = burst.model_copy(update=dict(calibration=[], noise_range=[], noise_azimuth=[],
                                           geolocation_grid=[]))
    return compact.model_dump_json()


@functools.lru_cache(maxsize=256)
def _burst_from_blob(blob: bytes) -> Any:
    from cube.format import BurstMetadata

    return BurstMetadata.model_validate_json(_unpack(blob))


def _baseline(ref: bytes, sec: bytes) -> tuple[float | None, float | None]:
    """(Bperp, Bpar) in m of the secondary relative to the reference (packed compact metadata).

    (None, None) if not computable.
    """
    from cube.geometry import pair_baseline

    return pair_baseline(_burst_from_blob(ref), _burst_from_blob(sec))


__all__ = [
    "INDEX_FORMAT",
    "QUERYABLES",
    "SLC_COLLECTION",
    "SORTABLES",
    "DateRecord",
    "ItemRow",
    "ProductInfo",
    "SearchPage",
    "SearchQuery",
    "StacIndex",
    "bbox_geometry",
]
