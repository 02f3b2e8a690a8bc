"""``/tiles``: map tiles of every ARD product (titiler.xarray), TileJSON and a WMTS document.

Routes, under a per-product prefix (titiler's scheme)::

    /tiles/{product}/{tileMatrixSetId}/{z}/{x}/{y}[.{format}]     a tile (png, jpeg, webp, tif, npy …)
    /tiles/{product}/{tileMatrixSetId}/tilejson.json              TileJSON 3.0
    /tiles/{product}/WMTSCapabilities.xml                         OGC WMTS 1.0 (RESTful)
    /tiles/{product}/tiles[/{tileMatrixSetId}]                    OGC API tilesets
    /tiles/{product}/info, /info.geojson, /point/{lon},{lat}      titiler's metadata and pixel value

Query parameters pick the layer: ``burst_id`` (one burst), or none and an optional ``bbox``
(a mosaic of every burst that covers the tile); ``datetime`` (instant, day or ``a/b``; the
latest matching date) or, for pair products, ``reference`` and ``secondary`` (default: the
latest two dates); ``pol`` (VV); ``view`` (what to show of the values, see :data:`VIEWS`); and
the product's own options (``window=7x7``, ``quantity=gamma0`` …). titiler's rendering
parameters (``rescale``, ``colormap_name``, ``colormap``, ``color_formula``, ``algorithm``,
``tilesize``, ``reproject``) work as in titiler; without them each view has its own defaults.

A tile reads its window through the lazy engine: chunks never computed are computed (and
kept) first. A tile that needs more missing chunks than ``max_chunks_per_request`` is answered
``202`` with a ``/jobs/{id}`` location, as every other endpoint. A tile outside the data is a
``404 {code: "tile_outside_bounds"}``, as titiler answers it.
"""

from __future__ import annotations

import functools
import json
import math
import threading
import time
import weakref
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import attr
import imagecodecs
import morecantile
import numpy as np
import rasterio
import rasterio.transform
import rioxarray  # noqa: F401 - registers the .rio accessor titiler's reader uses
import xarray as xr
from affine import Affine
from attrs import define
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.routing import APIRoute
from morecantile import Tile, TileMatrixSet
from morecantile.defaults import TileMatrixSets
from pydantic import Field, ValidationError
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject
from rio_tiler.colormap import apply_cmap
from rio_tiler.colormap import cmap as colormaps
from rio_tiler.constants import WEB_MERCATOR_TMS, WGS84_CRS
from rio_tiler.errors import EmptyMosaicError, PointOutsideBounds, RioTilerError, TileOutsideBounds
from rio_tiler.io import BaseReader, XarrayReader
from rio_tiler.models import ImageData, Info, PointData
from rio_tiler.mosaic import mosaic_reader
from rio_tiler.utils import CRS_to_uri
from starlette.responses import Response
from titiler.core.algorithm import BaseAlgorithm, algorithms
from titiler.core.dependencies import DefaultDependency
from titiler.core.factory import FactoryExtension, img_endpoint_params
from titiler.core.resources.enums import ImageType
from titiler.core.utils import render_image, tms_limits
from titiler.xarray.dependencies import DatasetParams
from titiler.xarray.factory import TilerFactory

from cube.api._common import POL_PATTERN, error, option_params, variant_from
from cube.api._plan import job_if_too_many, parse_bbox
from cube.errors import InputError, NotFoundError
from cube.format import GRID_DIR, match_dates
from cube.format import pick_date as one_date
from cube.geometry import BurstGrid
from cube.materialize import ArdEngine, Tally, open_product
from cube.products import PRODUCTS, ArdArray, ProductOptions, Selection, Variant, get_product

TMS_IDS = ("WebMercatorQuad", "WorldCRS84Quad", "WorldMercatorWGS84Quad")
"""Tile matrix sets served (morecantile's global ones; any other morecantile TMS can be added)."""
SUPPORTED_TMS = TileMatrixSets({name: morecantile.tms.get(name) for name in TMS_IDS})
_TMS = {name: SUPPORTED_TMS.get(name) for name in TMS_IDS}
"""The same, read-only (``TileMatrixSets.get`` deep-copies: ~2 ms a tile)."""
_TMS_URI = {name: f"<{CRS_to_uri(tms.rasterio_crs)}>" for name, tms in _TMS.items()}
MAX_TILESIZE = 1024
#: Deepest zoom of the tile matrix sets served (WorldCRS84Quad stops at 23).
MAX_ZOOM = max(SUPPORTED_TMS.get(name).maxzoom for name in TMS_IDS)
PNG_LEVEL = 1
"""zlib level of PNG tiles: speckled SAR compresses little (level 6: −10 % bytes, 5× the time)."""
DATA_FORMATS = (ImageType.npy, ImageType.tif, ImageType.tiff)
"""Formats that carry the view's float32 values: no default rescale or colour map."""


# -- what a tile shows of a product: one table ----------------------------------------------------
@dataclass(frozen=True)
class View:
    """One way to show a product's values: a function of the values and the display defaults.

    ``apply(values, options)`` maps the product's array (any shape, its dtype) to float32 in
    ``units``; ``rescale`` (min, max) and ``colormap`` (a rio-tiler colormap name) are the
    defaults when the request has no ``rescale`` / ``colormap_name`` / ``colormap``.
    """

    name: str
    units: str
    rescale: tuple[float, float]
    colormap: str
    apply: Callable[[np.ndarray, ProductOptions], np.ndarray]
    description: str


def _f32(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def _db(factor: float) -> Callable[[np.ndarray, ProductOptions], np.ndarray]:
    """``factor``·log10(values) (NaN where ≤ 0), or the values when the variant is already dB."""

    def apply(values: np.ndarray, options: ProductOptions) -> np.ndarray:
        if getattr(options, "db", False):
            return _f32(values)
        v = np.abs(values) if np.iscomplexobj(values) else values
        with np.errstate(divide="ignore", invalid="ignore"):
            return _f32(np.where(v > 0, factor * np.log10(v), np.nan))

    return apply


def _linear(factor: float) -> Callable[[np.ndarray, ProductOptions], np.ndarray]:
    """The linear values (10^(v/factor) when the variant is stored in dB)."""

    def apply(values: np.ndarray, options: ProductOptions) -> np.ndarray:
        if getattr(options, "db", False):
            return _f32(10.0 ** (values / factor))
        return _f32(values)

    return apply


def _phase(values: np.ndarray, options: ProductOptions) -> np.ndarray:
    return _f32(np.angle(values))


def _value(values: np.ndarray, options: ProductOptions) -> np.ndarray:
    return _f32(values)


_PI = float(np.pi)
VIEWS: dict[str, dict[str, View]] = {
    "backscatter": {
        "db": View("db", "dB", (-25.0, 0.0), "gray", _db(10), "10·log10 of σ0/β0/γ0"),
        "linear": View("linear", "1", (0.0, 0.5), "gray", _linear(10), "linear power ratio"),
    },
    "amplitude": {
        "db": View("db", "dB", (0.0, 60.0), "gray", _db(20), "20·log10 of the amplitude (DN)"),
        "linear": View("linear", "DN", (0.0, 500.0), "gray", _linear(20), "amplitude in DN"),
    },
    "coherence": {
        "value": View("value", "1", (0.0, 1.0), "viridis", _value, "coherence magnitude 0-1"),
    },
    "interferogram": {
        "phase": View("phase", "rad", (-_PI, _PI), "phase", _phase, "wrapped phase, cyclic colours"),
        "db": View("db", "dB", (0.0, 60.0), "gray", _db(10), "10·log10 |interferogram| (DN²)"),
    },
    "cslc": {
        "db": View("db", "dB", (0.0, 60.0), "gray", _db(20), "20·log10 |CSLC| (DN)"),
        "phase": View("phase", "rad", (-_PI, _PI), "phase", _phase, "phase of the flattened CSLC"),
    },
}
"""Per product, its views; the first is the default. Every registered product has one."""

assert set(VIEWS) == set(PRODUCTS), "every product needs a row in VIEWS"


def view_of(product: str, name: str | None) -> View:
    """The named view of ``product`` (its default if None); InputError listing the views."""
    views = VIEWS[product]
    if name is None:
        return next(iter(views.values()))
    if name not in views:
        raise InputError(f"{product} has no view {name!r}; views: {', '.join(views)}")
    return views[name]


# -- bursts and their footprints ------------------------------------------------------------------
@dataclass(frozen=True)
class Footprint:
    """A burst ID's fixed grid and its lon/lat bounding box (west, south, east, north), deg."""

    grid: BurstGrid
    lonlat: tuple[float, float, float, float]


_FOOTPRINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_FOOTPRINT_LOCK = threading.Lock()


def footprints(engine: ArdEngine) -> list[Footprint]:
    """Every burst grid of the cube with its lon/lat box, re-read every ``engine.refresh_s``."""
    with _FOOTPRINT_LOCK:
        hit = _FOOTPRINTS.get(engine)
    if hit and time.monotonic() - hit[0] < engine.refresh_s:
        return hit[1]
    out = []
    for name in sorted(engine.cube.list(GRID_DIR)):
        if not name.endswith(".json"):
            continue
        grid = BurstGrid.model_validate_json(engine.cube.read_bytes(f"{GRID_DIR}/{name}"))
        to_lonlat = Transformer.from_crs(grid.epsg, 4326, always_xy=True)
        out.append(Footprint(grid, tuple(to_lonlat.transform_bounds(*grid.bounds, densify_pts=21))))
    with _FOOTPRINT_LOCK:
        _FOOTPRINTS[engine] = (time.monotonic(), out)
    return out


@functools.lru_cache(maxsize=4096)
def product_lonlat(grid: BurstGrid, looks: tuple[int, int]) -> tuple[float, float, float, float]:
    """Lon/lat box of a product grid: the burst's fixed grid cut to whole ``looks``, deg."""
    ly, lx = looks
    rows, cols = grid.height // ly, grid.width // lx
    extent = (grid.x0, grid.y0 - rows * grid.dy * ly, grid.x0 + cols * grid.dx * lx, grid.y0)
    to_lonlat = Transformer.from_crs(grid.epsg, 4326, always_xy=True)
    return tuple(to_lonlat.transform_bounds(*extent, densify_pts=21))


def _intersects(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# -- the layer a request names --------------------------------------------------------------------
@dataclass(frozen=True)
class Layer:
    """One burst's 2-D layer: a product variant at one date (or pair), shown through a view."""

    burst_id: str
    polarization: str
    variant: Variant
    date_keys: tuple[str, ...]
    view: View
    grid: BurstGrid
    shape: tuple[int, int]

    @property
    def transform(self) -> Affine:
        """Affine of the product grid (pixel corners), m."""
        ly, lx = self.variant.options.looks
        g = self.grid
        return Affine(g.dx * lx, 0.0, g.x0, 0.0, -g.dy * ly, g.y0)

    @property
    def label(self) -> str:
        return f"{self.burst_id} {self.variant.product} {'_'.join(self.date_keys)} {self.view.name}"

    @property
    def array(self) -> ArdArray:
        """The address of the layer's values."""
        return ArdArray(self.burst_id, self.polarization, self.variant, self.date_keys)


def pick_dates(
    dates: list[str],
    pair: bool,
    *,
    burst_id: str,
    product: str,
    datetime: str | None,
    reference: str | None,
    secondary: str | None,
) -> tuple[str, ...]:
    """The date (or pair) of a layer: the latest date ``datetime`` matches (latest overall if
    None); pairs: ``reference``/``secondary`` (a missing one is the next/previous date; neither:
    the latest two dates). NotFoundError if nothing matches; InputError for a wrong mix."""
    if not pair:
        if reference or secondary:
            raise InputError(f"{product} has one date per layer: give datetime=, not reference=/secondary=")
        found = match_dates(dates, datetime, burst_id=burst_id) if datetime else dates
        if not found:
            raise NotFoundError(f"{burst_id} has no dates")
        return (found[-1],)
    if datetime:
        raise InputError(
            f"{product} is a pair product: give reference= and secondary= (neither: the latest pair), "
            "not datetime="
        )
    ref = one_date(dates, reference, burst_id=burst_id, name="reference") if reference else None
    sec = one_date(dates, secondary, burst_id=burst_id, name="secondary") if secondary else None
    if ref is None and sec is None:
        if len(dates) < 2:
            raise NotFoundError(f"{burst_id} has {len(dates)} date(s); {product} needs two")
        return dates[-2], dates[-1]
    if sec is None:
        later = [d for d in dates if d > ref]
        if not later:
            raise NotFoundError(f"{burst_id}: no date after reference={reference!r}; give secondary=")
        sec = later[0]
    if ref is None:
        earlier = [d for d in dates if d < sec]
        if not earlier:
            raise NotFoundError(f"{burst_id}: no date before secondary={secondary!r}; give reference=")
        ref = earlier[-1]
    if ref == sec:
        raise InputError(f"reference and secondary are the same date ({ref}); give two dates")
    return ref, sec


@dataclass
class TileSource:
    """What a request names (titiler's ``src_path``): the product, its options and view, and
    either one burst's layer or the criteria of a mosaic (``bbox``, dates)."""

    engine: ArdEngine
    cache: TileCache
    product: str
    variant: Variant
    view: View
    polarization: str
    max_chunks: int
    layer: Layer | None = None
    bbox: tuple[float, float, float, float] | None = None
    datetime: str | None = None
    reference: str | None = None
    secondary: str | None = None
    tally: Tally = field(default_factory=Tally)

    def layer_of(self, burst_id: str) -> Layer:
        """The layer of ``burst_id`` for this request's dates (NotFoundError if it has none)."""
        stack = self.engine.stack(burst_id, self.polarization)
        dates = sorted(stack.dates)
        keys = pick_dates(
            dates,
            self.variant.spec.pair,
            burst_id=burst_id,
            product=self.product,
            datetime=self.datetime,
            reference=self.reference,
            secondary=self.secondary,
        )
        shape = self.engine.product_grid(burst_id, self.polarization, self.variant).shape
        return Layer(burst_id, self.polarization, self.variant, keys, self.view, stack.grid, shape)

    def candidates(self, box: tuple[float, float, float, float] | None = None) -> list[Footprint]:
        """Mosaic: the bursts whose footprint meets ``bbox`` and ``box`` (lon/lat)."""
        out = []
        for fp in footprints(self.engine):
            if self.bbox is not None and not _intersects(fp.lonlat, self.bbox):
                continue
            if box is not None and not _intersects(fp.lonlat, box):
                continue
            out.append(fp)
        return out


def tile_source(
    request: Request,
    product: Annotated[
        str, Path(description="ARD product: cslc, backscatter, amplitude, interferogram, coherence")
    ],
    burst_id: Annotated[
        str | None, Query(description="one burst (default: a mosaic of every burst covering the tile)")
    ] = None,
    bbox: Annotated[
        str | None, Query(description="mosaic: only bursts meeting west,south,east,north (deg)")
    ] = None,
    datetime: Annotated[
        str | None, Query(description="date: instant, day or a/b; the latest match (default: the latest)")
    ] = None,
    reference: Annotated[str | None, Query(description="pair products: reference date")] = None,
    secondary: Annotated[str | None, Query(description="pair products: secondary date")] = None,
    pol: Annotated[str, Query(pattern=POL_PATTERN, description="polarization")] = "VV",
    view: Annotated[
        str | None, Query(description="what to show of the values (per product; see docs)")
    ] = None,
) -> TileSource:
    """titiler's path dependency: the layer (or mosaic) a request names, checked up front so an
    unknown product, burst or date is a 404 and a wrong mix of parameters a 400."""
    get_product(product)  # NotFoundError for an unknown product
    variant = variant_from(product, option_params(product, dict(request.query_params)))
    state = request.app.state
    source = TileSource(
        engine=state.engine,
        cache=_cache(request),
        product=product,
        variant=variant,
        view=view_of(product, view),
        polarization=pol.upper(),
        max_chunks=state.settings.max_chunks_per_request,
        bbox=parse_bbox(bbox),
        datetime=datetime,
        reference=reference,
        secondary=secondary,
    )
    if source.bbox is not None:
        w, s, e, n = source.bbox
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise InputError(f"bbox {bbox!r} is not west,south,east,north in degrees with west < east")
    if burst_id:
        if bbox:
            raise InputError("give burst_id= (one burst) or bbox= (a mosaic), not both")
        source.layer = source.layer_of(burst_id)
    elif not source.candidates():
        where = f"bbox {bbox}" if bbox else "the cube"
        raise NotFoundError(f"no burst in {where}; search /stac for the bursts and their burst IDs")
    return source


# -- lazy xarray views of the layers (titiler's input DataArray) ---------------------------------
class TileCache:
    """Per app: opened product datasets (refreshed when a burst gains dates) and layer arrays."""

    def __init__(self, engine: ArdEngine, size: int = 256):
        self.engine = engine
        self.size = size
        self._lock = threading.Lock()
        self._datasets: dict[tuple, tuple[tuple[str, ...], xr.Dataset]] = {}
        self._arrays: OrderedDict[tuple, xr.DataArray] = OrderedDict()

    def dataset(self, burst_id: str, pol: str, variant: Variant) -> tuple[tuple[str, ...], xr.Dataset]:
        """(dates along the time axes, lazy dataset) of a burst's product variant, reopened
        when the burst's dates change (the store maps time indices to the current dates)."""
        key = (burst_id, pol, variant)
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
        dates, ds = self.dataset(layer.burst_id, layer.polarization, layer.variant)
        key = (layer.burst_id, layer.polarization, layer.variant, layer.date_keys, layer.view.name, dates)
        with self._lock:
            hit = self._arrays.get(key)
            if hit is not None:
                self._arrays.move_to_end(key)
                return hit
        index = [dates.index(d) for d in layer.date_keys]
        dims = ("reference_time", "secondary_time") if layer.variant.spec.pair else ("time",)
        da = ds[layer.variant.product].isel(dict(zip(dims, index, strict=True)))
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


def _cache(request: Request) -> TileCache:
    state = request.app.state
    cache = getattr(state, "tile_cache", None)
    if cache is None or cache.engine is not state.engine:
        cache = state.tile_cache = TileCache(state.engine)
    return cache


# -- readers ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=256)
def _to_grid(tms_id: str, epsg: int) -> Transformer:
    """Transformer from a served TMS's CRS to a burst grid's EPSG (pyproj's are thread-safe)."""
    return Transformer.from_crs(_TMS[tms_id].crs.to_wkt(), epsg, always_xy=True)


def _bilinear(nodes: np.ndarray, ni: np.ndarray, nj: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear interpolation of values on a mesh of nodes (rows at ``ni``, cols at ``nj``)
    at every integer position (h, w); gathers and products only (no BLAS: its thread pool
    made this ~40× slower inside a busy server)."""

    def axis(nodes_at: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        pos = np.arange(n, dtype=np.float64)
        k = np.clip(np.searchsorted(nodes_at, pos, side="right") - 1, 0, nodes_at.size - 2)
        return k, (pos - nodes_at[k]) / (nodes_at[k + 1] - nodes_at[k])

    ki, fi = axis(ni, h)
    kj, fj = axis(nj, w)
    fi, fj = fi[:, None], fj[None, :]
    top = nodes[ki][:, kj] * (1 - fj) + nodes[ki][:, kj + 1] * fj
    bottom = nodes[ki + 1][:, kj] * (1 - fj) + nodes[ki + 1][:, kj + 1] * fj
    return top * (1 - fi) + bottom * fi


def source_positions(
    transformer: Transformer, grid: Affine, bbox: tuple[float, float, float, float], shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Fractional (row, col) in a product grid of the centres of an output image's pixels.

    ``bbox`` (west, south, east, north) and ``transformer`` are in the output CRS; ``grid`` is
    the product's affine. Exact on a coarse mesh of nodes and bilinear between them (as GDAL's
    approximate transformer), refined until the interpolation error at the mesh cells' centres
    is below 0.02 pixel (of the grid, or of the output when coarser), else computed exactly for
    every pixel. float64 (h, w) each.
    """
    h, w = shape
    west, south, east, north = bbox
    px, py = (east - west) / w, (north - south) / h

    def exact(ii: np.ndarray, jj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = transformer.transform(west + (jj + 0.5) * px, north - (ii + 0.5) * py)
        return (np.asarray(ys) - grid.f) / grid.e, (np.asarray(xs) - grid.c) / grid.a

    for n in (9, 33):
        if n >= min(h, w):
            break
        ni, nj = np.linspace(0, h - 1, n), np.linspace(0, w - 1, n)
        rows, cols = exact(*np.meshgrid(ni, nj, indexing="ij"))
        mi, mj = (ni[:-1] + ni[1:]) / 2, (nj[:-1] + nj[1:]) / 2
        mid_rows, mid_cols = exact(*np.meshgrid(mi, mj, indexing="ij"))
        with np.errstate(invalid="ignore", over="ignore"):
            mesh_rows = (rows[:-1, :-1] + rows[1:, :-1] + rows[:-1, 1:] + rows[1:, 1:]) / 4
            mesh_cols = (cols[:-1, :-1] + cols[1:, :-1] + cols[:-1, 1:] + cols[1:, 1:]) / 4
            err = max(np.max(np.abs(mesh_rows - mid_rows)), np.max(np.abs(mesh_cols - mid_cols)))
            scale = max(
                1.0, float(np.abs(np.diff(rows[:, 0])).max() / (ni[1] - ni[0]))
            )  # grid px per output px
        if np.isfinite(err) and err < 0.02 * scale:
            return _bilinear(rows, ni, nj, h, w), _bilinear(cols, ni, nj, h, w)
    return exact(*np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij"))


def read_pixels(
    engine: ArdEngine, layer: Layer, rows: np.ndarray, cols: np.ndarray, tally: Tally | None = None
) -> np.ndarray:
    """The product's values at integer pixel positions (1-D ``rows``, ``cols`` inside the
    grid), read chunk by chunk through the engine: each chunk holding one of them is read
    once (and computed first if absent). Returns the product's dtype, shape of ``rows``."""
    cy, cx = layer.variant.chunks
    per_row = -(-layer.shape[1] // cx)
    key = (rows // cy) * per_row + cols // cx
    present = np.flatnonzero(np.bincount(key))
    if present.size <= 32:  # a tile near its native zoom: a few chunks, one mask each
        groups = ((k, np.flatnonzero(key == k)) for k in present)
    else:  # zoomed out: many chunks, one sort
        order = np.argsort(key, kind="stable")
        cuts = np.flatnonzero(np.diff(key[order])) + 1
        groups = (
            (key[order[a]], order[a:b]) for a, b in zip(np.r_[0, cuts], np.r_[cuts, key.size], strict=True)
        )
    out = np.empty(rows.shape, layer.variant.dtype)
    for k, idx in groups:
        i, j = divmod(int(k), per_row)
        block = engine.chunk(layer.array, i, j, tally)
        out[idx] = block[rows[idx] - i * cy, cols[idx] - j * cx]
    return out


def read_strided(
    engine: ArdEngine, layer: Layer, window: tuple[slice, slice], step: int, tally: Tally | None = None
) -> np.ndarray:
    """Every ``step``-th pixel (centred in each step × step block) of a product-grid window,
    assembled chunk by chunk through the engine (absent chunks are computed; chunks holding
    no sample are not read). Returns the product's dtype, shape (⌈rows/step⌉, ⌈cols/step⌉)."""
    rr, cc = _samples(window[0], step), _samples(window[1], step)
    cy, cx = layer.variant.chunks
    out = np.empty((rr.size, cc.size), layer.variant.dtype)
    for i in np.unique(rr // cy):
        rsel = np.flatnonzero(rr // cy == i)
        for j in np.unique(cc // cx):
            csel = np.flatnonzero(cc // cx == j)
            block = engine.chunk(layer.array, int(i), int(j), tally)
            out[np.ix_(rsel, csel)] = block[np.ix_(rr[rsel] - i * cy, cc[csel] - j * cx)]
    return out


def _samples(span: slice, step: int) -> np.ndarray:
    """The indices read in ``span``: one per block of ``step``, at the block's centre (the last,
    partial block's centre clipped into the span)."""
    n = -(-(span.stop - span.start) // step)
    return np.minimum(span.start + step // 2 + step * np.arange(n), span.stop - 1)


@dataclass
class TileGeometry:
    """Where a tile's pixels fall in a layer's product grid.

    ``rows``/``cols``: fractional positions (h, w) of the pixel centres; ``inside``: those in
    the grid; ``window``: the grid window holding them; ``step``: grid pixels per tile pixel.
    """

    bbox: tuple[float, float, float, float]
    shape: tuple[int, int]
    rows: np.ndarray
    cols: np.ndarray
    inside: np.ndarray
    window: tuple[slice, slice]
    step: int

    def chunks(self, layer: Layer) -> int:
        """How many chunks the tile reads (nearest: the chunks holding its pixels)."""
        cy, cx = layer.variant.chunks
        r = np.floor(self.rows[self.inside]).astype(np.int64) // cy
        c = np.floor(self.cols[self.inside]).astype(np.int64) // cx
        return np.unique(r * -(-layer.shape[1] // cx) + c).size


@attr.s
class BurstReader(XarrayReader):
    """titiler.xarray's reader over one burst's layer.

    ``input`` is the lazy 2-D DataArray of the layer (dask over the product's zarr store, so
    titiler's generic methods — info, point — read only the chunks they touch). ``tile`` takes
    a faster path to the same pixels: it maps the tile's pixel centres into the product grid
    (:func:`source_positions`) and gathers the pixel under each (:func:`read_pixels`: only the
    chunks holding them are read, through the engine); other resampling methods warp the
    window (every ``step``-th pixel when zoomed out) with ``rasterio.warp.reproject``.
    rio-tiler's generic path (rioxarray clip + GDAL warp) gives the same pixels 3-10× slower.
    """

    layer: Layer = attr.ib(kw_only=True)
    engine: ArdEngine = attr.ib(kw_only=True)
    tally: Tally = attr.ib(kw_only=True, factory=Tally)
    _geometries: dict = attr.ib(init=False, factory=dict)

    def __attrs_post_init__(self):
        t, (rows, cols) = self.layer.transform, self.layer.shape
        self.crs = CRS.from_epsg(self.layer.grid.epsg)
        self.transform = t
        self.height, self.width = rows, cols
        self.bounds = (t.c, t.f + rows * t.e, t.c + cols * t.a, t.f)
        self._dims = []

    def point(self, lon: float, lat: float, **kwargs) -> PointData:
        """rio-tiler's point, for a lon/lat in range."""
        check_lonlat(lon, lat)
        return super().point(lon, lat, **kwargs)

    @property
    def lonlat(self) -> tuple[float, float, float, float]:
        """The layer's lon/lat box (west, south, east, north), deg."""
        return product_lonlat(self.layer.grid, self.layer.variant.options.looks)

    def geometry(self, tile_x: int, tile_y: int, tile_z: int, tilesize: int | None = None) -> TileGeometry:
        """The tile's pixels in the product grid; TileOutsideBounds if none falls in it."""
        key = (tile_x, tile_y, tile_z, tilesize)
        if key not in self._geometries:
            self._geometries[key] = self._geometry(tile_x, tile_y, tile_z, tilesize)
        return self._geometries[key]

    def _geometry(self, tile_x: int, tile_y: int, tile_z: int, tilesize: int | None) -> TileGeometry:
        if not _intersects(self.tms.bounds(Tile(x=tile_x, y=tile_y, z=tile_z)), self.lonlat):
            raise TileOutsideBounds(
                f"Tile(x={tile_x}, y={tile_y}, z={tile_z}) is outside {self.layer.burst_id}"
            )
        matrix = self.tms.matrix(tile_z)
        bbox = tuple(self.tms.xy_bounds(Tile(x=tile_x, y=tile_y, z=tile_z)))
        h, w = tilesize or matrix.tileHeight, tilesize or matrix.tileWidth
        rows, cols = source_positions(
            _to_grid(self.tms.id, self.layer.grid.epsg), self.layer.transform, bbox, (h, w)
        )
        nr, nc = self.layer.shape
        inside = (rows >= 0) & (rows < nr) & (cols >= 0) & (cols < nc)
        if not inside.any():
            raise TileOutsideBounds(
                f"Tile(x={tile_x}, y={tile_y}, z={tile_z}) is outside {self.layer.burst_id}"
            )
        r, c = rows[inside], cols[inside]
        window = (slice(int(r.min()), int(r.max()) + 1), slice(int(c.min()), int(c.max()) + 1))
        per_pixel = min(np.abs(np.diff(rows, axis=0)).mean(), np.abs(np.diff(cols, axis=1)).mean())
        return TileGeometry(bbox, (h, w), rows, cols, inside, window, max(1, int(per_pixel)))

    def plans(self, tile_x: int, tile_y: int, tile_z: int, tilesize: int | None = None) -> list[tuple]:
        """[(Selection, chunks the tile reads)] of the tile."""
        g = self.geometry(tile_x, tile_y, tile_z, tilesize)
        lay = self.layer
        selection = Selection(lay.burst_id, lay.polarization, lay.variant, (lay.date_keys,), g.window)
        return [(selection, g.chunks(lay))]

    def tile(
        self,
        tile_x: int,
        tile_y: int,
        tile_z: int,
        tilesize: int | None = None,
        reproject_method: str = "nearest",
        nodata: float | None = None,
        indexes: Any = None,
        **kwargs: Any,
    ) -> ImageData:
        """The tile as float32 values of the view (1 band), masked where the product has no value."""
        if indexes not in (None, 1, [1], (1,)):
            raise InputError(f"bidx={indexes}: a layer has one band (bidx=1)")
        g = self.geometry(tile_x, tile_y, tile_z, tilesize)
        lay, (h, w), opts = self.layer, g.shape, self.layer.variant.options
        out = np.full((h, w), np.nan, np.float32)
        if reproject_method == "nearest":  # the pixel under each tile pixel's centre, as GDAL
            rows = np.floor(g.rows[g.inside]).astype(np.int64)
            cols = np.floor(g.cols[g.inside]).astype(np.int64)
            out[g.inside] = lay.view.apply(read_pixels(self.engine, lay, rows, cols, self.tally), opts)
        else:  # the window (every step-th pixel when zoomed out), warped by GDAL
            (win_r, win_c), t, k = g.window, lay.transform, g.step
            values = lay.view.apply(read_strided(self.engine, lay, g.window, k, self.tally), opts)
            reproject(
                values,
                out,
                src_transform=Affine(
                    t.a * k, 0.0, t.c + win_c.start * t.a, 0.0, t.e * k, t.f + win_r.start * t.e
                ),
                src_crs=self.crs,
                src_nodata=np.nan,
                dst_transform=rasterio.transform.from_bounds(*g.bbox, w, h),
                dst_crs=self.tms.rasterio_crs,
                dst_nodata=np.nan,
                resampling=Resampling[reproject_method],
            )
        if nodata is not None:
            out[out == nodata] = np.nan
        return ImageData(
            np.ma.masked_invalid(out[None]),
            bounds=g.bbox,
            crs=self.tms.rasterio_crs,
            band_descriptions=[lay.label],
            nodata=np.nan,
        )


def burst_reader(
    source: TileSource, layer: Layer, tms: TileMatrixSet, with_input: bool = True
) -> BurstReader:
    """A reader of ``layer`` (``with_input=False``: geometry only, for zoom levels)."""
    da = source.cache.array(layer) if with_input else None
    return BurstReader(da, tms=tms, layer=layer, engine=source.engine, tally=source.tally)


@attr.s
class MosaicReader(BaseReader):
    """A mosaic of every burst whose footprint covers the tile (first valid pixel, bursts by ID).

    Tiles, TileJSON, WMTS, info and point; the other titiler methods need ``burst_id``.
    """

    input: TileSource = attr.ib()
    tms: TileMatrixSet = attr.ib(default=WEB_MERCATOR_TMS)

    def __attrs_post_init__(self):
        looks = self.input.variant.options.looks
        boxes = [product_lonlat(fp.grid, looks) for fp in self.input.candidates()]
        w, s = min(b[0] for b in boxes), min(b[1] for b in boxes)
        e, n = max(b[2] for b in boxes), max(b[3] for b in boxes)
        if self.input.bbox is not None:
            bw, bs, be, bn = self.input.bbox
            w, s, e, n = max(w, bw), max(s, bs), min(e, be), min(n, bn)
        self.bounds = (w, s, e, n)
        self.crs = WGS84_CRS

    def _layers(self, box: tuple[float, float, float, float] | None) -> list[Layer]:
        layers = []
        for fp in self.input.candidates(box):
            try:
                layers.append(self.input.layer_of(fp.grid.burst_id))
            except NotFoundError:  # no such polarization or date in this burst
                continue
        return layers

    def _tile_lonlat(self, tile_x: int, tile_y: int, tile_z: int) -> tuple[float, float, float, float]:
        return tuple(self.tms.bounds(Tile(x=tile_x, y=tile_y, z=tile_z)))

    @functools.cached_property
    def _zooms(self) -> tuple[int, int]:
        layers = [
            Layer(
                fp.grid.burst_id,
                self.input.polarization,
                self.input.variant,
                (),
                self.input.view,
                fp.grid,
                (
                    fp.grid.height // self.input.variant.options.looks[0],
                    fp.grid.width // self.input.variant.options.looks[1],
                ),
            )
            for fp in self.input.candidates(self.bounds)
        ]
        readers = [burst_reader(self.input, lay, self.tms, with_input=False) for lay in layers]
        return min(r.minzoom for r in readers), max(r.maxzoom for r in readers)

    @property
    def minzoom(self) -> int:
        return self._zooms[0]

    @property
    def maxzoom(self) -> int:
        return self._zooms[1]

    def plans(self, tile_x: int, tile_y: int, tile_z: int, tilesize: int | None = None) -> list[tuple]:
        out = []
        for layer in self._layers(self._tile_lonlat(tile_x, tile_y, tile_z)):
            try:
                out += burst_reader(self.input, layer, self.tms, False).plans(
                    tile_x, tile_y, tile_z, tilesize
                )
            except TileOutsideBounds:
                continue
        if not out:
            raise TileOutsideBounds(
                f"Tile(x={tile_x}, y={tile_y}, z={tile_z}) covers no burst with that date"
            )
        return out

    def tile(self, tile_x: int, tile_y: int, tile_z: int, tilesize: int | None = None, **kwargs) -> ImageData:
        layers = self._layers(self._tile_lonlat(tile_x, tile_y, tile_z))
        if not layers:
            raise TileOutsideBounds(
                f"Tile(x={tile_x}, y={tile_y}, z={tile_z}) covers no burst with that date"
            )

        def read(layer: Layer, *args, **kw) -> ImageData:
            return burst_reader(self.input, layer, self.tms, False).tile(*args, **kw)

        image, used = mosaic_reader(
            layers, read, tile_x, tile_y, tile_z, tilesize=tilesize, threads=1, **kwargs
        )
        image.band_descriptions = [
            f"mosaic of {len(used)} burst(s) {self.input.product} {self.input.view.name}"
        ]
        return image

    def info(self) -> Info:
        return Info(
            bounds=self.bounds,
            crs=CRS_to_uri(self.crs),
            band_metadata=[("b1", {"units": self.input.view.units})],
            band_descriptions=[("b1", f"{self.input.product} {self.input.view.name} (mosaic)")],
            dtype="float32",
            nodata_type="Nodata",
        )

    def point(self, lon: float, lat: float, **kwargs) -> PointData:
        check_lonlat(lon, lat)
        for layer in self._layers((lon, lat, lon, lat)):
            try:
                return burst_reader(self.input, layer, self.tms).point(lon, lat, **kwargs)
            except PointOutsideBounds:
                continue
        raise PointOutsideBounds(f"lon={lon}, lat={lat} is in no burst of the mosaic")

    def _needs_burst(self, *args, **kwargs):
        raise InputError("this endpoint reads one burst: give burst_id=")

    statistics = part = preview = feature = _needs_burst


def open_reader(source: TileSource, tms: TileMatrixSet = WEB_MERCATOR_TMS, **kwargs) -> BaseReader:
    """titiler's ``reader``: a BurstReader for ``burst_id=``, else a MosaicReader."""
    if source.layer is not None:
        return burst_reader(source, source.layer, tms)
    return MosaicReader(source, tms=tms)


def check_tile(tms: TileMatrixSet, x: int, y: int, z: int) -> None:
    """TileOutsideBounds (404) for a tile the matrix set does not have (morecantile would warn
    and extrapolate, or fail on huge indexes)."""
    if z > tms.maxzoom:
        raise TileOutsideBounds(f"zoom {z} is deeper than {tms.id} (zooms 0 to {tms.maxzoom})")
    matrix = tms.matrix(z)
    if x >= matrix.matrixWidth or y >= matrix.matrixHeight:
        raise TileOutsideBounds(
            f"Tile(x={x}, y={y}, z={z}) is outside {tms.id}: zoom {z} has {matrix.matrixWidth} x "
            f"{matrix.matrixHeight} tiles")


def check_lonlat(lon: float, lat: float) -> None:
    """InputError (400) unless lon/lat are finite degrees in range (PROJ fails on the others)."""
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InputError(f"lon={lon}, lat={lat} is not a point: give degrees, |lon| ≤ 180 and |lat| ≤ 90")


# -- errors -------------------------------------------------------------------------------------
def zoom_override_error(request: Request) -> Response | None:
    """422 when ``minzoom``/``maxzoom`` (titiler's tileset, TileJSON and map routes take them
    unbounded) lie outside the matrix set's zooms: titiler loops over every zoom between them."""
    tms = _TMS.get(request.path_params.get("tileMatrixSetId", "WebMercatorQuad"))
    top = tms.maxzoom if tms is not None else MAX_ZOOM
    for name in ("minzoom", "maxzoom"):
        text = request.query_params.get(name)
        try:
            value = int(text) if text is not None else None
        except ValueError:
            continue  # not a number: the route's own validation answers 422
        if value is not None and not 0 <= value <= top:
            detail = f"query.{name}: {value} is not a zoom of the matrix set (0 to {top})"
            return error(422, "invalid_request", detail)
    return None


class TileRoute(APIRoute):
    """Routes that answer rio-tiler's errors as ``{code, detail}``: outside the data → 404
    (as titiler), other rio-tiler input errors → 400; zoom overrides outside the matrix set → 422."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            bad = zoom_override_error(request)
            if bad is not None:
                return bad
            try:
                return await handler(request)
            except (TileOutsideBounds, EmptyMosaicError) as exc:
                return error(404, "tile_outside_bounds", f"{exc}; the TileJSON gives the bounds and zooms")
            except PointOutsideBounds as exc:
                return error(404, "point_outside_bounds", str(exc))
            except RioTilerError as exc:
                return error(400, "bad_request", f"{type(exc).__name__}: {exc}")

        return route


# -- WMTS ---------------------------------------------------------------------------------------
_WMTS = "http://www.opengis.net/wmts/1.0"
_OWS = "http://www.opengis.net/ows/1.1"
_XLINK = "http://www.w3.org/1999/xlink"
ET.register_namespace("", _WMTS)
ET.register_namespace("ows", _OWS)
ET.register_namespace("xlink", _XLINK)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    ns, _, name = tag.partition(":") if ":" in tag else ("", "", tag)
    uri = {"ows": _OWS, "": _WMTS}[ns]
    el = ET.SubElement(
        parent, f"{{{uri}}}{name}", {k.replace("xlink_", f"{{{_XLINK}}}"): v for k, v in attrs.items()}
    )
    if text is not None:
        el.text = text
    return el


@define
class WmtsExtension(FactoryExtension):
    """``/WMTSCapabilities.xml``: an OGC WMTS 1.0 RESTful capabilities document, one layer per
    tile matrix set, whose tile template carries the request's query parameters."""

    def register(self, factory: ArdTilerFactory):  # type: ignore[override]
        @factory.router.get(
            "/WMTSCapabilities.xml",
            response_class=Response,
            responses={200: {"content": {"application/xml": {}}, "description": "WMTS capabilities"}},
            operation_id=f"{factory.operation_prefix}getWMTS",
        )
        def wmts(
            request: Request,
            src=Depends(factory.path_dependency),  # noqa: B008
            tile_format: Annotated[
                Literal["png", "jpeg", "webp"], Query(description="tile format in the template")
            ] = "png",
        ) -> Response:
            """The WMTS capabilities of the layer the query names (same parameters as a tile)."""
            drop = {"tile_format", "service", "request", "version", "acceptversions", "tilesize"}
            qs = urlencode([(k, v) for k, v in request.query_params.multi_items() if k.lower() not in drop])
            media = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}[tile_format]
            root = ET.Element(f"{{{_WMTS}}}Capabilities", {"version": "1.0.0"})
            ident = _sub(root, "ows:ServiceIdentification")
            _sub(ident, "ows:Title", f"sarcube {src.product} tiles")
            _sub(ident, "ows:ServiceType", "OGC WMTS")
            _sub(ident, "ows:ServiceTypeVersion", "1.0.0")
            ops = _sub(root, "ows:OperationsMetadata")
            self_url = str(request.url)
            for op, href in (("GetCapabilities", self_url), ("GetTile", self_url)):
                get = _sub(
                    _sub(_sub(_sub(ops, "ows:Operation", name=op), "ows:DCP"), "ows:HTTP"),
                    "ows:Get",
                    xlink_href=href,
                )
                allowed = _sub(_sub(get, "ows:Constraint", name="GetEncoding"), "ows:AllowedValues")
                _sub(allowed, "ows:Value", "RESTful")
            contents = _sub(root, "Contents")
            matrix_sets = []
            with rasterio.Env():
                for tms_id in factory.supported_tms.list():
                    tms = _TMS[tms_id]
                    with factory.reader(src, tms=tms) as dst:
                        bounds = dst.get_geographic_bounds(WGS84_CRS)
                        zooms = (dst.minzoom, dst.maxzoom)
                    layer = _sub(contents, "Layer")
                    _sub(layer, "ows:Title", f"{src.product} {src.view.name} ({tms_id})")
                    box = _sub(layer, "ows:WGS84BoundingBox", crs="urn:ogc:def:crs:OGC:2:84")
                    _sub(box, "ows:LowerCorner", f"{bounds[0]} {bounds[1]}")
                    _sub(box, "ows:UpperCorner", f"{bounds[2]} {bounds[3]}")
                    _sub(layer, "ows:Identifier", f"{src.product}_{tms_id}")
                    style = _sub(layer, "Style", isDefault="true")
                    _sub(style, "ows:Identifier", "default")
                    _sub(layer, "Format", media)
                    link = _sub(layer, "TileMatrixSetLink")
                    _sub(link, "TileMatrixSet", tms_id)
                    limits = _sub(link, "TileMatrixSetLimits")
                    for lim in tms_limits(tms, bounds, zooms=zooms, geographic_crs=WGS84_CRS):
                        el = _sub(limits, "TileMatrixLimits")
                        _sub(el, "TileMatrix", str(lim["tileMatrix"]))
                        for key in ("MinTileRow", "MaxTileRow", "MinTileCol", "MaxTileCol"):
                            value = lim[key[0].lower() + key[1:]]
                            if key.startswith("Max"):
                                m = tms.matrix(int(lim["tileMatrix"]))
                                value = min(value, (m.matrixHeight if "Row" in key else m.matrixWidth) - 1)
                            _sub(el, key, str(value))
                    template = factory.url_for(
                        request,
                        "tile",
                        tileMatrixSetId=tms_id,
                        z="{TileMatrix}",
                        x="{TileCol}",
                        y="{TileRow}",
                        format=tile_format,
                    )
                    _sub(
                        layer,
                        "ResourceURL",
                        format=media,
                        resourceType="tile",
                        template=template + (f"?{qs}" if qs else ""),
                    )
                    matrix_sets.append(tms)
            for tms in matrix_sets:
                el = _sub(contents, "TileMatrixSet")
                _sub(el, "ows:Identifier", tms.id)
                _sub(el, "ows:SupportedCRS", tms.crs.srs)
                for m in tms.tileMatrices:
                    tm = _sub(el, "TileMatrix")
                    _sub(tm, "ows:Identifier", m.id)
                    _sub(tm, "ScaleDenominator", repr(m.scaleDenominator))
                    _sub(tm, "TopLeftCorner", " ".join(repr(float(v)) for v in m.pointOfOrigin))
                    _sub(tm, "TileWidth", str(m.tileWidth))
                    _sub(tm, "TileHeight", str(m.tileHeight))
                    _sub(tm, "MatrixWidth", str(m.matrixWidth))
                    _sub(tm, "MatrixHeight", str(m.matrixHeight))
            _sub(root, "ServiceMetadataURL", xlink_href=self_url)
            body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
            return Response(body, media_type="application/xml")


@dataclass
class ArdDatasetParams(DatasetParams):
    """titiler.xarray's dataset parameters with ``nodata`` checked by the schema: a number,
    ``nan``, ``inf`` or ``-inf`` (titiler's takes any text and fails on ``float('abc')``)."""

    nodata: Annotated[
        Literal["nan", "inf", "-inf"] | float | None,
        Query(title="Nodata value", description="Overwrite the nodata value: a number, nan, inf or -inf"),
    ] = None


_ALGORITHMS = tuple(algorithms.data)


def post_process(
    algorithm: Annotated[
        Literal[_ALGORITHMS] | None, Query(description="post-processing algorithm name")  # type: ignore[valid-type]
    ] = None,
    algorithm_params: Annotated[
        str | None, Query(description='the algorithm\'s parameters, a JSON object: {"name": value}')
    ] = None,
) -> BaseAlgorithm | None:
    """titiler's post-processing dependency, with a 400 for parameters that are not a JSON object
    (titiler's fails on ``null`` or ``[1]``: ``Algorithm(**None)``)."""
    kwargs: Any = {}
    if algorithm_params:
        try:
            kwargs = json.loads(algorithm_params)
        except ValueError:
            text = algorithm_params[:80]
            raise InputError(f"algorithm_params {text!r} is not JSON: give an object") from None
        if not isinstance(kwargs, dict):
            kind = {"NoneType": "null", "list": "an array"}.get(type(kwargs).__name__, "a scalar")
            raise InputError(f"algorithm_params must be a JSON object, not {kind}")
    if algorithm is None:
        return None
    try:
        return algorithms.get(algorithm)(**kwargs)
    except ValidationError as exc:
        raise InputError(f"algorithm {algorithm}: {' '.join(str(exc).split())}") from None


# -- the factory --------------------------------------------------------------------------------
_NAME_PREFIX = "sarcube_tiles_"


@define(kw_only=True)
class ArdTilerFactory(TilerFactory):
    """titiler.xarray's TilerFactory over the ARD products.

    The product is a path parameter of the router's prefix (``/{product}``); the reader is
    :func:`open_reader` and the path dependency :func:`tile_source`. Tiles sit at
    ``/{tileMatrixSetId}/{z}/{x}/{y}.{format}`` (no ``/tiles`` segment: the router is mounted
    at ``/tiles``), apply the view's defaults, and may compute chunks (or start a job).
    """

    reader: Callable[..., BaseReader] = open_reader  # type: ignore[assignment]
    path_dependency: Callable[..., Any] = tile_source
    reader_dependency: type[DefaultDependency] = DefaultDependency
    dataset_dependency: type[DefaultDependency] = ArdDatasetParams
    process_dependency: Callable[..., BaseAlgorithm | None] = post_process
    supported_tms: TileMatrixSets = SUPPORTED_TMS
    add_viewer: bool = False
    add_part: bool = False
    add_preview: bool = False

    def register_routes(self):
        super().register_routes()
        for route in self.router.routes:  # unique names in the app (its /point is "point")
            route.name = _NAME_PREFIX + route.name

    def url_for(self, request: Request, name: str, **path_params: Any) -> str:
        """Absolute URL of one of this factory's routes, for the request's product."""
        params = {"product": request.path_params["product"], **path_params}
        return str(request.url_for(_NAME_PREFIX + name, **params))

    def statistics(self):
        """No /statistics here: /zonal serves statistics over parcels."""

    def tile(self):  # noqa: C901
        """Register ``/{tileMatrixSetId}/{z}/{x}/{y}[.{format}]``."""

        @self.router.get(
            "/{tileMatrixSetId}/{z}/{x}/{y}",
            operation_id=f"{self.operation_prefix}getTile",
            **img_endpoint_params,
        )
        @self.router.get(
            "/{tileMatrixSetId}/{z}/{x}/{y}.{format}",
            operation_id=f"{self.operation_prefix}getTileWithFormat",
            **img_endpoint_params,
        )
        def tile(
            request: Request,
            z: Annotated[int, Path(ge=0, le=MAX_ZOOM, description="zoom (TileMatrix)")],
            x: Annotated[int, Path(ge=0, lt=2 ** (MAX_ZOOM + 1), description="column (TileCol)")],
            y: Annotated[int, Path(ge=0, lt=2 ** (MAX_ZOOM + 1), description="row (TileRow)")],
            tileMatrixSetId: Annotated[Literal[TMS_IDS], Path(description="tile matrix set")],  # type: ignore[valid-type]
            src=Depends(self.path_dependency),  # noqa: B008
            layer_params=Depends(self.layer_dependency),  # noqa: B008
            dataset_params=Depends(self.dataset_dependency),  # noqa: B008
            post_process=Depends(self.process_dependency),  # noqa: B008
            colormap=Depends(self.colormap_dependency),  # noqa: B008
            render_params=Depends(self.render_dependency),  # noqa: B008
            env=Depends(self.environment_dependency),  # noqa: B008
            format: Annotated[
                ImageType | None, Field(description="png (default when masked), jpeg, webp, tif, npy")
            ] = None,
            tilesize: Annotated[
                int | None, Query(gt=0, le=MAX_TILESIZE, description="pixels (default 256)")
            ] = None,
        ) -> Response:
            """A map tile of the layer: the view's values, rescaled and coloured (view defaults
            unless ``rescale``/``colormap_name``/``colormap`` are given). Chunks never computed
            are computed first; ``X-Sarcube-Chunks-Computed`` counts them."""
            tms = _TMS[tileMatrixSetId]
            check_tile(tms, x, y, z)
            with rasterio.Env(**env):
                with self.reader(src, tms=tms) as dst:
                    plans = dst.plans(x, y, z, tilesize)
                    if sum(n for _, n in plans) > src.max_chunks:
                        started = job_if_too_many(request, [p for p, _ in plans])
                        if started is not None:
                            return started
                    image = dst.tile(
                        x, y, z, tilesize=tilesize, **layer_params.as_dict(), **dataset_params.as_dict()
                    )
            if post_process:
                image = post_process(image)
            render = render_params.as_dict()
            if format not in DATA_FORMATS:  # images get the view's look; npy/tif keep the values
                if not render.get("rescale"):
                    render["rescale"] = [src.view.rescale]
                if colormap is None and not render.get("color_formula"):
                    colormap = colormaps.get(src.view.colormap)
            content, media_type = self.render_func(image, output_format=format, colormap=colormap, **render)
            headers = {
                "Content-Bbox": ",".join(map(str, image.bounds)),
                "X-Sarcube-Chunks-Computed": str(src.tally.chunks_computed),
                "Cache-Control": "public, max-age=60",
            }
            headers["Content-Crs"] = _TMS_URI[tileMatrixSetId]
            return Response(content, media_type=media_type, headers=headers)


def render_tile(
    image: ImageData,
    colormap: Any = None,
    output_format: ImageType | None = None,
    add_mask: bool = True,
    rescale: Any = None,
    color_formula: str | None = None,
    **kwargs: Any,
) -> tuple[bytes, str]:
    """titiler's ``render_image``, with 8-bit PNGs encoded by imagecodecs at zlib level
    :data:`PNG_LEVEL` (GDAL's PNG driver takes ~8× longer on a speckled 256² RGBA tile).

    The same steps as titiler: rescale, colour formula, colour map (its alpha combined with
    the mask), mask as the last band. Other formats, or a PNG without ``rescale`` (titiler then
    stretches the dtype's range), go through titiler unchanged.
    """
    png = output_format == ImageType.png or (output_format is None and bool((image.mask == 0).any()))
    if not png or rescale is None or kwargs:
        return render_image(
            image,
            colormap=colormap,
            output_format=output_format,
            add_mask=add_mask,
            rescale=rescale,
            color_formula=color_formula,
            **kwargs,
        )
    image.rescale(rescale)
    if color_formula:
        image.apply_color_formula(color_formula)
    data, mask = image.data, image.mask
    if colormap:
        data, alpha = apply_cmap(data, colormap)
        mask = np.where(mask != 0, alpha, 0).astype(np.uint8)
    bands = [*data, mask] if add_mask else [*data]
    pixels = np.ascontiguousarray(np.stack(bands, axis=-1).astype(np.uint8, copy=False))
    return imagecodecs.png_encode(pixels, level=PNG_LEVEL), ImageType.png.mediatype


def make_tiles_router() -> APIRouter:
    """The ``/tiles`` router (mount it at ``/tiles``): one titiler.xarray factory whose prefix
    ``/{product}`` names the product, plus the WMTS document."""
    router = APIRouter(prefix="/{product}", route_class=TileRoute, tags=["tiles"])
    factory = ArdTilerFactory(
        router=router,
        name="tiles",
        extensions=[WmtsExtension()],
        get_renders=_renders,
        render_func=render_tile,
    )
    return factory.router


def _renders(reader: BaseReader) -> dict[str, dict[str, Any]]:
    """TileJSON ``raster_layers``: the view's default rendering, as titiler's render sets."""
    source = reader.input if isinstance(reader, MosaicReader) else None
    view = source.view if source is not None else reader.layer.view
    return {
        "default": {
            "view": view.name,
            "units": view.units,
            "rescale": [list(view.rescale)],
            "colormap_name": view.colormap,
        }
    }


__all__ = [
    "VIEWS",
    "ArdTilerFactory",
    "BurstReader",
    "Layer",
    "MosaicReader",
    "TileSource",
    "View",
    "make_tiles_router",
    "open_reader",
    "read_strided",
    "tile_source",
]
