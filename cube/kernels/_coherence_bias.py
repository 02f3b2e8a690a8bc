"""Bias removal for the sample coherence (Touzi et al. 1999): effective looks, E[γ̂], inversion.

The sample coherence γ̂ = |Σ r·s*| / √(Σ|r|² Σ|s|²) over L independent looks is biased
upwards, most where the true coherence γ is low: E[γ̂ | γ = 0] = Γ(L) Γ(3/2) / Γ(L + 1/2)
≈ √(π / 4L). Its mean is (Touzi, Lopes, Bruniquel & Vachon 1999, IEEE TGRS 37(1), eq. 17;
Hanssen 2001, "Radar Interferometry", § 4.4.3)::

    E[γ̂] = Γ(L) Γ(3/2) / Γ(L + 1/2) · ₃F₂(3/2, L, L; L + 1/2, 1; γ²) · (1 − γ²)^L

:func:`remove_coherence_bias` inverts that curve (the bias-removal lookup of both references):
the estimate is the γ whose E[γ̂] equals the measured γ̂, 0 below E[γ̂ | 0]. L is the
*effective* number of looks: oversampled pixels are not independent, so L < the window's
pixel count; :func:`effective_looks` measures it from the data.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from . import _checks

#: The γ axis of the lookup table: 0 … GAMMA_MAX in GAMMA_STEPS steps. Above GAMMA_MAX the
#: bias is below 1e-5 for L ≥ 1, and γ̂ is returned unchanged.
GAMMA_MAX = 0.999
GAMMA_STEPS = 1000
#: The looks axis: L = 2^(k / LOOKS_PER_OCTAVE), k = 0, 1, … (linear interpolation in log2 L).
LOOKS_PER_OCTAVE = 16
#: Lags of the autocorrelation that :func:`effective_looks` sums, each way (within the window).
MAX_LAG = 3


@numba.njit(cache=True)
def _expected(looks: float, gamma: float) -> float:  # pragma: no cover - numba
    """E[γ̂] for ``looks`` independent looks and true coherence ``gamma`` (Touzi 1999, eq. 17).

    The ₃F₂ series summed in log space (its terms grow like (1 − γ²)^−L before they decay);
    stops 40 e-folds below its largest term once the terms decrease.
    """
    front = math.lgamma(looks) + math.lgamma(1.5) - math.lgamma(looks + 0.5)
    z = gamma * gamma
    if z == 0.0:
        return math.exp(front)
    log_z = math.log(z)
    log_t = front + looks * math.log1p(-z)
    peak = log_t
    total = 0.0
    k = 0
    while k < 100_000_000:
        total += math.exp(log_t)
        step = (math.log(1.5 + k) + 2.0 * math.log(looks + k) - math.log(looks + 0.5 + k)
                - 2.0 * math.log(1.0 + k) + log_z)
        log_t += step
        peak = max(peak, log_t)
        k += 1
        if step < 0.0 and log_t < peak - 40.0:
            break
    return total


@numba.njit(cache=True, parallel=True)
def _fill_table(looks: np.ndarray, gammas: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    for i in numba.prange(looks.size):
        for j in range(gammas.size):
            out[i, j] = _expected(looks[i], gammas[j])


def expected_sample_coherence(gamma: np.ndarray, looks: float) -> np.ndarray:
    """Mean of the sample coherence over ``looks`` independent looks (Touzi et al. 1999, eq. 17).

    Parameters
    ----------
    gamma : numpy.ndarray
        True coherence, float64, 1-D, each in [0, 1).
    looks : float
        Number of independent looks L ≥ 1 (need not be an integer).

    Returns
    -------
    numpy.ndarray
        float64, shape of ``gamma``: E[γ̂] in (0, 1].
    """
    g = _checks.vector(gamma, "gamma")
    if np.any((g < 0) | (g >= 1)):
        raise ValueError("gamma must hold values in [0, 1)")
    n = _checks.scalar(looks, "looks", positive=True)
    if n < 1:
        raise ValueError(f"looks must be >= 1, got {looks!r}")
    out = np.empty((1, g.size), dtype=np.float64)
    _fill_table(np.array([n]), g, out)
    return np.asarray(out[0])


def _table(max_looks: float) -> np.ndarray:
    """E[γ̂] (nL, GAMMA_STEPS) for L = 2^(k / LOOKS_PER_OCTAVE) from 1 to at least ``max_looks``."""
    return _cached_table(int(math.ceil(math.log2(max(max_looks, 1.0)) * LOOKS_PER_OCTAVE)) + 2)


_TABLES: dict[int, np.ndarray] = {}


def _cached_table(rows: int) -> np.ndarray:
    """E[γ̂] for the first ``rows`` looks of the axis; rows made once per process."""
    have = max((n for n in _TABLES), default=0)
    if have >= rows:
        return _TABLES[have][:rows]
    looks = 2.0 ** (np.arange(rows) / LOOKS_PER_OCTAVE)
    gammas = np.linspace(0.0, GAMMA_MAX, GAMMA_STEPS)
    table = np.empty((rows, GAMMA_STEPS), dtype=np.float64)
    if have:
        table[:have] = _TABLES[have]
    _fill_table(looks[have:], gammas, table[have:])
    _TABLES.clear()
    _TABLES[rows] = table
    return table


@numba.njit(cache=True)
def _invert_row(row: np.ndarray, value: float, step: float) -> float:  # pragma: no cover - numba
    """The γ whose E[γ̂] (``row``, increasing, γ = index·step) equals ``value``."""
    n = row.size
    if value <= row[0]:
        return 0.0
    if value >= row[n - 1]:
        return value
    lo = 0
    hi = n - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if row[mid] <= value:
            lo = mid
        else:
            hi = mid
    frac = (value - row[lo]) / (row[hi] - row[lo])
    return float((lo + frac) * step)


@numba.njit(cache=True)
def _debias(coh: np.ndarray, looks: np.ndarray, table: np.ndarray, per_octave: int, step: float,
            out: np.ndarray) -> None:  # pragma: no cover - numba
    rows = table.shape[0]
    for i in range(coh.shape[0]):
        for j in range(coh.shape[1]):
            c = coh[i, j]
            n = looks[i, j]
            if math.isnan(c) or math.isnan(n):
                out[i, j] = np.nan
                continue
            x = min(max(math.log2(max(n, 1.0)) * per_octave, 0.0), rows - 1.0)
            r0 = min(int(x), rows - 2)
            w = x - r0
            g0 = _invert_row(table[r0], c, step)
            g1 = _invert_row(table[r0 + 1], c, step)
            out[i, j] = (1.0 - w) * g0 + w * g1


def remove_coherence_bias(coh: np.ndarray, looks: np.ndarray) -> np.ndarray:
    """Bias-removed coherence: the γ whose mean sample coherence E[γ̂ | γ, L] is ``coh``.

    Parameters
    ----------
    coh : numpy.ndarray
        Sample coherence, float32, 2-D (rows, cols), in [0, 1]; NaN where unknown.
    looks : numpy.ndarray
        Effective number of independent looks of each value, float32 or float64, same shape,
        ≥ 1 (smaller values count as 1); NaN gives NaN.

    Returns
    -------
    numpy.ndarray
        float32, same shape: 0 where ``coh`` ≤ E[γ̂ | 0, L]; ``coh`` itself above E[γ̂ | 0.999, L].
        The lookup is linear in γ (step 0.001) and in log2 L (1/16 octave).
    """
    c = _checks.array(coh, "coh", [np.float32], ndim=2)
    n = _checks.array(looks, "looks", [np.float32, np.float64], ndim=2).astype(np.float64)
    if n.shape != c.shape:
        raise ValueError(f"coh and looks must have the same shape, got {c.shape} and {n.shape}")
    out = np.empty(c.shape, dtype=np.float32)
    if c.size == 0:
        return out
    finite = n[np.isfinite(n)]
    table = _table(float(finite.max()) if finite.size else 1.0)
    _debias(c, n, table, LOOKS_PER_OCTAVE, GAMMA_MAX / (GAMMA_STEPS - 1), out)
    return out


@numba.njit(cache=True)
def _window_mean_removed(
    ref: np.ndarray, ldr: int, sec: np.ndarray, lds: int, ny: int, nx: int, wy: int, wx: int
) -> np.ndarray:  # pragma: no cover - numba
    """The cross product ref · conj(sec) (complex128, (ny, nx)) minus its estimator window mean.

    ``ref``, ``sec``: the images as 1-D complex64 buffers, line i starting at i·``ldr``
    (i·``lds``), read in place. 0 where z is invalid (NaN) or outside whole windows.
    """
    out = np.zeros((ny, nx), dtype=np.complex128)
    for io in range(ny // wy):
        for jo in range(nx // wx):
            acc = 0.0 + 0.0j
            n = 0
            for i in range(io * wy, io * wy + wy):
                for j in range(jo * wx, jo * wx + wx):
                    v = np.complex128(ref[i * ldr + j]) * np.complex128(sec[i * lds + j]).conjugate()
                    if not (math.isnan(v.real) or math.isnan(v.imag)):
                        acc += v
                        n += 1
            if n < 2:
                continue
            mean = acc / n
            for i in range(io * wy, io * wy + wy):
                for j in range(jo * wx, jo * wx + wx):
                    v = np.complex128(ref[i * ldr + j]) * np.complex128(sec[i * lds + j]).conjugate()
                    if not (math.isnan(v.real) or math.isnan(v.imag)):
                        out[i, j] = v - mean
    return out


@numba.njit(cache=True)
def _lag_sum(d: np.ndarray, dy: int, dx: int) -> float:  # pragma: no cover - numba
    """Re Σ d[i, j] · conj(d[i + dy, j + dx]) over the pairs inside the array."""
    ny, nx = d.shape
    total = 0.0
    for i in range(max(0, -dy), min(ny, ny - dy)):
        for j in range(max(0, -dx), min(nx, nx - dx)):
            a = d[i, j]
            b = d[i + dy, j + dx]
            total += a.real * b.real + a.imag * b.imag
    return total


def effective_looks(ref: np.ndarray, sec: np.ndarray, window: tuple[int, int]) -> float:
    """Effective number of independent looks of a coherence window, measured from the data.

    The cross product z = ref · conj(sec) carries no TOPS carrier, so its spatial
    autocorrelation is the product of the two images' (the carrier-free speckle correlation
    that oversampling and interpolation leave). Over one window of N = wy·wx pixels the
    variance of Σ z is N² P / L with::

        L = N² / S,   S = Σ_(dy, dx) w(d) ρ(d),   w(d) = (wy − |dy|) (wx − |dx|)

    (N for independent pixels, N / k for pixels repeated k times). ρ is measured on z with
    each window's mean removed (the coherent part), for lags up to ``MAX_LAG`` each way (the
    speckle correlation is shorter); removing the mean lowers every pair of a window by the
    same c = S P / N², an offset undone in closed form: L = N² (1 − Q / N³) / S' + 1, with S'
    the measured sum and Q = Σ w(d)² over the lags summed.

    Parameters
    ----------
    ref, sec : numpy.ndarray
        Co-registered complex images, complex64, 2-D, same shape; NaN where invalid.
    window : tuple of int
        The estimator window (rows, cols).

    Returns
    -------
    float
        L in [1, N]; N where fewer than two whole windows hold valid pixels.
    """
    # views are read in place (``_checks.lines``); z = ref · conj(sec) is formed pixel by pixel
    (rb, ldr), (sb, lds), (rows, cols) = _checks.complex_pair(ref, sec)
    wy, wx = _checks.pair(window, "window")
    n = wy * wx
    d = _window_mean_removed(rb, ldr, sb, lds, rows, cols, wy, wx)
    var = _lag_sum(d, 0, 0)
    if not var > 0:
        return float(n)
    total = squares = 0.0
    for dy in range(-min(MAX_LAG, wy - 1), min(MAX_LAG, wy - 1) + 1):
        for dx in range(-min(MAX_LAG, wx - 1), min(MAX_LAG, wx - 1) + 1):
            weight = (wy - abs(dy)) * (wx - abs(dx))
            total += weight * (1.0 if dy == dx == 0 else _lag_sum(d, dy, dx) / var)
            squares += weight * weight
    if not total > 0:
        return float(n)
    return float(min(max(n * n * (1.0 - squares / n**3) / total + 1.0, 1.0), n))
