"""The embedded STAC index alone: inserts, idempotent upserts, the pair rule, space and time
queries near the antimeridian, sorting and paging, and the CQL2 → SQL translation checked
against brute-force evaluation (the ``cql2`` package's own evaluator, in Rust, and shapely)
over random items."""

from __future__ import annotations

import datetime as dt
import json
import random
from types import SimpleNamespace

import cql2
import pytest
import shapely
import shapely.geometry

from cube.catalog import (
    DateRecord,
    ProductInfo,
    SearchQuery,
    StacIndex,
    bbox_geometry,
    make_item,
)
from cube.catalog._stac_items import UrlRoots
from cube.errors import InputError

PRODUCTS = [ProductInfo("cslc", False), ProductInfo("amplitude", False), ProductInfo("coherence", True)]
SPECS = {p.name: SimpleNamespace(name=p.name, title=p.name, description=p.name, pair=p.pair,
                                 version="1") for p in PRODUCTS}
ROOTS = UrlRoots(stac="http://x/stac", api="http://x")
T0 = dt.datetime(2023, 1, 2, 5, 6, 7, 123456, tzinfo=dt.UTC)


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_slc(burst_id: str, t: dt.datetime, lon: float, lat: float, pols: list[str], *,
             track: int, state: str, swath: str, platform: str = "sentinel-1a") -> dict:
    """A synthetic SLC item shaped as ``make_slc_item`` writes it (a ~20 × 80 km skewed quad)."""
    quad = [(lon, lat), (lon + 0.3, lat + 0.05), (lon + 0.35, lat + 0.2), (lon + 0.05, lat + 0.15)]
    ring = [list(p) for p in [*quad, quad[0]]]
    date_key = t.strftime("%Y%m%dT%H%M%S.%f")
    lons, lats = zip(*quad, strict=True)
    return {
        "type": "Feature", "stac_version": "1.1.0", "stac_extensions": [],
        "id": f"{burst_id}_{date_key}", "collection": "sentinel-1-slc-bursts",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "properties": {
            "datetime": _iso(t), "start_datetime": _iso(t),
            "end_datetime": _iso(t + dt.timedelta(seconds=2.75)),
            "platform": platform, "constellation": "sentinel-1", "instruments": ["c-sar"],
            "sarcube:burst_id": burst_id, "sarcube:swath": swath, "sarcube:date_key": date_key,
            "sar:instrument_mode": "IW", "sar:frequency_band": "C", "sar:polarizations": pols,
            "sar:product_type": "SLC", "sat:orbit_state": state, "sat:relative_orbit": track,
            "sat:absolute_orbit": 40000 + int((t - T0).days / 12) * 175 + track,
        },
        "links": [], "assets": {},
    }


def random_records(seed: int, n_bursts: int = 8) -> list[DateRecord]:
    rng = random.Random(seed)
    recs = []
    for b in range(n_bursts):
        track = rng.choice([1, 44, 71, 175])
        swath = rng.choice(["IW1", "IW2", "IW3"])
        burst_id = f"t{track:03d}_{150000 + b:06d}_{swath.lower()}"
        if b < 2:  # two bursts near the antimeridian (not crossing it)
            lon, lat = (179.5 if b == 0 else -179.95), rng.uniform(-60, 60)
        else:
            lon, lat = rng.uniform(-170, 170), rng.uniform(-70, 70)
        state = rng.choice(["ascending", "descending"])
        platform = rng.choice(["sentinel-1a", "sentinel-1c"])
        n_dates = rng.randint(1, 7)
        cycles = sorted(rng.sample(range(12), n_dates))
        for c in cycles:
            t = T0 + dt.timedelta(days=12 * c + 36 * b, microseconds=rng.randint(-3000, 3000))
            pols = rng.choice([["VV"], ["VH", "VV"], ["HH"], ["HH", "HV"], ["VV"]])
            recs.append(DateRecord(item=make_slc(burst_id, t, lon + rng.uniform(-0.01, 0.01),
                                                 lat, pols, track=track, state=state, swath=swath,
                                                 platform=platform)))
    return recs


def expected_pairs(records: list[DateRecord]) -> set[tuple[str, str]]:
    """Pair rule by brute force: consecutive dates of a burst ID, or at most 48 days apart."""
    by_burst: dict[str, list[dict]] = {}
    for r in records:
        by_burst.setdefault(r.item["properties"]["sarcube:burst_id"], []).append(r.item)
    out = set()
    for items in by_burst.values():
        items.sort(key=lambda i: i["properties"]["datetime"])
        for i, a in enumerate(items):
            for j in range(i + 1, len(items)):
                b = items[j]
                ta = dt.datetime.fromisoformat(a["properties"]["datetime"].replace("Z", "+00:00"))
                tb = dt.datetime.fromisoformat(b["properties"]["datetime"].replace("Z", "+00:00"))
                common = set(a["properties"]["sar:polarizations"]) & set(b["properties"]["sar:polarizations"])
                if (j == i + 1 or (tb - ta) <= dt.timedelta(days=48, hours=12)) and common:
                    out.add((a["id"], b["id"]))
    return out


def all_items(idx: StacIndex) -> list[dict]:
    page = idx.search(SearchQuery(limit=100000))
    assert not page.more
    return [make_item(r, ROOTS, SPECS) for r in page.rows]


@pytest.fixture(scope="module")
def records() -> list[DateRecord]:
    return random_records(3)


@pytest.fixture(scope="module")
def index(tmp_path_factory, records):
    path = tmp_path_factory.mktemp("idx") / "index.sqlite"
    with StacIndex.open(path, readonly=False) as idx:
        idx.upsert_dates(records, PRODUCTS)
    idx = StacIndex.open(path)
    yield idx
    idx.close()


@pytest.fixture(scope="module")
def items(index) -> list[dict]:
    return all_items(index)


def test_counts_and_pair_rule(index, records, items):
    pairs = expected_pairs(records)
    n = len(records)
    assert index.stats()["dates"] == n
    assert len(items) == n * 3 + len(pairs)  # SLC + 2 per-date products + 1 pair product
    got = {(i["properties"]["sarcube:burst_id"] + "_" + i["properties"]["sarcube:reference_date_key"],
            i["properties"]["sarcube:burst_id"] + "_" + i["properties"]["sarcube:secondary_date_key"])
           for i in items if i["collection"] == "coherence"}
    assert got == pairs
    assert any(i["properties"]["sarcube:temporal_baseline_days"] > 13 for i in items
               if i["collection"] == "coherence")


def test_upsert_is_idempotent_and_pairs_follow_new_dates(tmp_path, records):
    path = tmp_path / "index.sqlite"
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    with StacIndex.open(path, readonly=False) as idx:
        idx.upsert_dates(shuffled[: len(shuffled) // 2], PRODUCTS)  # half, then all: new dates
        idx.upsert_dates(shuffled, PRODUCTS)  # in between change which pairs are consecutive
        idx.upsert_dates(records[:5], PRODUCTS)  # again: nothing changes
        first = json.dumps(all_items(idx), sort_keys=True)
        stats = idx.stats()
    with StacIndex.open(tmp_path / "ref.sqlite", readonly=False) as ref:
        ref.upsert_dates(records, PRODUCTS)
        assert json.dumps(all_items(ref), sort_keys=True) == first
        assert ref.stats() == stats
    # a new polarization on a date: its items change, nothing is duplicated
    rec = records[0]
    item = json.loads(json.dumps(rec.item))
    item["properties"]["sar:polarizations"] = sorted({*item["properties"]["sar:polarizations"], "VH"})
    with StacIndex.open(path, readonly=False) as idx:
        idx.upsert_dates([DateRecord(item=item)], PRODUCTS)
        assert idx.stats()["items"] == stats["items"] or idx.stats()["items"] > stats["items"]
        assert idx.stats()["dates"] == stats["dates"]
        got = idx.get("cslc", f"{item['id']}_cslc")
        assert got is not None and "VH" in got.slc["properties"]["sar:polarizations"]
        assert idx.indexed_polarizations(item["properties"]["sarcube:burst_id"],
                                         item["properties"]["sarcube:date_key"]) & 2
        # a product that goes away takes its items along; one that comes adds them
        idx.refresh([ProductInfo("cslc", False), ProductInfo("interferogram", True)])
        colls = {i["collection"] for i in all_items(idx)}
        assert colls == {"sentinel-1-slc-bursts", "cslc", "interferogram"}
        assert idx.products() == [("cslc", False), ("interferogram", True)]


def test_bbox_and_intersects_match_shapely_near_the_antimeridian(index, items):
    rng = random.Random(5)
    geoms = {i["id"]: shapely.geometry.shape(i["geometry"]) for i in items}
    first = next(i for i in items if i["bbox"][0] > 179)
    boxes = [[179.6, -90, -179.9, 90], [170, -80, -170, 80], [179.7, first["bbox"][1] + 0.01, 179.8,
                                                                first["bbox"][1] + 0.1],
             [-180, -90, 180, 90], [-100, -60, 100, 60], [0, -90, -100, 90]]  # large: no R*Tree
    for _ in range(40):
        x, y = rng.uniform(-180, 179), rng.uniform(-80, 79)
        w, h = rng.choice([0.05, 1, 30, 200]), rng.choice([0.05, 1, 40])
        boxes.append([x, y, x + w - 360 if x + w > 180 else x + w, min(90, y + h)])
    for i in items[:: max(1, len(items) // 10)]:  # inside the bbox, outside the skewed footprint
        x, y = i["bbox"][2] - 0.01, i["bbox"][1] + 0.005
        boxes.append([x - 0.002, y - 0.002, x + 0.002, y + 0.002])
        assert not geoms[i["id"]].intersects(shapely.box(*boxes[-1]))
    for box in boxes:
        q = bbox_geometry(box)
        want = {k for k, g in geoms.items() if g.intersects(q)}
        got = {r.item_id for r in index.search(SearchQuery(geometry=q, limit=100000)).rows}
        assert got == want, box
    assert {r.item_id for r in index.search(SearchQuery(geometry=bbox_geometry(boxes[0]),
                                                        limit=1000)).rows}
    tri = shapely.Polygon([(first["bbox"][0], first["bbox"][1]), (180, first["bbox"][3]),
                           (179.0, first["bbox"][3])])
    want = {k for k, g in geoms.items() if g.intersects(tri)}
    assert want
    assert {r.item_id for r in index.search(SearchQuery(geometry=tri, limit=1000)).rows} == want


def test_datetime_intervals(index, items):
    def span(i):
        p = i["properties"]
        return (dt.datetime.fromisoformat(p["start_datetime"].replace("Z", "+00:00")),
                dt.datetime.fromisoformat(p["end_datetime"].replace("Z", "+00:00")))

    from cube.catalog._cql2 import to_timestamp_us

    rng = random.Random(9)
    for _ in range(30):
        a = T0 + dt.timedelta(days=rng.uniform(0, 400))
        b = a + dt.timedelta(days=rng.choice([0.0001, 5, 50, 300]))
        for lo, hi in [(a, b), (None, b), (a, None)]:
            want = {i["id"] for i in items if (lo is None or span(i)[1] >= lo)
                    and (hi is None or span(i)[0] <= hi)}
            q = SearchQuery(start_us=to_timestamp_us(lo) if lo else None,
                            end_us=to_timestamp_us(hi) if hi else None, limit=100000)
            assert {r.item_id for r in index.search(q).rows} == want


def test_sort_and_offset_paging(index, items):
    key = {"sat:relative_orbit": lambda i: i["properties"]["sat:relative_orbit"],
           "sarcube:burst_id": lambda i: i["properties"]["sarcube:burst_id"],
           "start_datetime": lambda i: i["properties"]["start_datetime"],
           "id": lambda i: i["id"]}
    for fields in [[("sat:relative_orbit", True), ("start_datetime", False)],
                   [("sarcube:burst_id", False)], [("id", False)]]:
        want = sorted(items, key=lambda i: i["id"])
        for name, asc in reversed(fields):
            want = sorted(want, key=key[name], reverse=not asc)
        got, offset = [], 0
        while True:
            page = index.search(SearchQuery(sortby=fields, limit=7, offset=offset))
            got += [r.item_id for r in page.rows]
            if not page.more:
                break
            offset += 7
        assert got == [i["id"] for i in want]


# -- CQL2 ----------------------------------------------------------------------------------------
def _prop(name):
    return {"property": name}


def random_expr(rng: random.Random, items: list[dict], depth: int = 0) -> dict:
    if depth < 2 and rng.random() < 0.4:
        op = rng.choice(["and", "or", "not"])
        if op == "not":
            return {"op": "not", "args": [random_expr(rng, items, depth + 1)]}
        return {"op": op, "args": [random_expr(rng, items, depth + 1) for _ in range(rng.randint(2, 3))]}
    item = rng.choice(items)
    p = item["properties"]
    kind = rng.randrange(12)
    cmp = rng.choice(["=", "<>", "<", "<=", ">", ">="])
    if kind == 0:
        v = p["sat:relative_orbit"] + rng.choice([-1, 0, 0, 1])
        return {"op": cmp, "args": [_prop("sat:relative_orbit"), v]}
    if kind == 1:
        name = rng.choice(["sat:orbit_state", "sarcube:swath", "sarcube:burst_id", "platform",
                           "collection", "id"])
        value = p.get(name) if name in p else item[name]
        return {"op": rng.choice(["=", "<>"]), "args": [_prop(name), value]}
    if kind == 2:
        name, vals = rng.choice([("sarcube:swath", ["IW1", "IW2", "IW3"]),
                                 ("sat:relative_orbit", [1, 44, 71, 175]),
                                 ("collection", ["cslc", "coherence", "sentinel-1-slc-bursts"])])
        return {"op": "in", "args": [_prop(name), rng.sample(vals, rng.randint(1, 2))]}
    if kind == 3:
        lo = rng.choice([1, 40, 44, 70])
        return {"op": "between", "args": [_prop("sat:relative_orbit"), lo, lo + rng.choice([0, 4, 100])]}
    if kind == 4:
        b = p["sarcube:burst_id"]
        pattern = rng.choice([b[:5] + "%", "%" + b[-3:], b[:-1] + "_", "t%_iw_", b.upper()])
        return {"op": "like", "args": [_prop("sarcube:burst_id"), pattern]}
    if kind == 5:
        name = rng.choice(["datetime", "start_datetime", "end_datetime"])
        t = p.get("start_datetime") if rng.random() < 0.5 else _iso(T0 + dt.timedelta(days=rng.uniform(0, 400)))
        return {"op": cmp, "args": [_prop(name), {"timestamp": t}]}
    if kind == 6:
        return {"op": "isNull", "args": [_prop(rng.choice(["datetime", "sat:absolute_orbit",
                                                           "sarcube:bperp_m",
                                                           "sarcube:temporal_baseline_days"]))]}
    if kind == 7:
        op = rng.choice(["a_equals", "a_contains", "a_containedBy", "a_overlaps"])
        pols = rng.sample(["VV", "VH", "HH", "HV"], rng.randint(1, 2))
        return {"op": op, "args": [_prop("sar:polarizations"), pols]}
    if kind == 8:
        x, y = item["bbox"][0], item["bbox"][1]
        w = rng.choice([0.01, 0.2, 5])
        return {"op": "s_intersects", "args": [_prop("geometry"),
                                                {"bbox": [x - w, y - w, min(180, x + w), y + w]}]}
    if kind == 9:
        c = shapely.geometry.shape(item["geometry"]).centroid
        pt = {"type": "Point", "coordinates": [c.x + rng.choice([0, 0.3]), c.y]}
        return {"op": "s_intersects", "args": [_prop("geometry"), pt]}
    if kind == 10:
        return {"op": cmp, "args": [_prop("sarcube:temporal_baseline_days"), rng.choice([0, 12, 24, 40])]}
    return {"op": cmp, "args": [_prop("sat:absolute_orbit"), p.get("sat:absolute_orbit", 40044)]}


def _reference(expr: cql2.Expr, item: dict) -> bool:
    """cql2's evaluator; an expression it cannot reduce (a null operand) does not match."""
    try:
        return bool(expr.matches(item))
    except Exception as exc:  # noqa: BLE001 - cql2 raises a plain Exception for 'unknown'
        assert "reduce" in str(exc), exc
        return False


def test_cql2_translation_matches_brute_force(index, items):
    rng = random.Random(11)
    nontrivial = 0
    for _ in range(300):
        expr = random_expr(rng, items)
        parsed = cql2.parse_json(json.dumps(expr))
        want = {i["id"] for i in items if _reference(parsed, i)}
        got = {r.item_id for r in index.search(SearchQuery(filter=expr, limit=100000)).rows}
        assert got == want, json.dumps(expr)
        nontrivial += 0 < len(want) < len(items)
    assert nontrivial > 100


def test_cql2_text_parses_and_bad_filters_raise(index, items):
    from cube.catalog import cql2_to_json

    expr = cql2_to_json("\"sarcube:swath\" = 'IW2' AND \"sat:relative_orbit\" IN (1, 44)")
    want = {i["id"] for i in items if i["properties"]["sarcube:swath"] == "IW2"
            and i["properties"]["sat:relative_orbit"] in (1, 44)}
    assert {r.item_id for r in index.search(SearchQuery(filter=expr, limit=10**5)).rows} == want
    for bad in ["nosuch = 1", "\"sarcube:swath\" = 3", "\"sar:polarizations\" = 'VV'",
                "T_INTERSECTS(datetime, INTERVAL('2023-01-01T00:00:00Z', '..'))",
                "\"sat:relative_orbit\" = "]:
        with pytest.raises(InputError):
            index.search(SearchQuery(filter=cql2_to_json(bad), limit=1))
    with pytest.raises(InputError):
        index.search(SearchQuery(sortby=[("nosuch", True)]))


def test_cql2_values_are_bound_not_pasted(index, items):
    """A quote, a backslash or SQL in a value is a value: no match, no error, no effect."""
    from cube.catalog import cql2_to_json

    one = items[0]["id"]
    for value in ["x' OR '1'='1", "O''Brien", "x\\' OR 1=1 --", f"{one}'; DROP TABLE items; --"]:
        expr = {"op": "or", "args": [{"op": "=", "args": [{"property": "id"}, value]},
                                     {"op": "like", "args": [{"property": "id"}, value + "%"]}]}
        assert index.search(SearchQuery(filter=expr, limit=10)).rows == []
    text = cql2_to_json("id = 'O''Brien' OR id = '" + one + "'")
    assert [r.item_id for r in index.search(SearchQuery(filter=text, limit=10)).rows] == [one]
