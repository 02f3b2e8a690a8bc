"""Radiometric calibration with ESA calibration and noise look-up tables.

Sentinel-1 calibration vectors give, on a sparse grid of (line, pixel), the value ``A`` of
σ0, β0 or γ0 such that ``calibrated power = |DN|² / A²``; noise vectors give the thermal
noise power ``N`` in DN² (range vectors × azimuth vectors since IPF 2.9). Interpolation is
bilinear in (line, pixel), as ESA specifies.

Moved out of ``cube.kernels``: the backscatter product computes ``1/A²`` and ``N/A²`` at the
CSLC's fractional radar positions instead (``cube/products/_radiometry.py``); the kernel tests
check those factors against this on the radar grid of a real burst.
"""

from __future__ import annotations

import math
from typing import Literal

import numba
import numpy as np

from cube.kernels import _checks


def _bracket(grid: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the indices (i0, i1) of the grid points around each ``q`` and the weight of i1.

    ``q`` is clamped to the grid first, so values beyond the ends take the end values.
    """
    qc = np.clip(q, grid[0], grid[-1])
    n = grid.size
    if n == 1:
        zeros = np.zeros(q.size, dtype=np.int64)
        return zeros, zeros, np.zeros(q.size, dtype=np.float64)
    i0 = np.clip(np.searchsorted(grid, qc, side="right") - 1, 0, n - 2).astype(np.int64)
    i1 = i0 + 1
    w = (qc - grid[i0]) / (grid[i1] - grid[i0])
    return i0, i1, w


@numba.njit(cache=True)
def _calibrate_line(d, lut, a0, a1, wa, pi0, pi1, pw, noise, b0, b1, wb, npi0, npi1, npw, naz,
                    is_power, zero_negative, db, out):  # pragma: no cover - numba
    """Calibrate one line ``d`` into ``out``; the LUT rows are blended with weight ``wa``."""
    n = lut.shape[1]
    row = np.empty(n, dtype=np.float64)
    for k in range(n):
        row[k] = (1.0 - wa) * lut[a0, k] + wa * lut[a1, k]
    m = noise.shape[1]
    nrow = np.empty(m, dtype=np.float64)
    for k in range(m):
        nrow[k] = ((1.0 - wb) * noise[b0, k] + wb * noise[b1, k]) * naz
    for j in range(d.shape[0]):
        v = d[j]
        if is_power:
            p = np.float64(v.real)
        else:
            p = np.float64(v.real) * np.float64(v.real) + np.float64(v.imag) * np.float64(v.imag)
        w = pw[j]
        A = (1.0 - w) * row[pi0[j]] + w * row[pi1[j]]
        u = npw[j]
        p -= (1.0 - u) * nrow[npi0[j]] + u * nrow[npi1[j]]
        s = p / (A * A)
        if s < 0.0:
            s = 0.0 if zero_negative else np.nan
        if db:
            s = 10.0 * math.log10(s) if s > 0.0 else (-np.inf if s == 0.0 else np.nan)
        out[j] = s


@numba.njit(cache=True, parallel=True)
def _calibrate(data, lut, li0, li1, lw, pi0, pi1, pw,
               noise, ni0, ni1, nw, npi0, npi1, npw, naz,
               is_power, zero_negative, db, out):  # pragma: no cover - numba
    """Calibrate every line (in parallel); see :func:`calibrate`."""
    for i in numba.prange(data.shape[0]):
        _calibrate_line(data[i], lut, li0[i], li1[i], lw[i], pi0, pi1, pw,
                        noise, ni0[i], ni1[i], nw[i], npi0, npi1, npw, naz[i],
                        is_power, zero_negative, db, out[i])


def calibrate(
    data: np.ndarray,
    lut_lines: np.ndarray,
    lut_pixels: np.ndarray,
    lut_values: np.ndarray,
    *,
    noise: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    noise_azimuth: tuple[np.ndarray, np.ndarray] | None = None,
    origin: tuple[int, int] = (0, 0),
    out_db: bool = False,
    negative: Literal["nan", "zero"] = "nan",
) -> np.ndarray:
    """Calibrated backscatter ``(|DN|² − N) / A²`` from a sparse calibration LUT.

    Parameters
    ----------
    data : numpy.ndarray
        2-D (lines, samples): complex64 DNs (an SLC, power ``|DN|²``), or float32/float64
        power ``|DN|²`` (e.g. an intensity already multilooked on the same line/pixel grid).
    lut_lines, lut_pixels : numpy.ndarray
        1-D, strictly increasing: image line and pixel numbers of the LUT grid (the
        ``line``/``pixel`` of the annotation's calibration vectors; every vector must share
        the pixel list, resample it beforehand if not).
    lut_values : numpy.ndarray
        2-D (len(lut_lines), len(lut_pixels)): the LUT ``A`` (e.g. ``sigmaNought``), linear
        amplitude units (``power = |DN|² / A²``).
    noise : tuple of numpy.ndarray, optional
        ``(lines, pixels, values)``: the range noise LUT in DN² on its own grid (same layout as
        the calibration LUT). When given, ``N`` is subtracted from ``|DN|²`` before dividing.
    noise_azimuth : tuple of numpy.ndarray, optional
        ``(lines, values)``: azimuth noise scaling (dimensionless) per line, interpolated
        linearly in line and multiplied into the range noise. Requires ``noise``.
    origin : tuple of int
        (line, pixel) of ``data[0, 0]`` in the LUT's coordinates, for a window of the image
        (e.g. a burst: ``(burst_index * lines_per_burst, 0)``).
    out_db : bool
        Return ``10·log10`` of the power (0 → −inf).
    negative : {"nan", "zero"}
        What a negative power (noise larger than the signal) becomes: NaN (the default, so
        that averaging skips it) or 0 (−inf in dB).

    Returns
    -------
    numpy.ndarray
        float32, shape of ``data``: calibrated power (linear, or dB with ``out_db``).

    Notes
    -----
    LUTs are interpolated bilinearly in (line, pixel) and held constant beyond their first
    and last grid lines/pixels. NaN in ``data`` gives NaN. A DN of 0 (the fill value outside
    the valid burst window) is not masked here: mask it beforehand.

    Raises
    ------
    ValueError
        On wrong dtypes or shapes, non-increasing grids, or ``noise_azimuth`` without ``noise``.
    """
    d = _checks.array(data, "data", [np.complex64, np.float32, np.float64], ndim=2)
    lines = _checks.vector(lut_lines, "lut_lines")
    pixels = _checks.vector(lut_pixels, "lut_pixels")
    _checks.increasing(lines, "lut_lines")
    _checks.increasing(pixels, "lut_pixels")
    lut = np.ascontiguousarray(np.asarray(lut_values, dtype=np.float64))
    if lut.shape != (lines.size, pixels.size):
        raise ValueError(
            f"lut_values must have shape (len(lut_lines), len(lut_pixels)) = "
            f"{(lines.size, pixels.size)}, got {lut.shape}"
        )
    if not np.all(np.isfinite(lut)) or np.any(lut == 0):
        raise ValueError("lut_values must be finite and non-zero")
    if negative not in ("nan", "zero"):
        raise ValueError(f"negative must be 'nan' or 'zero', got {negative!r}")
    try:
        o_line, o_pixel = (int(v) for v in origin)
    except (TypeError, ValueError):
        raise ValueError(f"origin must be a pair of ints (line, pixel), got {origin!r}") from None
    ny, nx = d.shape
    q_lines = np.arange(ny, dtype=np.float64) + o_line
    q_pixels = np.arange(nx, dtype=np.float64) + o_pixel
    li0, li1, lw = _bracket(lines, q_lines)
    pi0, pi1, pw = _bracket(pixels, q_pixels)

    if noise is not None:
        try:
            n_lines_, n_pixels_, n_values_ = noise  # type: ignore[misc]
        except (TypeError, ValueError):
            raise ValueError("noise must be a tuple (lines, pixels, values)") from None
        n_lines = _checks.vector(n_lines_, "noise lines")
        n_pixels = _checks.vector(n_pixels_, "noise pixels")
        _checks.increasing(n_lines, "noise lines")
        _checks.increasing(n_pixels, "noise pixels")
        nlut = np.ascontiguousarray(np.asarray(n_values_, dtype=np.float64))
        if nlut.shape != (n_lines.size, n_pixels.size):
            raise ValueError(
                f"noise values must have shape (len(lines), len(pixels)) = "
                f"{(n_lines.size, n_pixels.size)}, got {nlut.shape}"
            )
        if not np.all(np.isfinite(nlut)):
            raise ValueError("noise values must be finite")
        ni0, ni1, nw = _bracket(n_lines, q_lines)
        npi0, npi1, npw = _bracket(n_pixels, q_pixels)
        if noise_azimuth is not None:
            try:
                az_lines_, az_values_ = noise_azimuth  # type: ignore[misc]
            except (TypeError, ValueError):
                raise ValueError("noise_azimuth must be a tuple (lines, values)") from None
            az_lines = _checks.vector(az_lines_, "noise_azimuth lines")
            _checks.increasing(az_lines, "noise_azimuth lines")
            az_values = _checks.vector(az_values_, "noise_azimuth values", size=az_lines.size)
            a0, a1, aw = _bracket(az_lines, q_lines)
            naz = (1.0 - aw) * az_values[a0] + aw * az_values[a1]
        else:
            naz = np.ones(ny, dtype=np.float64)
    else:
        if noise_azimuth is not None:
            raise ValueError("noise_azimuth needs the range noise LUT: pass noise=(lines, pixels, values)")
        nlut = np.zeros((1, 1), dtype=np.float64)
        ni0 = ni1 = np.zeros(ny, dtype=np.int64)
        nw = np.zeros(ny, dtype=np.float64)
        npi0 = npi1 = np.zeros(nx, dtype=np.int64)
        npw = np.zeros(nx, dtype=np.float64)
        naz = np.ones(ny, dtype=np.float64)

    out = np.empty((ny, nx), dtype=np.float32)
    if d.size:
        _calibrate(d, lut, li0, li1, lw, pi0, pi1, pw,
                   nlut, ni0, ni1, nw, npi0, npi1, npw, naz,
                   d.dtype != np.complex64, negative == "zero", bool(out_db), out)
    return out
