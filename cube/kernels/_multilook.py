"""Multilooking: NaN-aware mean over non-overlapping boxcar windows."""

from __future__ import annotations

import math

import numba
import numpy as np

from . import _checks


@numba.njit(cache=True, parallel=True)
def _multilook_real(x, az, rg, out):  # pragma: no cover - numba
    """Mean of the non-NaN values of each (az, rg) window of a real 2-D array (float64 sums)."""
    ny, nx = out.shape
    for I in numba.prange(ny):
        acc = np.zeros(nx, dtype=np.float64)
        cnt = np.zeros(nx, dtype=np.int64)
        for i in range(I * az, I * az + az):
            row = x[i]
            for J in range(nx):
                for j in range(J * rg, J * rg + rg):
                    v = np.float64(row[j])
                    if not math.isnan(v):
                        acc[J] += v
                        cnt[J] += 1
        for J in range(nx):
            out[I, J] = acc[J] / cnt[J] if cnt[J] > 0 else np.nan


@numba.njit(cache=True, parallel=True)
def _multilook_complex(x, az, rg, out):  # pragma: no cover - numba
    """Mean of the valid (neither part NaN) values of each window of a complex 2-D array."""
    ny, nx = out.shape
    for I in numba.prange(ny):
        acc_r = np.zeros(nx, dtype=np.float64)
        acc_i = np.zeros(nx, dtype=np.float64)
        cnt = np.zeros(nx, dtype=np.int64)
        for i in range(I * az, I * az + az):
            row = x[i]
            for J in range(nx):
                for j in range(J * rg, J * rg + rg):
                    v = row[j]
                    re = np.float64(v.real)
                    im = np.float64(v.imag)
                    if not (math.isnan(re) or math.isnan(im)):
                        acc_r[J] += re
                        acc_i[J] += im
                        cnt[J] += 1
        for J in range(nx):
            if cnt[J] > 0:
                out[I, J] = complex(acc_r[J] / cnt[J], acc_i[J] / cnt[J])
            else:
                out[I, J] = complex(np.nan, np.nan)


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
    if a.dtype == np.complex64:
        _multilook_complex(a, az, rg, out)
    else:
        _multilook_real(a, az, rg, out)
    return out
