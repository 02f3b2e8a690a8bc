"""Multilooking: NaN-aware mean over non-overlapping boxcar windows; the valid share of each window."""

from __future__ import annotations

import math

import numba
import numpy as np

from . import _checks


@numba.njit(cache=True)
def _multilook_row(
    x: np.ndarray, az: int, rg: int, io: int, is_complex: bool, out: np.ndarray
) -> None:  # pragma: no cover - numba
    """Fill output row ``io``: mean of the valid values of each window (float64 sums).

    A real value is valid when not NaN, a complex one when neither part is NaN. ``out`` is
    the output viewed as reals: (ny, 2·nx) interleaved for complex output, else (ny, nx).
    """
    nx = out.shape[1] // 2 if is_complex else out.shape[1]
    acc_r = np.zeros(nx, dtype=np.float64)
    acc_i = np.zeros(nx, dtype=np.float64)
    cnt = np.zeros(nx, dtype=np.int64)
    for i in range(io * az, io * az + az):
        row = x[i]
        for jo in range(nx):
            for j in range(jo * rg, jo * rg + rg):
                v = row[j]
                re = np.float64(v.real)
                im = np.float64(v.imag)
                if not (math.isnan(re) or math.isnan(im)):
                    acc_r[jo] += re
                    acc_i[jo] += im
                    cnt[jo] += 1
    for jo in range(nx):
        mean_r = acc_r[jo] / cnt[jo] if cnt[jo] > 0 else np.nan
        if is_complex:
            out[io, 2 * jo] = mean_r
            out[io, 2 * jo + 1] = acc_i[jo] / cnt[jo] if cnt[jo] > 0 else np.nan
        else:
            out[io, jo] = mean_r


@numba.njit(cache=True)
def _multilook(
    x: np.ndarray, az: int, rg: int, is_complex: bool, out: np.ndarray
) -> None:  # pragma: no cover - numba
    """Multilook every output row.

    Serial on purpose: it is memory-bound (~0.1 s per burst), and each parallel kernel
    costs about a second more to compile per dtype.
    """
    for io in range(out.shape[0]):
        _multilook_row(x, az, rg, io, is_complex, out)


def multilook(x: np.ndarray, looks: tuple[int, int]) -> np.ndarray:
    """Average an image over non-overlapping (azimuth, range) windows, ignoring NaNs.

    Parameters
    ----------
    x : numpy.ndarray
        2-D image (lines, samples): complex64 (e.g. an interferogram), float32 or float64
        (e.g. intensity). NaN marks pixels without data; a complex value is invalid when
        either part is NaN.
    looks : tuple of int
        Window (azimuth lines, range samples), both >= 1. Output pixel (I, J) covers input
        lines ``I*az … I*az+az-1`` and samples ``J*rg … J*rg+rg-1``; trailing lines/samples
        that do not fill a whole window are dropped (as in :func:`interferogram`).

    Returns
    -------
    numpy.ndarray
        Same dtype as ``x``, shape (lines // az, samples // rg): the mean of the valid values
        of each window (sums in float64), NaN where a window has none.

    Raises
    ------
    ValueError
        If ``x`` is not 2-D with one of the dtypes above, or the window exceeds the image.
    """
    a = _checks.array(x, "x", [np.complex64, np.float32, np.float64], ndim=2)
    az, rg = _checks.pair(looks, "looks")
    ny, nx = a.shape[0] // az, a.shape[1] // rg
    if ny == 0 or nx == 0:
        raise ValueError(f"looks {(az, rg)} are larger than the image shape {a.shape}")
    out = np.empty((ny, nx), dtype=a.dtype)
    is_complex = a.dtype == np.complex64
    _multilook(a, az, rg, is_complex, out.view(np.float32) if is_complex else out)
    return out


@numba.njit(cache=True)
def _valid_fraction(
    ref: np.ndarray, ldr: int, sec: np.ndarray, lds: int, az: int, rg: int, out: np.ndarray
) -> None:  # pragma: no cover - numba
    """Fill ``out`` (ny, nx) with each window's share of pixels finite in both images.

    ``ref``, ``sec``: 1-D complex64 buffers, line i starting at i·``ldr`` (i·``lds``).
    """
    n = az * rg
    for io in range(out.shape[0]):
        for jo in range(out.shape[1]):
            count = 0
            for i in range(io * az, io * az + az):
                for j in range(jo * rg, jo * rg + rg):
                    a = ref[i * ldr + j]
                    b = sec[i * lds + j]
                    if (math.isfinite(a.real) and math.isfinite(a.imag) and math.isfinite(b.real)
                            and math.isfinite(b.imag)):
                        count += 1
            out[io, jo] = count / n


def valid_fraction(ref: np.ndarray, sec: np.ndarray, looks: tuple[int, int]) -> np.ndarray:
    """Share of each (azimuth, range) window's pixels that are finite in both images.

    Parameters
    ----------
    ref, sec : numpy.ndarray
        complex64, 2-D, same shape (lines, samples); read in place when their lines are
        contiguous (a window of a larger image). A pixel counts when the real and imaginary
        parts of both are finite.
    looks : tuple of int
        Window (azimuth lines, range samples), both >= 1, tiled as in :func:`multilook`.

    Returns
    -------
    numpy.ndarray
        float32, shape (lines // az, samples // rg), in [0, 1].

    Raises
    ------
    ValueError
        If the dtypes or shapes differ from the above, or the window exceeds the image.
    """
    (rb, ldr), (sb, lds), shape = _checks.complex_pair(ref, sec)
    az, rg, ny, nx = _checks.looked(shape, looks)
    out = np.empty((ny, nx), dtype=np.float32)
    _valid_fraction(rb, ldr, sb, lds, az, rg, out)
    return out
