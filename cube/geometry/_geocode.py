"""Radar positions of map pixels.

For each pixel of a burst grid window, the fractional (line, sample) of the burst that sees it, by
zero-Doppler geo2rdr at the DEM height.

Method
------
Exact geo2rdr runs only on a lattice of nodes every ``node_spacing`` pixels (and on the
window's last row/column), at 3-4 heights spanning the DEM heights under the window; at
each node (line, sample) becomes a polynomial in height through those levels. Per pixel:
1. the DEM position (row/col in the DEM raster) is interpolated bilinearly from the nodes
   (the map → DEM-CRS transform is smooth at this scale) and the DEM height read bilinearly;
2. the nodes' height polynomials are interpolated bilinearly in (x, y) and evaluated at
   the pixel's height.
Against per-pixel exact geo2rdr (``method="exact"``) the defaults stay below 1e-3 pixel on
smooth terrain spanning up to 6 km of height (measured in tests and docs/geometry.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np

from cube.format import SPEED_OF_LIGHT, BurstMetadata
from cube.geometry._dem import Dem, _bilinear_array
from cube.geometry._ellipsoid import llh_to_ecef_scalar
from cube.geometry._grid import BurstGrid, Window, transformer, window_bounds
from cube.geometry._orbit import burst_orbit
from cube.geometry._radar import geo2rdr, geo2rdr_scalar
from cube.geometry._timing import estimate_bistatic_reference


def _node_positions(n: int, spacing: int) -> np.ndarray:
    nodes = list(range(0, n, spacing))
    if nodes[-1] != n - 1:
        nodes.append(n - 1)
    if len(nodes) == 1:
        nodes.append(n - 1 if n > 1 else 0)
    return np.asarray(nodes, np.int64)


def _cells(n: int, nodes: np.ndarray, spacing: int) -> tuple[np.ndarray, np.ndarray]:
    """For pixels 0..n-1: index of the node cell holding each, and the fraction across it."""
    p = np.arange(n)
    cell = np.minimum(p // spacing, nodes.size - 2)
    lo = nodes[cell]
    width = nodes[cell + 1] - lo
    frac = np.where(width > 0, (p - lo) / np.maximum(width, 1), 0.0)
    return cell.astype(np.int64), frac


_CHUNK = 1024  # columns per pass of _interpolate_positions (its buffers stay in L1/L2)


@numba.njit(cache=True, parallel=True)
def _interpolate_positions(row_cell, row_frac, col_cell, col_frac, nodes, heights, h_centre,
                           h_scale, ncoef, cell_on, box, out_line, out_sample):
    """Fill (line, sample) per pixel of the window.

    ``nodes`` (2 + 2 * ncoef, nr, nc): DEM row, DEM col, then the polynomial coefficients
    (in the normalised height) of line and of sample at each node. Per pixel: bilinear over
    the nodes → DEM index → bilinear DEM height → Horner in the height. Pixels of cells with
    ``cell_on`` False, and pixels whose (line, sample) falls outside ``box`` (line0, line1,
    sample0, sample1; inclusive), are NaN.

    Each row is done ``_CHUNK`` columns at a time in four passes over a few kB in cache: the
    node quantities interpolated to each pixel, a cell at a time; the DEM height; Horner, one
    coefficient per pass, straight into the outputs; the box. Every index is a plain loop
    counter over a contiguous view (no negative-index wraparound), so LLVM vectorises all but
    the DEM pass (its look-ups stay scalar: about 0.17 of the 0.41 CPU s of a full-size grid,
    against 0.50 s for one scalar pass per pixel).
    """
    rows = row_cell.size
    cols = col_cell.size
    nq = nodes.shape[0]
    hr, hc = heights.shape
    hflat = heights.reshape(-1)
    rmax, cmax = hr - 1.0, hc - 1.0
    r0max, c0max = max(hr - 2, 0), max(hc - 2, 0)
    r1max, c1max = hr - 1, hc - 1
    rlim, clim = hr - 0.5, hc - 0.5  # half a pixel outside the raster takes the edge value
    line0, line1, sample0, sample1 = box[0], box[1], box[2], box[3]
    nan = np.nan
    for i in numba.prange(rows):
        ci = row_cell[i]
        fr = row_frac[i]
        values = np.empty((nq, _CHUNK))
        ubuf = np.empty(_CHUNK)
        for j0 in range(0, cols, _CHUNK):
            j1 = min(cols, j0 + _CHUNK)
            n = j1 - j0
            # the node quantities along this row, linear across each cell (NaN in cells off)
            j = j0
            any_on = False
            while j < j1:
                cj = col_cell[j]
                end = j + 1
                while end < j1 and col_cell[end] == cj:
                    end += 1
                frac = col_frac[j:end]
                on = cell_on[ci, cj]
                any_on |= on
                for q in range(nq):
                    a = (1.0 - fr) * nodes[q, ci, cj] + fr * nodes[q, ci + 1, cj]
                    s = (1.0 - fr) * nodes[q, ci, cj + 1] + fr * nodes[q, ci + 1, cj + 1] - a
                    if not on:
                        a = nan
                    v = values[q, j - j0:end - j0]
                    for k in range(end - j):
                        v[k] = a + frac[k] * s
                j = end
            line = out_line[i, j0:j1]
            sample = out_sample[i, j0:j1]
            if not any_on:
                line[:] = nan
                sample[:] = nan
                continue
            # the DEM height (bilinear, NaN outside the raster), normalised
            dem_row = values[0, :n]
            dem_col = values[1, :n]
            u = ubuf[:n]
            for k in range(n):
                row = dem_row[k]
                col = dem_col[k]
                inside = (row >= -0.5) & (row <= rlim) & (col >= -0.5) & (col <= clim)
                r = row if row >= 0.0 else 0.0
                r = r if r <= rmax else rmax
                c = col if col >= 0.0 else 0.0
                c = c if c <= cmax else cmax
                ir = min(int(r), r0max)
                ic = min(int(c), c0max)
                dr = r - ir
                dc = c - ic
                jr = min(ir + 1, r1max)
                jc = min(ic + 1, c1max)
                h = ((1.0 - dr) * ((1.0 - dc) * hflat[ir * hc + ic] + dc * hflat[ir * hc + jc])
                     + dr * ((1.0 - dc) * hflat[jr * hc + ic] + dc * hflat[jr * hc + jc]))
                u[k] = (h - h_centre) / h_scale if inside else nan
            # Horner in u, highest coefficient first (each loop reads and writes few arrays:
            # LLVM's runtime alias checks stay under its limit)
            for out, q0 in ((line, 2), (sample, 2 + ncoef)):
                top = values[q0 + ncoef - 1, :n]
                for k in range(n):
                    out[k] = top[k]
                for d in range(ncoef - 2, -1, -1):
                    coef = values[q0 + d, :n]
                    for k in range(n):
                        out[k] = out[k] * u[k] + coef[k]
                for k in range(n):  # NaN where the height is (ncoef 1 has no u in it)
                    out[k] += 0.0 * u[k]
            # NaN outside the box
            for k in range(n):
                a = line[k]
                b = sample[k]
                keep = (a >= line0) & (a <= line1) & (b >= sample0) & (b <= sample1)
                line[k] = a if keep else nan
                sample[k] = b if keep else nan


@numba.njit(cache=True, parallel=True)
def _exact_positions(breaks, centre, half, coeffs, lat, lon, h, t_guess, t_start, dt,
                     tau0, fs, tau_ref, out_line, out_sample):
    rows, cols = h.shape
    for i in numba.prange(rows):
        state = np.empty(9)
        guess = t_guess
        for j in range(cols):
            if h[i, j] != h[i, j]:
                out_line[i, j] = np.nan
                out_sample[i, j] = np.nan
                continue
            x, y, z = llh_to_ecef_scalar(lat[i, j], lon[i, j], h[i, j])
            t, r = geo2rdr_scalar(breaks, centre, half, coeffs, x, y, z, guess, state)
            if t == t:
                guess = t
            tau = 2.0 * r / SPEED_OF_LIGHT
            if tau_ref == tau_ref:
                t -= 0.5 * (tau - tau_ref)
            out_line[i, j] = (t - t_start) / dt
            out_sample[i, j] = (tau - tau0) * fs


def radar_positions(
    burst: BurstMetadata,
    grid: BurstGrid,
    window: Window | None,
    dem: Dem,
    *,
    bistatic: bool = False,
    node_spacing: int = 16,
    height_levels: int | None = None,
    method: Literal["interpolated", "exact"] = "interpolated",
    mask: Literal["burst", "valid", "none"] = "burst",
    height_range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fractional (line, sample) in ``burst`` of every map pixel of a grid window.

    Parameters
    ----------
    burst : BurstMetadata
        The acquisition to geocode (its own orbit and timing are used).
    grid : BurstGrid
        The burst ID's fixed map grid.
    window : (row slice, col slice) or None
        Part of the grid; None = the whole grid.
    dem : Dem
        Heights above WGS84 covering the window (any EPSG CRS).
    bistatic : bool
        Apply the IPF's range-dependent bistatic residual (``cube.geometry._timing``) so
        positions agree with ESA's geolocation grid; the same for every date.
    node_spacing : int
        Exact geo2rdr every this many pixels (interpolated method).
    height_levels : int, optional
        Number of heights (≥ 1) the nodes are solved at, spanning the window's DEM range;
        by default 3, or 4 when the range exceeds 2500 m (measured errors in
        docs/geometry.md).
    method : "interpolated" (fast, default) or "exact" (geo2rdr per pixel; for checks).
    mask : "burst" (default), "valid" or "none"
        Pixels whose position falls outside the burst (lines 0..lines-1, samples
        0..samples-1), or outside its valid window, are NaN; whole node cells outside it
        are skipped, which halves the work on a full grid (the burst is a rotated strip).
        "none" returns every position.
    height_range : (low, high), m, optional
        Heights the nodes are solved at, instead of the DEM range under the window. Pass
        the same range for every window of a grid (and windows aligned on ``node_spacing``)
        to get exactly the positions of the whole-grid computation.

    Returns
    -------
    line, sample : float64 arrays (rows, cols) of the window
        ``line`` is 0 at the burst's first line (burst-relative, as ``BurstMetadata``'s
        valid-line indices); ``sample`` is 0 at the first sample. NaN where the DEM has no
        data and where ``mask`` says.
    """
    if method not in ("interpolated", "exact"):
        raise ValueError(f"method must be 'interpolated' or 'exact', not {method!r}")
    r0, r1, c0, c1 = window_bounds(window, grid.height, grid.width)
    rows, cols = r1 - r0, c1 - c0
    out_line = np.empty((rows, cols))
    out_sample = np.empty((rows, cols))
    if method == "exact":
        _exact_window(burst, grid, (r0, r1, c0, c1), dem, bistatic, mask, out_line, out_sample)
        return out_line, out_sample
    nodes = solve_radar_nodes(burst, grid, window, dem, bistatic=bistatic, node_spacing=node_spacing,
                              height_levels=height_levels, mask=mask, height_range=height_range)
    nodes.fill(0, rows, out_line, out_sample)
    return out_line, out_sample


@dataclass(frozen=True)
class RadarNodes:
    """Exact geo2rdr solutions on a node lattice of a grid window, for :meth:`fill`.

    Made by :func:`solve_radar_nodes`. ``nodes`` is float64 (2 + 2·levels, node rows, node
    cols): the DEM row and column of each node, then the coefficients of its line and of its
    sample as polynomials in the normalised height ``(h − h_centre) / h_scale``.
    """

    rows: int
    cols: int
    row_cell: np.ndarray
    row_frac: np.ndarray
    col_cell: np.ndarray
    col_frac: np.ndarray
    nodes: np.ndarray
    heights: np.ndarray
    h_centre: float
    h_scale: float
    levels: int
    cell_on: np.ndarray
    box: np.ndarray

    def fill(self, row0: int, row1: int, line: np.ndarray, sample: np.ndarray) -> None:
        """Write the positions of window rows [row0, row1) into ``line`` and ``sample``.

        ``line``, ``sample``: float64 C-contiguous (row1 − row0, cols), burst line and sample
        of each pixel (NaN where the DEM has no data and outside the mask). A block of rows
        gets exactly the values of the same rows of the whole window.
        """
        n = row1 - row0
        if not 0 <= row0 <= row1 <= self.rows:
            raise ValueError(f"rows [{row0}, {row1}) are not inside the window's {self.rows}")
        for name, a in (("line", line), ("sample", sample)):
            if a.dtype != np.float64 or a.shape != (n, self.cols) or not a.flags.c_contiguous:
                raise ValueError(f"{name} must be float64 C-contiguous ({n}, {self.cols}), got "
                                 f"{a.dtype} {a.shape}")
        if self.levels == 0:  # no DEM height under the window
            line.fill(np.nan)
            sample.fill(np.nan)
            return
        _interpolate_positions(self.row_cell[row0:row1], self.row_frac[row0:row1], self.col_cell,
                               self.col_frac, self.nodes, self.heights, self.h_centre, self.h_scale,
                               self.levels, self.cell_on, self.box, line, sample)


def solve_radar_nodes(
    burst: BurstMetadata,
    grid: BurstGrid,
    window: Window | None,
    dem: Dem,
    *,
    bistatic: bool = False,
    node_spacing: int = 16,
    height_levels: int | None = None,
    mask: Literal["burst", "valid", "none"] = "burst",
    height_range: tuple[float, float] | None = None,
) -> RadarNodes:
    """The geo2rdr nodes of :func:`radar_positions` (interpolated method), to fill row blocks.

    Parameters are those of :func:`radar_positions`. ``RadarNodes.fill`` then writes any block
    of the window's rows into buffers of the caller's (a worker going through a whole grid
    in small blocks keeps its positions in cache, instead of two float64 arrays of the grid).
    """
    if node_spacing < 1 or (height_levels is not None and height_levels < 1):
        raise ValueError("node_spacing and height_levels must be >= 1")
    r0, r1, c0, c1 = window_bounds(window, grid.height, grid.width)
    rows, cols = r1 - r0, c1 - c0
    orbit = burst_orbit(burst)
    tau_ref = estimate_bistatic_reference(burst) if bistatic else float("nan")
    dt = burst.azimuth_time_interval
    t_guess = 0.5 * burst.lines * dt
    x_all = grid.x0 + (np.arange(c0, c1) + 0.5) * grid.dx
    y_all = grid.y0 - (np.arange(r0, r1) + 0.5) * grid.dy
    heights = dem.heights if dem.heights.flags.c_contiguous else np.ascontiguousarray(dem.heights)
    box = np.asarray(_mask_box(burst, mask), np.float64)
    node_r = _node_positions(max(rows, 1), node_spacing)
    node_c = _node_positions(max(cols, 1), node_spacing)
    row_cell, row_frac = _cells(rows, node_r, node_spacing)
    col_cell, col_frac = _cells(cols, node_c, node_spacing)
    nothing = RadarNodes(rows, cols, row_cell, row_frac, col_cell, col_frac, np.zeros((2, 1, 1)), heights,
                         0.0, 1.0, 0, np.zeros((1, 1), bool), box)
    if rows == 0 or cols == 0:
        return nothing
    nx, ny = np.meshgrid(x_all[node_c], y_all[node_r])
    lon, lat = transformer(grid.epsg, 4326).transform(nx, ny)
    if dem.crs == 4326:
        dem_row, dem_col = dem.fractional_index(lon, lat)
    else:
        dem_row, dem_col = dem.fractional_index(*transformer(grid.epsg, dem.crs).transform(nx, ny))
    # heights to solve the nodes at: the range of the DEM pixels under the window (every
    # bilinear height of the window lies within it)
    hmin, hmax = height_range if height_range is not None else _dem_range(heights, dem_row, dem_col)
    if not np.isfinite(hmin):
        return nothing
    if height_levels is None:
        height_levels = 3 if hmax - hmin <= 2500.0 else 4
    nlev = height_levels if hmax - hmin > 1e-3 else 1
    levels = np.linspace(hmin, hmax, nlev) if nlev > 1 else np.array([0.5 * (hmin + hmax)])
    h_centre = 0.5 * (hmin + hmax)
    h_scale = max(0.5 * (hmax - hmin), 1.0)
    la = np.broadcast_to(lat, (nlev,) + lat.shape)
    lo = np.broadcast_to(lon, (nlev,) + lon.shape)
    hh = np.broadcast_to(levels[:, None, None], la.shape)
    t, rng = geo2rdr(orbit, la, lo, hh, t_guess=t_guess)
    tau = rng * (2.0 / SPEED_OF_LIGHT)
    if bistatic:
        t = t - 0.5 * (tau - tau_ref)
    node_line = t / dt
    node_sample = (tau - burst.slant_range_time) * burst.range_sampling_rate
    # polynomial (degree nlev-1) through the levels, in u = (h - h_centre) / h_scale
    u = (levels - h_centre) / h_scale
    inv = np.linalg.inv(np.vander(u, nlev, increasing=True))
    line_poly = np.tensordot(inv, node_line, axes=1)
    sample_poly = np.tensordot(inv, node_sample, axes=1)
    # a cell is computed if its nodes' (line, sample) ranges, over all levels, touch the box
    pad = 1.0
    lmin = _cell_reduce(node_line, np.min) - pad
    lmax = _cell_reduce(node_line, np.max) + pad
    smin = _cell_reduce(node_sample, np.min) - pad
    smax = _cell_reduce(node_sample, np.max) + pad
    cell_on = (lmax >= box[0]) & (lmin <= box[1]) & (smax >= box[2]) & (smin <= box[3])
    nodes = np.concatenate([dem_row[None], dem_col[None], line_poly, sample_poly], axis=0)
    return RadarNodes(rows, cols, row_cell, row_frac, col_cell, col_frac, np.ascontiguousarray(nodes),
                      heights, float(h_centre), float(h_scale), nlev, np.ascontiguousarray(cell_on), box)


def _exact_window(burst: BurstMetadata, grid: BurstGrid, bounds: tuple[int, int, int, int], dem: Dem,
                  bistatic: bool, mask: str, out_line: np.ndarray, out_sample: np.ndarray) -> None:
    """``radar_positions(method="exact")`` into ``out_line``/``out_sample`` (rows, cols)."""
    r0, r1, c0, c1 = bounds
    rows, cols = r1 - r0, c1 - c0
    orbit = burst_orbit(burst)
    tau_ref = estimate_bistatic_reference(burst) if bistatic else float("nan")
    dt = burst.azimuth_time_interval
    xx, yy = np.meshgrid(grid.x0 + (np.arange(c0, c1) + 0.5) * grid.dx,
                         grid.y0 - (np.arange(r0, r1) + 0.5) * grid.dy)
    heights = dem.heights if dem.heights.flags.c_contiguous else np.ascontiguousarray(dem.heights)
    lon, lat = transformer(grid.epsg, 4326).transform(xx, yy)
    if dem.crs == 4326:
        dr, dc = dem.fractional_index(lon, lat)
    else:
        dr, dc = dem.fractional_index(*transformer(grid.epsg, dem.crs).transform(xx, yy))
    h = np.empty((rows, cols))
    _bilinear_array(heights, np.ascontiguousarray(dr.ravel()), np.ascontiguousarray(dc.ravel()),
                    h.reshape(-1))
    _exact_positions(orbit.breaks, orbit.centre, orbit.half, orbit.coeffs,
                     np.ascontiguousarray(lat), np.ascontiguousarray(lon), h, 0.5 * burst.lines * dt,
                     0.0, dt, burst.slant_range_time, burst.range_sampling_rate, tau_ref,
                     out_line, out_sample)
    box = _mask_box(burst, mask)
    outside = ((out_line < box[0]) | (out_line > box[1]) | (out_sample < box[2])
               | (out_sample > box[3]))
    out_line[outside] = np.nan
    out_sample[outside] = np.nan


def _cell_reduce(values: np.ndarray, reduce) -> np.ndarray:
    """Per node cell (nr-1, nc-1): ``reduce`` over its 4 corner nodes and all levels."""
    v = reduce(values, axis=0)
    corners = np.stack([v[:-1, :-1], v[:-1, 1:], v[1:, :-1], v[1:, 1:]])
    return reduce(corners, axis=0)


def _mask_box(burst: BurstMetadata, mask: str) -> tuple[float, float, float, float]:
    """(line0, line1, sample0, sample1), inclusive, of the pixels to keep."""
    if mask == "none":
        return (-np.inf, np.inf, -np.inf, np.inf)
    if mask == "burst":
        return (0.0, burst.lines - 1.0, 0.0, burst.samples - 1.0)
    if mask == "valid":
        return (float(burst.first_valid_line), float(burst.last_valid_line),
                float(burst.first_valid_sample), float(burst.last_valid_sample))
    raise ValueError(f"mask must be 'none', 'burst' or 'valid', not {mask!r}")


def _dem_range(heights: np.ndarray, dem_row: np.ndarray, dem_col: np.ndarray) -> tuple[float, float]:
    """(min, max) of the finite DEM heights in the block the node indices span (NaN if none)."""
    rows, cols = heights.shape
    r0 = max(int(np.floor(np.nanmin(dem_row))), 0)
    r1 = min(int(np.ceil(np.nanmax(dem_row))) + 1, rows)
    c0 = max(int(np.floor(np.nanmin(dem_col))), 0)
    c1 = min(int(np.ceil(np.nanmax(dem_col))) + 1, cols)
    if r0 >= r1 or c0 >= c1:
        return float("nan"), float("nan")
    block = heights[r0:r1, c0:c1]
    if not np.isfinite(block).any():
        return float("nan"), float("nan")
    return float(np.nanmin(block)), float(np.nanmax(block))
