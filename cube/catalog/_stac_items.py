"""STAC items and collections as the API serves them, built from rows of the index.

- ``sentinel-1-slc-bursts``: the item ingest wrote (``make_slc_item``) with the processing and
  view extensions added (:func:`make_indexed_slc_item`, at index time).
- One collection per ARD product: per-date products get one item per burst date, pair
  products one item per pair of the pair rule (``cube.format.pair_in_rule``). Their assets
  point at the ``/zarr``, ``/ard`` and ``/tiles`` endpoints of the API; ``sarcube:materialized``
  says whether the product is already computed (:func:`make_product_item`). The zarr asset
  carries ``xarray:open_kwargs`` (xarray-assets extension), so that
  ``xr.open_dataset(item.assets["zarr"], engine="stac")`` (xpystac) opens it; the GeoTIFF
  asset is typed as a COG with ``proj:shape``/``proj:transform`` for odc-stac and stackstac.
"""

from __future__ import annotations

import copy
import datetime as _dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from cube import __version__
from cube.catalog._cql2 import QUERYABLES
from cube.catalog._index import KIND_BURST, KIND_PAIR, KIND_SLC, SLC_COLLECTION, ItemRow, ProductInfo
from cube.catalog._index import _iso as _iso_us
from cube.format import rule_pairs
from cube.products import PRODUCTS, DisplacementOptions, ProductSpec

STAC_VERSION = "1.1.0"
SAR_EXT = "https://stac-extensions.github.io/sar/v1.0.0/schema.json"
SAT_EXT = "https://stac-extensions.github.io/sat/v1.0.0/schema.json"
PROJ_EXT = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
PROCESSING_EXT = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
VIEW_EXT = "https://stac-extensions.github.io/view/v1.0.0/schema.json"
XARRAY_EXT = "https://stac-extensions.github.io/xarray-assets/v1.0.0/schema.json"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
#: How xarray opens a product's zarr asset (``xarray:open_kwargs``): the /zarr store is zarr v3
#: with consolidated metadata; ``chunks={}`` keeps it lazy, one dask chunk per stored chunk.
ZARR_OPEN_KWARGS = {"engine": "zarr", "zarr_format": 3, "consolidated": True, "chunks": {}}
LICENSE_URL = "https://sentinels.copernicus.eu/documents/247904/690755/Sentinel_Data_Legal_Notice"

Materialized = Callable[[str, str, tuple[str, ...]], bool]
"""``materialized(product, burst_id, date_keys) -> bool``: is that product computed already?"""


def default_products() -> dict[str, ProductSpec]:
    """``cube.products.PRODUCTS`` (name → spec)."""
    return dict(PRODUCTS)


def product_infos(products: Mapping[str, ProductSpec]) -> list[ProductInfo]:
    """The (name, pair) list the index derives product items from."""
    return [ProductInfo(name=str(p.name), pair=bool(p.pair), per_burst=bool(getattr(p, "dateless", False)))
            for p in products.values()]


@dataclass(frozen=True)
class UrlRoots:
    """Absolute roots of the URLs in served documents, without trailing slashes.

    ``stac``: where the STAC API is (``https://host/stac``); ``api``: where ``/zarr``,
    ``/ard`` and ``/tiles`` live (``https://host``).
    """

    stac: str
    api: str


def make_indexed_slc_item(item: dict[str, Any], burst: Any | None = None) -> dict[str, Any]:
    """The SLC item of a burst date as indexed: ``item`` plus the processing and view extensions.

    ``burst``: the date's ``BurstMetadata`` (for ``view:incidence_angle``, the mid-swath
    incidence angle in degrees); without it the view extension is left out.
    """
    out = copy.deepcopy(item)
    props = out["properties"]
    props.setdefault("processing:software", {"sarcube": __version__})
    props["processing:level"] = "L1"
    exts = list(out.get("stac_extensions", []))
    if PROCESSING_EXT not in exts:
        exts.append(PROCESSING_EXT)
    if burst is not None:
        props["view:incidence_angle"] = float(burst.incidence_angle_mid_swath)
        if VIEW_EXT not in exts:
            exts.append(VIEW_EXT)
    out["stac_extensions"] = exts
    out["links"] = []
    return out


def _item_links(roots: UrlRoots, collection: str, item_id: str) -> list[dict[str, Any]]:
    coll = f"{roots.stac}/collections/{collection}"
    return [
        {"rel": "self", "type": "application/geo+json", "href": f"{coll}/items/{item_id}"},
        {"rel": "parent", "type": "application/json", "href": coll},
        {"rel": "collection", "type": "application/json", "href": coll},
        {"rel": "root", "type": "application/json", "href": f"{roots.stac}/"},
    ]


def _days_between(a: str, b: str) -> float:
    ta = _dt.datetime.fromisoformat(a.replace("Z", "+00:00"))
    tb = _dt.datetime.fromisoformat(b.replace("Z", "+00:00"))
    return (tb - ta).total_seconds() / 86400.0


_SHARED = ("platform", "constellation", "instruments", "sar:instrument_mode", "sar:frequency_band",
           "sar:center_frequency", "sat:orbit_state", "sat:relative_orbit", "sarcube:burst_id",
           "sarcube:esa_burst_number", "sarcube:swath", "view:incidence_angle")


def make_item(row: ItemRow, roots: UrlRoots, products: Mapping[str, ProductSpec],
              materialized: Materialized | None = None) -> dict[str, Any]:
    """The STAC item (dict) of an index row: the SLC item or an ARD product item."""
    if row.kind == KIND_SLC:
        item = copy.deepcopy(row.slc)
        item["links"] = _item_links(roots, SLC_COLLECTION, item["id"])
        item["stac_version"] = STAC_VERSION
        return item
    return make_product_item(row, roots, products.get(row.collection), materialized)


def make_product_item(row: ItemRow, roots: UrlRoots, spec: ProductSpec | None,
                      materialized: Materialized | None = None) -> dict[str, Any]:
    """The item of one ARD product for one burst date or pair (see the module docstring)."""
    ref = row.slc["properties"]
    props: dict[str, Any] = {k: ref[k] for k in _SHARED if k in ref}
    product = row.collection
    burst_id = row.burst_id
    geometry = row.slc["geometry"]
    bbox = row.slc["bbox"]
    if row.kind == KIND_PAIR:
        assert row.secondary is not None
        sec = row.secondary["properties"]
        pols = [p for p in ref.get("sar:polarizations", []) if p in sec.get("sar:polarizations", [])]
        ref_dt, sec_dt = ref["datetime"], sec["datetime"]
        date_keys: tuple[str, ...] = (ref["sarcube:date_key"], sec["sarcube:date_key"])
        props.update({
            "datetime": None,
            "start_datetime": ref.get("start_datetime", ref_dt),
            "end_datetime": sec.get("end_datetime", sec_dt),
            "sarcube:reference_datetime": ref_dt,
            "sarcube:secondary_datetime": sec_dt,
            "sarcube:reference_date_key": date_keys[0],
            "sarcube:secondary_date_key": date_keys[1],
            "sarcube:temporal_baseline_days": (row.days if row.days is not None
                                               else _days_between(ref_dt, sec_dt)),
            "sarcube:bperp_m": row.bperp_m,
            "sarcube:bpar_m": row.bpar_m,
        })
        if row.pair_geometry is not None:
            geometry = row.pair_geometry
            bbox = _bounds(geometry)
        query = {"burst_id": burst_id, "reference": ref_dt, "secondary": sec_dt}
    elif row.kind == KIND_BURST:  # every date of the burst ID, up to its latest (this row's SLC)
        pols = list(ref.get("sar:polarizations", []))
        date_keys = ()
        props.update({
            "datetime": None,
            "start_datetime": _iso_us(row.start_us) if row.start_us is not None else ref["datetime"],
            "end_datetime": ref.get("end_datetime", ref["datetime"]),
            "sarcube:date_keys": list(row.burst_dates),
        })
        query = {"burst_id": burst_id}
    else:
        pols = list(ref.get("sar:polarizations", []))
        date_keys = (ref["sarcube:date_key"],)
        props.update({
            "datetime": ref["datetime"],
            "start_datetime": ref.get("start_datetime", ref["datetime"]),
            "end_datetime": ref.get("end_datetime", ref["datetime"]),
            "sat:absolute_orbit": ref.get("sat:absolute_orbit"),
            "sarcube:date_key": date_keys[0],
        })
        if props["sat:absolute_orbit"] is None:
            del props["sat:absolute_orbit"]
        query = {"burst_id": burst_id, "datetime": ref["datetime"]}
    props["sar:polarizations"] = pols
    props["sar:product_type"] = product.upper()
    props["proj:code"] = f"EPSG:{row.epsg}" if row.epsg else None
    if row.grid:
        g = row.grid
        props["proj:bbox"] = [g["x0"], g["y0"] - g["height"] * g["dy"], g["x0"] + g["width"] * g["dx"],
                              g["y0"]]
    props["processing:level"] = "L2"
    props["processing:software"] = {"sarcube": __version__}
    props["sarcube:product"] = product
    if spec is not None:
        props["sarcube:product_version"] = str(spec.version)
    props["sarcube:materialized"] = (bool(materialized(product, burst_id, date_keys))
                                     if materialized is not None else False)
    if product in ("displacement", "velocity"):  # the series: the pairs inverted by default
        defaults = DisplacementOptions()
        props["sarcube:network"] = {
            "network": defaults.network, "max_days": defaults.max_days,
            "rule": "the pair rule over every date of the burst: consecutive dates, and dates at most "
                    f"{defaults.max_days} days apart (options network=sequential:N, max_days= change it)",
            "pairs": [list(p) for p in rule_pairs(row.burst_dates, defaults.max_days)]}

    exts = [SAR_EXT, SAT_EXT, PROJ_EXT, PROCESSING_EXT]
    if "view:incidence_angle" in props:
        exts.append(VIEW_EXT)
    exts.append(XARRAY_EXT)
    title = spec.title if spec is not None else product
    base = roots.api
    assets = {
        "zarr": {
            "href": f"{base}/zarr/{burst_id}/{product}",
            "type": "application/vnd+zarr",
            "title": f"{title}: zarr v3 store of the burst ID (all dates, computed on read)",
            "roles": ["data"],
            "xarray:open_kwargs": dict(ZARR_OPEN_KWARGS),
        },
        "geotiff": {
            "href": f"{base}/ard/{product}?{urlencode({**query, 'format': 'tif'})}",
            "type": COG_TYPE,
            "title": f"{title} as a cloud-optimized GeoTIFF (this date or pair, default options)",
            "roles": ["data"],
            **_cog_grid(row.grid, spec),
        },
        "tilejson": {
            "href": f"{base}/tiles/{product}/WebMercatorQuad/tilejson.json?{urlencode(query)}",
            "type": "application/json",
            "title": f"{title}: TileJSON (XYZ tiles, WebMercatorQuad)",
            "roles": ["tiles"],
        },
    }
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": exts,
        "id": row.item_id,
        "geometry": geometry,
        "bbox": bbox,
        "properties": props,
        "links": _item_links(roots, product, row.item_id),
        "assets": assets,
        "collection": product,
    }


def _cog_grid(grid: dict[str, Any] | None, spec: ProductSpec | None) -> dict[str, Any]:
    """``proj:shape`` and ``proj:transform`` of the GeoTIFF export at the default options.

    The burst ID's fixed grid averaged by the default looks (a partial last look dropped),
    as ``/ard`` writes it; what odc-stac and stackstac need to place the pixels. Empty
    without a grid.
    """
    if not grid or spec is None:
        return {}
    ly, lx = spec.options().looks
    dx, dy = grid["dx"] * lx, grid["dy"] * ly
    return {"proj:shape": [grid["height"] // ly, grid["width"] // lx],
            "proj:transform": [dx, 0.0, grid["x0"], 0.0, -dy, grid["y0"]]}


def _bounds(geometry: dict[str, Any]) -> list[float]:
    import shapely.geometry

    return list(shapely.geometry.shape(geometry).bounds)


def make_collection(collection_id: str, summary: dict[str, Any] | None, roots: UrlRoots,
                    spec: ProductSpec | None = None) -> dict[str, Any]:
    """A STAC collection: the SLC bursts or one ARD product, with its extent from the index."""
    from cube.catalog._index import _iso as iso_us

    if collection_id == SLC_COLLECTION:
        title = "Sentinel-1 IW SLC bursts"
        description = ("Sentinel-1 IW single-look complex bursts as ingested into the cube: one "
                       "item per ESA burst ID and date, one asset per polarization (zarr v3 group).")
        keywords = ["sentinel-1", "sar", "slc", "burst"]
    else:
        title = spec.title if spec is not None else collection_id
        kind = ("pair of dates" if spec is not None and spec.pair
                else "burst ID, over all its dates" if spec is not None and spec.dateless else "date")
        description = (f"{spec.description if spec is not None else collection_id} One item per "
                       f"burst ID and {kind}, materialized or not (sarcube:materialized); assets "
                       "link to the zarr, GeoTIFF and tile endpoints that compute on request.")
        keywords = ["sentinel-1", "sar", "ard", collection_id]
    if summary:
        bbox = summary["bbox"]
        interval = [iso_us(summary["start_us"]), iso_us(summary["end_us"])]
        summaries = {
            "constellation": ["sentinel-1"],
            "platform": summary["platform"],
            "instruments": ["c-sar"],
            "sar:instrument_mode": ["IW"],
            "sar:frequency_band": ["C"],
            "sar:polarizations": summary["sar:polarizations"],
            "sat:orbit_state": summary["sat:orbit_state"],
            "sat:relative_orbit": summary["sat:relative_orbit"],
            "sarcube:swath": summary["sarcube:swath"],
        }
    else:
        bbox = [-180.0, -90.0, 180.0, 90.0]
        interval = [None, None]
        summaries = {"constellation": ["sentinel-1"], "instruments": ["c-sar"]}
    coll = f"{roots.stac}/collections/{collection_id}"
    out: dict[str, Any] = {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": collection_id,
        "title": title,
        "description": description,
        "keywords": keywords,
        "license": "other",
        "providers": [
            {"name": "ESA", "roles": ["producer", "licensor"], "url": "https://sentinels.copernicus.eu"},
            {"name": "sarcube", "roles": ["processor", "host"]},
        ],
        "extent": {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [interval]}},
        "summaries": summaries,
        "links": [
            {"rel": "self", "type": "application/json", "href": coll},
            {"rel": "parent", "type": "application/json", "href": f"{roots.stac}/"},
            {"rel": "root", "type": "application/json", "href": f"{roots.stac}/"},
            {"rel": "items", "type": "application/geo+json", "href": f"{coll}/items"},
            {"rel": "queryables", "type": "application/schema+json", "href": f"{coll}/queryables"},
            {"rel": "license", "type": "application/pdf", "href": LICENSE_URL,
             "title": "Legal notice on the use of Copernicus Sentinel data"},
        ],
    }
    if spec is not None:
        out["sarcube:product_version"] = str(spec.version)
        out["sarcube:pair"] = bool(spec.pair)
        out["sarcube:dates"] = int(spec.dates)
    return out


def queryables_schema(url: str) -> dict[str, Any]:
    """JSON schema of the queryables (Filter extension), ``$id`` = ``url``."""
    props: dict[str, Any] = {}
    for name, q in QUERYABLES.items():
        if q.kind == "geometry":
            schema: dict[str, Any] = {"$ref": "https://geojson.org/schema/Geometry.json"}
        elif q.kind == "timestamp":
            schema = {"type": ["string", "null"], "format": "date-time"}
        elif q.kind == "polarizations":
            schema = {"type": "array", "items": {"type": "string", "enum": ["HH", "HV", "VH", "VV"]}}
        else:
            schema = {"type": q.kind}
            if q.enum:
                schema["enum"] = list(q.enum)
        props[name] = {"title": q.description, **schema}
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": url,
        "type": "object",
        "title": "Queryables of the sarcube STAC API",
        "description": "Properties that the filter parameter (CQL2 text or JSON) can name.",
        "properties": props,
        "additionalProperties": False,
    }
