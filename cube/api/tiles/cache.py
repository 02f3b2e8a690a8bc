"""What the tiles keep per app: layer views (titiler's input), tile geometries, decoded chunks.

The layer views are lazy xarray DataArrays. Tile geometries depend only on the tile and the
layer's grid, which never changes. Decoded chunks are kept by their path in the ARD store: a
stored chunk never changes (the engine writes a chunk once, and writes it again only when it is
missing or fails its checksum, to the same values; a new product version is a new variant, so a
new path). The exceptions are the series products (displacement and velocity): a job inverts
the series again when the burst gains a date and rewrites every date's displacement and the
velocity at the same paths, so their chunks are kept by path and the burst's latest date.
Deleting an ARD store under a running server is the one change the chunk cache does not see:
restart the server.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import rioxarray  # noqa: F401 - registers the .rio accessor
import xarray as xr

from cube.api.tiles.views import Layer
from cube.materialize import ArdEngine, Tally, open_product
from cube.products import ArdArray, Variant

#: Decoded chunks kept per app (bytes): 64 MB holds ~500 float32 chunks of 256 × 128.
CHUNK_CACHE_BYTES = 64 * 2**20
#: Tile geometries kept per app (each ~1.5 MB for a 256² tile: positions and masks).
GEOMETRY_CACHE_SIZE = 32
#: Products a job rewrites at the same paths when the burst gains a date.
SERIES_REWRITTEN = ("displacement", "velocity")


class _Lru:
    """A thread-safe LRU mapping bounded by entry count and by total ``nbytes``."""

    def __init__(self, max_items: int, max_bytes: int | None = None):
        self.max_items, self.max_bytes = max_items, max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict = OrderedDict()
        self._bytes = 0

    def get(self, key):
        """The value of ``key`` (None if absent), now the most recently used."""
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return None
            self._items.move_to_end(key)
            return entry[0]

    def put(self, key, value, nbytes: int = 0) -> None:
        """Keep ``value`` (``nbytes`` large); evict the least recently used beyond the bounds."""
        if self.max_bytes is not None and nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, nbytes)
            self._bytes += nbytes
            while len(self._items) > self.max_items or (
                self.max_bytes is not None and self._bytes > self.max_bytes
            ):
                _, (_, n) = self._items.popitem(last=False)
                self._bytes -= n

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._bytes = 0


class ChunkCache:
    """Decoded chunks of stored arrays, by chunk path (read-only arrays; see the module docstring).

    A per-burst product that ``follows`` another (velocity) is made again at the same path when
    its burst gains a date: its chunks are kept by path and the burst's latest date.

    Has the ``chunk`` method of :class:`~cube.materialize.ArdEngine` that
    :func:`~cube.materialize.read_pixels` uses: a miss asks the engine (which computes the chunk
    first when absent).
    """

    def __init__(self, engine: ArdEngine, max_bytes: int = CHUNK_CACHE_BYTES):
        self.engine = engine
        self._lru = _Lru(max_items=1 << 20, max_bytes=max_bytes)

    def chunk(self, ref: ArdArray, i: int, j: int, tally: Tally | None = None) -> np.ndarray:
        """Chunk (i, j) of ``ref`` as :meth:`ArdEngine.chunk` returns it (read-only)."""
        key: tuple[str, ...] = (ref.chunk_path(i, j),)
        if ref.product in SERIES_REWRITTEN:  # made again, at the same path, for each new date
            key += (max(self.engine.stack(ref.burst_id, ref.polarization).dates),)
        hit = self._lru.get(key)
        if hit is not None:
            return hit
        block = self.engine.chunk(ref, i, j, tally)
        block.flags.writeable = False
        self._lru.put(key, block, block.nbytes)
        return block

    def clear(self) -> None:
        """Forget every decoded chunk."""
        self._lru.clear()


class TileCache:
    """What the tiles keep per app.

    Opened product datasets (refreshed when a burst gains dates), layer arrays, tile geometries
    (``geometries``, an LRU: ``get``/``put``) and decoded chunks (``chunks``).
    """

    def __init__(self, engine: ArdEngine, size: int = 256, chunk_bytes: int = CHUNK_CACHE_BYTES):
        self.engine = engine
        self.size = size
        self.geometries = _Lru(GEOMETRY_CACHE_SIZE)
        self.chunks = ChunkCache(engine, chunk_bytes)
        self._lock = threading.Lock()
        self._datasets: dict[tuple, tuple[tuple[str, ...], xr.Dataset]] = {}
        self._arrays: OrderedDict[tuple, xr.DataArray] = OrderedDict()

    def dataset(self, burst_id: str, pol: str, variant: Variant) -> tuple[tuple[str, ...], xr.Dataset]:
        """(dates along the time axes, lazy dataset) of a burst's product variant.

        The dataset is reopened when the burst's dates change (the store maps time indices to the
        current dates).
        """
        key = (burst_id, pol, Variant(variant.product, variant.options))  # every variable: one Dataset
        dates = tuple(sorted(self.engine.stack(burst_id, pol).dates))
        with self._lock:
            hit = self._datasets.get(key)
        if hit is not None and hit[0] == dates:
            return hit
        for _ in range(3):
            ds = open_product(self.engine, burst_id, variant.product, variant.options, polarization=pol)
            after = tuple(sorted(self.engine.stack(burst_id, pol).dates))
            if after == dates:
                break
            dates = after  # a date was added while opening: open again
        with self._lock:
            self._datasets[key] = (dates, ds)
        return dates, ds

    def array(self, layer: Layer) -> xr.DataArray:
        """The layer as a lazy 2-D (y, x) float32 DataArray in the view's units, with its CRS."""
        ref = layer.array
        dates, ds = self.dataset(ref.burst_id, ref.polarization, ref.variant)
        key = (ref, layer.view.name, dates)
        with self._lock:
            hit = self._arrays.get(key)
            if hit is not None:
                self._arrays.move_to_end(key)
                return hit
        index = [dates.index(d) for d in ref.dates]
        dims = {2: ("reference_time", "secondary_time"), 1: ("time",), 0: ()}[layer.variant.spec.dates]
        da = ds[layer.variant.var.name].isel(dict(zip(dims, index, strict=True)))
        view, options = layer.view, layer.variant.options
        data = da.data.map_blocks(
            lambda a: view.apply(a, options), dtype=np.float32, meta=np.empty((0, 0), np.float32)
        )
        out = da.copy(data=data)
        out.attrs.update(units=view.units, long_name=f"{da.attrs.get('long_name', '')} ({view.description})")
        out = out.rio.write_crs(layer.grid.epsg)
        with self._lock:
            self._arrays[key] = out
            while len(self._arrays) > self.size:
                self._arrays.popitem(last=False)
        return out
