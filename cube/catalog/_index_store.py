"""Where the STAC index lives in a cube, how ingest fills it and how the API reads it.

The index is one SQLite file, ``<cube>/catalog/index.sqlite``:

- local cube: read and written in place (SQLite's own locking and atomic commits);
- object store (``s3://``): ingest downloads it to a temporary file, updates it and writes
  it back in one PUT (atomic: readers see the old or the new index). The API keeps a local
  copy and downloads the object again when its ETag changes (checked at most every
  ``refresh_s`` seconds), so a Lambda reads it without any server.

Writers of an ``s3://`` cube take turns: `update_index` holds the cube's ``catalog/index.sqlite``
lease and uploads with ``If-Match``, so two ingests never lose each other's dates;
:func:`rebuild_index` restores the index from the catalog items and the per-date metadata at
any time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from cube.catalog._index import ProductInfo, StacIndex
from cube.catalog._stac_items import ProductSpec, default_products, make_indexed_slc_item, product_infos
from cube.format import CATALOG_DIR, BurstMetadata, catalog_item_path
from cube.storage import CubeStore, exclusive, store_lease_backend

INDEX_PATH = f"{CATALOG_DIR}/index.sqlite"
log = logging.getLogger(__name__)


def _products(products: Mapping[str, ProductSpec] | Sequence[ProductInfo] | None) -> list[ProductInfo]:
    if products is None:
        try:
            products = default_products()
        except ImportError:  # cube.products not installed: index the SLC items only
            log.warning("cube.products is not importable: indexing SLC items only")
            return []
    if isinstance(products, Mapping):
        return product_infos(products)
    return list(products)


class IndexConflictError(Exception):
    """The index object changed on the store while this writer updated its copy."""


@contextlib.contextmanager
def open_index_for_update(store: CubeStore) -> Iterator[StacIndex]:
    """The cube's index, writable; on an object store the updated copy is uploaded on exit.

    Nothing is uploaded if the block raises. On an object store the upload is conditional
    (``If-Match`` the version downloaded): `IndexConflictError` if another writer uploaded
    in between (`update_index` holds the index lease and retries).
    """
    if store.is_local:
        path = store.path(INDEX_PATH)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with StacIndex.open(path, readonly=False) as idx:
            yield idx
        return
    tmp = tempfile.mkdtemp(prefix="sarcube-index-")
    local = os.path.join(tmp, "index.sqlite")
    try:
        raw, version = store.read_versioned(INDEX_PATH)
        if raw is not None:
            Path(local).write_bytes(raw)
        idx = StacIndex.open(local, readonly=False)
        try:
            yield idx
        finally:
            idx.close()
        if not store.write_if(INDEX_PATH, Path(local).read_bytes(), version):
            raise IndexConflictError(f"{store.child_url(INDEX_PATH)} changed during the update")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def make_date_record(store: CubeStore, burst: BurstMetadata, with_grid: bool = True):
    """The index record of ``burst``'s date: its catalog item (all polarizations) + metadata."""
    from cube.catalog._index import DateRecord
    from cube.geometry import make_burst_grid

    item = store.read_json(catalog_item_path(burst.burst_id, burst.date_key))
    epsg = grid = None
    if with_grid:
        stored = f"grids/{burst.burst_id}.json"  # the burst ID's fixed grid, once defined
        try:
            if store.exists(stored):
                grid = store.read_bytes(stored).decode()
                epsg = int(json.loads(grid)["epsg"])
            else:  # not defined yet: the grid its first date defines (make_burst_grid)
                g = make_burst_grid(burst)
                epsg, grid = g.epsg, g.model_dump_json()
        except (ValueError, KeyError) as exc:  # rdr2geo failed on the outline: no proj:code
            log.warning("%s %s: no UTM grid (%s)", burst.burst_id, burst.date_key, exc)
    return DateRecord(item=make_indexed_slc_item(item, burst), burst=burst, epsg=epsg, grid=grid)


def update_index(store: CubeStore, bursts: Sequence[BurstMetadata],
                 products: Mapping[str, ProductSpec] | Sequence[ProductInfo] | None = None,
                 lease_ttl_s: float = 60.0) -> list[str]:
    """Index the burst dates of ``bursts`` (committed dates only); return the burst IDs updated.

    Idempotent: a date already indexed with all the polarizations given is left alone, so a
    rerun of ingest costs one index read. ``products``: default ``cube.products.PRODUCTS``;
    when the product list differs from the one the index was built with, every burst's
    product items are re-derived. Concurrent updates take turns on the index's writer lease
    (``lease_ttl_s``: how long a killed writer blocks the next).
    """
    infos = _products(products)
    want: dict[tuple[str, str], tuple[BurstMetadata, set[str]]] = {}
    for b in bursts:
        key = (b.burst_id, b.date_key)
        if key not in want:
            want[key] = (b, set())
        want[key][1].add(b.polarization.upper())
    if not want:
        return []
    with exclusive(store_lease_backend(store), INDEX_PATH, ttl_s=lease_ttl_s):
        for attempt in range(5):
            try:
                return _update_index(store, want, infos)
            except IndexConflictError:  # a writer without the lease (an older sarcube): redo
                log.warning("STAC index changed during the update (attempt %d); retrying", attempt + 1)
        raise IndexConflictError(f"{store.child_url(INDEX_PATH)} kept changing; rerun the ingest")


def _update_index(store: CubeStore, want: dict, infos: list[ProductInfo]) -> list[str]:
    from cube.catalog._cql2 import polarization_mask

    with open_index_for_update(store) as idx:
        todo = []
        have_grid = set(idx.burst_ids())
        for (burst_id, date_key), (burst, pols) in want.items():
            mask = idx.indexed_polarizations(burst_id, date_key)
            need = polarization_mask(sorted(pols))
            if mask is not None and mask & need == need:
                continue
            todo.append(make_date_record(store, burst, with_grid=burst_id not in have_grid))
            have_grid.add(burst_id)
        touched = idx.upsert_dates(todo, infos) if todo else []
        if idx.products() != sorted((p.name, p.code) for p in infos):
            idx.refresh(infos)
    return touched


def rebuild_index(
    store: CubeStore, products: Mapping[str, ProductSpec] | Sequence[ProductInfo] | None = None
) -> dict[str, int]:
    """Build the index again from ``catalog/*/*.json`` and the per-date metadata; return its counts."""
    from cube.storage import read_date_metadata

    infos = _products(products)
    records = []
    for burst_id in store.list(CATALOG_DIR):
        if not burst_id.startswith("t"):
            continue
        first = True
        for name in store.list(f"{CATALOG_DIR}/{burst_id}"):
            if not name.endswith(".json"):
                continue
            item = store.read_json(f"{CATALOG_DIR}/{burst_id}/{name}")
            pol = item["properties"]["sar:polarizations"][0]
            burst = read_date_metadata(store, burst_id, pol, item["properties"]["sarcube:date_key"])
            records.append(make_date_record(store, burst, with_grid=first))
            first = False
    tmp = tempfile.mkdtemp(prefix="sarcube-index-")
    try:
        local = os.path.join(tmp, "index.sqlite")
        with StacIndex.open(local, readonly=False) as idx:
            idx.upsert_dates(records, infos)
            idx.refresh(infos)
            counts = idx.stats()
        store.write_bytes(INDEX_PATH, Path(local).read_bytes())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return counts


class IndexReader:
    """Read access to a cube's index for the API (thread-safe).

    Local cube: the file itself. Object store: a local copy, downloaded again when the
    object's ETag changes (looked up at most every ``refresh_s`` seconds). A cube without an
    index reads as an empty index.
    """

    def __init__(self, store: CubeStore, refresh_s: float = 10.0):
        self.store = store
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._index: StacIndex | None = None
        self._etag: str | None = None
        self._checked = 0.0
        self._tmp_dir: str | None = None
        self._empty: StacIndex | None = None

    @property
    def _tmp(self) -> str:
        """A folder for local copies, made on first use and removed with the reader."""
        if self._tmp_dir is None:
            self._tmp_dir = tempfile.mkdtemp(prefix="sarcube-stac-")
            weakref.finalize(self, shutil.rmtree, self._tmp_dir, True)
        return self._tmp_dir

    def get(self) -> StacIndex:
        """The current index."""
        now = time.monotonic()
        if self._index is not None and (self.store.is_local or now - self._checked < self.refresh_s):
            return self._index
        with self._lock:
            if self._index is not None and (self.store.is_local or now - self._checked < self.refresh_s):
                return self._index
            self._checked = now
            if self.store.is_local:
                path = self.store.path(INDEX_PATH)
                if os.path.exists(path):
                    self._index = StacIndex.open(path, readonly=True)
                    return self._index
                return self._empty_index()
            etag = self._remote_etag()
            if etag is None:
                self._index, self._etag = None, None
                return self._empty_index()
            if etag != self._etag or self._index is None:
                local = os.path.join(self._tmp, f"index-{abs(hash(etag))}.sqlite")
                part = f"{local}.partial"
                self.store.fs.get_file(self.store.path(INDEX_PATH), part)
                os.replace(part, local)
                old = self._index
                self._index, self._etag = StacIndex.open(local, readonly=True), etag
                if old is not None and old.path != local:
                    with contextlib.suppress(OSError):
                        os.remove(old.path)  # open connections keep reading the unlinked file
            return self._index

    def _remote_etag(self) -> str | None:
        path = self.store.path(INDEX_PATH)
        fs = self.store.fs
        try:
            try:
                info: dict[str, Any] = fs.info(path, refresh=True)
            except TypeError:
                fs.invalidate_cache(path)
                info = fs.info(path)
        except FileNotFoundError:
            return None
        return str(info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified")
                   or info.get("size"))

    def _empty_index(self) -> StacIndex:
        if self._empty is None:
            path = os.path.join(self._tmp, "empty.sqlite")
            StacIndex.open(path, readonly=False).close()
            self._empty = StacIndex.open(path, readonly=True)
        return self._empty

    def close(self) -> None:
        """Close the index and remove the local copies."""
        for idx in (self._index, self._empty):
            if idx is not None:
                idx.close()
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
