"""Geocoded coregistered SLC (CSLC) of one window of a burst ID's fixed grid.

For each map pixel: zero-Doppler geo2rdr with the date's orbit at the DEM height gives a
fractional (line, sample) of the burst; the burst window around those positions is read,
deramped (TOPS carrier from the annotation's Doppler-centroid and FM-rate polynomials),
interpolated with an n-tap sinc, reramped at the same positions, and the geometric range
phase 4πR/λ is removed (the SLC carries exp(−j4πR/λ)). Pixels outside the burst's valid
window are NaN. Every date is put on the same grid, so ``cslc[t1] * conj(cslc[t2])`` is an
interferogram with no reference date.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from cube.errors import InputError
from cube.format import BurstMetadata
from cube.geometry import BurstGrid, Dem, Window, burst_orbit, solve_radar_nodes, transformer, window_bounds
from cube.kernels import make_sinc_table, resample, tops_deramp, tops_reramp_at
from cube.products._options import CslcOptions

SlcReader = Callable[[int, int, int, int], np.ndarray]
"""``read(line0, line1, sample0, sample1) -> complex64 (line1 - line0, sample1 - sample0)``.

The CSLC never writes into the array it returns (it may be a cached one), unless the reader says
each call returns a new array (``fresh_reads``): then the deramp overwrites it instead of
allocating another (216 MB for a full-size burst's valid window)."""


@dataclass(frozen=True)
class CslcWindow:
    """A CSLC window and where its pixels came from in the burst.

    ``data`` complex64 (rows, cols), NaN+NaNj outside the valid burst window;
    ``line``/``sample`` float64 (rows, cols), the burst-relative radar positions (NaN there too).
    """

    data: np.ndarray
    line: np.ndarray
    sample: np.ndarray


@functools.lru_cache(maxsize=4)
def _sinc_table(taps: int) -> np.ndarray:
    return make_sinc_table(taps)


def _nearest(polys, when):
    return min(polys, key=lambda p: abs((p.azimuth_time - when).total_seconds()))


def carrier_model(burst: BurstMetadata) -> dict:
    """The TOPS carrier parameters of a burst (kwargs of ``tops_carrier_phase``, minus η/f/k).

    The Doppler-centroid and FM-rate polynomials are those nearest the burst centre
    (``sensing_start + N/2·Δt``); the speed is |V| there.
    """
    half = 0.5 * burst.lines * burst.azimuth_time_interval
    centre = burst.sensing_start + timedelta(seconds=half)
    _, vel, _ = burst_orbit(burst).interpolate(np.array([half]))
    tau0 = burst.slant_range_time
    dc = _nearest(burst.doppler_centroid, centre)
    fm = _nearest(burst.azimuth_fm_rate, centre)
    return {
        "dc": dc, "fm": fm,
        "velocity": float(np.linalg.norm(vel[0])),
        "steering_rate": burst.azimuth_steering_rate,
        "wavelength": burst.wavelength_m,
        "eta_c0": float(-dc(tau0) / fm(tau0)),
    }


def _carrier_kwargs(model: dict) -> dict:
    return {k: model[k] for k in ("velocity", "steering_rate", "wavelength", "eta_c0")}


def geocode_slc(
    burst: BurstMetadata,
    grid: BurstGrid,
    window: Window | None,
    dem: Dem,
    read: SlcReader,
    options: CslcOptions | None = None,
) -> CslcWindow:
    """CSLC of a window of the grid for one burst date, with each pixel's radar position.

    Parameters are those of :func:`geocode_slc_data`.

    Returns
    -------
    CslcWindow with complex64 data (rows, cols), amplitude in DN, phase the scatterers' own,
    and the float64 (rows, cols) burst line and sample of each pixel.
    """
    r0, r1, c0, c1 = window_bounds(window, grid.height, grid.width)
    line, sample = np.empty((r1 - r0, c1 - c0)), np.empty((r1 - r0, c1 - c0))
    data = geocode_slc_data(burst, grid, window, dem, read, options, positions=(line, sample))
    return CslcWindow(data, line, sample)


BLOCK_ROWS = 128
"""Grid rows per block when :func:`geocode_slc_data` works through a large window.

Each block launches three parallel numba loops (positions, sinc, reramp); with two threads on
a busy machine every launch costs CPU in waiting threads, so blocks of 16 rows (positions in
cache) cost 1.5-2× the CPU of blocks of 128 rows (measured with ``ArdEngine.fill``)."""


def geocode_slc_data(
    burst: BurstMetadata,
    grid: BurstGrid,
    window: Window | None,
    dem: Dem,
    read: SlcReader,
    options: CslcOptions | None = None,
    *,
    positions: tuple[np.ndarray, np.ndarray] | None = None,
    fresh_reads: bool = False,
) -> np.ndarray:
    """CSLC pixels of a window of the grid for one burst date: complex64 (rows, cols).

    Parameters
    ----------
    burst : the date's metadata (orbit, timing, polynomials, valid window).
    grid : the burst ID's fixed grid; window : (row slice, col slice) of it, or None for all.
    dem : heights above WGS84 covering the window.
    read : returns the burst's complex64 pixels of a (line, sample) window inside the burst.
    options : CslcOptions.
    positions : float64 (rows, cols) arrays to receive each pixel's burst line and sample.
    fresh_reads : whether ``read`` returns a new array on each call: the deramp then overwrites
        it instead of allocating another.

    Returns
    -------
    complex64 (rows, cols), amplitude in DN, phase the scatterers' own; NaN+NaNj outside the
    valid burst window.

    Notes
    -----
    The geo2rdr nodes of the window are solved once (:func:`solve_radar_nodes`). A window of
    more than ``2 · BLOCK_ROWS`` rows and half the grid or more (a whole burst, as a job's
    worker computes it) reads and deramps the burst's valid window once, then goes through
    the window ``BLOCK_ROWS`` grid rows at a time: positions, sinc and reramp of a block use
    two float64 buffers of a block (15 MB each for a full-width grid), reused, instead of two
    float64 arrays of the grid (0.8 GB for a full-size burst) faulted in. A smaller window
    is one block, and reads only the part of the burst its positions need. A block's
    positions are exactly those of the same rows of the whole window.
    """
    opts = _native(burst, options)
    r0, r1, c0, c1 = window_bounds(window, grid.height, grid.width)
    rows, cols = r1 - r0, c1 - c0
    out = np.empty((rows, cols), np.complex64)
    if rows == 0 or cols == 0:
        return out
    whole = rows > 2 * BLOCK_ROWS and 2 * rows * cols >= grid.height * grid.width
    step = BLOCK_ROWS if whole else rows
    where = _Positions(burst, grid, (r0, r1, c0, c1), dem, opts.bistatic, step)
    half = opts.taps // 2
    deramped = None
    if whole:  # every position lies in the valid window (the positions mask the rest): read it once
        deramped = _Deramped(burst, read, opts, fresh_reads,
                             burst.first_valid_line - half + 1, burst.last_valid_line + half + 1,
                             burst.first_valid_sample - half + 1, burst.last_valid_sample + half + 1)
    for b0 in range(0, rows, step):
        b1 = min(rows, b0 + step)
        line, sample = where.block(b0, b1)
        if positions is not None:
            positions[0][b0:b1] = line
            positions[1][b0:b1] = sample
        if deramped is None:
            lmin, lmax = _finite_range(line)
            if lmin != lmin:  # no pixel of the window sees the burst
                out.fill(np.nan + 1j * np.nan)
                return out
            smin, smax = _finite_range(sample)
            deramped = _Deramped(burst, read, opts, fresh_reads,
                                 int(math.floor(lmin)) - half + 1, int(math.floor(lmax)) + half + 1,
                                 int(math.floor(smin)) - half + 1, int(math.floor(smax)) + half + 1)
        deramped.interpolate(line, sample, out=out[b0:b1])
    return out


def _native(burst: BurstMetadata, options: CslcOptions | None) -> CslcOptions:
    opts = options or CslcOptions()
    if opts.engine != "native":
        raise InputError(
            f"{burst.burst_id} {burst.date_key}: the {opts.engine} CSLC is made for a whole burst stack "
            "by an ISCE2 job (cube.jobs.run_burst with engine isce2, or sarcube product ... --option "
            "engine=isce2), not window by window")
    return opts


class _Deramped:
    """A burst window [l0, l1) × [s0, s1), read (zeros outside the burst) and deramped, with its carrier."""

    def __init__(self, burst: BurstMetadata, read: SlcReader, opts: CslcOptions, fresh_reads: bool,
                 l0: int, l1: int, s0: int, s1: int):
        slc, owned = _read_padded(read, burst, l0, l1, s0, s1, fresh_reads)
        model = carrier_model(burst)
        dt, fs = burst.azimuth_time_interval, burst.range_sampling_rate
        tau = burst.slant_range_time + np.arange(s0, s1) / fs
        eta = (np.arange(l0, l1) - 0.5 * burst.lines) * dt
        self.fdc, self.ka = model["dc"](tau), model["fm"](tau)
        self.kwargs = _carrier_kwargs(model)
        self.base = tops_deramp(slc, eta, self.fdc, self.ka, **self.kwargs, out=slc if owned else None)
        self.burst, self.opts, self.l0, self.s0 = burst, opts, l0, s0

    def interpolate(self, line: np.ndarray, sample: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """complex64 of the positions' shape: sinc, reramp and flatten (NaN where a position is NaN)."""
        b = self.burst
        values = resample(self.base, line, sample, _sinc_table(self.opts.taps), origin=(self.l0, self.s0),
                          out=out)
        return tops_reramp_at(values, line, sample, line_centre=0.5 * b.lines,
                              azimuth_time_interval=b.azimuth_time_interval,
                              slant_range_time=b.slant_range_time, range_sampling_rate=b.range_sampling_rate,
                              sample0=self.s0, fdc=self.fdc, ka=self.ka, **self.kwargs,
                              flatten=self.opts.flatten, out=values)


@dataclass(frozen=True)
class SlcSource:
    """One date's burst as the CSLC reads it, for one window of the burst ID's fixed grid."""

    burst: BurstMetadata
    grid: BurstGrid
    window: Window
    dem: Dem
    read: SlcReader
    fresh_reads: bool = False
    """Whether ``read`` returns a new array on each call (the CSLC may then overwrite it)."""


def cslc(source: SlcSource, options: CslcOptions) -> np.ndarray:
    """The ``cslc`` product of one window: complex64 (rows, cols) of :func:`geocode_slc_data`."""
    return geocode_slc_data(source.burst, source.grid, source.window, source.dem, source.read, options,
                            fresh_reads=source.fresh_reads)


def _finite_range(a: np.ndarray) -> tuple[float, float]:
    """(min, max) of the non-NaN values of ``a`` (NaN, NaN if there is none), without copies."""
    if a.size == 0:
        return float("nan"), float("nan")
    flat = a.reshape(-1)
    return float(np.fmin.reduce(flat)), float(np.fmax.reduce(flat))


NODE_SPACING = 16


def radar_window(burst: BurstMetadata, grid: BurstGrid, window: Window | None, dem: Dem,
                 bistatic: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Burst line and sample of each pixel of a grid window: float64 (rows, cols) each.

    NaN outside the valid burst; identical to the same pixels of the whole-grid computation.

    The interpolation nodes sit on the grid's own lattice (every ``NODE_SPACING`` pixels from
    its origin) and are solved at the DEM's height range over the whole grid, so every chunk
    agrees with its neighbours and with a whole-burst run (the node interpolation error,
    ≤ 3e-4 sample, would otherwise differ between windows: 0.16 rad of flattening phase).
    """
    r0, r1, c0, c1 = window_bounds(window, grid.height, grid.width)
    return _Positions(burst, grid, (r0, r1, c0, c1), dem, bistatic, r1 - r0).block(0, r1 - r0)


class _Positions:
    """The radar positions of a grid window, block of rows by block (see :func:`radar_window`).

    Its nodes are solved on the lattice-aligned window around ``bounds`` (row0, row1, col0,
    col1); :meth:`block` fills buffers of ``block_rows`` rows, reused from block to block.
    """

    def __init__(self, burst: BurstMetadata, grid: BurstGrid, bounds: tuple[int, int, int, int], dem: Dem,
                 bistatic: bool, block_rows: int):
        r0, r1, c0, c1 = bounds
        er0, ec0 = r0 - r0 % NODE_SPACING, c0 - c0 % NODE_SPACING
        er1 = min(grid.height, -(-(r1 - 1) // NODE_SPACING) * NODE_SPACING + 1)
        ec1 = min(grid.width, -(-(c1 - 1) // NODE_SPACING) * NODE_SPACING + 1)
        self.nodes = solve_radar_nodes(
            burst, grid, (slice(er0, er1), slice(ec0, ec1)), dem, bistatic=bistatic, mask="valid",
            node_spacing=NODE_SPACING, height_range=_grid_height_range(dem, grid))
        self.row0, self.cols = r0 - er0, slice(c0 - ec0, c1 - ec0)
        self.cropped = (c0, c1) != (ec0, ec1)
        self.line = np.empty((block_rows, ec1 - ec0))
        self.sample = np.empty((block_rows, ec1 - ec0))

    def block(self, b0: int, b1: int) -> tuple[np.ndarray, np.ndarray]:
        """Line and sample of rows [b0, b1) of the window: float64 (b1 - b0, cols), C-contiguous.

        They are this object's buffers (or copies of their columns): the next block overwrites them.
        """
        n = b1 - b0
        line, sample = self.line[:n], self.sample[:n]
        self.nodes.fill(self.row0 + b0, self.row0 + b1, line, sample)
        if self.cropped:
            return np.ascontiguousarray(line[:, self.cols]), np.ascontiguousarray(sample[:, self.cols])
        return line, sample


def _grid_height_range(dem: Dem, grid: BurstGrid) -> tuple[float, float]:
    """(min, max) DEM height over the grid's footprint (cached per DEM and grid)."""
    key = (dem.source, dem.transform, dem.shape, grid.burst_id, grid.x0, grid.y0, grid.width, grid.height)
    if key not in _HEIGHT_RANGES:
        x0, y0, x1, y1 = grid.bounds
        xs, ys = np.meshgrid(np.linspace(x0, x1, 64), np.linspace(y0, y1, 64))
        if dem.crs != grid.epsg:
            xs, ys = transformer(grid.epsg, dem.crs).transform(xs, ys)
        rows, cols = dem.fractional_index(xs, ys)
        r = np.clip([np.floor(np.nanmin(rows)), np.ceil(np.nanmax(rows)) + 1], 0, dem.shape[0]).astype(int)
        c = np.clip([np.floor(np.nanmin(cols)), np.ceil(np.nanmax(cols)) + 1], 0, dem.shape[1]).astype(int)
        block = dem.heights[r[0]:r[1], c[0]:c[1]]
        _HEIGHT_RANGES[key] = (float(np.nanmin(block)), float(np.nanmax(block)))
    return _HEIGHT_RANGES[key]


_HEIGHT_RANGES: dict[tuple, tuple[float, float]] = {}


def _read_padded(read: SlcReader, burst: BurstMetadata, l0: int, l1: int, s0: int,
                 s1: int, fresh_reads: bool = False) -> tuple[np.ndarray, bool]:
    """The burst window [l0, l1) × [s0, s1) as complex64, zeros where it leaves the burst.

    Returns the window and whether it may be overwritten: a new array of ours (padded), or
    ``read``'s own when ``fresh_reads`` says each call returns a new one; otherwise it is left
    untouched (a cached array).
    """
    a0, a1 = max(l0, 0), min(l1, burst.lines)
    b0, b1 = max(s0, 0), min(s1, burst.samples)
    if (a0, a1, b0, b1) == (l0, l1, s0, s1):
        pixels = read(l0, l1, s0, s1)
        owned = fresh_reads and pixels.dtype == np.complex64 and pixels.flags.writeable
        return np.asarray(pixels, np.complex64), owned
    out = np.zeros((l1 - l0, s1 - s0), np.complex64)
    if a1 > a0 and b1 > b0:
        out[a0 - l0:a1 - l0, b0 - s0:b1 - s0] = read(a0, a1, b0, b1)
    return out, True
