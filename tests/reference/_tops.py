"""TOPS carrier in two steps (φ first, then the rotation): the reference for the fused
production kernels ``cube.kernels.tops_deramp`` and ``tops_reramp_at``.

Moved out of ``cube.kernels``: the products use only the fused passes. Conventions are in the
docstring of ``cube/kernels/_tops.py`` (deramp = × exp(+jφ), reramp = × exp(−jφ)).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from cube.kernels import _checks, tops_carrier_terms
from cube.kernels._tops import _cis


@numba.njit(cache=True)
def _phase_grid(eta, kt, eta_ref, fdc, out):  # pragma: no cover - numba
    """Compute φ on the burst grid (serial: memory-bound, ~40 ms per burst)."""
    ny, nx = out.shape
    for i in range(ny):
        e = eta[i]
        for j in range(nx):
            d = e - eta_ref[j]
            out[i, j] = -np.pi * kt[j] * d * d - 2.0 * np.pi * fdc[j] * d


def tops_carrier_phase(
    eta: np.ndarray,
    fdc: np.ndarray,
    ka: np.ndarray,
    *,
    velocity: float,
    steering_rate: float,
    wavelength: float,
    eta_c0: float | None = None,
) -> np.ndarray:
    """TOPS carrier phase φ(η, τ) on the burst grid (lines × samples).

    Parameters
    ----------
    eta : numpy.ndarray
        Zero-Doppler azimuth time of each line relative to the burst centre, s, 1-D (lines,).
    fdc : numpy.ndarray
        Doppler centroid f_ηc(τ_j) at each sample's slant-range time, Hz, 1-D (samples,).
        The first entry must be the burst's first sample (τ_0) unless ``eta_c0`` is given.
    ka : numpy.ndarray
        Azimuth FM rate k_a(τ_j), Hz/s, 1-D (samples,).
    velocity, steering_rate, wavelength : float
        Platform speed (m/s), azimuth steering rate (**rad/s**), radar wavelength (m).
    eta_c0 : float, optional
        ``−f_ηc(τ_0)/k_a(τ_0)`` when ``fdc``/``ka`` start elsewhere than the burst's first
        sample (e.g. for a range window of the burst).

    Returns
    -------
    numpy.ndarray
        float64 (lines, samples), radians: ``φ = −π k_t (η − η_ref)² − 2π f_ηc (η − η_ref)``.
        Deramp with ``deramp(slc, phi)`` (× exp(+jφ)), reramp with ``reramp(x, phi)``.
    """
    e = _checks.vector(eta, "eta")
    kt, eta_ref = tops_carrier_terms(
        fdc, ka, velocity=velocity, steering_rate=steering_rate, wavelength=wavelength,
        eta_c0=eta_c0,
    )
    f = _checks.vector(fdc, "fdc")
    out = np.empty((e.size, f.size), dtype=np.float64)
    _phase_grid(e, kt, eta_ref, f, out)
    return out


@numba.njit(cache=True, parallel=True)
def _phase_points_uniform(eta, tau, g0, inv_step, kt, eta_ref, fdc, out):  # pragma: no cover
    """Compute φ at scattered (η, τ) for a uniform τ grid ``g0 + j / inv_step``.

    k_t, η_ref and f_ηc are interpolated linearly in τ (extrapolated linearly from the end
    intervals). Branch-free so that it vectorises; NaN in η or τ propagates to the result.
    """
    m = kt.shape[0]
    for k in numba.prange(eta.shape[0]):
        g = (tau[k] - g0) * inv_step
        gc = g if g >= 0.0 else 0.0  # NaN -> 0, so the index below stays in bounds
        gc = gc if gc <= m - 2.0 else m - 2.0
        j = int(gc)
        w = g - j
        kt_ = kt[j] + w * (kt[j + 1] - kt[j])
        er = eta_ref[j] + w * (eta_ref[j + 1] - eta_ref[j])
        fd = fdc[j] + w * (fdc[j + 1] - fdc[j])
        d = eta[k] - er
        out[k] = -np.pi * kt_ * d * d - 2.0 * np.pi * fd * d


@numba.njit(cache=True)
def _phase_points(eta, tau, grid, kt, eta_ref, fdc, out):  # pragma: no cover - numba
    """Compute φ as :func:`_phase_points_uniform` does, for any increasing grid (m >= 2).

    Serial: non-uniform range grids are the exception (S-1 samples are uniform).
    """
    n = eta.shape[0]
    m = grid.shape[0]
    g0 = grid[0]
    step = (grid[m - 1] - g0) / (m - 1)
    for k in range(n):
        e = eta[k]
        t = tau[k]
        if math.isnan(e) or math.isnan(t):
            out[k] = np.nan
            continue
        # guess assuming a uniform grid, then walk to the bracketing interval
        g = (t - g0) / step
        if g < 0.0:
            j = 0
        elif g > m - 2:
            j = m - 2
        else:
            j = int(g)
        while j < m - 2 and grid[j + 1] <= t:
            j += 1
        while j > 0 and grid[j] > t:
            j -= 1
        w = (t - grid[j]) / (grid[j + 1] - grid[j])
        kt_ = kt[j] + w * (kt[j + 1] - kt[j])
        er = eta_ref[j] + w * (eta_ref[j + 1] - eta_ref[j])
        fd = fdc[j] + w * (fdc[j + 1] - fdc[j])
        d = e - er
        out[k] = -np.pi * kt_ * d * d - 2.0 * np.pi * fd * d


def tops_carrier_phase_at(
    eta: np.ndarray,
    tau: np.ndarray,
    *,
    tau_grid: np.ndarray,
    fdc: np.ndarray,
    ka: np.ndarray,
    velocity: float,
    steering_rate: float,
    wavelength: float,
    eta_c0: float | None = None,
) -> np.ndarray:
    """TOPS carrier phase φ at scattered (η, τ) points.

    For instance at the fractional positions of a geocoded grid, to reramp after the sinc
    interpolation.

    Parameters
    ----------
    eta : numpy.ndarray
        float64, any shape: azimuth time relative to the burst centre, s. NaN = no data.
    tau : numpy.ndarray
        float64, same shape: two-way slant-range time, s. NaN = no data.
    tau_grid : numpy.ndarray
        1-D (m,), strictly increasing slant-range times at which ``fdc`` and ``ka`` are given
        (normally every sample of the burst; any spacing). ``tau_grid[0]`` is taken as the
        burst's first sample τ_0 unless ``eta_c0`` is given.
    fdc, ka : numpy.ndarray
        1-D (m,): Doppler centroid (Hz) and azimuth FM rate (Hz/s) at ``tau_grid``.
    velocity, steering_rate, wavelength : float
        Platform speed (m/s), azimuth steering rate (**rad/s**), radar wavelength (m).
    eta_c0 : float, optional
        ``−f_ηc(τ_0)/k_a(τ_0)``, see :func:`tops_carrier_terms`.

    Returns
    -------
    numpy.ndarray
        float64, shape of ``eta``: φ in radians (NaN where ``eta`` or ``tau`` is NaN).
        ``k_t``, ``η_ref`` and ``f_ηc`` are interpolated linearly in τ between grid points
        (extrapolated linearly outside), so at grid points the result equals
        :func:`tops_carrier_phase`.
    """
    e = _checks.array(eta, "eta", [np.float64])
    t = _checks.array(tau, "tau", [np.float64])
    if e.shape != t.shape:
        raise ValueError(f"eta and tau must have the same shape, got {e.shape} and {t.shape}")
    g = _checks.vector(tau_grid, "tau_grid")
    _checks.increasing(g, "tau_grid")
    f = _checks.vector(fdc, "fdc", size=g.size)
    kt, eta_ref = tops_carrier_terms(
        f, ka, velocity=velocity, steering_rate=steering_rate, wavelength=wavelength,
        eta_c0=eta_c0,
    )
    out = np.empty(e.shape, dtype=np.float64)
    if e.size == 0:
        return out
    if g.size == 1:  # constant terms: any grid spacing works
        g = np.array([g[0], g[0] + 1.0])
        kt, eta_ref, f = (np.repeat(v, 2) for v in (kt, eta_ref, f))
    step = (g[-1] - g[0]) / (g.size - 1)
    uniform = np.all(np.abs(g - (g[0] + step * np.arange(g.size))) <= 1e-6 * step)
    if uniform:
        _phase_points_uniform(e.reshape(-1), t.reshape(-1), g[0], 1.0 / step, kt, eta_ref, f,
                              out.reshape(-1))
    else:
        _phase_points(e.reshape(-1), t.reshape(-1), g, kt, eta_ref, f, out.reshape(-1))
    return out


@numba.njit(cache=True, parallel=True, fastmath={"contract"})
def _rotate(x, phase, sign, out):  # pragma: no cover - numba
    """Compute ``out = x · exp(j·sign·phase)`` elementwise over flat arrays.

    A plain prange loop, so that the body vectorises.
    """
    for k in numba.prange(x.shape[0]):
        co, si = _cis(phase[k])
        si = sign * si
        v = x[k]
        re = np.float64(v.real)
        im = np.float64(v.imag)
        out[k] = complex(re * co - im * si, re * si + im * co)


def _apply(x: np.ndarray, phase: np.ndarray, out: np.ndarray | None, sign: float,
           xname: str) -> np.ndarray:
    a = _checks.array(x, xname, [np.complex64])
    p = _checks.array(phase, "phase", [np.float64])
    if a.shape != p.shape:
        raise ValueError(f"{xname} and phase must have the same shape, got {a.shape} and {p.shape}")
    result = _checks.output(out, "out", a.shape, np.complex64)
    if a.size:
        _rotate(a.reshape(-1), p.reshape(-1), sign, result.reshape(-1))
    return result


def deramp(slc: np.ndarray, phase: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Deramp (and demodulate) a TOPS burst: ``slc · exp(+j·phase)``.

    Parameters
    ----------
    slc : numpy.ndarray
        complex64, any shape (normally a burst or a window of it, lines × samples).
    phase : numpy.ndarray
        float64, same shape: the carrier phase φ in radians, from :func:`tops_carrier_phase`
        (or :func:`tops_carrier_phase_at`). NaN gives NaN+NaNj.
    out : numpy.ndarray, optional
        complex64 output of the same shape; ``out=slc`` works in place.

    Returns
    -------
    numpy.ndarray
        complex64, the deramped image (spectrum centred on 0 Hz in azimuth).
    """
    return _apply(slc, phase, out, 1.0, "slc")


def reramp(data: np.ndarray, phase: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Restore the TOPS carrier after interpolation: ``data · exp(−j·phase)``.

    Parameters
    ----------
    data : numpy.ndarray
        complex64, any shape: deramped values, e.g. :func:`resample` output.
    phase : numpy.ndarray
        float64, same shape: φ at the positions of ``data`` (:func:`tops_carrier_phase_at`).
    out : numpy.ndarray, optional
        complex64 output of the same shape; ``out=data`` works in place.

    Returns
    -------
    numpy.ndarray
        complex64, ``data · exp(−jφ)``; ``reramp(deramp(x, φ), φ)`` equals ``x`` to float32
        rounding.
    """
    return _apply(data, phase, out, -1.0, "data")


