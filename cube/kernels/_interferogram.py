"""Interferogram formation and coherence estimation over non-overlapping boxcar windows (NaN-aware).

Conventions, for two co-registered complex images ``ref`` and
``sec`` (the order matters: the phase is that of ``ref · conj(sec)``):

- a pixel is *valid* when the real and imaginary parts of both ``ref`` and ``sec`` are not
  NaN; invalid pixels are left out of every sum;
- ``ifg`` is the **mean** of ``ref · conj(sec)`` over the valid pixels of the window, so its
  amplitude does not depend on the window size or on how many pixels were masked;
- ``coh = |Σ ref·conj(sec)| / sqrt(Σ|ref|² · Σ|sec|²)`` over the same valid pixels, in [0, 1];
- a window without any valid pixel gives NaN (``ifg`` NaN+NaNj), and so does a window whose
  valid pixels are all zero in ``ref`` or in ``sec`` (coherence 0/0).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from . import _checks

# Fast-math flags without "nnan"/"ninf": NaN tests must survive optimisation. "reassoc" lets
# LLVM vectorise the sums; results differ from a sequential sum only by float32 rounding.
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@numba.njit(cache=True, fastmath=_FASTMATH)
def _line_groups(
    r: np.ndarray, s: np.ndarray, acc: np.ndarray, nx: int, rg: int, first: bool
) -> None:  # pragma: no cover - numba
    """Sum groups of ``rg`` pixels of one line into ``acc`` (4, nx).

    The four sums are Re and Im of r·conj(s), |r|² and |s|². No NaN handling: a NaN anywhere
    in a group makes its four sums NaN.
    """
    for jo in range(nx):
        x = r[jo * rg:jo * rg + rg]
        y = s[jo * rg:jo * rg + rg]
        sr = np.float32(0.0)
        si = np.float32(0.0)
        p1 = np.float32(0.0)
        p2 = np.float32(0.0)
        for k in range(rg):
            a = x[k]
            b = y[k]
            ar = a.real
            ai = a.imag
            br = b.real
            bi = b.imag
            sr += ar * br + ai * bi
            si += ai * br - ar * bi
            p1 += ar * ar + ai * ai
            p2 += br * br + bi * bi
        if first:
            acc[0, jo] = sr
            acc[1, jo] = si
            acc[2, jo] = p1
            acc[3, jo] = p2
        else:
            acc[0, jo] += sr
            acc[1, jo] += si
            acc[2, jo] += p1
            acc[3, jo] += p2


@numba.njit(cache=True)
def _masked_window(
    ref: np.ndarray, ldr: int, sec: np.ndarray, lds: int, i0: int, i1: int, j0: int, j1: int
) -> tuple[float, float, float, float, int]:  # pragma: no cover - numba
    """Sum over the valid pixels of lines i0:i1, samples j0:j1 (float64); also return their count.

    ``ref``, ``sec``: the images' pixels as 1-D buffers, line i starting at i·``ldr`` (i·``lds``).
    """
    sr = 0.0
    si = 0.0
    p1 = 0.0
    p2 = 0.0
    n = 0
    for i in range(i0, i1):
        for j in range(j0, j1):
            a = ref[i * ldr + j]
            b = sec[i * lds + j]
            ar = np.float64(a.real)
            ai = np.float64(a.imag)
            br = np.float64(b.real)
            bi = np.float64(b.imag)
            if math.isnan(ar) or math.isnan(ai) or math.isnan(br) or math.isnan(bi):
                continue
            sr += ar * br + ai * bi
            si += ai * br - ar * bi
            p1 += ar * ar + ai * ai
            p2 += br * br + bi * bi
            n += 1
    return sr, si, p1, p2, n


@numba.njit(cache=True, parallel=True, fastmath=_FASTMATH)
def _interferogram(
    ref: np.ndarray, ldr: int, sec: np.ndarray, lds: int, az: int, rg: int, ifg: np.ndarray,
    coh: np.ndarray
) -> None:  # pragma: no cover - numba
    """Fill ``ifg`` (complex64) and ``coh`` (float32), both (lines // az, samples // rg).

    ``ref``, ``sec``: the images' pixels as contiguous 1-D complex64 buffers, line i starting at
    i·``ldr`` (i·``lds``), so a window cut out of a larger image is read in place. One pass over
    the inputs: each output row sums its ``az`` input lines group by group without NaN tests; a
    window whose sums come out NaN (rare: masked pixels) is summed again pixel by pixel,
    skipping the invalid ones.
    """
    ny, nx = ifg.shape
    width = nx * rg
    inv = np.float32(1.0 / (az * rg))
    nan = np.float32(np.nan)
    for io in numba.prange(ny):
        acc = np.empty((4, nx), dtype=np.float32)
        i0 = io * az
        for i in range(i0, i0 + az):
            _line_groups(ref[i * ldr:i * ldr + width], sec[i * lds:i * lds + width], acc, nx, rg,
                         i == i0)
        for jo in range(nx):
            sr = acc[0, jo]
            si = acc[1, jo]
            p1 = acc[2, jo]
            p2 = acc[3, jo]
            if math.isnan(sr + si + p1 + p2):
                dsr, dsi, dp1, dp2, n = _masked_window(ref, ldr, sec, lds, i0, i0 + az, jo * rg,
                                                        jo * rg + rg)
                if n == 0:
                    ifg[io, jo] = complex(nan, nan)
                    coh[io, jo] = nan
                else:
                    ifg[io, jo] = complex(dsr / n, dsi / n)
                    d = dp1 * dp2
                    coh[io, jo] = min(math.sqrt((dsr * dsr + dsi * dsi) / d), 1.0) if d > 0 else nan
            else:
                ifg[io, jo] = complex(sr * inv, si * inv)
                # float32 (3.5 ms faster per burst than float64); overflows only for window
                # power sums beyond ~1e19, far above int16 DNs (|DN|² <= 2.1e9 per pixel)
                d = p1 * p2
                if d > 0:
                    coh[io, jo] = min(math.sqrt((sr * sr + si * si) / d), np.float32(1.0))
                else:
                    coh[io, jo] = nan


def interferogram_and_coherence(
    ref: np.ndarray, sec: np.ndarray, looks: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Multilooked interferogram and coherence over non-overlapping boxcar windows.

    Parameters
    ----------
    ref, sec : numpy.ndarray
        Co-registered complex images, complex64, 2-D, same shape (lines, samples). NaN marks
        pixels without data (for instance outside the valid burst window of a CSLC). Views
        whose lines are contiguous (a window of a larger C-order image) are read in place;
        other layouts are copied once.
    looks : tuple of int
        Window size (azimuth lines, range samples), both >= 1. Windows do not overlap: output
        pixel (I, J) covers input lines ``I*az … I*az+az-1`` and samples ``J*rg … J*rg+rg-1``.
        Trailing lines/samples that do not fill a whole window are dropped.

    Returns
    -------
    ifg : numpy.ndarray
        complex64, shape (lines // az, samples // rg): mean of ``ref · conj(sec)`` over the
        valid pixels of each window (same units as ``ref · conj(sec)``, i.e. DN² for raw SLCs).
    coh : numpy.ndarray
        float32, same shape: ``|Σ ref·conj(sec)| / sqrt(Σ|ref|² Σ|sec|²)`` in [0, 1].

    Notes
    -----
    Pixels with a NaN in ``ref`` or ``sec`` are ignored; a window with no valid pixel (or
    zero power) gives NaN. Sums are accumulated in float32 (relative error ~1e-6 for typical
    looks; window power sums must stay below ~1e19, which int16 DNs always do), falling back
    to float64 for windows that contain NaNs.

    Raises
    ------
    ValueError
        If the dtypes or shapes differ from the above, or the window is larger than the image.
    """
    (rb, ldr), (sb, lds), shape = _checks.complex_pair(ref, sec)
    az, rg, ny, nx = _checks.looked(shape, looks)
    ifg = np.empty((ny, nx), dtype=np.complex64)
    coh = np.empty((ny, nx), dtype=np.float32)
    _interferogram(rb, ldr, sb, lds, az, rg, ifg, coh)
    return ifg, coh


