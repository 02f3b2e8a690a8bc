"""STAC items and collections of the cube, and the embedded STAC index (SQLite + R*Tree)."""

from cube.catalog._cql2 import QUERYABLES, bbox_geometry, cql2_to_json, query_geometry, to_timestamp_us
from cube.catalog._index import (
    SORTABLES,
    DateRecord,
    ItemRow,
    ProductInfo,
    SearchPage,
    SearchQuery,
    StacIndex,
)
from cube.catalog._index_store import (
    INDEX_PATH,
    IndexReader,
    open_index_for_update,
    rebuild_index,
    update_index,
)
from cube.catalog._items import SLC_COLLECTION, make_slc_item, merge_items, write_slc_item
from cube.catalog._stac_items import (
    Materialized,
    UrlRoots,
    default_products,
    make_collection,
    make_indexed_slc_item,
    make_item,
    make_product_item,
    queryables_schema,
)

__all__ = [
    "INDEX_PATH",
    "QUERYABLES",
    "SLC_COLLECTION",
    "SORTABLES",
    "DateRecord",
    "Materialized",
    "IndexReader",
    "ItemRow",
    "ProductInfo",
    "SearchPage",
    "SearchQuery",
    "StacIndex",
    "UrlRoots",
    "bbox_geometry",
    "cql2_to_json",
    "default_products",
    "make_collection",
    "make_indexed_slc_item",
    "make_item",
    "make_product_item",
    "make_slc_item",
    "merge_items",
    "open_index_for_update",
    "query_geometry",
    "queryables_schema",
    "rebuild_index",
    "to_timestamp_us",
    "update_index",
    "write_slc_item",
]
