"""The driver: one burst ID of a cube, its dates, fixed grid and DEM; products per window.

This is the only module of ``cube.products`` that does I/O: it reads SLC windows and
metadata from the cube and hands arrays to the pure product functions.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Callable, Sequence

import numpy as np
import zarr

from cube.errors import InputError, NotFoundError
from cube.format import BurstMetadata, burst_group_path, date_metadata_path, grid_path
from cube.format._layout import CUBE_DOC, SLC_STORE
from cube.geometry import (
    BurstGrid,
    Dem,
    cop30_orthometric,
    dem_geotiff_bytes,
    make_burst_grid,
    read_dem,
    to_ellipsoidal,
)
from cube.geometry._grid import Window, _transformer
from cube.products._cslc import CslcOptions, CslcWindow, _positions, geocode_slc
from cube.products._options import ProductOptions
from cube.products._pairs import coherence, interferogram
from cube.products._radiometry import amplitude, backscatter
from cube.products._registry import PRODUCTS, ProductSpec
from cube.storage import CubeStore

DEM_MARGIN_DEG = 0.01

CslcSource = Callable[[str, Window], np.ndarray]
"""``source(date_key, grid_window) -> complex64 (rows, cols)``: default-options CSLC pixels of a
window of the fixed grid (computed, or read from the ARD store by the lazy engine)."""


def ensure_burst_grid(store: CubeStore, burst: BurstMetadata) -> BurstGrid:
    """The burst ID's fixed grid: read it, or define it from ``burst`` and store it (once)."""
    rel = grid_path(burst.burst_id)
    if store.exists(rel):
        return BurstGrid.model_validate_json(store.read_bytes(rel))
    grid = make_burst_grid(burst)
    if not store.write_if(rel, grid.model_dump_json(indent=1).encode(), None):
        # another writer defined it first (from another date): theirs is the burst ID's grid
        return BurstGrid.model_validate_json(store.read_bytes(rel))
    return grid


def set_cube_dem(store: CubeStore, url: str, vertical_datum: str = "auto", kind: str = "file",
                 storage_options: dict | None = None) -> None:
    """Record the DEM the cube's products are geocoded with.

    ``kind`` "file": ``url`` is one GeoTIFF/COG (path or URL). ``kind`` "cop30": ``url`` is a
    bucket laid out as the public Copernicus DEM (cube.geometry._cop30); the windows each burst
    needs are read from it once and cached in the cube under ``dem/``. ``storage_options``:
    fsspec options to read ``url`` with (default: the cube's own for a URL).
    """
    doc = store.read_json(CUBE_DOC)
    doc["dem"] = {"kind": kind, "url": url, "vertical_datum": vertical_datum,
                  **({"storage_options": storage_options} if storage_options is not None else {})}
    store.write_json(CUBE_DOC, doc)


@functools.lru_cache(maxsize=16)
def _read_dem_cached(url: str, bbox: tuple[float, float, float, float], datum: str, options: str) -> Dem:
    """``options``: the fsspec storage options as sorted JSON (hashable, nested dicts included)."""
    return read_dem(url, bbox, vertical_datum=datum, storage_options=json.loads(options))  # type: ignore[arg-type]


def _cop30_dem(store: CubeStore, burst_id: str, bbox: tuple[float, float, float, float], dem: dict) -> Dem:
    """The COP30 window of one burst: from the cube's cache, else read from the bucket and cached.

    The cache holds the heights as read (above EGM2008), so the geoid is applied on every read
    with the grid this machine has; its path carries a digest of the DEM record, so recording
    another DEM never reuses it.
    """
    digest = hashlib.sha256(json.dumps(dem, sort_keys=True, default=str).encode()).hexdigest()[:12]
    rel = f"dem/cop30-{digest}/{burst_id}.tif"
    datum = dem.get("vertical_datum", "egm2008")
    datum = "egm2008" if datum == "auto" else datum
    if store.exists(rel):
        return read_dem(store.child_url(rel), vertical_datum=datum,  # type: ignore[arg-type]
                        storage_options=store.storage_options)
    options = dem.get("storage_options")
    heights, transform, source = cop30_orthometric(bbox, dem["url"], options)
    store.write_if(rel, dem_geotiff_bytes(heights, transform), None)  # another writer's copy is the same
    return to_ellipsoidal(heights, transform, 4326, datum, source)


def _check_cover(dem: Dem, need: tuple[float, float, float, float], burst_id: str) -> None:
    """``NotFoundError`` unless ``dem`` reaches over ``need`` (west, south, east, north; degrees)."""
    if dem.crs == 4326:
        west, south, east, north = dem.bounds
    else:
        x0, y0, x1, y1 = dem.bounds
        west, south, east, north = _transformer(dem.crs, 4326).transform_bounds(x0, y0, x1, y1)
    if west > need[0] or south > need[1] or east < need[2] or north < need[3]:
        have = tuple(round(v, 4) for v in (west, south, east, north))
        raise NotFoundError(
            f"{dem.source}: the DEM covers only part of burst {burst_id} (its grid spans "
            f"{tuple(round(v, 4) for v in need)}, the DEM {have}); record a DEM over the whole "
            "burst with `sarcube dem`"
        )


class BurstStack:
    """One burst ID × polarization of a cube: dates, metadata, grid, DEM and product windows.

    Parameters
    ----------
    store : the cube.
    burst_id : ESA burst ID, e.g. ``t071_151200_iw3``.
    polarization : "VV", "VH", "HH" or "HV".
    """

    def __init__(self, store: CubeStore, burst_id: str, polarization: str = "VV"):
        self.store = store
        self.burst_id = burst_id
        self.polarization = polarization.upper()
        path = f"{SLC_STORE}/{burst_group_path(burst_id, polarization)}"
        try:
            self.group = zarr.open_group(store.zarr_store(path, read_only=True), mode="r",
                                         use_consolidated=True)
        except (FileNotFoundError, KeyError, ValueError) as exc:
            raise NotFoundError(
                f"{store.url}: no burst {burst_id} {self.polarization} in the cube; "
                "list the cube's bursts with `sarcube info`"
            ) from exc
        self.dates: list[str] = [d["date_key"] for d in self.group.attrs.get("dates", [])]
        self._index = {d["date_key"]: d["index"] for d in self.group.attrs.get("dates", [])}
        self._slc = self.group["slc"]
        self._meta: dict[str, BurstMetadata] = {}
        self._grid: BurstGrid | None = None
        self._dem: Dem | None = None
        self.bytes_read = 0
        """SLC bytes read so far, by all threads (job metrics)."""
        self._thread = threading.local()

    # -- metadata ---------------------------------------------------------------------------
    def burst(self, date_key: str) -> BurstMetadata:
        """The full metadata of one date (cached)."""
        if date_key not in self._index:
            raise NotFoundError(
                f"{self.burst_id}: no date {date_key} (have {', '.join(self.dates) or 'none'})"
            )
        if date_key not in self._meta:
            raw = self.store.read_bytes(date_metadata_path(self.burst_id, self.polarization, date_key))
            self._meta[date_key] = BurstMetadata.model_validate_json(raw)
        return self._meta[date_key]

    @property
    def thread_bytes_read(self) -> int:
        """SLC bytes read so far by the calling thread (a request's or a chunk's own reads)."""
        return getattr(self._thread, "bytes_read", 0)

    @property
    def grid(self) -> BurstGrid:
        """The burst ID's fixed grid (defined from the earliest date if not stored yet)."""
        if self._grid is None:
            if not self.dates:
                raise NotFoundError(f"{self.burst_id}: the burst group has no dates yet")
            self._grid = ensure_burst_grid(self.store, self.burst(min(self.dates)))
        return self._grid

    @property
    def dem(self) -> Dem:
        """The cube's DEM over the grid (plus a margin), read once."""
        if self._dem is None:
            doc = self.store.read_json(CUBE_DOC)
            dem = doc.get("dem")
            if not dem:
                raise InputError(
                    f"{self.store.url}: the cube has no DEM; record one with "
                    "`sarcube dem CUBE DEM_URL` (a GeoTIFF/COG of heights) or `sarcube dem CUBE cop30`"
                )
            g = self.grid
            xmin, ymin, xmax, ymax = g.bounds
            xs = np.array([xmin, xmax, xmin, xmax])
            ys = np.array([ymin, ymin, ymax, ymax])
            lon, lat = _transformer(g.epsg, 4326).transform(xs, ys)
            bbox = (float(lon.min()) - DEM_MARGIN_DEG, float(lat.min()) - DEM_MARGIN_DEG,
                    float(lon.max()) + DEM_MARGIN_DEG, float(lat.max()) + DEM_MARGIN_DEG)
            url = dem["url"]
            if dem.get("kind") == "cop30":
                self._dem = _cop30_dem(self.store, self.burst_id, bbox, dem)
            else:
                remote = dem.get("storage_options", self.store.storage_options if "://" in url else {})
                options = json.dumps(remote, sort_keys=True, default=str)
                read = _read_dem_cached(url, bbox, dem.get("vertical_datum", "auto"), options)
                _check_cover(read, (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())),
                             self.burst_id)
                self._dem = read
        return self._dem

    # -- pixels -----------------------------------------------------------------------------
    def read_slc(self, date_key: str, l0: int, l1: int, s0: int, s1: int) -> np.ndarray:
        """complex64 (l1 - l0, s1 - s0) pixels of one date's burst window."""
        raw = self._slc[self._index[date_key], l0:l1, s0:s1, :]
        self.bytes_read += raw.nbytes
        self._thread.bytes_read = self.thread_bytes_read + raw.nbytes
        out = np.empty(raw.shape[:2], np.complex64)
        pairs = out.view(np.float32).reshape(*raw.shape[:2], 2)  # (re, im) of each pixel
        pairs[...] = raw
        return out

    def cslc(self, date_key: str, window: Window | None = None,
             options: CslcOptions | None = None) -> CslcWindow:
        """The CSLC of one date over a grid window (None = the whole grid)."""
        burst = self.burst(date_key)
        return geocode_slc(burst, self.grid, window, self.dem,
                           lambda a, b, c, d: self.read_slc(date_key, a, b, c, d), options)

    def positions(self, date_key: str, window: Window | None = None) -> tuple[np.ndarray, np.ndarray]:
        """float64 (rows, cols) burst line and sample of each pixel of a grid window (NaN outside)."""
        return _positions(self.burst(date_key), self.grid, window, self.dem, CslcOptions().bistatic)

    # -- products ---------------------------------------------------------------------------
    def shape(self, product: str, options: ProductOptions | None = None) -> tuple[int, int]:
        """(rows, cols) of a product's grid: the fixed grid divided by its looks."""
        spec = get_product(product)
        opts = options or spec.options()
        ly, lx = opts.looks
        return self.grid.height // ly, self.grid.width // lx

    def compute(self, product: str, date_keys: Sequence[str], window: Window | None = None,
                options: ProductOptions | None = None, cslc: CslcSource | None = None) -> np.ndarray:
        """One window of a product (in the product's own grid, i.e. after looks).

        ``date_keys`` holds one date (cslc, backscatter, amplitude) or two (reference,
        secondary) for pair products. Products other than ``cslc`` take their CSLC pixels
        from ``cslc`` (default: computed here with default options). Returns the product's
        dtype, shape of the window.
        """
        spec = get_product(product)
        opts = options if options is not None else spec.options()
        if not isinstance(opts, spec.options):
            raise InputError(f"{product}: options must be {spec.options.__name__}, got {type(opts).__name__}")
        need = 2 if spec.pair else 1
        if len(date_keys) != need:
            raise InputError(f"{product} needs {need} date(s), got {len(date_keys)}")
        rows, cols = self.shape(product, opts)
        r0, r1, c0, c1 = _window_bounds(window, rows, cols)
        ly, lx = opts.looks
        grid_window = (slice(r0 * ly, r1 * ly), slice(c0 * lx, c1 * lx))
        if spec.name == "cslc":
            return self.cslc(date_keys[0], grid_window, opts).data
        source = cslc or (lambda date, win: self.cslc(date, win).data)
        first = source(date_keys[0], grid_window)
        if spec.name == "backscatter":
            line, sample = self.positions(date_keys[0], grid_window)
            return backscatter(CslcWindow(first, line, sample), self.burst(date_keys[0]), opts)  # type: ignore[arg-type]
        if spec.name == "amplitude":
            return amplitude(first, opts)  # type: ignore[arg-type]
        second = source(date_keys[1], grid_window)
        if spec.name == "interferogram":
            return interferogram(first, second, opts)  # type: ignore[arg-type]
        return coherence(first, second, opts)  # type: ignore[arg-type]


def get_product(name: str) -> ProductSpec:
    """The registered product ``name``; ``NotFoundError`` listing the others if unknown."""
    try:
        return PRODUCTS[name]
    except KeyError:
        raise NotFoundError(f"unknown product {name!r}; products: {', '.join(PRODUCTS)}") from None


def _window_bounds(window: Window | None, rows: int, cols: int) -> tuple[int, int, int, int]:
    if window is None:
        return 0, rows, 0, cols
    r0, r1, rs = window[0].indices(rows)
    c0, c1, cs = window[1].indices(cols)
    if rs != 1 or cs != 1 or r1 <= r0 or c1 <= c0:
        raise InputError(f"window {window} is empty or strided in a {rows} x {cols} grid")
    return r0, r1, c0, c1

