"""The fixed map grid of a burst ID: UTM, 5 m (x) × 10 m (y) by default, snapped to the posting.

The grid is defined once, from the first acquisition of a burst ID that is ingested, and
never changes: every later date is geocoded onto it. It covers the burst's valid footprint
(first..last valid line × first..last valid sample) at the lowest and highest terrain
heights the annotation's geolocation grid knows, plus a margin for the orbit tube.

Conventions: ``x0`` / ``y0`` are the west / north **edges** of the grid (outer corner of
pixel (0, 0)), whole multiples of the posting; row 0 is the northernmost row; pixel centres
are at ``x0 + (col + 0.5) dx`` and ``y0 - (row + 0.5) dy``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from cube.errors import InputError
from cube.format import SPEED_OF_LIGHT, BurstMetadata

if TYPE_CHECKING:  # numpy where arrays are made: a grid's shape, bounds and CF attributes need none
    import numpy as np

Window = tuple[slice, slice]
"""(row slice, column slice) of a grid, step 1."""
GRID_MARGIN_M = 200.0
"""Margin of a burst ID's fixed grid beyond the burst's footprint on every side (orbit tube), m."""


class BurstGrid(BaseModel):
    """The fixed UTM map grid of one burst ID (JSON: ``model_dump_json`` / ``model_validate_json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    burst_id: str = Field(description="ESA burst ID the grid belongs to")
    epsg: int = Field(description="UTM EPSG code: 326zz (north) or 327zz (south)")
    x0: float = Field(description="west edge of the grid (easting), m, multiple of dx")
    y0: float = Field(description="north edge of the grid (northing), m, multiple of dy")
    dx: float = Field(5.0, gt=0, description="posting in x (easting), m")
    dy: float = Field(10.0, gt=0, description="posting in y (northing), m")
    width: int = Field(gt=0, description="number of columns (x)")
    height: int = Field(gt=0, description="number of rows (y)")
    source: str = Field("", description="the acquisition the grid was defined from")

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) = (height, width)."""
        return self.height, self.width

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        """GDAL geotransform ``(x0, dx, 0, y0, 0, -dy)`` (pixel-corner convention)."""
        return (self.x0, self.dx, 0.0, self.y0, 0.0, -self.dy)

    @property
    def affine(self) -> tuple[float, float, float, float, float, float]:
        """The same as an ``affine.Affine`` / rasterio tuple ``(dx, 0, x0, 0, -dy, y0)``."""
        return (self.dx, 0.0, self.x0, 0.0, -self.dy, self.y0)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the outer edges, m."""
        return (self.x0, self.y0 - self.height * self.dy, self.x0 + self.width * self.dx, self.y0)

    @property
    def crs(self) -> str:
        """``"EPSG:<code>"``."""
        return f"EPSG:{self.epsg}"


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the standard UTM zone holding (lon, lat): 326zz north, 327zz south.

    Plain 6° zones (no Norway/Svalbard exceptions), as OPERA's burst grids.
    """
    zone = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


@functools.lru_cache(maxsize=64)
def transformer(src: int, dst: int):
    """A cached pyproj ``Transformer`` from EPSG ``src`` to ``dst`` (x/lon first)."""
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def burst_footprint(
    burst: BurstMetadata, heights: tuple[float, ...] = (0.0,), points_per_edge: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes (degrees) of the valid window's outline at each height.

    Returns two arrays of shape (len(heights), 4 * points_per_edge): the edges of
    first..last valid line × first..last valid sample, walked around.
    """
    # numba's kernels here, not at import: the grid's readers (the API's metadata) need none
    import numpy as np

    from cube.geometry._orbit import burst_orbit
    from cube.geometry._radar import rdr2geo

    orbit = burst_orbit(burst)
    l0, l1 = burst.first_valid_line, burst.last_valid_line
    s0, s1 = burst.first_valid_sample, burst.last_valid_sample
    f = np.linspace(0.0, 1.0, points_per_edge, endpoint=False)
    lines = np.concatenate([np.full_like(f, l0), l0 + f * (l1 - l0), np.full_like(f, l1),
                            l1 - f * (l1 - l0)])
    samples = np.concatenate([s0 + f * (s1 - s0), np.full_like(f, s1), s1 - f * (s1 - s0),
                              np.full_like(f, s0)])
    t = lines * burst.azimuth_time_interval
    rng = (burst.slant_range_time + samples / burst.range_sampling_rate) * SPEED_OF_LIGHT / 2
    lons, lats = [], []
    for h in heights:
        lat, lon, _ = rdr2geo(orbit, t, rng, np.full_like(t, h))
        lons.append(lon)
        lats.append(lat)
    return np.array(lons), np.array(lats)


def _grid_heights(burst: BurstMetadata) -> tuple[float, float]:
    hs = [p.height for p in burst.geolocation_grid]
    if not hs:
        return -100.0, 1000.0
    return min(hs) - 100.0, max(hs) + 500.0


def make_burst_grid(
    burst: BurstMetadata,
    posting: tuple[float, float] = (5.0, 10.0),
    heights: tuple[float, float] | None = None,
    margin_m: float = GRID_MARGIN_M,
) -> BurstGrid:
    """Define the fixed UTM grid of ``burst``'s burst ID (see the module docstring).

    Parameters
    ----------
    burst : BurstMetadata
    posting : (dx, dy), m
    heights : (low, high), m above WGS84, optional
        Terrain heights the footprint must cover; default the geolocation grid's
        ``(min - 100, max + 500)``, or (-100, 1000) without a grid.
    margin_m : float
        Extra margin on every side (orbit-tube differences between dates), m.
    """
    import numpy as np

    dx, dy = float(posting[0]), float(posting[1])
    if dx <= 0 or dy <= 0:
        raise ValueError(f"posting must be positive, got {posting}")
    lo, hi = heights if heights is not None else _grid_heights(burst)
    lons, lats = burst_footprint(burst, heights=(lo, hi))
    if not np.all(np.isfinite(lons)):
        raise ValueError(f"{burst.burst_id}: rdr2geo failed on the burst outline")
    # centre of the valid window at the middle height
    from cube.geometry._orbit import burst_orbit
    from cube.geometry._radar import rdr2geo

    orbit = burst_orbit(burst)
    t_mid = 0.5 * (burst.first_valid_line + burst.last_valid_line) * burst.azimuth_time_interval
    s_mid = 0.5 * (burst.first_valid_sample + burst.last_valid_sample)
    r_mid = (burst.slant_range_time + s_mid / burst.range_sampling_rate) * SPEED_OF_LIGHT / 2
    clat, clon, _ = rdr2geo(orbit, t_mid, r_mid, 0.5 * (lo + hi))
    epsg = utm_epsg(float(clon), float(clat))
    x, y = transformer(4326, epsg).transform(lons.ravel(), lats.ravel())
    xmin, xmax = np.min(x) - margin_m, np.max(x) + margin_m
    ymin, ymax = np.min(y) - margin_m, np.max(y) + margin_m
    x0 = math.floor(xmin / dx) * dx
    x1 = math.ceil(xmax / dx) * dx
    y1 = math.ceil(ymax / dy) * dy
    y0 = math.floor(ymin / dy) * dy
    return BurstGrid(
        burst_id=burst.burst_id, epsg=epsg, x0=x0, y0=y1, dx=dx, dy=dy,
        width=int(round((x1 - x0) / dx)), height=int(round((y1 - y0) / dy)),
        source=f"{burst.product_id}:{burst.swath}:{burst.burst_index}",
    )


def window_bounds(window: Window | None, rows: int, cols: int) -> tuple[int, int, int, int]:
    """(r0, r1, c0, c1) of a window of a ``rows`` × ``cols`` grid (None = all of it).

    InputError if the window is strided or empty there.
    """
    if window is None:
        return 0, rows, 0, cols
    r0, r1, rs = window[0].indices(rows)
    c0, c1, cs = window[1].indices(cols)
    if rs != 1 or cs != 1 or r1 <= r0 or c1 <= c0:
        def text(s: slice) -> str:
            return f"{'' if s.start is None else s.start}:{'' if s.stop is None else s.stop}" + (
                f":{s.step}" if s.step not in (None, 1) else "")

        raise InputError(f"window rows {text(window[0])}, cols {text(window[1])} is empty or strided in a "
                         f"{rows} x {cols} grid; give R0 < R1 <= {rows} and C0 < C1 <= {cols}, step 1")
    return r0, r1, c0, c1


def grid_coordinates(grid: BurstGrid, window: Window | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates of a window (row slice, col slice) of the grid.

    Returns ``(x, y)``: x (cols,) eastings and y (rows,) northings in m, float64; y
    decreases with the row.
    """
    import numpy as np

    r0, r1, c0, c1 = window_bounds(window, grid.height, grid.width)
    x = grid.x0 + (np.arange(c0, c1) + 0.5) * grid.dx
    y = grid.y0 - (np.arange(r0, r1) + 0.5) * grid.dy
    return x, y


@dataclass(frozen=True)
class ProductGrid:
    """A product's map grid: the burst ID's fixed grid averaged ``looks`` (rows, cols) to a pixel.

    Row 0 is the northernmost; pixel (r, c) covers fixed-grid rows ``r·ly .. (r+1)·ly`` and
    columns ``c·lx .. (c+1)·lx`` (a partial last look is dropped).
    """

    grid: BurstGrid
    looks: tuple[int, int] = (1, 1)

    @property
    def epsg(self) -> int:
        """EPSG code of the grid's UTM zone."""
        return self.grid.epsg

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the product grid."""
        ly, lx = self.looks
        return self.grid.height // ly, self.grid.width // lx

    @property
    def spacing(self) -> tuple[float, float]:
        """(dy, dx) pixel size, m."""
        ly, lx = self.looks
        return self.grid.dy * ly, self.grid.dx * lx

    def transform(self, window: Window | None = None) -> tuple[float, float, float, float, float, float]:
        """GDAL geotransform ``(x0, dx, 0, y0, 0, -dy)`` of a window's outer corner, m."""
        r0, _, c0, _ = self.bounds_of(window)
        dy, dx = self.spacing
        return (self.grid.x0 + c0 * dx, dx, 0.0, self.grid.y0 - r0 * dy, 0.0, -dy)

    def bounds_of(self, window: Window | None) -> tuple[int, int, int, int]:
        """(r0, r1, c0, c1) of a product-grid window; InputError if empty or strided."""
        return window_bounds(window, *self.shape)

    def xy(self, window: Window | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre ``x`` (cols,) eastings and ``y`` (rows,) northings of a window, m, float64."""
        import numpy as np

        r0, r1, c0, c1 = self.bounds_of(window)
        dy, dx = self.spacing
        return self.grid.x0 + (np.arange(c0, c1) + 0.5) * dx, self.grid.y0 - (np.arange(r0, r1) + 0.5) * dy

    def grid_window(self, window: Window | None = None) -> Window:
        """The fixed-grid window a product-grid window is computed from."""
        r0, r1, c0, c1 = self.bounds_of(window)
        ly, lx = self.looks
        return slice(r0 * ly, r1 * ly), slice(c0 * lx, c1 * lx)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the product grid's outer edges, m (whole looks only)."""
        (rows, cols), (dy, dx) = self.shape, self.spacing
        return self.grid.x0, self.grid.y0 - rows * dy, self.grid.x0 + cols * dx, self.grid.y0

    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north), degrees, of the product grid (edges densified, 21 points)."""
        box = transformer(self.epsg, 4326).transform_bounds(*self.bounds, densify_pts=21)
        return box[0], box[1], box[2], box[3]

    def window_of(self, bbox: tuple[float, float, float, float] | None) -> Window:
        """The product-grid window covering a lon/lat ``bbox`` (west, south, east, north; degrees).

        None = the whole grid. The bbox's edges are densified (21 points each) before they
        are projected, so the window holds the whole curved footprint. InputError if the
        bbox is malformed or misses the grid.
        """
        rows, cols = self.shape
        if bbox is None:
            return slice(0, rows), slice(0, cols)
        west, south, east, north = bbox
        if not (west < east and south < north and -180 <= west and east <= 180 and -90 <= south
                and north <= 90):
            raise InputError(
                f"bbox {list(bbox)} is not west,south,east,north in degrees with west < east, south < north"
            )
        import numpy as np

        t = np.linspace(0, 1, 21)
        lons = np.concatenate([west + (east - west) * t, np.full(21, east), east - (east - west) * t,
                               np.full(21, west)])
        lats = np.concatenate([np.full(21, south), south + (north - south) * t, np.full(21, north),
                               north - (north - south) * t])
        x, y = transformer(4326, self.epsg).transform(lons, lats)
        dy, dx = self.spacing
        c0 = max(0, math.floor((x.min() - self.grid.x0) / dx))
        c1 = min(cols, math.ceil((x.max() - self.grid.x0) / dx))
        r0 = max(0, math.floor((self.grid.y0 - y.max()) / dy))
        r1 = min(rows, math.ceil((self.grid.y0 - y.min()) / dy))
        if r1 <= r0 or c1 <= c0:
            w, s_, e, n = self.lonlat_bounds()
            raise InputError(
                f"bbox {list(bbox)} is outside burst {self.grid.burst_id} (its grid covers "
                f"lon {w:.4f}..{e:.4f}, lat {s_:.4f}..{n:.4f}); search /stac for the bursts that cover it"
            )
        return slice(r0, r1), slice(c0, c1)

    def project(self, lon: float, lat: float) -> tuple[float, float]:
        """(x, y) in the grid's CRS, m, of (lon, lat) in degrees (inf far outside the UTM zone)."""
        x, y = transformer(4326, self.epsg).transform(lon, lat)
        return float(x), float(y)

    def pixel_of(self, lon: float, lat: float) -> tuple[int, int] | None:
        """(row, col) of the product pixel holding (lon, lat) in degrees; None outside the grid."""
        x, y = self.project(lon, lat)
        if not (math.isfinite(x) and math.isfinite(y)):
            return None
        dy, dx = self.spacing
        row = math.floor((self.grid.y0 - y) / dy)
        col = math.floor((x - self.grid.x0) / dx)
        rows, cols = self.shape
        return (row, col) if 0 <= row < rows and 0 <= col < cols else None

    def contains(self, lon: float, lat: float) -> bool:
        """Whether (lon, lat) falls on the fixed grid (any product's looks)."""
        x, y = self.project(lon, lat)
        x0, y0, x1, y1 = self.grid.bounds
        return bool(x0 <= x < x1 and y0 <= y <= y1)

    def cf_attrs(self, window: Window | None = None) -> dict[str, object]:
        """The CF grid-mapping attributes of ``spatial_ref`` (CRS, WKT, GDAL GeoTransform) of a window."""
        from pyproj import CRS

        crs = CRS.from_epsg(self.epsg)
        return {**crs.to_cf(), "spatial_ref": crs.to_wkt(),
                "GeoTransform": " ".join(str(v) for v in self.transform(window))}
