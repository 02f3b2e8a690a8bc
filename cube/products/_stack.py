"""The driver: one burst ID of a cube, its dates, fixed grid and DEM; products per window.

This is the only module of ``cube.products`` that does I/O: it reads SLC windows and
metadata from the cube and hands arrays to the pure product functions.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from cube.errors import CorruptChunkError, InputError, NotFoundError
from cube.format import (
    CUBE_DOC,
    SLC_STORE,
    BurstMetadata,
    burst_group_path,
    date_metadata_path,
    decode_block,
    grid_path,
    recorded_level,
)
from cube.geometry import GRID_MARGIN_M, BurstGrid, ProductGrid, Window, make_burst_grid, transformer
from cube.products._address import Selection, Variant
from cube.products._options import CslcOptions, ProductOptions
from cube.products._registry import Input, compute_product, get_product
from cube.storage import CubeStore, list_burst_groups

if TYPE_CHECKING:  # numba (the DEM, the CSLC), zarr and numpy (the pixels) are imported where used:
    import numpy as np  # a stack's dates and grid (the API's metadata) need none of them
    import xarray as xr
    import zarr

    from cube.geometry import Dem
    from cube.products._cslc import CslcWindow, SlcSource

DEM_MARGIN_DEG = 0.01


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
    from cube.geometry import read_dem

    return read_dem(url, bbox, vertical_datum=datum, storage_options=json.loads(options))  # type: ignore[arg-type]


def _cop30_dem(store: CubeStore, burst_id: str, bbox: tuple[float, float, float, float], dem: dict) -> Dem:
    """The COP30 window of one burst: from the cube's cache, else read from the bucket and cached.

    The cache holds the heights as read (above EGM2008), so the geoid is applied on every read
    with the grid this machine has; its path carries a digest of the DEM record, so recording
    another DEM never reuses it.
    """
    from cube.geometry import cop30_orthometric, dem_geotiff_bytes, read_dem, to_ellipsoidal

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
        west, south, east, north = transformer(dem.crs, 4326).transform_bounds(x0, y0, x1, y1)
    if west > need[0] or south > need[1] or east < need[2] or north < need[3]:
        have = tuple(round(v, 4) for v in (west, south, east, north))
        raise NotFoundError(
            f"{dem.source}: the DEM covers only part of burst {burst_id} (its grid spans "
            f"{tuple(round(v, 4) for v in need)}, the DEM {have}); record a DEM over the whole "
            "burst with `sarcube dem`"
        )


def _no_burst(store: CubeStore, burst_id: str, polarization: str) -> NotFoundError:
    """The error of a burst group missing from ``store``: naming the ones it holds."""
    if not store.exists(CUBE_DOC):
        return NotFoundError(f"{store.url}: not a sarcube cube (no cube.json); check the path, or ingest "
                             "SAFEs into it first with `sarcube ingest SAFE... --cube CUBE`")
    held = [f"{b} {p}" for b, p in list_burst_groups(store)]
    listed = ", ".join(held[:20]) + (" ..." if len(held) > 20 else "") if held else "none yet"
    return NotFoundError(f"{store.url}: no burst {burst_id} {polarization} in the cube; it holds {listed}")


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
        self._path = path = f"{SLC_STORE}/{burst_group_path(burst_id, polarization)}"
        try:  # the group's zarr.json (metadata consolidated): dates and the SLC array's chunk layout
            doc = json.loads(store.read_bytes(f"{path}/zarr.json"))
            attrs, nodes = doc.get("attributes", {}), doc["consolidated_metadata"]["metadata"]
        except (FileNotFoundError, KeyError, TypeError, ValueError) as exc:
            raise _no_burst(store, burst_id, self.polarization) from exc
        stored_dates = cast("list[dict[str, Any]]", attrs.get("dates", []))
        self.dates: list[str] = [d["date_key"] for d in stored_dates]
        self._index: dict[str, int] = {d["date_key"]: d["index"] for d in stored_dates}
        if nodes.get("slc", {}).get("node_type") != "array":
            raise CorruptChunkError(f"{store.url}: {path}/slc is not an array; re-ingest burst {burst_id}")
        self._slc_meta: dict[str, Any] = nodes["slc"]
        self._meta: dict[str, BurstMetadata] = {}
        self._grid: BurstGrid | None = None
        self._dem: Dem | None = None

    @functools.cached_property
    def _slc(self) -> zarr.Array:
        """The int16 (time, line, sample, part) SLC array, opened with zarr-python.

        For a cube whose chunks `read_slc` does not decode itself (`_slc_chunks`).
        """
        import zarr

        store = self.store.zarr_store(self._path, read_only=True)
        group = zarr.open_group(store, mode="r", use_consolidated=True)
        return cast("zarr.Array", group["slc"])

    @functools.cached_property
    def _slc_chunks(self) -> tuple[int, int] | None:
        """(lines, samples) of the SLC array's chunks if `read_slc` decodes them itself, else None.

        That is chunks of one date and both parts, keys ``c/t/i/j/0``, and codecs ``bytes`` +
        ``zstd`` + ``crc32c`` (what ``ingest`` writes).
        """
        meta = self._slc_meta
        try:
            shape = meta["chunk_grid"]["configuration"]["chunk_shape"]
            keys = meta.get("chunk_key_encoding", {})
            ours = (meta["data_type"] == "int16" and len(shape) == 4 and shape[0] == 1 and shape[3] == 2
                    and keys.get("name") == "default"
                    and keys.get("configuration", {}).get("separator") == "/"
                    and recorded_level(meta.get("codecs")) is not None
                    and not meta.get("storage_transformers"))
        except (KeyError, TypeError):
            return None
        return (int(shape[1]), int(shape[2])) if ours else None

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
            import numpy as np

            g = self.grid
            xmin, ymin, xmax, ymax = g.bounds
            xs = np.array([xmin, xmax, xmin, xmax])
            ys = np.array([ymin, ymin, ymax, ymax])
            lon, lat = transformer(g.epsg, 4326).transform(xs, ys)
            bbox = (float(lon.min()) - DEM_MARGIN_DEG, float(lat.min()) - DEM_MARGIN_DEG,
                    float(lon.max()) + DEM_MARGIN_DEG, float(lat.max()) + DEM_MARGIN_DEG)
            url = dem["url"]
            if dem.get("kind") == "cop30":
                self._dem = _cop30_dem(self.store, self.burst_id, bbox, dem)
            else:
                remote = dem.get("storage_options", self.store.storage_options if "://" in url else {})
                options = json.dumps(remote, sort_keys=True, default=str)
                read = _read_dem_cached(url, bbox, dem.get("vertical_datum", "auto"), options)
                # the grid's margin (orbit tube) may fall off the DEM; the burst's footprint may not
                m = GRID_MARGIN_M
                west, south, east, north = transformer(g.epsg, 4326).transform_bounds(
                    xmin + m, ymin + m, xmax - m, ymax - m)
                _check_cover(read, (float(west), float(south), float(east), float(north)), self.burst_id)
                self._dem = read
        return self._dem

    # -- pixels -----------------------------------------------------------------------------
    def read_slc(self, date_key: str, l0: int, l1: int, s0: int, s1: int) -> np.ndarray:
        """complex64 (l1 - l0, s1 - s0) pixels of one date's burst window: a new array on each call."""
        import numpy as np

        t = self._index[date_key]
        out = np.empty((l1 - l0, s1 - s0), np.complex64)
        pairs = out.view(np.float32).reshape(l1 - l0, s1 - s0, 2)  # (re, im) of each pixel
        chunks = self._slc_chunks
        if chunks is None:
            pairs[...] = self._slc[t, l0:l1, s0:s1, :]
            return out
        cl, cs = chunks  # each stored chunk decoded straight into its part of ``out``: no int16 copy
        cols = range(s0 // cs, -(-s1 // cs))
        for i in range(l0 // cl, -(-l1 // cl)):
            keys = [f"{self._path}/slc/c/{t}/{i}/{j}/0" for j in cols]
            a0, a1 = max(l0, i * cl), min(l1, (i + 1) * cl)
            for j, key, raw in zip(cols, keys, self.store.read_many(keys), strict=True):
                b0, b1 = max(s0, j * cs), min(s1, (j + 1) * cs)
                part = pairs[a0 - l0:a1 - l0, b0 - s0:b1 - s0]
                if raw is None:  # never written: the fill value
                    part[...] = self._slc_meta.get("fill_value") or 0
                    continue
                try:
                    block = decode_block(raw, "int16", (cl, cs, 2))
                except CorruptChunkError as exc:
                    raise CorruptChunkError(
                        f"{self.store.child_url(key)} ({self.burst_id} {self.polarization} {date_key}): "
                        f"{exc}; restore that date from its SAFE: sarcube verify {self.store.url} "
                        "--restore SAFE") from None
                part[...] = block[a0 - i * cl:a1 - i * cl, b0 - j * cs:b1 - j * cs]
        return out

    def slc_source(self, date_key: str, window: Window, counter: list[int] | None = None) -> SlcSource:
        """What the CSLC of one date reads over a fixed-grid window.

        ``counter[0]`` adds up the stored SLC bytes read (job metrics).
        """
        from cube.products._cslc import SlcSource

        stored = 4  # bytes per pixel: (re, im) int16, as stored

        def read(l0: int, l1: int, s0: int, s1: int) -> np.ndarray:
            pixels = self.read_slc(date_key, l0, l1, s0, s1)
            if counter is not None:
                counter[0] += pixels.size * stored
            return pixels

        return SlcSource(self.burst(date_key), self.grid, window, self.dem, read, fresh_reads=True)

    def cslc(self, date_key: str, window: Window | None = None,
             options: CslcOptions | None = None) -> CslcWindow:
        """The CSLC of one date over a grid window (None = the whole grid)."""
        from cube.products._cslc import geocode_slc

        burst = self.burst(date_key)
        return geocode_slc(burst, self.grid, window, self.dem,
                           lambda a, b, c, d: self.read_slc(date_key, a, b, c, d), options)

    def positions(self, date_key: str, window: Window | None = None) -> tuple[np.ndarray, np.ndarray]:
        """float64 (rows, cols) burst line and sample of each pixel of a grid window (NaN outside)."""
        from cube.products._cslc import radar_window

        return radar_window(self.burst(date_key), self.grid, window, self.dem)

    def input(self, name: Input, date_key: str, window: Window, cslc: np.ndarray | None = None,
              counter: list[int] | None = None) -> object:
        """One input of a product function (see ``cube.products._registry``) over a fixed-grid window.

        ``cslc``: that date's CSLC pixels if the caller has them, else computed here.
        """
        if name == "slc":
            return self.slc_source(date_key, window, counter)
        if name == "metadata":
            return self.burst(date_key)
        data = cslc if cslc is not None else self.cslc(date_key, window).data
        if name == "cslc":
            return data
        from cube.products._cslc import CslcWindow

        return CslcWindow(data, *self.positions(date_key, window))

    # -- products ---------------------------------------------------------------------------
    def product_grid(self, product: str, options: ProductOptions | None = None) -> ProductGrid:
        """A product's map grid: the fixed grid divided by the options' looks."""
        opts = get_product(product).validate(options)
        return ProductGrid(self.grid, opts.looks)

    def shape(self, product: str, options: ProductOptions | None = None) -> tuple[int, int]:
        """(rows, cols) of a product's grid: the fixed grid divided by its looks."""
        return self.product_grid(product, options).shape

    def compute(self, product: str, date_keys: Sequence[str], window: Window | None = None,
                options: ProductOptions | None = None) -> np.ndarray:
        """One window of a product (in the product's own grid, i.e. after looks), computed here.

        ``date_keys`` holds one date (cslc, backscatter, amplitude) or two (reference,
        secondary) for pair products. The CSLC other products need is computed with default
        options (the lazy engine reads it from the ARD store instead). Returns the product's
        dtype, shape of the window.
        """
        spec = get_product(product)
        opts = spec.validate(options)
        grid_window = ProductGrid(self.grid, opts.looks).grid_window(window)
        return compute_product(spec, opts, tuple(date_keys),
                               lambda name, date: self.input(name, date, grid_window))

    def selection(self, product: str, date_sets: Sequence[Sequence[str]], window: Window | None = None,
                  options: ProductOptions | None = None) -> Selection:
        """A selection of this burst (dates must be the burst's date keys; window None = all)."""
        variant = Variant.of(product, options)
        grid = self.product_grid(product, variant.options)
        r0, r1, c0, c1 = grid.bounds_of(window)
        for d in {d for ds in date_sets for d in ds}:
            self.burst(d)  # NotFoundError listing the dates
        for ds in date_sets:
            if variant.spec.pair and len(set(ds)) != 2:
                raise InputError(f"{self.burst_id} {product}: a pair needs two different dates, got "
                                 f"{', '.join(ds)} (the burst has {len(self.dates)})")
        return Selection(self.burst_id, self.polarization, variant, tuple(tuple(ds) for ds in date_sets),
                         (slice(r0, r1), slice(c0, c1)))

    def dataset(self, selection: Selection) -> xr.Dataset:
        """A selection computed here (no ARD store) as the product Dataset every output shares."""
        import numpy as np

        from cube.products._dataset import product_dataset

        v = selection.variant
        data = np.stack([self.compute(v.product, ds, selection.window, v.options)
                         for ds in selection.date_sets])
        return product_dataset(selection, self.product_grid(v.product, v.options), data, self.dem)
