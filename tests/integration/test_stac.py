"""The STAC API on a real uvicorn, searched with pystac-client, against independent expectations.

A simulated cube (6 dates × 2 bursts of IW2, 2 dates × 1 burst of IW1) is ingested (dates out
of order, in two runs); the expected answer of every search is computed here from the items
ingest wrote to ``catalog/`` (shapely for space, the datetimes for time, plain Python for the
filters) and from the pair rule stated in docs/stac.md; baselines are compared with
``compute_baseline`` evaluated directly on the per-date metadata. Every item and collection
served is validated against the offline JSON schemas in ../shared/data/stac-schemas.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest
import shapely
import shapely.geometry
from _live import serve
from fastapi import FastAPI
from jsonschema.validators import validator_for
from pystac_client import Client
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT7

from cube.api.stac import make_stac_app
from cube.catalog import INDEX_PATH, StacIndex
from cube.geometry import compute_baseline
from cube.ingest import ingest
from cube.products import PRODUCTS
from cube.storage import open_store, read_date_metadata

SCHEMAS = Path(__file__).resolve().parents[3] / "shared" / "data" / "stac-schemas"
SLC = "sentinel-1-slc-bursts"
PAIR_DAYS = 48  # the pair rule of docs/stac.md: consecutive dates, or at most 48 days apart


# -- offline schema validation ------------------------------------------------------------------
@pytest.fixture(scope="module")
def validate():
    """validate(obj): core schema + every extension schema the object declares, offline."""
    if not (SCHEMAS / "index.json").is_file():
        pytest.skip(f"offline STAC schemas not found at {SCHEMAS}")
    index = json.loads((SCHEMAS / "index.json").read_text())
    resources = []
    for url, rel in index.items():
        if rel.endswith(".json"):
            contents = json.loads((SCHEMAS / rel).read_text())
            resources.append((url, Resource.from_contents(contents, default_specification=DRAFT7)))

    def no_network(uri: str):
        raise NoSuchResource(ref=uri)

    for path in (Path(__file__).parent / "stac_schemas").glob("*.json"):  # extensions the set lacks
        contents = json.loads(path.read_text())
        resources.append((contents["$id"], Resource.from_contents(contents, default_specification=DRAFT7)))
    registry = Registry(retrieve=no_network).with_resources(resources)
    validators = {}

    def check(obj: dict) -> None:
        kind = {"Feature": "item-spec/json-schema/item.json",
                "Collection": "collection-spec/json-schema/collection.json",
                "Catalog": "catalog-spec/json-schema/catalog.json"}[obj["type"]]
        urls = [f"https://schemas.stacspec.org/v{obj['stac_version']}/{kind}",
                *obj.get("stac_extensions", [])]
        for url in urls:
            if url not in validators:
                schema = registry.contents(url)
                validators[url] = validator_for(schema)(schema, registry=registry)
            validators[url].validate(obj)

    return check


def test_the_validator_rejects_broken_items(validate, truth, server):
    item = httpx.get(f"{server}/collections/{SLC}/items/{truth.slc_items[0]['id']}").json()
    validate(item)
    unlinked = {**item, "links": []}  # an item naming its collection needs a collection link
    with pytest.raises(Exception, match="collection"):
        validate(unlinked)
    bad = json.loads(json.dumps(item))
    bad["properties"]["sar:polarizations"] = ["XX"]
    with pytest.raises(Exception, match="XX"):
        validate(bad)
    bad = json.loads(json.dumps(item))
    del bad["properties"]["sat:orbit_state"], bad["properties"]["sat:relative_orbit"]
    bad["properties"]["sat:absolute_orbit"] = -3
    with pytest.raises(Exception, match="-3"):
        validate(bad)


# -- the cube and what it must answer ------------------------------------------------------------
class Truth:
    """Expected items computed from catalog/*.json (what ingest wrote) and the pair rule."""

    def __init__(self, cube: Path):
        self.slc_items = [json.loads(p.read_text()) for p in sorted((cube / "catalog").rglob("*.json"))]
        self.records: list[dict] = []
        by_burst: dict[str, list[dict]] = {}
        for it in self.slc_items:
            p = it["properties"]
            rec = dict(id=it["id"], collection=SLC, geom=shapely.geometry.shape(it["geometry"]),
                       start=_t(p["start_datetime"]), end=_t(p["end_datetime"]),
                       datetime=_t(p["datetime"]), burst_id=p["sarcube:burst_id"],
                       swath=p["sarcube:swath"], relative_orbit=p["sat:relative_orbit"],
                       orbit_state=p["sat:orbit_state"], pols=set(p["sar:polarizations"]),
                       date_keys=(p["sarcube:date_key"],))
            self.records.append(rec)
            by_burst.setdefault(rec["burst_id"], []).append(rec)
            for name, spec in PRODUCTS.items():
                if spec.dates == 1:
                    self.records.append({**rec, "id": f"{it['id']}_{name}", "collection": name})
        self.pairs: dict[str, list[tuple[dict, dict]]] = {}
        for burst_id, recs in by_burst.items():
            recs.sort(key=lambda r: r["datetime"])
            pairs = []
            for i, r in enumerate(recs):
                for j in range(i + 1, len(recs)):
                    s = recs[j]
                    days = (s["start"] - r["start"]).total_seconds() / 86400
                    if j == i + 1 or round(days) <= PAIR_DAYS:
                        pairs.append((r, s))
            self.pairs[burst_id] = pairs
            for name, spec in PRODUCTS.items():  # per burst ID: its latest date, spanning them all
                if spec.dateless:
                    self.records.append({**recs[-1], "id": f"{burst_id}_{name}", "collection": name,
                                         "start": recs[0]["start"], "datetime": None, "date_keys": ()})
            for r, s in pairs:
                for name, spec in PRODUCTS.items():
                    if spec.pair:
                        self.records.append({
                            **r, "id": f"{burst_id}_{r['date_keys'][0]}_{s['date_keys'][0]}_{name}",
                            "collection": name, "geom": r["geom"].intersection(s["geom"]),
                            "start": r["start"], "end": s["end"], "datetime": None,
                            "pols": r["pols"] & s["pols"],
                            "date_keys": (r["date_keys"][0], s["date_keys"][0])})
        self.bursts = sorted(by_burst)

    def ids(self, pred=lambda r: True, collections=None) -> set[str]:
        return {r["id"] for r in self.records
                if (collections is None or r["collection"] in collections) and pred(r)}


def _t(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    from cube.simulate import simulate_stack

    out = tmp_path_factory.mktemp("stac-sim")
    a = simulate_stack(out / "a", dates=6, bursts=2, size="tiny", seed=11)
    b = simulate_stack(out / "b", dates=2, bursts=1, size="tiny", seed=12, swath="IW1")
    return a, b


@pytest.fixture(scope="module")
def cube(stacks, tmp_path_factory) -> Path:
    a, b = stacks
    path = tmp_path_factory.mktemp("stac-cube") / "cube"
    store = open_store(str(path))
    first = [a.safe_paths[i] for i in (0, 5, 2)]  # out of order: pairs 0-5, 0-2 are consecutive for now
    ingest([str(p) for p in first], store, progress=False)
    rest = [p for p in a.safe_paths if p not in first] + list(b.safe_paths)
    ingest([str(p) for p in rest], store, progress=False)
    return path


@pytest.fixture(scope="module")
def truth(cube) -> Truth:
    return Truth(cube)


@pytest.fixture(scope="module")
def materialized_calls():
    return []


@pytest.fixture(scope="module")
def server(cube, truth, materialized_calls):
    first = truth.slc_items[0]["properties"]

    def materialized(product, burst_id, date_keys):
        materialized_calls.append((product, burst_id, date_keys))
        return product == "cslc" and (burst_id, date_keys) == (first["sarcube:burst_id"],
                                                               (first["sarcube:date_key"],))

    with serve(make_stac_app(str(cube), materialized=materialized)) as url:
        yield url


@pytest.fixture(scope="module")
def client(server) -> Client:
    return Client.open(f"{server}/")


def _ids(search) -> set[str]:
    out = [f["id"] for page in search.pages_as_dicts() for f in page["features"]]
    assert len(out) == len(set(out)), "an item came twice"
    return set(out)


# -- tests ----------------------------------------------------------------------------------------
def test_ingest_indexes_idempotently(cube, stacks, truth):
    a, b = stacks
    with StacIndex.open(cube / INDEX_PATH) as idx:
        before = idx.stats()
    assert before["dates"] == len(truth.slc_items) == 14
    assert before["items"] == len(truth.records)
    assert before["pairs"] == sum(len(p) for p in truth.pairs.values())
    report = ingest([str(p) for p in [*a.safe_paths, *b.safe_paths]], open_store(str(cube)),
                    progress=False)
    assert not report.added
    with StacIndex.open(cube / INDEX_PATH) as idx:
        assert idx.stats() == before


def test_landing_conformance_collections_validate(client, server, validate, truth):
    conf = set(client.to_dict()["conformsTo"])
    for c in ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search",
              "https://api.stacspec.org/v1.0.0/ogcapi-features",
              "https://api.stacspec.org/v1.0.0/collections",
              "https://api.stacspec.org/v1.0.0/item-search#fields",
              "https://api.stacspec.org/v1.1.0/item-search#sort",
              "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
              "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
              "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
              "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
              "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
              "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
              "http://www.opengis.net/spec/cql2/1.0/conf/array-functions"]:
        assert c in conf
    # nothing is advertised that is not implemented
    assert not any("aggregation" in c or "transaction" in c or "free-text" in c or "#query" in c
                   or "collection-search" in c or "temporal-functions" in c for c in conf)
    landing = httpx.get(f"{server}/").json()
    validate(landing)
    cols = httpx.get(f"{server}/collections").json()["collections"]
    assert {c["id"] for c in cols} == {SLC, *PRODUCTS}
    for c in cols:
        validate(c)
        one = httpx.get(f"{server}/collections/{c['id']}").json()
        validate(one)
        assert one["extent"] == c["extent"]
        n = len(truth.ids(collections={c["id"]}))
        assert n > 0
    slc = next(c for c in cols if c["id"] == SLC)
    starts = [r["start"] for r in truth.records if r["collection"] == SLC]
    assert _t(slc["extent"]["temporal"]["interval"][0][0]) == min(starts)
    assert slc["summaries"]["sarcube:swath"] == ["IW1", "IW2"]
    assert httpx.get(f"{server}/collections/nope").status_code == 404


def test_paging_one_by_one_returns_every_item_once_and_all_validate(client, truth, validate):
    seen = []
    search = client.search(limit=1, method="GET")
    for page in search.pages_as_dicts():
        assert len(page["features"]) <= 1
        for f in page["features"]:
            validate(f)
            seen.append(f["id"])
    assert len(seen) == len(set(seen)) == len(truth.records)
    assert set(seen) == truth.ids()
    # POST paging too (token in the next link's body)
    assert _ids(client.search(limit=7, method="POST")) == truth.ids()


def test_item_properties_and_assets(server, truth):
    burst = truth.bursts[0]
    r, s = truth.pairs[burst][0]
    item_id = f"{burst}_{r['date_keys'][0]}_{s['date_keys'][0]}_interferogram"
    item = httpx.get(f"{server}/collections/interferogram/items/{item_id}").json()
    p = item["properties"]
    assert p["datetime"] is None and _t(p["start_datetime"]) == r["start"]
    assert _t(p["end_datetime"]) == s["end"]
    assert p["sarcube:burst_id"] == burst and p["sar:polarizations"] == ["VV"]
    assert p["proj:code"].startswith("EPSG:326") and p["processing:level"] == "L2"
    assert p["sarcube:materialized"] is False
    assert abs(p["sarcube:temporal_baseline_days"] - 12) < 1e-3
    ref = p["sarcube:reference_datetime"]
    assert item["assets"]["zarr"]["href"] == f"{server}/zarr/{burst}/interferogram"
    tif = httpx.URL(item["assets"]["geotiff"]["href"])
    assert tif.path == "/ard/interferogram" and tif.params["reference"] == ref
    assert tif.params["burst_id"] == burst and tif.params["format"] == "tif"
    tiles = httpx.URL(item["assets"]["tilejson"]["href"])
    assert tiles.path == "/tiles/interferogram/WebMercatorQuad/tilejson.json"
    assert tiles.params["secondary"] == p["sarcube:secondary_datetime"]
    assert shapely.geometry.shape(item["geometry"]).equals(r["geom"].intersection(s["geom"]))
    # per-date product: proj:code of the burst's fixed UTM grid, materialized from the callable
    first = truth.slc_items[0]
    cslc = httpx.get(f"{server}/collections/cslc/items/{first['id']}_cslc").json()
    assert cslc["properties"]["sarcube:materialized"] is True
    other = httpx.get(f"{server}/collections/cslc/items/{truth.slc_items[1]['id']}_cslc").json()
    assert other["properties"]["sarcube:materialized"] is False
    from cube.geometry import make_burst_grid

    meta = read_date_metadata(open_store(str(Path(first["assets"]["vv"]["href"]).parents[2])),
                              first["properties"]["sarcube:burst_id"], "VV",
                              first["properties"]["sarcube:date_key"])
    assert cslc["properties"]["proj:code"] == f"EPSG:{make_burst_grid(meta).epsg}"
    geo = httpx.URL(cslc["assets"]["geotiff"]["href"])
    assert geo.params["datetime"] == first["properties"]["datetime"]
    assert httpx.get(f"{server}/collections/cslc/items/nope").status_code == 404


def test_bbox_and_intersects(client, truth):
    g = truth.records[0]["geom"]
    c = g.centroid
    boxes = [
        (c.x - 0.001, c.y - 0.001, c.x + 0.001, c.y + 0.001),  # inside one burst
        g.bounds,
        (-180.0, -90.0, 180.0, 90.0),
        (0.0, 0.0, 1.0, 1.0),  # nowhere
        (179.0, -90.0, -120.0, 90.0),  # across the antimeridian, holding every burst
    ]
    lo, la = zip(*[r["geom"].centroid.coords[0] for r in truth.records if r["collection"] == SLC],
                 strict=True)
    boxes.append((min(lo), min(la), (min(lo) + max(lo)) / 2, (min(la) + max(la)) / 2))
    for box in boxes:
        q = (shapely.box(*box) if box[0] <= box[2] else
             shapely.box(box[0], box[1], 180, box[3]).union(shapely.box(-180, box[1], box[2], box[3])))
        expected = truth.ids(lambda r, q=q: r["geom"].intersects(q))
        assert _ids(client.search(bbox=list(box), limit=100, method="GET")) == expected, box
        assert _ids(client.search(bbox=list(box), limit=100, method="POST")) == expected, box
    tri = shapely.Polygon([(c.x, c.y), (c.x + 1, c.y + 0.3), (c.x + 1, c.y - 0.3)])
    expected = truth.ids(lambda r: r["geom"].intersects(tri))
    assert 0 < len(expected) < len(truth.records)
    for method in ("GET", "POST"):
        assert _ids(client.search(intersects=shapely.geometry.mapping(tri), limit=100,
                                  method=method)) == expected


def test_datetime_closed_and_open_intervals(client, truth):
    slc = sorted(r["start"] for r in truth.records if r["collection"] == SLC)
    t1, t2 = slc[3] - dt.timedelta(hours=1), slc[9] + dt.timedelta(hours=1)
    iso = [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in (t1, t2)]
    cases = {
        f"{iso[0]}/{iso[1]}": lambda r: r["start"] <= t2 and r["end"] >= t1,
        f"../{iso[1]}": lambda r: r["start"] <= t2,
        f"{iso[0]}/..": lambda r: r["end"] >= t1,
    }
    for value, pred in cases.items():
        expected = truth.ids(pred)
        assert 0 < len(expected) < len(truth.records), value
        for method in ("GET", "POST"):
            assert _ids(client.search(datetime=value, limit=100, method=method)) == expected, value
    # an instant: the items whose time span holds it
    r0 = next(r for r in truth.records if r["collection"] == SLC)
    instant = r0["start"] + (r0["end"] - r0["start"]) / 2
    expected = truth.ids(lambda r: r["start"] <= instant <= r["end"])
    got = _ids(client.search(datetime=instant.isoformat().replace("+00:00", "Z"), limit=100))
    assert got == expected and r0["id"] in got


def _filters(truth):
    b0, b1 = truth.bursts[0], truth.bursts[-1]
    return [
        ('"sat:relative_orbit" = 108', {"op": "=", "args": [{"property": "sat:relative_orbit"}, 108]},
         lambda r: r["relative_orbit"] == 108),
        ('"sat:relative_orbit" <> 108 OR "sarcube:swath" = \'IW1\'',
         {"op": "or", "args": [{"op": "<>", "args": [{"property": "sat:relative_orbit"}, 108]},
                               {"op": "=", "args": [{"property": "sarcube:swath"}, "IW1"]}]},
         lambda r: r["relative_orbit"] != 108 or r["swath"] == "IW1"),
        ('"sat:orbit_state" = \'ascending\' AND "sarcube:swath" = \'IW2\'',
         {"op": "and", "args": [{"op": "=", "args": [{"property": "sat:orbit_state"}, "ascending"]},
                                {"op": "=", "args": [{"property": "sarcube:swath"}, "IW2"]}]},
         lambda r: r["orbit_state"] == "ascending" and r["swath"] == "IW2"),
        ('"sat:orbit_state" = \'descending\'',
         {"op": "=", "args": [{"property": "sat:orbit_state"}, "descending"]},
         lambda r: r["orbit_state"] == "descending"),
        ("A_CONTAINS(\"sar:polarizations\", ('VV'))",
         {"op": "a_contains", "args": [{"property": "sar:polarizations"}, ["VV"]]},
         lambda r: "VV" in r["pols"]),
        ("A_OVERLAPS(\"sar:polarizations\", ('VH', 'HH'))",
         {"op": "a_overlaps", "args": [{"property": "sar:polarizations"}, ["VH", "HH"]]},
         lambda r: bool(r["pols"] & {"VH", "HH"})),
        (f"\"sarcube:burst_id\" = '{b0}'",
         {"op": "=", "args": [{"property": "sarcube:burst_id"}, b0]},
         lambda r: r["burst_id"] == b0),
        (f"\"sarcube:burst_id\" IN ('{b0}', '{b1}') AND collection = 'coherence'",
         {"op": "and", "args": [
             {"op": "in", "args": [{"property": "sarcube:burst_id"}, [b0, b1]]},
             {"op": "=", "args": [{"property": "collection"}, "coherence"]}]},
         lambda r: r["burst_id"] in (b0, b1) and r["collection"] == "coherence"),
        ("\"sarcube:burst_id\" LIKE '%iw2' AND NOT \"sarcube:swath\" = 'IW1'",
         {"op": "and", "args": [
             {"op": "like", "args": [{"property": "sarcube:burst_id"}, "%iw2"]},
             {"op": "not", "args": [{"op": "=", "args": [{"property": "sarcube:swath"}, "IW1"]}]}]},
         lambda r: r["burst_id"].endswith("iw2") and r["swath"] != "IW1"),
        ("\"sarcube:swath\" = 'IW1'", {"op": "=", "args": [{"property": "sarcube:swath"}, "IW1"]},
         lambda r: r["swath"] == "IW1"),
    ]


def test_filter_text_and_json_on_each_property(client, truth):
    for text, js, pred in _filters(truth):
        expected = truth.ids(pred)
        got = [
            _ids(client.search(filter=text, filter_lang="cql2-text", limit=200, method="GET")),
            _ids(client.search(filter=js, limit=200, method="GET")),  # cql2-json in the URL
            _ids(client.search(filter=js, limit=200, method="POST")),
        ]
        assert all(g == expected for g in got), text
    assert len(truth.ids(_filters(truth)[8][2])) > 0


def test_ids_collections_and_the_collection_items_endpoint(client, server, truth):
    some = sorted(truth.ids())[::17]
    assert _ids(client.search(ids=some, limit=100)) == set(some)
    assert _ids(client.search(ids=some, collections=[SLC], limit=100)) == {
        i for i in some if i in truth.ids(collections={SLC})}
    for name in [SLC, "cslc", "coherence"]:
        assert _ids(client.search(collections=[name], limit=100)) == truth.ids(collections={name})
    # /collections/{id}/items with bbox, datetime, filter and paging
    burst = truth.bursts[-1]
    g = next(r["geom"] for r in truth.records if r["burst_id"] == burst)
    url = f"{server}/collections/coherence/items"
    params = {"bbox": ",".join(map(str, g.bounds)), "limit": 3,
              "filter": f"\"sarcube:burst_id\" = '{burst}'"}
    seen = []
    while url:
        page = httpx.get(url, params=params).json()
        seen += [f["id"] for f in page["features"]]
        nxt = [link for link in page["links"] if link["rel"] == "next"]
        url, params = (nxt[0]["href"], None) if nxt else (None, None)
    assert set(seen) == truth.ids(lambda r: r["geom"].intersects(shapely.box(*g.bounds))
                                  and r["burst_id"] == burst, {"coherence"})
    assert len(seen) == len(set(seen)) > 3


def test_sortby(client, truth):
    def order(search):
        return [f["id"] for page in search.pages_as_dicts() for f in page["features"]]

    slc = [r for r in truth.records if r["collection"] == SLC]
    want = [r["id"] for r in sorted(sorted(slc, key=lambda r: r["id"]), key=lambda r: r["datetime"],
                                    reverse=True)]
    for method in ("GET", "POST"):
        assert order(client.search(collections=[SLC], sortby="-datetime", limit=5,
                                   method=method)) == want
    want = [r["id"] for r in sorted(slc, key=lambda r: (r["burst_id"], r["datetime"]))]
    for method in ("GET", "POST"):
        got = order(client.search(collections=[SLC], sortby=["+sarcube:burst_id", "+datetime"],
                                  limit=4, method=method))
        assert got == want
    with pytest.raises(Exception, match="cannot sort by 'nosuch'"):
        order(client.search(sortby="-nosuch", limit=4))


def test_fields(client, truth):
    for method in ("GET", "POST"):
        page = next(client.search(collections=["cslc"], fields=["id", "properties.sarcube:burst_id",
                                                                 "-geometry"],
                                  limit=3, method=method).pages_as_dicts())
        for f in page["features"]:
            assert "geometry" not in f and f["id"] in truth.ids()
            assert set(f["properties"]) == {"datetime", "sarcube:burst_id"}
            assert "assets" in f and "bbox" in f
        page = next(client.search(collections=["cslc"], fields=["-assets"], limit=2,
                                  method=method).pages_as_dicts())
        for f in page["features"]:
            assert "assets" not in f and "sar:polarizations" in f["properties"]


def test_bad_requests_are_400(server):
    for params in [{"filter": "nosuch = 3"}, {"filter": "\"sat:relative_orbit\" = "},
                   {"bbox": "1,2,3"}, {"datetime": "2024-13-01T00:00:00Z"},
                   {"filter": "\"sarcube:swath\" = 3"}, {"token": "garbage"}]:
        r = httpx.get(f"{server}/search", params=params)
        assert r.status_code == 400, (params, r.text)
    r = httpx.post(f"{server}/search", json={"filter": {"op": "t_intersects", "args": [
        {"property": "datetime"}, {"interval": ["2024-01-01T00:00:00Z", ".."]}]}})
    assert r.status_code == 400


def test_pair_search_matches_compute_baseline(server, cube, truth):
    store = open_store(str(cube))
    burst = truth.bursts[-1]  # an IW2 burst with six dates
    keys = sorted(r["date_keys"][0] for r in truth.records if r["collection"] == SLC and
                  r["burst_id"] == burst)
    meta = {k: read_date_metadata(store, burst, "VV", k) for k in keys}
    direct = {(a, b): compute_baseline(meta[a], meta[b]) for i, a in enumerate(keys)
              for b in keys[i + 1:]}
    all_pairs = httpx.get(f"{server}/pairs", params={"burst_id": burst}).json()["pairs"]
    assert len(all_pairs) == len(direct) == 15
    rule = {(r["date_keys"][0], s["date_keys"][0]) for r, s in truth.pairs[burst]}
    for p in all_pairs:
        key = (p["reference_date_key"], p["secondary_date_key"])
        d = direct[key]
        assert p["in_pair_rule"] == (key in rule)
        tol = 1e-6 if p["baseline"] == "exact" else 0.01
        assert p["baseline"] == ("exact" if key in rule else "anchor_difference")
        assert abs(p["bperp_m"] - d["bperp_m"]) < tol and abs(p["bpar_m"] - d["bpar_m"]) < tol
        days = (_t(p["secondary_datetime"]) - _t(p["reference_datetime"])).total_seconds() / 86400
        assert abs(p["temporal_baseline_days"] - days) < 1e-6
        assert len(p["links"]) == (sum(s.pair for s in PRODUCTS.values()) if key in rule else 0)
    # limits: days and |Bperp|
    bperps = sorted(abs(d["bperp_m"]) for d in direct.values())
    limit = (bperps[6] + bperps[7]) / 2
    got = httpx.get(f"{server}/pairs", params={"burst_id": burst, "max_days": 30,
                                               "max_bperp_m": limit}).json()["pairs"]
    want = {k for k, d in direct.items() if abs(d["bperp_m"]) <= limit and
            (meta[k[1]].sensing_start - meta[k[0]].sensing_start).total_seconds() <= 30 * 86400}
    assert {(p["reference_date_key"], p["secondary_date_key"]) for p in got} == want
    assert 0 < len(want) < len(direct)
    for p in got:
        for link in p["links"]:
            assert httpx.get(link["href"]).status_code == 200
    missing = httpx.get(f"{server}/pairs", params={"burst_id": "t999_999999_iw9"})
    assert missing.status_code == 404 and "t999_999999_iw9" in missing.json()["description"]
    bad = httpx.get(f"{server}/pairs", params={"burst_id": burst, "datetime": "yesterday"})
    assert bad.status_code == 400


def test_mounted_under_stac_links_carry_the_prefix(cube, truth, validate):
    outer = FastAPI()
    outer.mount("/stac", make_stac_app(str(cube)))
    with serve(outer) as url:
        client = Client.open(f"{url}/stac/")
        assert client.get_self_href().rstrip("/") == f"{url}/stac"
        items = list(client.search(collections=["amplitude"], limit=5).items())
        assert {i.id for i in items} == truth.ids(collections={"amplitude"})
        item = items[0].to_dict()
        validate(item)
        assert item["links"][0]["href"].startswith(f"{url}/stac/collections/amplitude/items/")
        burst = item["properties"]["sarcube:burst_id"]
        assert item["assets"]["zarr"]["href"] == f"{url}/zarr/{burst}/amplitude"
        landing = httpx.get(f"{url}/stac/").json()
        hrefs = [link["href"] for link in landing["links"]]
        assert all(h.startswith(f"{url}/stac") for h in hrefs), hrefs
        assert httpx.get(f"{url}/stac/api").status_code == 200  # the service-desc link
        col = httpx.get(f"{url}/stac/collections/{SLC}").json()
        assert col["links"][0]["href"] == f"{url}/stac/collections/{SLC}"


@pytest.mark.s3
def test_s3_cube_index_is_read_remotely_and_refreshed(stacks, s3_server):
    _, b = stacks
    opts = s3_server["storage_options"]
    url = "s3://cubes/stac-remote"
    store = open_store(url, opts)
    ingest([str(b.safe_paths[0])], store, progress=False)
    assert store.exists(INDEX_PATH)
    with serve(make_stac_app(url, storage_options=opts, refresh_s=0)) as api:
        client = Client.open(f"{api}/")
        first = _ids(client.search(limit=50))
        n_date = 1 + sum(s.dates == 1 for s in PRODUCTS.values())
        n_burst = sum(s.dateless for s in PRODUCTS.values())
        assert len(first) == n_date + n_burst
        ingest([str(b.safe_paths[1])], store, progress=False)  # a new date: a new index object
        second = _ids(client.search(limit=50))
        assert len(second) == 2 * n_date + sum(s.pair for s in PRODUCTS.values()) + n_burst
        assert first < second
