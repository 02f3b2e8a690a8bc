"""The STAC API at ``/stac``: stac-fastapi with our own backend over the embedded index.

``make_stac_app(cube_url)`` returns a FastAPI app that works alone (``uvicorn``, a Lambda)
and mounted by the main app (``app.mount("/stac", make_stac_app(...))``): links carry the
mount prefix, and asset links to ``/zarr``, ``/ard`` and ``/tiles`` are built from the
outer app's root. Endpoints (see docs/stac.md):

- core, collections, features: ``/``, ``/conformance``, ``/collections``,
  ``/collections/{id}``, ``/collections/{id}/items``, ``/collections/{id}/items/{item}``;
- item search ``GET``/``POST /search`` with ``bbox``, ``intersects``, ``datetime``, ``ids``,
  ``collections``, ``limit`` + ``next`` token paging, ``sortby``, ``fields`` and ``filter``
  (CQL2 text or JSON); ``/queryables``, ``/sortables`` and their per-collection forms;
- ``GET /pairs``: interferometric pairs of a burst ID within temporal and perpendicular
  baseline limits.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

import attr
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, model_validator
from stac_fastapi.api.app import StacApi
from stac_fastapi.api.errors import DEFAULT_STATUS_CODES
from stac_fastapi.api.models import (
    GeoJSONResponse,
    ItemCollectionUri,
    create_get_request_model,
    create_post_request_model,
    create_request_model,
)
from stac_fastapi.extensions import (
    FieldsExtension,
    ItemCollectionFilterExtension,
    SearchFilterExtension,
    TokenPaginationExtension,
)
from stac_fastapi.extensions.fields.fields import FieldsConformanceClasses
from stac_fastapi.extensions.filter.client import BaseFiltersClient
from stac_fastapi.extensions.filter.filter import FilterConformanceClasses
from stac_fastapi.extensions.sort.client import BaseSortablesClient
from stac_fastapi.extensions.sort.sort import (
    ItemCollectionSortExtension,
    SearchSortExtension,
    SortConformanceClasses,
)
from stac_fastapi.types import errors as stac_errors
from stac_fastapi.types.config import ApiSettings
from stac_fastapi.types.core import BaseCoreClient
from stac_fastapi.types.rfc3339 import str_to_interval

from cube import __version__
from cube.api._errors import ErrorBody, Table, install_error_handlers
from cube.catalog import (
    SLC_COLLECTION,
    SORTABLES,
    IndexReader,
    Materialized,
    SearchQuery,
    StacIndex,
    UrlRoots,
    bbox_geometry,
    cql2_to_json,
    default_products,
    make_collection,
    make_item,
    query_geometry,
    queryables_schema,
    to_timestamp_us,
)
from cube.errors import InputError, NotFoundError
from cube.products import ProductSpec
from cube.storage import open_store

log = logging.getLogger(__name__)

CQL2_CLASSES = [
    FilterConformanceClasses.ADVANCED_COMPARISON_OPERATORS,
    FilterConformanceClasses.BASIC_SPATIAL_FUNCTIONS,
    FilterConformanceClasses.ARRAY_FUNCTIONS,
]
MAX_LIMIT = 1000
#: Longest temporal baseline a pair search may name, days (the index counts µs in SQLite integers).
MAX_DAYS = 36_525.0
DEFAULT_FIELDS = {"id", "type", "geometry", "bbox", "links", "assets", "properties.datetime",
                  "collection", "stac_version", "stac_extensions"}


class StacErrorBody(ErrorBody):
    """The STAC API's error body: ``code`` and ``description`` (STAC), ``detail`` (sarcube)."""

    description: str = Field(description="the same text as detail")


#: stac-fastapi's own errors, before sarcube's table.
STAC_ERRORS: Table = [
    (stac_errors.NotFoundError, 404, "not_found"),
    (stac_errors.InvalidQueryParameter, 400, "bad_request"),
]


def _object_body(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` that rejects a body that is not a JSON object.

    The answer is a 400, not stac-pydantic's ``AttributeError`` on ``[].get``.
    """

    class SearchBody(model):  # type: ignore[valid-type, misc]
        @model_validator(mode="before")
        @classmethod
        def _an_object(cls, values: Any) -> Any:
            if not isinstance(values, dict):
                raise ValueError(f"the search body must be a JSON object, not {type(values).__name__}")
            return values

    SearchBody.__name__ = SearchBody.__qualname__ = model.__name__
    return SearchBody


# -- request helpers ----------------------------------------------------------------------------
def _interval(value: str | None) -> tuple[int | None, int | None]:
    """(start, end) µs of a STAC datetime (instant or interval, open ends ``..``)."""
    if not value:
        return None, None
    parsed = str_to_interval(value)
    if isinstance(parsed, tuple):
        start, end = parsed
        return (to_timestamp_us(start) if start else None, to_timestamp_us(end) if end else None)
    t = to_timestamp_us(parsed) if parsed else None
    return t, t


def _token_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
        return max(0, int(data["offset"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"invalid paging token {token!r}: use the 'next' link as given") from exc


def _make_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def _sortby_get(values: list[str] | None) -> list[tuple[str, bool]] | None:
    out = []
    for v in values or []:
        v = v.strip()
        if not v:
            continue
        ascending = not v.startswith("-")
        out.append((v.lstrip("+-").strip(), ascending))
    return out or None


def _sortby_post(values: list[Any] | None) -> list[tuple[str, bool]] | None:
    if not values:
        return None
    out = []
    for v in values:
        field = v.field if hasattr(v, "field") else v["field"]
        direction = v.direction if hasattr(v, "direction") else v.get("direction", "asc")
        out.append((field, str(getattr(direction, "value", direction)).lower() != "desc"))
    return out


def _fields_get(values: list[str] | None) -> tuple[set[str], set[str]] | None:
    if values is None:
        return None
    include, exclude = set(), set()
    for v in values:
        v = v.strip()
        if v.startswith("-"):
            exclude.add(v[1:])
        elif v:
            include.add(v.lstrip("+"))
    return include, exclude


def _fields_post(fields: Any) -> tuple[set[str], set[str]] | None:
    if fields is None:
        return None
    include = set(getattr(fields, "include", None) or [])
    exclude = set(getattr(fields, "exclude", None) or [])
    return include, exclude


def _apply_fields(item: dict[str, Any], fields: tuple[set[str], set[str]] | None) -> dict[str, Any]:
    """Apply the fields extension to an item.

    No include/exclude → the whole item; include → defaults ∪ include; exclude → removed (from the
    whole item if there is no include).
    """
    if fields is None:
        return item
    include, exclude = fields
    if not include and not exclude:
        return item
    if include:
        keep = DEFAULT_FIELDS | include
        out: dict[str, Any] = {}
        for path in sorted(keep):
            _copy_path(item, out, path.split("."))
    else:
        out = json.loads(json.dumps(item))
    for path in exclude:
        if path in include:
            continue
        _drop_path(out, path.split("."))
    return out


def _copy_path(src: dict, dst: dict, parts: list[str]) -> None:
    key = parts[0]
    if key not in src:
        return
    if len(parts) == 1:
        dst[key] = src[key]
    elif isinstance(src[key], dict):
        sub = dst.setdefault(key, {})
        if isinstance(sub, dict):
            _copy_path(src[key], sub, parts[1:])


def _drop_path(obj: dict, parts: list[str]) -> None:
    if len(parts) == 1:
        obj.pop(parts[0], None)
    elif isinstance(obj.get(parts[0]), dict):
        _drop_path(obj[parts[0]], parts[1:])


def _filter_json(expr: Any, lang: str | None, crs: str | None) -> dict | bool | None:
    if expr is None or expr == "":
        return None
    if crs and crs.rstrip("/") not in ("http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                                        "https://www.opengis.net/def/crs/OGC/1.3/CRS84"):
        raise InputError(f"filter-crs {crs!r} is not supported: only CRS84 (lon/lat)")
    if lang and lang not in ("cql2-text", "cql2-json"):
        raise InputError(f"filter-lang {lang!r}: use cql2-text or cql2-json")
    return cql2_to_json(expr, lang)


# -- the backend --------------------------------------------------------------------------------
@attr.s
class SarcubeClient(BaseCoreClient):
    """stac-fastapi core client over the cube's index (sync: runs in the thread pool)."""

    reader: IndexReader = attr.ib(kw_only=True)
    products: dict[str, ProductSpec] = attr.ib(kw_only=True)
    materialized: Materialized | None = attr.ib(kw_only=True, default=None)
    asset_base_url: str | None = attr.ib(kw_only=True, default=None)

    # urls
    def roots(self, request: Request) -> UrlRoots:
        """STAC root (with the mount prefix) and API root (for /zarr, /ard, /tiles)."""
        stac = str(request.base_url).rstrip("/")
        if self.asset_base_url:
            api = self.asset_base_url.rstrip("/")
        else:
            api_root = request.scope.get("sarcube.api_root_path", "")
            api = f"{request.url.scheme}://{request.url.netloc}{api_root}".rstrip("/")
        return UrlRoots(stac=stac, api=api)

    @property
    def index(self) -> StacIndex:
        """The current index."""
        return self.reader.get()

    def collection_ids(self) -> list[str]:
        """The SLC collection, then one per product."""
        return [SLC_COLLECTION, *self.products]

    def _check_collection(self, collection_id: str) -> None:
        if collection_id not in self.collection_ids():
            raise stac_errors.NotFoundError(
                f"collection {collection_id!r} does not exist (have: {', '.join(self.collection_ids())})")

    # core
    def landing_page(self, **kwargs: Any) -> dict[str, Any]:
        """Landing page with a link to the pair search."""
        page: dict[str, Any] = dict(super().landing_page(**kwargs))
        request: Request = kwargs["request"]
        root = self.roots(request).stac
        page["links"] = list(page["links"]) + [
            {"rel": "data", "type": "application/json", "title": "Interferometric pair search",
             "href": f"{root}/pairs"},
        ]
        page["stac_version"] = self.stac_version
        return page

    def all_collections(self, **kwargs: Any) -> JSONResponse:
        """Every collection with its extent."""
        request: Request = kwargs["request"]
        roots = self.roots(request)
        cols = [self._collection(cid, roots) for cid in self.collection_ids()]
        return JSONResponse({
            "collections": cols,
            "links": [
                {"rel": "self", "type": "application/json", "href": f"{roots.stac}/collections"},
                {"rel": "root", "type": "application/json", "href": f"{roots.stac}/"},
                {"rel": "parent", "type": "application/json", "href": f"{roots.stac}/"},
            ],
            "numberMatched": len(cols),
            "numberReturned": len(cols),
        })

    def _collection(self, collection_id: str, roots: UrlRoots) -> dict[str, Any]:
        return make_collection(collection_id, self.index.collection_summary(collection_id), roots,
                               self.products.get(collection_id))

    def get_collection(self, collection_id: str, **kwargs: Any) -> JSONResponse:
        """One collection."""
        self._check_collection(collection_id)
        return JSONResponse(self._collection(collection_id, self.roots(kwargs["request"])))

    def get_item(self, item_id: str, collection_id: str, **kwargs: Any) -> GeoJSONResponse:
        """One item."""
        self._check_collection(collection_id)
        row = self.index.get(collection_id, item_id)
        if row is None:
            raise stac_errors.NotFoundError(f"item {item_id!r} is not in collection {collection_id!r}")
        return GeoJSONResponse(make_item(row, self.roots(kwargs["request"]), self.products,
                                         self.materialized))

    # search
    def item_collection(self, collection_id: str, bbox: Any = None, datetime: str | None = None,
                        limit: int | None = 10, token: str | None = None, **kwargs: Any) -> GeoJSONResponse:
        """Items of one collection (OGC API Features), with filter, sortby and fields."""
        self._check_collection(collection_id)
        request: Request = kwargs["request"]
        query = self._query(
            collections=[collection_id], ids=None, bbox=bbox, intersects=None, datetime=datetime,
            limit=limit, token=token,
            filter_json=_filter_json(kwargs.get("filter_expr"), kwargs.get("filter_lang"),
                                     kwargs.get("filter_crs")),
            sortby=_sortby_get(kwargs.get("sortby")))
        return self._respond(query, request, _fields_get(kwargs.get("fields")), post_body=None)

    def get_search(self, collections: list[str] | None = None, ids: list[str] | None = None,
                   bbox: Any = None, intersects: str | None = None, datetime: str | None = None,
                   limit: int | None = 10, **kwargs: Any) -> GeoJSONResponse:
        """GET /search."""
        request: Request = kwargs["request"]
        geom = None
        if intersects:
            try:
                geom = json.loads(intersects)
            except ValueError as exc:
                raise InputError(f"intersects is not GeoJSON: {exc}") from exc
            if isinstance(geom, dict) and geom.get("type") == "Feature":
                geom = geom.get("geometry")
        query = self._query(
            collections=collections, ids=ids, bbox=bbox, intersects=geom, datetime=datetime,
            limit=limit, token=kwargs.get("token"),
            filter_json=_filter_json(kwargs.get("filter_expr"), kwargs.get("filter_lang"),
                                     kwargs.get("filter_crs")),
            sortby=_sortby_get(kwargs.get("sortby")))
        return self._respond(query, request, _fields_get(kwargs.get("fields")), post_body=None)

    def post_search(self, search_request: Any, **kwargs: Any) -> GeoJSONResponse:
        """POST /search."""
        request: Request = kwargs["request"]
        s = search_request
        intersects = s.intersects.model_dump(exclude_none=True) if s.intersects is not None else None
        query = self._query(
            collections=s.collections, ids=s.ids, bbox=s.bbox, intersects=intersects,
            datetime=s.datetime, limit=s.limit, token=getattr(s, "token", None),
            filter_json=_filter_json(getattr(s, "filter_expr", None), getattr(s, "filter_lang", None),
                                     getattr(s, "filter_crs", None)),
            sortby=_sortby_post(getattr(s, "sortby", None)))
        body = s.model_dump(mode="json", by_alias=True, exclude_none=True)
        return self._respond(query, request, _fields_post(getattr(s, "fields", None)), post_body=body)

    def _query(self, *, collections, ids, bbox, intersects, datetime, limit, token, filter_json,
               sortby) -> SearchQuery:
        if bbox is not None and intersects is not None:
            raise InputError("bbox and intersects are mutually exclusive")
        geom = bbox_geometry(list(bbox)) if bbox is not None else (
            query_geometry(intersects) if intersects is not None else None)
        start, end = _interval(datetime)
        for name, _ in sortby or []:
            key = name[len("properties."):] if name.startswith("properties.") else name
            if key not in SORTABLES:
                raise InputError(f"cannot sort by {name!r}: use one of {sorted(SORTABLES)}")
        return SearchQuery(collections=list(collections) if collections else None,
                           ids=list(ids) if ids else None, geometry=geom, start_us=start,
                           end_us=end, filter=filter_json, sortby=sortby,
                           limit=min(int(limit or 10), MAX_LIMIT), offset=_token_offset(token))

    def _respond(self, query: SearchQuery, request: Request,
                 fields: tuple[set[str], set[str]] | None, post_body: dict | None) -> GeoJSONResponse:
        page = self.index.search(query)
        roots = self.roots(request)
        features = [_apply_fields(make_item(r, roots, self.products, self.materialized), fields)
                    for r in page.rows]
        links: list[dict[str, Any]] = [
            {"rel": "root", "type": "application/json", "href": f"{roots.stac}/"},
        ]
        if post_body is None:
            links.append({"rel": "self", "type": "application/geo+json", "href": str(request.url)})
        if page.more:
            token = _make_token(page.offset + page.limit)
            if post_body is None:
                params = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                href = f"{str(request.url).split('?')[0]}?{urlencode(params + [('token', token)])}"
                links.append({"rel": "next", "type": "application/geo+json", "href": href,
                              "method": "GET"})
            else:
                links.append({"rel": "next", "type": "application/geo+json", "href": str(request.url),
                              "method": "POST", "body": {**post_body, "token": token},
                              "merge": False})
        return GeoJSONResponse({"type": "FeatureCollection", "features": features, "links": links,
                                "numberReturned": len(features)})

    # pairs
    def pairs(self, request: Request, burst_id: str, max_days: float | None, min_days: float,
              max_bperp_m: float | None, datetime: str | None) -> dict[str, Any]:
        """Interferometric pairs of one burst ID (see :meth:`StacIndex.pairs`)."""
        idx = self.index
        if burst_id not in idx.burst_ids():
            raise NotFoundError(f"burst ID {burst_id!r} is not in the cube "
                                f"(have: {', '.join(idx.burst_ids()) or 'none'})")
        start, end = _interval(datetime)
        pairs = idx.pairs(burst_id, max_days=max_days, min_days=min_days, max_bperp_m=max_bperp_m,
                          start_us=start, end_us=end)
        roots = self.roots(request)
        for p in pairs:
            p["links"] = []
            if p["in_pair_rule"]:
                for name, spec in self.products.items():
                    if spec.pair:
                        item_id = (f"{burst_id}_{p['reference_date_key']}_"
                                   f"{p['secondary_date_key']}_{name}")
                        p["links"].append({"rel": "item", "type": "application/geo+json",
                                           "title": name,
                                           "href": f"{roots.stac}/collections/{name}/items/{item_id}"})
        return {"burst_id": burst_id,
                "limits": {"max_days": max_days, "min_days": min_days, "max_bperp_m": max_bperp_m,
                           "datetime": datetime},
                "pairs": pairs, "numberReturned": len(pairs)}


@attr.s
class SarcubeFiltersClient(BaseFiltersClient):
    """Queryables of the Filter extension."""

    client: SarcubeClient = attr.ib(kw_only=True)

    def get_queryables(self, collection_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """The same queryables for every collection."""
        if collection_id is not None:
            self.client._check_collection(collection_id)
        return queryables_schema(str(kwargs["request"].url))


@attr.s
class SarcubeSortablesClient(BaseSortablesClient):
    """Sortables of the Sort extension."""

    def _schema(self, request: Request | None) -> dict[str, Any]:
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": str(request.url) if request is not None else "sortables",
            "type": "object",
            "title": "Sortables",
            "properties": {name: {"title": name} for name in SORTABLES},
            "additionalProperties": False,
        }

    def get_sortables(self, request: Request | None = None, **kwargs: Any) -> dict[str, Any]:
        """Sort keys of /search."""
        return self._schema(request)

    def get_collection_sortables(self, collection_id: str, request: Request | None = None,
                                 **kwargs: Any) -> dict[str, Any]:
        """Sort keys of /collections/{id}/items."""
        return self._schema(request)


class _MountRoot:
    """Make links carry the mount prefix: ``app_root_path`` := ``root_path``.

    Starlette builds ``request.base_url`` from the outermost app's root path; inside
    ``app.mount("/stac", ...)`` the STAC links need ``/stac``. The outer root is kept in
    ``scope["sarcube.api_root_path"]`` for the asset links to ``/zarr``, ``/ard``, ``/tiles``.
    """

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            root = scope.get("root_path", "")
            scope = dict(scope)
            scope["sarcube.api_root_path"] = scope.get("app_root_path", root)
            scope["app_root_path"] = root
        await self.app(scope, receive, send)


def make_stac_app(cube_url: str, *, storage_options: dict | None = None,
                  materialized: Materialized | None = None,
                  products: Mapping[str, ProductSpec] | None = None,
                  asset_base_url: str | None = None, refresh_s: float = 10.0) -> FastAPI:
    """The STAC API of the cube at ``cube_url`` (local path or ``s3://``).

    Parameters
    ----------
    cube_url, storage_options
        The cube and fsspec options (credentials, endpoint).
    materialized : callable, optional
        ``materialized(product, burst_id, date_keys) -> bool`` for ``sarcube:materialized``
        (default: always False).
    products : mapping, optional
        Product name → spec (default ``cube.products.PRODUCTS``).
    asset_base_url : str, optional
        Root of the ``/zarr``, ``/ard`` and ``/tiles`` links (default: the request's root,
        i.e. the outer app's root when mounted).
    refresh_s : float
        On an object store, how often to look for a new index (ETag), s.
    """
    store = open_store(cube_url, storage_options)
    if products is None:
        products = default_products()
    reader = IndexReader(store, refresh_s=refresh_s)
    settings = ApiSettings(
        stac_fastapi_title="sarcube STAC API",
        stac_fastapi_description=(f"Sentinel-1 SLC bursts and on-demand ARD products of the cube "
                                  f"{cube_url}"),
        stac_fastapi_landing_id="sarcube",
        stac_fastapi_version=__version__,
        enable_direct_response=True,
    )
    client = SarcubeClient(landing_page_id="sarcube", reader=reader, products=dict(products),
                           materialized=materialized,
                           asset_base_url=asset_base_url)
    filters = SarcubeFiltersClient(client=client)
    sortables = SarcubeSortablesClient()
    search_exts = [
        SearchFilterExtension(client=filters, conformance_classes=[
            FilterConformanceClasses.FILTER, FilterConformanceClasses.SEARCH,
            FilterConformanceClasses.BASIC_CQL2, FilterConformanceClasses.CQL2_JSON,
            FilterConformanceClasses.CQL2_TEXT, *CQL2_CLASSES]),
        SearchSortExtension(client=sortables, conformance_classes=[
            "https://api.stacspec.org/v1.0.0/item-search#sort",
            SortConformanceClasses.ITEM_SEARCH_SORT, SortConformanceClasses.ITEM_SEARCH_SORTABLES]),
        FieldsExtension(conformance_classes=[FieldsConformanceClasses.SEARCH]),
        TokenPaginationExtension(),
    ]
    item_exts = [
        ItemCollectionFilterExtension(client=filters, conformance_classes=[
            FilterConformanceClasses.FILTER, FilterConformanceClasses.ITEMS,
            FilterConformanceClasses.BASIC_CQL2, FilterConformanceClasses.CQL2_JSON,
            FilterConformanceClasses.CQL2_TEXT, *CQL2_CLASSES]),
        ItemCollectionSortExtension(client=sortables, conformance_classes=[
            "https://api.stacspec.org/v1.0.0/ogcapi-features#sort",
            SortConformanceClasses.FEATURES_SORT, SortConformanceClasses.FEATURES_SORTABLES]),
        FieldsExtension(conformance_classes=[FieldsConformanceClasses.ITEMS]),
        TokenPaginationExtension(),
    ]
    api = StacApi(
        settings=settings,
        client=client,
        extensions=[*search_exts, *item_exts],
        exceptions=DEFAULT_STATUS_CODES,
        stac_version="1.1.0",
        search_get_request_model=create_get_request_model(search_exts),
        search_post_request_model=_object_body(create_post_request_model(search_exts)),
        # a GET model is an APIRequest class; stac-fastapi types the factory's result as either kind
        items_get_request_model=create_request_model(  # type: ignore[arg-type]
            "ItemCollectionUri", base_model=ItemCollectionUri, extensions=item_exts,
            request_type="GET"),
    )
    app = api.app
    install_error_handlers(app, extra=STAC_ERRORS, validation_status=400, body=StacErrorBody)

    @app.get("/pairs", tags=["Pairs"], name="Pair search")
    def pair_search(
        request: Request,
        burst_id: Annotated[str, Query(description="ESA burst ID, e.g. t071_151200_iw3")],
        max_days: Annotated[
            float | None, Query(ge=0, le=MAX_DAYS, description="max temporal baseline, days")
        ] = None,
        min_days: Annotated[float, Query(ge=0, le=MAX_DAYS, description="min temporal baseline, days")] = 0.0,
        max_bperp_m: Annotated[float | None, Query(ge=0, le=1e9, description="max |Bperp|, m")] = None,
        datetime: Annotated[str | None, Query(description="both dates within this interval")] = None,
    ) -> JSONResponse:
        """Interferometric pairs (reference, secondary, temporal and perpendicular baselines).

        Errors (unknown burst ID: 404, bad datetime: 400) go through the app's error table.
        """
        return JSONResponse(client.pairs(request, burst_id, max_days, min_days, max_bperp_m,
                                         datetime))

    app.add_middleware(_MountRoot)
    app.state.stac_index_reader = reader
    return app
