"""titiler's readers over the layers.

:class:`BurstReader` (one burst) and :class:`MosaicReader` (every burst covering a tile), and where
a tile's pixels fall in a product grid (:func:`source_positions`, :class:`TileGeometry`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import attr
import numpy as np
import rasterio
import rasterio.transform
from affine import Affine
from morecantile import Tile, TileMatrixSet
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject
from rio_tiler.constants import WEB_MERCATOR_TMS, WGS84_CRS
from rio_tiler.errors import PointOutsideBounds, TileOutsideBounds
from rio_tiler.io import BaseReader, XarrayReader
from rio_tiler.models import ImageData, Info, PointData
from rio_tiler.mosaic import mosaic_reader
from rio_tiler.utils import CRS_to_uri

from cube.api.tiles.footprints import intersects, product_lonlat
from cube.api.tiles.source import TileSource
from cube.api.tiles.tms import TMS_BY_ID
from cube.api.tiles.views import Layer
from cube.errors import InputError, NotFoundError
from cube.geometry import ProductGrid
from cube.materialize import ArdEngine, Tally, read_pixels, read_strided
from cube.products import ArdArray, Selection


@functools.lru_cache(maxsize=256)
def _to_grid(tms_id: str, epsg: int) -> Transformer:
    """Transformer from a served TMS's CRS to a burst grid's EPSG (pyproj's are thread-safe)."""
    return Transformer.from_crs(TMS_BY_ID[tms_id].crs.to_wkt(), epsg, always_xy=True)


def _bilinear(nodes: np.ndarray, ni: np.ndarray, nj: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear interpolation of node values at every integer position (h, w).

    The nodes are a mesh: rows at ``ni``, cols at ``nj``. Gathers and products only (no BLAS: its
    thread pool made this ~40× slower inside a busy server).
    """

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
    _counts: dict = field(default_factory=dict, repr=False, compare=False)

    @functools.cached_property
    def pixels(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of the grid pixel under each tile pixel in the grid (nearest), int64 (n,) each."""
        rows, cols = self.rows[self.inside], self.cols[self.inside]
        return np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)

    def chunks(self, layer: Layer) -> int:
        """How many chunks the tile reads (nearest: the chunks holding its pixels)."""
        cy, cx = layer.variant.chunks
        key = (cy, cx, layer.shape[1])
        if key not in self._counts:
            r, c = self.pixels
            self._counts[key] = np.unique((r // cy) * -(-layer.shape[1] // cx) + c // cx).size
        return self._counts[key]


@attr.s
class BurstReader(XarrayReader):
    """titiler.xarray's reader over one burst's layer.

    ``input`` is the lazy 2-D DataArray of the layer (dask over the product's zarr store, so
    titiler's generic methods — info, point — read only the chunks they touch). ``tile`` takes
    a faster path to the same pixels: it maps the tile's pixel centres into the product grid
    (:func:`source_positions`) and gathers the pixel under each (``cube.materialize.read_pixels``: only the
    chunks holding them are read, through the engine); other resampling methods warp the
    window (every ``step``-th pixel when zoomed out) with ``rasterio.warp.reproject``.
    rio-tiler's generic path (rioxarray clip + GDAL warp) gives the same pixels 3-10× slower.
    """

    layer: Layer = attr.ib(kw_only=True)
    engine: ArdEngine = attr.ib(kw_only=True)
    tally: Tally = attr.ib(kw_only=True, factory=Tally)
    geometries: Any = attr.ib(kw_only=True, default=None)  # the app's TileCache.geometries (get/put)
    chunks: Any = attr.ib(kw_only=True, default=None)  # the app's ChunkCache (else the engine)
    _geometries: dict = attr.ib(init=False, factory=dict)

    def __attrs_post_init__(self):
        t, (rows, cols) = self.layer.transform, self.layer.shape
        self.crs = CRS.from_epsg(self.layer.grid.epsg)
        self.transform = t
        self.height, self.width = rows, cols
        self.bounds = (t.c, t.f + rows * t.e, t.c + cols * t.a, t.f)
        self._dims = []

    def point(self, lon: float, lat: float, *args: Any, **kwargs: Any) -> PointData:
        """rio-tiler's point, for a lon/lat in range."""
        check_lonlat(lon, lat)
        return super().point(lon, lat, *args, **kwargs)

    @property
    def lonlat(self) -> tuple[float, float, float, float]:
        """The layer's lon/lat box (west, south, east, north), deg."""
        return product_lonlat(self.layer.grid)

    def geometry(self, tile_x: int, tile_y: int, tile_z: int, tilesize: int | None = None) -> TileGeometry:
        """The tile's pixels in the product grid; TileOutsideBounds if none falls in it.

        Kept by the reader, and by the app (``geometries``) for every reader of the same grid.
        """
        key = (tile_x, tile_y, tile_z, tilesize)
        if key not in self._geometries:
            lay = self.layer
            shared = (self.tms.id, lay.grid.epsg, tuple(lay.transform)[:6], lay.shape, *key)
            hit = self.geometries.get(shared) if self.geometries is not None else None
            if hit is None:
                hit = self._geometry(tile_x, tile_y, tile_z, tilesize)
                if self.geometries is not None:
                    self.geometries.put(shared, hit)
            self._geometries[key] = hit
        return self._geometries[key]

    def _geometry(self, tile_x: int, tile_y: int, tile_z: int, tilesize: int | None) -> TileGeometry:
        if not intersects(self.tms.bounds(Tile(x=tile_x, y=tile_y, z=tile_z)), self.lonlat):
            raise TileOutsideBounds(
                f"Tile(x={tile_x}, y={tile_y}, z={tile_z}) is outside {self.layer.burst_id}"
            )
        matrix = self.tms.matrix(tile_z)
        xy = self.tms.xy_bounds(Tile(x=tile_x, y=tile_y, z=tile_z))
        bbox = (xy.left, xy.bottom, xy.right, xy.top)
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
        plan = Selection(lay.burst_id, lay.array.polarization, lay.variant, (lay.array.dates,), g.window)
        return [(plan, g.chunks(lay))]

    def tile(  # type: ignore[override]  # fewer options than rio-tiler's; titiler passes keywords
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
            rows, cols = g.pixels
            values = read_pixels(self.chunks or self.engine, lay.array, rows, cols, tally=self.tally)
            out[g.inside] = lay.view.apply(values, opts)
        else:  # the window (every step-th pixel when zoomed out), warped by GDAL
            (win_r, win_c), t, k = g.window, lay.transform, g.step
            strided = read_strided(self.chunks or self.engine, lay.array, g.window, k, tally=self.tally)
            values = lay.view.apply(strided, opts)
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
    # without input the reader only computes geometry (zooms), which reads no values
    return BurstReader(
        da, tms=tms, layer=layer, engine=source.engine, tally=source.tally,  # type: ignore[arg-type]
        geometries=source.cache.geometries, chunks=source.cache.chunks,
    )


@attr.s
class MosaicReader(BaseReader):
    """A mosaic of every burst whose footprint covers the tile (first valid pixel, bursts by ID).

    Tiles, TileJSON, WMTS, info and point; the other titiler methods need ``burst_id``.
    """

    input: TileSource = attr.ib()
    tms: TileMatrixSet = attr.ib(default=WEB_MERCATOR_TMS)

    def __attrs_post_init__(self):
        looks = self.input.variant.looks
        boxes = [product_lonlat(ProductGrid(fp.grid, looks)) for fp in self.input.candidates()]
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
        b = self.tms.bounds(Tile(x=tile_x, y=tile_y, z=tile_z))
        return (b.left, b.bottom, b.right, b.top)

    @functools.cached_property
    def _zooms(self) -> tuple[int, int]:
        layers = [
            Layer(
                ArdArray(fp.grid.burst_id, self.input.polarization, self.input.variant, ()),
                self.input.view,
                ProductGrid(fp.grid, self.input.variant.looks),
            )
            for fp in self.input.candidates(self.bounds)
        ]
        readers = [burst_reader(self.input, lay, self.tms, with_input=False) for lay in layers]
        return min(r.minzoom for r in readers), max(r.maxzoom for r in readers)

    @property
    def minzoom(self) -> int:
        """The smallest zoom of the mosaic's bursts."""
        return self._zooms[0]

    @property
    def maxzoom(self) -> int:
        """The largest zoom of the mosaic's bursts."""
        return self._zooms[1]

    def plans(self, tile_x: int, tile_y: int, tile_z: int, tilesize: int | None = None) -> list[tuple]:
        """The read plans of every burst the tile covers; TileOutsideBounds if it covers none."""
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
        """The tile mosaicked from the bursts it covers (the first burst with a value wins)."""
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
        """Rio-tiler's info of the mosaic: one float32 band."""
        return Info(
            bounds=self.bounds,
            crs=CRS_to_uri(self.crs),
            band_metadata=[("b1", {"units": self.input.view.units})],
            band_descriptions=[("b1", f"{self.input.product} {self.input.view.name} (mosaic)")],
            dtype="float32",
            nodata_type="Nodata",
        )

    def point(self, lon: float, lat: float, **kwargs) -> PointData:
        """The value at (lon, lat) of the first burst holding it; PointOutsideBounds if none does."""
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
    """Titiler's ``reader``: a BurstReader for ``burst_id=``, else a MosaicReader."""
    if source.layer is not None:
        return burst_reader(source, source.layer, tms)
    return MosaicReader(source, tms=tms)


def check_lonlat(lon: float, lat: float) -> None:
    """InputError (400) unless lon/lat are finite degrees in range (PROJ fails on the others)."""
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InputError(f"lon={lon}, lat={lat} is not a point: give degrees, |lon| ≤ 180 and |lat| ≤ 90")
