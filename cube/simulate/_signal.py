"""Signal generation: band-limited speckle, windowed-sinc resampling and TOPS burst assembly."""

from __future__ import annotations

import numba
import numpy as np
import scipy.fft

from ._constants import WINDOW_COEFFICIENT

KERNEL_TAPS = 12
KERNEL_BINS = 2048


def hamming_band(n: int, ratio: float) -> np.ndarray:
    """Amplitude response (n,) of a generalised Hamming window (coefficient 0.75, as the IPF).

    The window spans ``ratio`` of the sampling frequency, centred on 0 (FFT frequency order).
    """
    f = scipy.fft.fftfreq(n)
    half = ratio / 2
    w = WINDOW_COEFFICIENT + (1 - WINDOW_COEFFICIENT) * np.cos(np.pi * f / half)
    return np.where(np.abs(f) <= half, w, 0.0)


def bandlimited_field(shape: tuple[int, int], ratios: tuple[float, float],
                      rng: np.random.Generator) -> np.ndarray:
    """Unit-variance circular complex Gaussian field: complex64, ``shape`` = lines × samples.

    Its azimuth/range spectra are Hamming-weighted over ``ratios`` of the sampling rates. It is
    made on the next FFT-friendly size (``scipy.fft.next_fast_len``) and cropped to ``shape``.
    """
    big = (scipy.fft.next_fast_len(shape[0]), scipy.fft.next_fast_len(shape[1]))
    white = rng.standard_normal((*big, 2), dtype=np.float32).view(np.complex64)[..., 0]
    spec = scipy.fft.fft2(white, workers=-1, overwrite_x=True)
    del white
    h_az = hamming_band(big[0], ratios[0]).astype(np.float32)
    h_rg = hamming_band(big[1], ratios[1]).astype(np.float32)
    spec *= h_az[:, None]
    spec *= h_rg[None, :]
    spec = scipy.fft.ifft2(spec, workers=-1, overwrite_x=True)
    power = np.mean(h_az**2) * np.mean(h_rg**2) * 2.0  # white has variance 2 (re + im)
    field = np.array(spec[: shape[0], : shape[1]], dtype=np.complex64)
    del spec
    field *= np.float32(1.0 / np.sqrt(power))
    return field


def sinc_kernel_table(taps: int = KERNEL_TAPS, bins: int = KERNEL_BINS, beta: float = 6.0) -> np.ndarray:
    """Kaiser-windowed sinc weights (bins + 1, taps) float32 for fractional shifts in [0, 1].

    Row i interpolates at x = floor + i / bins using samples floor − taps/2 + 1 … floor + taps/2.
    """
    frac = np.arange(bins + 1) / bins
    k = np.arange(-taps // 2 + 1, taps // 2 + 1)
    x = frac[:, None] - k[None, :]
    arg = np.clip(1.0 - (x / (taps / 2)) ** 2, 0.0, None)
    w = np.sinc(x) * np.i0(beta * np.sqrt(arg)) / np.i0(beta)
    w /= w.sum(axis=1, keepdims=True)
    return w.astype(np.float32)


@numba.njit(parallel=True, cache=True, fastmath=True)
def _assemble(field, lref, sref, amp, phase, noise, eta, kt, eta_ref, fdc, first_valid,
              last_valid, table, out):  # pragma: no cover - numba
    n_lines, n_samples = lref.shape
    taps = table.shape[1]
    bins = table.shape[0] - 1
    half = taps // 2 - 1
    for i in numba.prange(n_lines):
        for j in range(n_samples):
            if first_valid[i] < 0 or j < first_valid[i] or j > last_valid[i]:
                out[i, j, 0] = 0
                out[i, j, 1] = 0
                continue
            y0 = int(np.floor(lref[i, j]))
            x0 = int(np.floor(sref[i, j]))
            wy = table[int(round((lref[i, j] - y0) * bins))]
            wx = table[int(round((sref[i, j] - x0) * bins))]
            acc_re = np.float32(0.0)
            acc_im = np.float32(0.0)
            for a in range(taps):
                row_re = np.float32(0.0)
                row_im = np.float32(0.0)
                yy = y0 - half + a
                for b in range(taps):
                    row_re += wx[b] * field[yy, x0 - half + b, 0]
                    row_im += wx[b] * field[yy, x0 - half + b, 1]
                acc_re += wy[a] * row_re
                acc_im += wy[a] * row_im
            # carrier terms at the ground point's reference-strip sample (linear interpolation)
            g = min(max(sref[i, j], 0.0), kt.shape[0] - 1.000001)
            k = int(g)
            w = g - k
            kt_ = kt[k] + w * (kt[k + 1] - kt[k])
            d = eta[i, j] - (eta_ref[k] + w * (eta_ref[k + 1] - eta_ref[k]))
            fd = fdc[k] + w * (fdc[k + 1] - fdc[k])
            psi = np.pi * kt_ * d * d + 2.0 * np.pi * fd * d
            sig = amp[i, j] * complex(acc_re, acc_im) * np.exp(1j * phase[i, j])
            val = (sig + noise[i, j]) * np.exp(1j * psi)
            out[i, j, 0] = np.int16(min(max(round(val.real), -32767.0), 32767.0))
            out[i, j, 1] = np.int16(min(max(round(val.imag), -32767.0), 32767.0))


def assemble_burst(field: np.ndarray, lref: np.ndarray, sref: np.ndarray, amp: np.ndarray,
                   phase: np.ndarray, noise: np.ndarray, eta: np.ndarray, kt: np.ndarray,
                   eta_ref: np.ndarray, fdc: np.ndarray, first_valid: np.ndarray,
                   last_valid: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` (lines, samples, 2) int16 with one TOPS burst.

    pixel = (amp · field(lref, sref) · e^{j·phase} + noise) · e^{j·ψ(η, τ)},
    ψ = π kt (η − η_ref)² + 2π f_ηc (η − η_ref), with ``field`` (complex64, reference strip)
    interpolated by the windowed-sinc ``table`` at fractional positions ``lref``/``sref``
    (lines, samples); ``eta`` (lines, samples) s. ``kt``/``eta_ref``/``fdc`` are given per
    reference-strip sample (strip samples,) and taken at ``sref``: ψ is a function of the ground
    point, the same for every date. Zero outside [first_valid, last_valid] of each line (−1: whole
    line invalid).
    """
    half = table.shape[1] // 2
    if (lref.min() < half or sref.min() < half or lref.max() >= field.shape[0] - half
            or sref.max() >= field.shape[1] - half):
        raise ValueError("interpolation window leaves the reference strip")
    _assemble(field.view(np.float32).reshape(*field.shape, 2), lref, sref, amp, phase, noise, eta,
              kt, eta_ref, fdc, first_valid, last_valid, table, out)


def tops_carrier_terms(tau: np.ndarray, tau_first: float, dc_coeffs: np.ndarray, dc_t0: float,
                       fm_coeffs: np.ndarray, fm_t0: float, speed: float, steering_rate_rad: float,
                       wavelength: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Range-dependent TOPS terms (S1-TN-MDA-52-7445) for two-way slant range times ``tau`` (n,) s.

    Returns kt (Hz/s), η_ref (s) and f_ηc (Hz), each (n,).

    ks = 2 v k_ψ / λ; ka(τ), f_ηc(τ) polynomials in τ − t0; kt = ka ks / (ka − ks);
    η_c = −f_ηc / ka; η_ref = η_c(τ) − η_c(``tau_first``), ``tau_first`` the burst's first sample.
    """
    ks = 2.0 * speed * steering_rate_rad / wavelength

    def eta_c(t: np.ndarray) -> np.ndarray:
        return -np.polynomial.polynomial.polyval(t - dc_t0, dc_coeffs) / np.polynomial.polynomial.polyval(
            t - fm_t0, fm_coeffs)

    ka = np.polynomial.polynomial.polyval(tau - fm_t0, fm_coeffs)
    fdc = np.polynomial.polynomial.polyval(tau - dc_t0, dc_coeffs)
    kt = ka * ks / (ka - ks)
    return kt, eta_c(tau) - eta_c(np.array([tau_first]))[0], fdc


@numba.njit(parallel=True, cache=True)
def _rows_kernel(by, idx, w, out):  # pragma: no cover - numba
    for i in numba.prange(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (w[i, 0] * by[idx[i, 0], j] + w[i, 1] * by[idx[i, 1], j]
                         + w[i, 2] * by[idx[i, 2], j] + w[i, 3] * by[idx[i, 3], j])


def spline_rows(by: np.ndarray, idx: np.ndarray, w: np.ndarray) -> np.ndarray:
    """float64 (rows, samples): Σ_k w[i, k] · by[idx[i, k]] (4 B-spline weights a row).

    ``by`` (coefficients, samples) float64, ``idx`` (rows, 4) int, ``w`` (rows, 4) float64.
    """
    out = np.empty((idx.shape[0], by.shape[1]), np.float64)
    _rows_kernel(by, idx.astype(np.int64), w, out)
    return out


@numba.njit(parallel=True, cache=True)
def _mix_kernel(fields, mix, coef, out):  # pragma: no cover - numba
    n_fields = coef.shape[1]
    for i in numba.prange(out.shape[0]):
        for j in range(out.shape[1]):
            re = np.float32(0.0)
            im = np.float32(0.0)
            norm = np.float32(0.0)
            for f in range(n_fields):
                c = coef[0, f] * mix[0, i, j] + coef[1, f] * mix[1, i, j] + coef[2, f] * mix[2, i, j]
                v = fields[f, i, j]
                re += c * v.real
                im += c * v.imag
                norm += c * c
            s = np.float32(1.0) / np.sqrt(norm)
            out[i, j] = complex(re * s, im * s)


def mix_fields(fields: np.ndarray, mix: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Mixed field u = Σ_f c_f z_f / √(Σ_f c_f²), c_f = Σ_r mix_r · coef[r, f]: complex64 (lines, samples).

    ``fields`` (≥ F, lines, samples) complex64 unit fields z_f, ``mix`` (3, lines, samples)
    float32 land-cover mixing weights, ``coef`` (3, F) float32.
    """
    out = np.empty(fields.shape[1:], np.complex64)
    _mix_kernel(fields, mix, np.ascontiguousarray(coef, np.float32), out)
    return out


@numba.njit(parallel=True, cache=True)
def _moments_kernel(pairs, acc):  # pragma: no cover - numba
    for i in numba.prange(pairs.shape[0]):
        for j in range(pairs.shape[1]):
            re = np.float64(pairs[i, j, 0])
            im = np.float64(pairs[i, j, 1])
            if re != 0.0 or im != 0.0:
                acc[i, 0] += 1.0
                acc[i, 1] += re
                acc[i, 2] += im
                acc[i, 3] += re * re
                acc[i, 4] += im * im


def nonzero_moments(pairs: np.ndarray) -> tuple[float, float, float, float]:
    """Mean and standard deviation of the non-zero pixels of ``pairs`` (lines, samples, 2) int16.

    Returns (mean re, mean im, std re, std im) over the pixels that are not 0 + 0j.
    """
    acc = np.zeros((pairs.shape[0], 5), np.float64)
    _moments_kernel(pairs, acc)
    n, s_re, s_im, q_re, q_im = acc.sum(axis=0)
    m_re, m_im = s_re / n, s_im / n
    return (m_re, m_im, float(np.sqrt(max(q_re / n - m_re**2, 0.0))),
            float(np.sqrt(max(q_im / n - m_im**2, 0.0))))
