"""Interferogram formation and coherence estimation (boxcar, NaN-aware).

Conventions shared by both estimators, for two co-registered complex images ``ref`` and
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
def _line_groups(r, s, acc, nx, rg, first):  # pragma: no cover - numba
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
def _masked_window(ref, sec, i0, i1, j0, j1):  # pragma: no cover - numba
    """Sum over the valid pixels of ref[i0:i1, j0:j1] (float64); also return their count."""
    sr = 0.0
    si = 0.0
    p1 = 0.0
    p2 = 0.0
    n = 0
    for i in range(i0, i1):
        for j in range(j0, j1):
            a = ref[i, j]
            b = sec[i, j]
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
def _interferogram(ref, sec, az, rg, ifg, coh):  # pragma: no cover - numba
    """Fill ``ifg`` (complex64) and ``coh`` (float32), both (ny // az, nx // rg).

    One pass over the inputs: each output row sums its ``az`` input lines group by group
    without NaN tests; a window whose sums come out NaN (rare: masked pixels) is summed again
    pixel by pixel, skipping the invalid ones.
    """
    ny, nx = ifg.shape
    inv = np.float32(1.0 / (az * rg))
    nan = np.float32(np.nan)
    for io in numba.prange(ny):
        acc = np.empty((4, nx), dtype=np.float32)
        i0 = io * az
        for i in range(i0, i0 + az):
            _line_groups(ref[i], sec[i], acc, nx, rg, i == i0)
        for jo in range(nx):
            sr = acc[0, jo]
            si = acc[1, jo]
            p1 = acc[2, jo]
            p2 = acc[3, jo]
            if math.isnan(sr + si + p1 + p2):
                dsr, dsi, dp1, dp2, n = _masked_window(ref, sec, i0, i0 + az, jo * rg, jo * rg + rg)
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


def interferogram(
    ref: np.ndarray, sec: np.ndarray, looks: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Multilooked interferogram and coherence over non-overlapping boxcar windows.

    Parameters
    ----------
    ref, sec : numpy.ndarray
        Co-registered complex images, complex64, 2-D, same shape (lines, samples). NaN marks
        pixels without data (for instance outside the valid burst window of a CSLC).
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
    r = _checks.array(ref, "ref", [np.complex64], ndim=2)
    s = _checks.array(sec, "sec", [np.complex64], ndim=2)
    if r.shape != s.shape:
        raise ValueError(f"ref and sec must have the same shape, got {r.shape} and {s.shape}")
    az, rg = _checks.pair(looks, "looks")
    ny, nx = r.shape[0] // az, r.shape[1] // rg
    if ny == 0 or nx == 0:
        raise ValueError(f"looks {(az, rg)} are larger than the image shape {r.shape}")
    ifg = np.empty((ny, nx), dtype=np.complex64)
    coh = np.empty((ny, nx), dtype=np.float32)
    _interferogram(r, s, az, rg, ifg, coh)
    return ifg, coh


@numba.njit(cache=True)
def _box_row(r, s, hx, q, out):  # pragma: no cover - numba
    """Compute the horizontal box sums of one line.

    ``out[:, j]`` = sums over samples j-hx … j+hx (clipped to the line) of Re, Im of
    r·conj(s), |r|², |s|² and the valid-pixel count. ``q`` (5, nx) is scratch space.
    """
    nx = r.shape[0]
    for j in range(nx):  # branch-free, vectorises
        a = r[j]
        b = s[j]
        ar = np.float64(a.real)
        ai = np.float64(a.imag)
        br = np.float64(b.real)
        bi = np.float64(b.imag)
        t = ar + ai + br + bi
        ok = t == t  # False if any part is NaN
        ar = ar if ok else 0.0
        ai = ai if ok else 0.0
        br = br if ok else 0.0
        bi = bi if ok else 0.0
        q[0, j] = ar * br + ai * bi
        q[1, j] = ai * br - ar * bi
        q[2, j] = ar * ar + ai * ai
        q[3, j] = br * br + bi * bi
        q[4, j] = 1.0 if ok else 0.0
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    s4 = 0.0
    for j in range(min(hx, nx)):
        s0 += q[0, j]
        s1 += q[1, j]
        s2 += q[2, j]
        s3 += q[3, j]
        s4 += q[4, j]
    for j in range(nx):
        k = j + hx
        if k < nx:
            s0 += q[0, k]
            s1 += q[1, k]
            s2 += q[2, k]
            s3 += q[3, k]
            s4 += q[4, k]
        k = j - hx - 1
        if k >= 0:
            s0 -= q[0, k]
            s1 -= q[1, k]
            s2 -= q[2, k]
            s3 -= q[3, k]
            s4 -= q[4, k]
        out[0, j] = s0
        out[1, j] = s1
        out[2, j] = s2
        out[3, j] = s3
        out[4, j] = s4


@numba.njit(cache=True)
def _add_rows(acc, row, sign):  # pragma: no cover - numba
    for k in range(acc.shape[0]):
        for j in range(acc.shape[1]):
            acc[k, j] += sign * row[k, j]


@numba.njit(cache=True)
def _coherence_block(ref, sec, hy, hx, i_start, i_end, coh):  # pragma: no cover - numba
    """Fill output rows ``i_start … i_end-1`` of the sliding-window coherence.

    Keeps the horizontal box sums of the ``2*hy+1`` lines of the current window in a ring
    buffer and a running vertical sum of them (float64).
    """
    ny, nx = ref.shape
    wy = 2 * hy + 1
    nan = np.float32(np.nan)
    q = np.empty((5, nx), dtype=np.float64)
    ring = np.empty((wy, 5, nx), dtype=np.float64)
    vs = np.zeros((5, nx), dtype=np.float64)
    for i in range(max(0, i_start - hy), min(ny, i_start + hy + 1)):
        _box_row(ref[i], sec[i], hx, q, ring[i % wy])
        _add_rows(vs, ring[i % wy], 1.0)
    for i in range(i_start, i_end):
        for j in range(nx):
            n = vs[4, j]
            d = vs[2, j] * vs[3, j]
            if n > 0.5 and d > 0:
                sr = vs[0, j]
                si = vs[1, j]
                coh[i, j] = min(math.sqrt((sr * sr + si * si) / d), 1.0)
            else:
                coh[i, j] = nan
        if i + 1 < i_end:
            # line i-hy leaves the window, line i+hy+1 enters it (same ring slot)
            if i - hy >= 0:
                _add_rows(vs, ring[(i - hy) % wy], -1.0)
                # Counts are exact; clear the rounding left by subtracting a window's last
                # valid pixels so that an empty window compares as empty.
                for j in range(nx):
                    if vs[4, j] < 0.5:
                        for k in range(5):
                            vs[k, j] = 0.0
            if i + hy + 1 < ny:
                _box_row(ref[i + hy + 1], sec[i + hy + 1], hx, q, ring[(i + hy + 1) % wy])
                _add_rows(vs, ring[(i + hy + 1) % wy], 1.0)


@numba.njit(cache=True, parallel=True)
def _coherence(ref, sec, hy, hx, block, coh):  # pragma: no cover - numba
    """Sliding-window coherence, blocks of ``block`` output rows in parallel."""
    ny = ref.shape[0]
    nblocks = (ny + block - 1) // block
    for b in numba.prange(nblocks):
        _coherence_block(ref, sec, hy, hx, b * block, min(ny, b * block + block), coh)


def coherence(ref: np.ndarray, sec: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """Coherence magnitude with a sliding (centred) boxcar window, same size as the inputs.

    Parameters
    ----------
    ref, sec : numpy.ndarray
        Co-registered complex images, complex64, 2-D, same shape (lines, samples); NaN marks
        pixels without data.
    window : tuple of int
        Estimator window (azimuth lines, range samples), both odd: output pixel (i, j) uses
        lines ``i - wy//2 … i + wy//2`` and samples ``j - wx//2 … j + wx//2``. At the image
        edges the window is cut to the part inside the image.

    Returns
    -------
    numpy.ndarray
        float32, same shape as ``ref``: ``|Σ ref·conj(sec)| / sqrt(Σ|ref|² Σ|sec|²)`` over the
        valid pixels of each window, in [0, 1]; NaN where the window holds no valid pixel or
        zero power.

    Notes
    -----
    Running sums are kept in float64, so the cost per pixel does not depend on the window.

    Raises
    ------
    ValueError
        If the dtypes or shapes differ from the above, or a window size is even or < 1.
    """
    r = _checks.array(ref, "ref", [np.complex64], ndim=2)
    s = _checks.array(sec, "sec", [np.complex64], ndim=2)
    if r.shape != s.shape:
        raise ValueError(f"ref and sec must have the same shape, got {r.shape} and {s.shape}")
    wy, wx = _checks.pair(window, "window", odd=True)
    coh = np.empty(r.shape, dtype=np.float32)
    if r.size == 0:
        return coh
    _coherence(r, s, wy // 2, wx // 2, 64, coh)
    return coh
