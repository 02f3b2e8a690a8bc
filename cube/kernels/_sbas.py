"""Small-baseline (SBAS) inversion: a phase history per pixel from a network of unwrapped pairs.

For each pixel, the unknowns are the phase of every date relative to the first,
``ψ_1 … ψ_{n-1}`` (``ψ_0 = 0``); each pair ``(i, j)`` observes ``φ_ij = ψ_j − ψ_i`` with weight
``w_ij``. The weighted least-squares solution solves the normal equations ``Aᵀ W A ψ = Aᵀ W φ``
by Cholesky. Pairs with a NaN observation (or zero weight) are left out pixel by pixel; a pixel
whose remaining pairs do not connect every date to the first has no unique solution: it is
NaN and flagged.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from . import _checks


@numba.njit(cache=True)
def _root(parent: np.ndarray, k: int) -> int:  # pragma: no cover - numba
    while parent[k] != k:
        parent[k] = parent[parent[k]]
        k = parent[k]
    return k


@numba.njit(cache=True, parallel=True)
def _sbas(phase: np.ndarray, weight: np.ndarray, pairs: np.ndarray, n_dates: int,
          history: np.ndarray, residual: np.ndarray, tcoh: np.ndarray,
          connected: np.ndarray) -> None:  # pragma: no cover - numba
    """Invert every pixel (column) of ``phase`` (pairs, pixels); fill the outputs in place."""
    n_pairs, n_pix = phase.shape
    m = n_dates - 1
    for p in numba.prange(n_pix):
        normal = np.zeros((m, m))
        rhs = np.zeros(m)
        parent = np.arange(n_dates)
        used = 0
        for k in range(n_pairs):
            y = phase[k, p]
            w = weight[k, p]
            if math.isnan(y) or not (w > 0.0):
                continue
            used += 1
            i = pairs[k, 0]
            j = pairs[k, 1]
            ri, rj = _root(parent, i), _root(parent, j)
            if ri != rj:
                parent[ri] = rj
            # row of A: −1 at date i, +1 at date j (date 0 is not an unknown)
            if j > 0:
                normal[j - 1, j - 1] += w
                rhs[j - 1] += w * y
            if i > 0:
                normal[i - 1, i - 1] += w
                rhs[i - 1] -= w * y
            if i > 0 and j > 0:
                normal[i - 1, j - 1] -= w
                normal[j - 1, i - 1] -= w
        r0 = _root(parent, 0)
        ok = used > 0
        for d in range(1, n_dates):
            if _root(parent, d) != r0:
                ok = False
        connected[p] = ok
        if not ok:
            for d in range(n_dates):
                history[d, p] = np.nan
            residual[p] = np.nan
            tcoh[p] = np.nan
            continue
        # Cholesky of the normal matrix (positive definite when the network is connected)
        chol = np.zeros((m, m))
        for a in range(m):
            s = normal[a, a]
            for c in range(a):
                s -= chol[a, c] * chol[a, c]
            if s <= 0.0:
                ok = False
                break
            chol[a, a] = math.sqrt(s)
            for b in range(a + 1, m):
                t = normal[b, a]
                for c in range(a):
                    t -= chol[b, c] * chol[a, c]
                chol[b, a] = t / chol[a, a]
        if not ok:
            connected[p] = False
            for d in range(n_dates):
                history[d, p] = np.nan
            residual[p] = np.nan
            tcoh[p] = np.nan
            continue
        z = np.zeros(m)
        for a in range(m):
            t = rhs[a]
            for c in range(a):
                t -= chol[a, c] * z[c]
            z[a] = t / chol[a, a]
        x = np.zeros(m)
        for a in range(m - 1, -1, -1):
            t = z[a]
            for c in range(a + 1, m):
                t -= chol[c, a] * x[c]
            x[a] = t / chol[a, a]
        history[0, p] = 0.0
        for d in range(m):
            history[d + 1, p] = x[d]
        sq, re, im = 0.0, 0.0, 0.0
        for k in range(n_pairs):
            y = phase[k, p]
            w = weight[k, p]
            if math.isnan(y) or not (w > 0.0):
                continue
            i = pairs[k, 0]
            j = pairs[k, 1]
            e = y - (history[j, p] - history[i, p])
            sq += e * e
            re += math.cos(e)
            im += math.sin(e)
        residual[p] = math.sqrt(sq / used)
        tcoh[p] = math.sqrt(re * re + im * im) / used


def sbas_invert(phase: np.ndarray, weight: np.ndarray, pairs: np.ndarray,
                n_dates: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weighted SBAS inversion of unwrapped pair phases, pixel by pixel.

    Parameters
    ----------
    phase : float32 or float64 (pairs, pixels), rad: the unwrapped phase of each pair,
        ``ψ_secondary − ψ_reference``; NaN where the pair has no value at that pixel.
    weight : same shape and dtype family, ≥ 0: the pair's weight at that pixel (1/variance);
        0 leaves the pair out.
    pairs : int (pairs, 2): date indices (reference, secondary), each in 0..n_dates-1, different.
    n_dates : the number of dates (≥ 2).

    Returns
    -------
    history : float64 (n_dates, pixels), rad: ψ of each date relative to the first (row 0 is 0);
        NaN where the pixel's pairs do not connect every date.
    residual : float64 (pixels,), rad: RMS of the pairs' misfit φ − (ψ_j − ψ_i).
    temporal_coherence : float64 (pixels,): |Σ exp(j·misfit)| / pairs used, in [0, 1].
    connected : bool (pixels,): whether the pixel's network connected every date.
    """
    ph = _checks.array(phase, "phase", (np.float32, np.float64), 2).astype(np.float64)
    wt = _checks.array(weight, "weight", (np.float32, np.float64), 2).astype(np.float64)
    if wt.shape != ph.shape:
        raise ValueError(f"weight must have the shape of phase {ph.shape}, got {wt.shape}")
    pr = np.ascontiguousarray(np.asarray(pairs, np.int64))
    if pr.ndim != 2 or pr.shape != (ph.shape[0], 2):
        raise ValueError(f"pairs must be ({ph.shape[0]}, 2) date indices, got shape {pr.shape}")
    if n_dates < 2:
        raise ValueError(f"n_dates must be at least 2, got {n_dates}")
    if pr.size and (pr.min() < 0 or pr.max() >= n_dates or np.any(pr[:, 0] == pr[:, 1])):
        raise ValueError(f"pairs must hold two different date indices in 0..{n_dates - 1}")
    if np.any(wt < 0):
        raise ValueError("weight must be >= 0")
    n_pix = ph.shape[1]
    history = np.empty((n_dates, n_pix))
    residual = np.empty(n_pix)
    tcoh = np.empty(n_pix)
    connected = np.empty(n_pix, np.bool_)
    _sbas(ph, wt, pr, n_dates, history, residual, tcoh, connected)
    return history, residual, tcoh, connected


def phase_weight(coherence: np.ndarray, looks: int) -> np.ndarray:
    """Inverse phase variance ``2L·γ² / (1 − γ²)`` (Cramér–Rao bound) of a coherence, float64.

    ``coherence`` in [0, 1] (NaN → 0 weight), clipped to [0.05, 0.995]; ``looks`` ≥ 1: the
    independent looks L of the estimate.
    """
    g = np.clip(np.nan_to_num(np.asarray(coherence, np.float64), nan=0.0), 0.05, 0.995)
    w = 2.0 * max(int(looks), 1) * g * g / (1.0 - g * g)
    return np.where(np.isnan(np.asarray(coherence, np.float64)), 0.0, w)
