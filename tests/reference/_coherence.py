"""Coherence with a sliding (centred) boxcar window, same size as the inputs.

Moved out of ``cube.kernels``: the coherence product uses the non-overlapping windows of
``cube.kernels.interferogram_and_coherence``. At the centre of each of those windows the two
estimators agree, which the kernel tests check.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from cube.kernels import _checks


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


def sliding_coherence(ref: np.ndarray, sec: np.ndarray, window: tuple[int, int]) -> np.ndarray:
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


