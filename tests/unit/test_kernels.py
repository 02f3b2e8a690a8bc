"""cube.kernels against slow, obviously-correct numpy references, and against physics.

The two-step TOPS carrier, the sliding-window coherence and the radar-grid calibration are
references in ``tests/reference`` (no product uses them); they are checked here too.

Arrays are small so the whole module runs in seconds once numba has compiled (cold compile
of every kernel is most of its time).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator

from cube import kernels as K
from tests import reference as R

RNG_SEED = 20240611


def _cplx(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    return (scale * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))).astype(
        np.complex64
    )


def _correlated_pair(rng, shape, nan_fraction=0.05):
    """Two complex64 images with partial correlation, a phase ramp and NaN holes (in the
    real part only, in both parts, and a fully masked block)."""
    ref = _cplx(rng, shape)
    sec = (0.7 * ref * np.exp(1j * np.linspace(0, 3, shape[1]))[None, :] + _cplx(rng, shape, 0.5))
    sec = sec.astype(np.complex64)
    holes = rng.random(shape) < nan_fraction
    ref[holes] = np.nan  # NaN + 0j: only the real part is NaN
    sec[rng.random(shape) < nan_fraction] = complex(np.nan, np.nan)
    ref[:4, :9] = complex(np.nan, np.nan)  # a block with no valid pixel at all
    return ref, sec


def _valid(ref, sec):
    return ~(np.isnan(ref.real) | np.isnan(ref.imag) | np.isnan(sec.real) | np.isnan(sec.imag))


# --------------------------------------------------------------------------- interferogram


def ref_interferogram(ref, sec, looks):
    """Loop over windows, complex128 sums over the valid pixels."""
    az, rg = looks
    ny, nx = ref.shape[0] // az, ref.shape[1] // rg
    ifg = np.full((ny, nx), complex(np.nan, np.nan), dtype=np.complex128)
    coh = np.full((ny, nx), np.nan)
    for i in range(ny):
        for j in range(nx):
            r = ref[i * az:(i + 1) * az, j * rg:(j + 1) * rg].astype(np.complex128)
            s = sec[i * az:(i + 1) * az, j * rg:(j + 1) * rg].astype(np.complex128)
            m = _valid(r, s)
            if not m.any():
                continue
            p = np.sum(r[m] * np.conj(s[m]))
            ifg[i, j] = p / m.sum()
            d = np.sum(np.abs(r[m]) ** 2) * np.sum(np.abs(s[m]) ** 2)
            if d > 0:
                coh[i, j] = abs(p) / np.sqrt(d)
    return ifg, coh


@pytest.mark.parametrize(
    "shape, looks",
    [((37, 53), (3, 5)), ((40, 64), (2, 8)), ((17, 19), (1, 1)), ((12, 30), (12, 30)),
     ((25, 41), (4, 1)), ((9, 70), (1, 7))],
)
def test_interferogram_matches_reference(shape, looks):
    rng = np.random.default_rng(RNG_SEED)
    ref, sec = _correlated_pair(rng, shape)
    ifg, coh = K.interferogram_and_coherence(ref, sec, looks)
    want_ifg, want_coh = ref_interferogram(ref, sec, looks)
    assert ifg.dtype == np.complex64 and coh.dtype == np.float32
    assert ifg.shape == (shape[0] // looks[0], shape[1] // looks[1]) == coh.shape
    np.testing.assert_array_equal(np.isnan(coh), np.isnan(want_coh))
    np.testing.assert_array_equal(np.isnan(ifg.real), np.isnan(want_ifg.real))
    np.testing.assert_allclose(coh, want_coh, rtol=2e-5, atol=2e-6, equal_nan=True)
    np.testing.assert_allclose(ifg, want_ifg, rtol=2e-5, atol=2e-5, equal_nan=True)
    assert np.nanmax(coh) <= 1.0 and np.nanmin(coh) >= 0.0


def test_interferogram_phase_sign_and_full_coherence():
    rng = np.random.default_rng(1)
    ref = _cplx(rng, (8, 16))
    sec = (ref * np.exp(-1j * 0.7)).astype(np.complex64)  # ref · conj(sec) = |ref|² e^{+0.7j}
    ifg, coh = K.interferogram_and_coherence(ref, sec, (4, 4))
    np.testing.assert_allclose(np.angle(ifg), 0.7, atol=1e-5)
    np.testing.assert_allclose(coh, 1.0, atol=1e-5)
    # the mean over the window, not the sum
    power = (np.abs(ref.astype(np.complex128)) ** 2).reshape(2, 4, 4, 4).mean(axis=(1, 3))
    np.testing.assert_allclose(ifg, power * np.exp(0.7j), rtol=1e-5)


def test_interferogram_all_nan_and_zero_windows():
    ref = np.full((4, 4), complex(np.nan, np.nan), dtype=np.complex64)
    ifg, coh = K.interferogram_and_coherence(ref, ref.copy(), (2, 2))
    assert np.isnan(ifg.real).all() and np.isnan(ifg.imag).all() and np.isnan(coh).all()
    z = np.zeros((4, 4), dtype=np.complex64)
    ifg, coh = K.interferogram_and_coherence(z, z, (2, 2))
    assert np.all(ifg == 0) and np.isnan(coh).all()


def test_interferogram_rejects_bad_input():
    a = np.zeros((8, 8), np.complex64)
    with pytest.raises(ValueError, match="ref must have dtype complex64"):
        K.interferogram_and_coherence(a.astype(np.complex128), a, (2, 2))
    with pytest.raises(ValueError, match="sec must be 2-D"):
        K.interferogram_and_coherence(a, a[0], (2, 2))
    with pytest.raises(ValueError, match="same shape"):
        K.interferogram_and_coherence(a, a[:4], (2, 2))
    for bad in [(0, 2), (2,), (2, 2, 2), (True, 2), (1.5, 2), "ab"]:
        with pytest.raises(ValueError, match="looks"):
            K.interferogram_and_coherence(a, a, bad)
    with pytest.raises(ValueError, match="larger than the image"):
        K.interferogram_and_coherence(a, a, (9, 1))


def test_interferogram_accepts_non_contiguous_views():
    rng = np.random.default_rng(2)
    ref, sec = _correlated_pair(rng, (30, 40))
    ifg, coh = K.interferogram_and_coherence(ref[::2, 1:], sec[::2, 1:], (3, 3))
    want_ifg, want_coh = ref_interferogram(ref[::2, 1:], sec[::2, 1:], (3, 3))
    np.testing.assert_allclose(coh, want_coh, rtol=2e-5, atol=2e-6, equal_nan=True)


_VIEWS = {
    "last columns dropped": lambda a: a[:, :-5],
    "inner window": lambda a: a[3:-4, 7:-2],
    "one line": lambda a: a[5:6, 2:],
    "one column": lambda a: a[:, 4:5],
    "column step": lambda a: a[:, ::2],
    "line step": lambda a: a[::3, 1:],
    "Fortran order": lambda a: np.asfortranarray(a[:, 3:]),
    "reversed lines": lambda a: a[::-1, :],
}


@pytest.mark.parametrize("view", list(_VIEWS))
def test_interferogram_of_a_view_equals_that_of_its_copy(view):
    """Any layout gives the pixels of the same window copied to C order, bit for bit."""
    rng = np.random.default_rng(3)
    ref, sec = _correlated_pair(rng, (37, 53))
    r, s = _VIEWS[view](ref), _VIEWS[view](sec)
    looks = (1, 1) if 1 in r.shape else (3, 4)
    got = K.interferogram_and_coherence(r, s, looks)
    want = K.interferogram_and_coherence(np.ascontiguousarray(r), np.ascontiguousarray(s), looks)
    for g, w in zip(got, want, strict=True):
        assert g.tobytes() == w.tobytes()
    np.testing.assert_allclose(got[1], ref_interferogram(r, s, looks)[1], rtol=2e-5, atol=2e-6,
                               equal_nan=True)


def test_interferogram_reads_a_window_of_a_larger_image_in_place():
    """A window cut out of a cached CSLC (lines contiguous) is not copied: the call allocates
    little more than its outputs (numpy's allocations are traced by tracemalloc)."""
    import tracemalloc

    rng = np.random.default_rng(4)
    ref, sec = _correlated_pair(rng, (400, 1000))  # 3.2 MB each
    r, s = ref[:397, 2:995], sec[3:, :993]
    K.interferogram_and_coherence(r, s, (4, 8))  # numba loaded before tracing
    tracemalloc.start()
    try:
        ifg, coh = K.interferogram_and_coherence(r, s, (4, 8))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * (ifg.nbytes + coh.nbytes) + 100_000 < r.nbytes // 4


# --------------------------------------------------------------------------- coherence


def ref_coherence(ref, sec, window):
    wy, wx = window
    hy, hx = wy // 2, wx // 2
    ny, nx = ref.shape
    out = np.full((ny, nx), np.nan)
    for i in range(ny):
        for j in range(nx):
            r = ref[max(0, i - hy):i + hy + 1, max(0, j - hx):j + hx + 1].astype(np.complex128)
            s = sec[max(0, i - hy):i + hy + 1, max(0, j - hx):j + hx + 1].astype(np.complex128)
            m = _valid(r, s)
            if not m.any():
                continue
            d = np.sum(np.abs(r[m]) ** 2) * np.sum(np.abs(s[m]) ** 2)
            if d > 0:
                out[i, j] = abs(np.sum(r[m] * np.conj(s[m]))) / np.sqrt(d)
    return out


@pytest.mark.parametrize(
    "shape, window",
    [((23, 31), (3, 5)), ((150, 12), (7, 3)), ((10, 13), (1, 1)), ((9, 11), (25, 41)),
     ((70, 9), (5, 1))],
)
def test_coherence_matches_reference(shape, window):
    rng = np.random.default_rng(RNG_SEED + 1)
    ref, sec = _correlated_pair(rng, shape, nan_fraction=0.1)
    ref[20:30, 3:6] = complex(np.nan, np.nan) if shape[0] > 30 else ref[20:30, 3:6]
    coh = R.sliding_coherence(ref, sec, window)
    want = ref_coherence(ref, sec, window)
    assert coh.dtype == np.float32 and coh.shape == shape
    np.testing.assert_array_equal(np.isnan(coh), np.isnan(want))
    np.testing.assert_allclose(coh, want, rtol=1e-5, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("window", [(3, 5), (5, 9), (1, 1)])
def test_window_coherence_is_sliding_coherence_at_window_centres(window):
    """The product's estimator (non-overlapping windows) against the sliding reference."""
    rng = np.random.default_rng(RNG_SEED + 7)
    ref, sec = _correlated_pair(rng, (31, 47), nan_fraction=0.1)
    _, coh = K.interferogram_and_coherence(ref, sec, window)
    wy, wx = window
    centres = R.sliding_coherence(ref, sec, window)[wy // 2::wy, wx // 2::wx][:coh.shape[0], :coh.shape[1]]
    np.testing.assert_allclose(coh, centres, rtol=2e-5, atol=2e-6, equal_nan=True)


def test_coherence_of_identical_images_is_one():
    rng = np.random.default_rng(3)
    a = _cplx(rng, (20, 20))
    np.testing.assert_allclose(R.sliding_coherence(a, a, (5, 5)), 1.0, atol=1e-6)


def test_coherence_rejects_even_window():
    a = np.zeros((8, 8), np.complex64)
    with pytest.raises(ValueError, match="odd"):
        R.sliding_coherence(a, a, (4, 5))
    with pytest.raises(ValueError, match="window"):
        R.sliding_coherence(a, a, (0, 5))


# --------------------------------------------------------------------------- multilook


def ref_multilook(x, looks):
    az, rg = looks
    ny, nx = x.shape[0] // az, x.shape[1] // rg
    out = np.full((ny, nx), np.nan, dtype=np.complex128 if np.iscomplexobj(x) else np.float64)
    for i in range(ny):
        for j in range(nx):
            w = x[i * az:(i + 1) * az, j * rg:(j + 1) * rg].astype(out.dtype)
            m = ~(np.isnan(w.real) | np.isnan(w.imag)) if np.iscomplexobj(w) else ~np.isnan(w)
            if m.any():
                out[i, j] = w[m].mean()
            elif np.iscomplexobj(w):
                out[i, j] = complex(np.nan, np.nan)
    return out


@pytest.mark.parametrize("dtype", [np.complex64, np.float32, np.float64])
@pytest.mark.parametrize("shape, looks", [((23, 47), (2, 5)), ((8, 8), (8, 8)), ((5, 6), (1, 1))])
def test_multilook_matches_reference(dtype, shape, looks):
    rng = np.random.default_rng(RNG_SEED + 2)
    x = _cplx(rng, shape) if dtype == np.complex64 else rng.standard_normal(shape).astype(dtype)
    x[rng.random(shape) < 0.2] = np.nan
    x[:looks[0], :looks[1]] = np.nan
    got = K.multilook(x, looks)
    want = ref_multilook(x, looks)
    assert got.dtype == dtype
    np.testing.assert_array_equal(np.isnan(got.real), np.isnan(want.real))
    if dtype == np.complex64:
        assert np.isnan(got[0, 0].imag)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True)


def test_multilook_rejects_bad_input():
    with pytest.raises(ValueError, match="x must have dtype"):
        K.multilook(np.zeros((4, 4), np.int16), (2, 2))
    with pytest.raises(ValueError, match="larger than the image"):
        K.multilook(np.zeros((4, 4), np.float32), (2, 5))


# --------------------------------------------------------------------------- sinc resampling


def ref_resample(slc, az_pos, rg_pos, table):
    """Per-point loop: nearest table row, outer-product kernel, complex128 sum."""
    n = table.shape[1]
    osf = table.shape[0] - 1
    lo = n // 2 - 1
    out = np.full(az_pos.shape, complex(np.nan, np.nan), dtype=np.complex128)
    for idx in np.ndindex(az_pos.shape):
        y, x = az_pos[idx], rg_pos[idx]
        if not (np.isfinite(y) and np.isfinite(x)):
            continue
        iy, ix = int(np.floor(y)) - lo, int(np.floor(x)) - lo
        if iy < 0 or ix < 0 or iy + n > slc.shape[0] or ix + n > slc.shape[1]:
            continue
        wy = table[int(np.floor((y - np.floor(y)) * osf + 0.5))].astype(np.float64)
        wx = table[int(np.floor((x - np.floor(x)) * osf + 0.5))].astype(np.float64)
        v = np.sum(np.outer(wy, wx) * slc[iy:iy + n, ix:ix + n])
        out[idx] = v if np.isfinite(v) else complex(np.nan, np.nan)
    return out


def ref_sinc_table(n, osf, b, beta):
    """Direct evaluation of the Kaiser-windowed sinc, written independently of the kernel."""
    rows = []
    for m in range(osf + 1):
        mu = m / osf
        w = []
        for k in range(n):
            t = (k - (n // 2 - 1)) - mu
            arg = max(0.0, 1.0 - (t / (n / 2)) ** 2)
            sinc = 1.0 if t == 0 else np.sin(np.pi * b * t) / (np.pi * b * t)
            w.append(b * sinc * np.i0(beta * np.sqrt(arg)) / np.i0(beta))
        w = np.array(w)
        rows.append(w / w.sum())
    return np.array(rows)


def test_sinc_table_shape_normalisation_and_formula():
    t = K.make_sinc_table(8, 64, bandwidth_fraction=0.9, beta=4.0)
    assert t.shape == (65, 8) and t.dtype == np.float32
    np.testing.assert_allclose(t.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(t, ref_sinc_table(8, 64, 0.9, 4.0), atol=1e-6)
    # full band: integer positions pick the sample itself; row m and row osf-m mirror
    full = K.make_sinc_table(8, 64)
    np.testing.assert_allclose(full[0], np.eye(8)[3], atol=1e-7)
    np.testing.assert_allclose(full[64], np.eye(8)[4], atol=1e-7)
    np.testing.assert_allclose(full[16], full[48][::-1], atol=1e-7)
    hann = K.make_sinc_table(6, 32, window="hann")
    np.testing.assert_allclose(hann.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"n_taps": 7}, "n_taps"), ({"n_taps": 0}, "n_taps"), ({"oversampling": 0}, "oversampling"),
     ({"bandwidth_fraction": 1.5}, "bandwidth_fraction"), ({"window": "box"}, "window"),
     ({"beta": -1.0}, "beta")],
)
def test_sinc_table_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        K.make_sinc_table(**kwargs)


@pytest.mark.parametrize("n_taps", [8, 6])
def test_resample_matches_reference(n_taps):
    rng = np.random.default_rng(RNG_SEED + 3)
    slc = _cplx(rng, (30, 41))
    slc[12, 20] = np.nan  # real part only: every footprint over it must be NaN+NaNj
    table = K.make_sinc_table(n_taps, 256)
    az = rng.uniform(-2, 33, (13, 17))
    rg = rng.uniform(-2, 44, (13, 17))
    az[0, :3] = np.nan
    rg[1, 0] = np.nan
    az[2, 0:4] = [2.999, 3.0, 25.99, 26.0]  # 8 taps: valid lines are 3 <= y < 26
    rg[2, 0:4] = 20.0
    got = K.resample(slc, az, rg, table)
    want = ref_resample(slc, az, rg, table)
    assert got.shape == az.shape and got.dtype == np.complex64
    np.testing.assert_array_equal(np.isnan(got.real), np.isnan(want.real))
    np.testing.assert_array_equal(np.isnan(got.imag), np.isnan(got.real))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, equal_nan=True)
    if n_taps == 8:
        assert np.isnan(got[2, 0]) and np.isfinite(got[2, 1])
        assert np.isfinite(got[2, 2]) and np.isnan(got[2, 3])


def test_resample_integer_positions_return_samples_and_out_argument():
    rng = np.random.default_rng(4)
    slc = _cplx(rng, (20, 20))
    y, x = np.meshgrid(np.arange(3.0, 16.0), np.arange(3.0, 16.0), indexing="ij")
    out = np.empty(y.shape, np.complex64)
    res = K.resample(slc, y, x, K.make_sinc_table(), out=out)
    assert res is out
    np.testing.assert_allclose(out, slc[3:16, 3:16], rtol=1e-6, atol=1e-6)
    # 1-D and 3-D position arrays keep their shape
    assert K.resample(slc, y[0], x[0], K.make_sinc_table()).shape == (13,)
    assert K.resample(slc, y.reshape(13, 13, 1), x.reshape(13, 13, 1),
                      K.make_sinc_table()).shape == (13, 13, 1)
    huge = K.resample(slc, np.array([1e300, -1e300, np.inf]), np.array([5.0, 5.0, 5.0]),
                      K.make_sinc_table())
    assert np.isnan(huge).all()



def test_resample_origin_shifts_the_positions():
    """``origin`` = the position of slc[0, 0]: the same as subtracting it from the positions."""
    rng = np.random.default_rng(RNG_SEED + 6)
    slc = _cplx(rng, (30, 41))
    table = K.make_sinc_table(8, 256)
    az = rng.uniform(-2, 33, (9, 11))
    rg = rng.uniform(-2, 44, (9, 11))
    az[0, 0] = np.nan
    want = ref_resample(slc, az, rg, table)
    got = K.resample(slc, az + 1200.0, rg - 37.0, table, origin=(1200, -37))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, equal_nan=True)
    with pytest.raises(ValueError, match="origin"):
        K.resample(slc, az, rg, table, origin=(np.nan, 0.0))
    with pytest.raises(ValueError, match="origin"):
        K.resample(slc, az, rg, table, origin=3.0)

def _tones(rng, n_tones, max_frac):
    """Random complex exponentials with |frequency| < max_frac · Nyquist on both axes."""
    fy = rng.uniform(-max_frac, max_frac, n_tones) * np.pi
    fx = rng.uniform(-max_frac, max_frac, n_tones) * np.pi
    amp = rng.standard_normal(n_tones) + 1j * rng.standard_normal(n_tones)

    def signal(y, x):
        return np.sum(amp * np.exp(1j * (fy * y[..., None] + fx * x[..., None])), axis=-1)

    return signal


@pytest.mark.parametrize(
    "n_taps, beta, max_frac, rms_tol",
    [(32, None, 0.8, 1e-3), (8, 7.0, 0.4, 1e-3), (8, None, 0.4, 5e-3), (8, None, 0.6, 1e-2)],
)
def test_resample_band_limited_signal(n_taps, beta, max_frac, rms_tol):
    """Interpolating a band-limited signal at random positions reproduces it analytically.

    No 8-tap kernel reaches 1e-3 near 0.8 of Nyquist (see make_sinc_table), so that case uses
    32 taps; the 8-tap cases check the accuracy the docstring promises.
    """
    rng = np.random.default_rng(RNG_SEED + 4)
    signal = _tones(rng, 6, max_frac)
    ny, nx = 60, 70
    yy, xx = np.meshgrid(np.arange(ny, dtype=float), np.arange(nx, dtype=float), indexing="ij")
    slc = signal(yy, xx).astype(np.complex64)
    half = n_taps // 2
    az = rng.uniform(half - 1, ny - half - 1e-9, 2000)
    rg = rng.uniform(half - 1, nx - half - 1e-9, 2000)
    got = K.resample(slc, az, rg, K.make_sinc_table(n_taps, beta=beta))
    truth = signal(az, rg)
    rms = np.sqrt(np.mean(np.abs(truth) ** 2))
    err = np.abs(got - truth)
    assert np.sqrt(np.mean(err**2)) / rms < rms_tol
    assert err.max() / rms < 5 * rms_tol


def test_resample_rejects_bad_input():
    slc = np.zeros((10, 10), np.complex64)
    p = np.zeros((3, 3))
    t = K.make_sinc_table()
    with pytest.raises(ValueError, match="slc must have dtype complex64"):
        K.resample(slc.astype(np.complex128), p, p, t)
    with pytest.raises(ValueError, match="az_pos must have dtype float64"):
        K.resample(slc, p.astype(np.float32), p, t)
    with pytest.raises(ValueError, match="same shape"):
        K.resample(slc, p, p[:2], t)
    with pytest.raises(ValueError, match="table"):
        K.resample(slc, p, p, t[:, :7].copy())
    with pytest.raises(ValueError, match="out must be a complex64 array of shape"):
        K.resample(slc, p, p, t, out=np.empty((3, 4), np.complex64))


# --------------------------------------------------------------------------- TOPS carrier

# Sentinel-1 IW-like numbers: 1 burst, PRF ≈ 486 Hz, k_a < 0, steering 1.59 deg/s.
S1 = dict(velocity=7590.0, steering_rate=np.deg2rad(1.590368784), wavelength=0.05546576)
DT_AZ = 2.055556e-3


def _s1_doppler(tau):
    fdc = 12.0 + 9e6 * (tau - tau[0]) - 4e11 * (tau - tau[0]) ** 2
    ka = -2300.0 + 4e7 * (tau - tau[0])
    return fdc, ka


def ref_carrier_phase(eta, fdc, ka, velocity, steering_rate, wavelength):
    """Written as s1-reader/ISCE2 write it: kt = ks / (1 − ks/ka),
    η_ref = fdc0/ka0 − fdc/ka; then φ per the ESA note."""
    ks = 2.0 * velocity * steering_rate / wavelength
    kt = ks / (1.0 - ks / ka)
    eta_ref = fdc[0] / ka[0] - fdc / ka
    d = eta[:, None] - eta_ref[None, :]
    return -np.pi * kt * d**2 - 2 * np.pi * fdc * d


def test_carrier_phase_matches_reference_and_points_agree():
    tau = 5.3e-3 + np.arange(40) * 1.0 / 64.345e6
    fdc, ka = _s1_doppler(tau)
    eta = (np.arange(30) - 15) * DT_AZ * 50
    phi = R.tops_carrier_phase(eta, fdc, ka, **S1)
    np.testing.assert_allclose(phi, ref_carrier_phase(eta, fdc, ka, **S1), rtol=1e-12, atol=1e-9)
    kt, eta_ref = K.tops_carrier_terms(fdc, ka, **S1)
    assert 1500 < kt.mean() < 2000 and eta_ref[0] == 0.0  # S-1 IW: k_t ≈ 1.7 kHz/s
    # scattered points: exact at grid points, linear interpolation of kt/η_ref/fdc between
    E, T = np.meshgrid(eta, tau, indexing="ij")
    at = R.tops_carrier_phase_at(E, T, tau_grid=tau, fdc=fdc, ka=ka, **S1)
    np.testing.assert_allclose(at, phi, rtol=1e-12, atol=1e-9)
    tm = 0.5 * (tau[7] + tau[8])
    e0 = np.array([0.3])
    mid = R.tops_carrier_phase_at(e0, np.array([tm]), tau_grid=tau, fdc=fdc, ka=ka, **S1)
    kt_m, er_m, f_m = (0.5 * (v[7] + v[8]) for v in (kt, eta_ref, fdc))
    d = e0 - er_m
    np.testing.assert_allclose(mid, -np.pi * kt_m * d**2 - 2 * np.pi * f_m * d, rtol=1e-12)
    nan = R.tops_carrier_phase_at(np.array([np.nan, 0.1]), np.array([tau[3], np.nan]),
                                  tau_grid=tau, fdc=fdc, ka=ka, **S1)
    assert np.isnan(nan).all()
    # a non-uniform grid and points outside it (linear extrapolation) stay consistent
    g = np.sort(np.concatenate([tau[:5], tau[10:12], tau[30:]]))
    f2, k2 = _s1_doppler(g)
    k2 = np.interp(g, tau, ka)
    out = R.tops_carrier_phase_at(np.full(3, 0.2), np.array([g[0] - 1e-7, g[6], g[-1] + 1e-7]),
                                  tau_grid=g, fdc=f2, ka=k2, **S1)
    assert np.isfinite(out).all()


def test_carrier_phase_with_eta_c0_for_a_range_window():
    tau = 5.3e-3 + np.arange(40) * 1.0 / 64.345e6
    fdc, ka = _s1_doppler(tau)
    eta = (np.arange(10) - 5) * DT_AZ
    full = R.tops_carrier_phase(eta, fdc, ka, **S1)
    win = R.tops_carrier_phase(eta, fdc[10:], ka[10:], eta_c0=-fdc[0] / ka[0], **S1)
    np.testing.assert_allclose(win, full[:, 10:], rtol=1e-12)


def test_deramp_brings_a_tops_burst_to_baseband():
    """Build a burst from its physical Doppler history, not from φ: the local Doppler centroid
    is f_ηc + k_t (η − η_ref); integrate it (midpoint rule, exact for a linear frequency) over a
    band-limited baseband speckle, then deramp and measure the centroid (Madsen estimator)."""
    rng = np.random.default_rng(RNG_SEED + 5)
    n_lines, n_samples = 1024, 6
    tau = 5.3e-3 + np.arange(n_samples) * 200 / 64.345e6
    fdc, ka = _s1_doppler(tau)
    kt, eta_ref = K.tops_carrier_terms(fdc, ka, **S1)
    eta = (np.arange(n_lines) - n_lines // 2) * DT_AZ
    # baseband: white noise low-passed to 30% of the PRF
    spec = np.fft.fft(rng.standard_normal((n_lines, n_samples)) + 1j * rng.standard_normal(
        (n_lines, n_samples)), axis=0)
    spec[np.abs(np.fft.fftfreq(n_lines)) > 0.15] = 0
    base = np.fft.ifft(spec, axis=0)
    f_inst = fdc[None, :] + kt[None, :] * (eta[:, None] + 0.5 * DT_AZ - eta_ref[None, :])
    psi = np.vstack([np.zeros((1, n_samples)), np.cumsum(2 * np.pi * f_inst[:-1] * DT_AZ, axis=0)])
    slc = (base * np.exp(1j * psi)).astype(np.complex64)

    def centroid(x, block):
        """Madsen (correlation) Doppler centroid per block of lines, all samples pooled, Hz."""
        c = x[1:] * np.conj(x[:-1])
        nb = c.shape[0] // block
        return np.angle(c[:nb * block].reshape(nb, -1).sum(axis=1)) / (2 * np.pi * DT_AZ)

    # sanity: the synthetic burst really has a drifting (wrapped) centroid
    raw = np.unwrap(centroid(slc, 64) * 2 * np.pi * DT_AZ) / (2 * np.pi * DT_AZ)
    assert np.ptp(raw) > 2000  # Hz: k_t ≈ 1.6 kHz/s over a 2 s burst
    phi = R.tops_carrier_phase(eta, fdc, ka, **S1)
    flat = R.deramp(slc, phi)
    assert abs(centroid(flat, n_lines - 1)[0]) < 3.0  # Hz, whole burst; the PRF is 486 Hz
    assert np.abs(centroid(flat, 128)).max() < 15.0  # Hz, speckle noise of 128-line blocks
    # exact check: what is left is the baseband speckle times a constant phase per sample
    rest = np.angle(flat * np.conj(base))
    np.testing.assert_allclose(np.angle(np.exp(1j * (rest - rest[0]))), 0.0, atol=1e-3)
    # the opposite sign doubles the drift instead of removing it
    wrong = R.reramp(slc, phi)
    assert np.abs(centroid(wrong, 128)).max() > 100.0


def test_deramp_reramp_round_trip_and_exactness():
    rng = np.random.default_rng(6)
    x = _cplx(rng, (7, 33))
    phase = rng.uniform(-3e4, 3e4, x.shape)
    phase[0, 0] = np.nan
    d = R.deramp(x, phase)
    want = x.astype(np.complex128) * np.exp(1j * phase)
    np.testing.assert_allclose(d, want, rtol=2e-6, atol=2e-6, equal_nan=True)
    assert np.isnan(d[0, 0].real) and np.isnan(d[0, 0].imag)
    back = R.reramp(d, phase)
    np.testing.assert_allclose(back[1:], x[1:], rtol=1e-5, atol=1e-5)
    y = x.copy()
    assert R.deramp(y, phase, out=y) is y  # in place
    np.testing.assert_allclose(y, d, rtol=1e-6, atol=1e-6, equal_nan=True)
    with pytest.raises(ValueError, match="phase must have dtype float64"):
        R.deramp(x, phase.astype(np.float32))
    with pytest.raises(ValueError, match="same shape"):
        R.reramp(x, phase[:, :5])


def test_carrier_rejects_bad_input():
    with pytest.raises(ValueError, match="ka must have 3 values"):
        R.tops_carrier_phase(np.zeros(2), np.zeros(3), np.ones(2), **S1)
    with pytest.raises(ValueError, match="velocity"):
        R.tops_carrier_phase(np.zeros(2), np.zeros(3), -np.ones(3), velocity=-1.0,
                             steering_rate=0.02, wavelength=0.05)
    with pytest.raises(ValueError, match="tau_grid must be strictly increasing"):
        R.tops_carrier_phase_at(np.zeros(2), np.zeros(2), tau_grid=[1.0, 0.5], fdc=[0, 0],
                                ka=[-1, -1], **S1)



def ref_tops_deramp(slc, eta, fdc, ka, eta_c0=None, **s1):
    """φ per pixel written out in numpy (s1-reader's form), then slc · exp(+jφ) in complex128."""
    ks = 2.0 * s1["velocity"] * s1["steering_rate"] / s1["wavelength"]
    kt = ks / (1.0 - ks / ka)
    c0 = -fdc[0] / ka[0] if eta_c0 is None else eta_c0
    eta_ref = -fdc / ka - c0
    d = eta[:, None] - eta_ref[None, :]
    phi = -np.pi * kt * d**2 - 2 * np.pi * fdc * d
    return slc.astype(np.complex128) * np.exp(1j * phi)


def test_tops_deramp_matches_reference_and_the_two_step_form():
    rng = np.random.default_rng(RNG_SEED + 7)
    tau = 5.3e-3 + np.arange(300, 340) / 64.345e6
    fdc, ka = _s1_doppler(tau)
    eta = (np.arange(25) - 12.5) * DT_AZ * 40
    slc = _cplx(rng, (25, 40))
    slc[3, 4] = np.nan
    c0 = -(fdc[0] - 50.0) / ka[0]  # a window: τ_0 lies before it
    got = K.tops_deramp(slc, eta, fdc, ka, eta_c0=c0, **S1)
    want = ref_tops_deramp(slc, eta, fdc, ka, eta_c0=c0, **S1)
    assert got.dtype == np.complex64 and got.shape == slc.shape
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6, equal_nan=True)
    assert np.isnan(got[3, 4].real) and np.isnan(got[3, 4].imag)
    two_step = R.deramp(slc, R.tops_carrier_phase(eta, fdc, ka, eta_c0=c0, **S1))
    np.testing.assert_allclose(got, two_step, rtol=1e-6, atol=1e-6, equal_nan=True)
    y = slc.copy()
    assert K.tops_deramp(y, eta, fdc, ka, eta_c0=c0, out=y, **S1) is y  # in place
    np.testing.assert_array_equal(y, got)
    with pytest.raises(ValueError, match="one value per sample"):
        K.tops_deramp(slc, eta, fdc[:-1], ka[:-1], **S1)
    with pytest.raises(ValueError, match="eta must have 25 values"):
        K.tops_deramp(slc, eta[:-1], fdc, ka, **S1)
    with pytest.raises(ValueError, match="slc must have dtype complex64"):
        K.tops_deramp(slc.astype(np.complex128), eta, fdc, ka, **S1)


def ref_tops_reramp_at(data, line, sample, *, line_centre, dt, tau0, fs, sample0, fdc, ka,
                       flatten, **s1):
    """Per point in numpy: η, τ from line/sample; k_t, η_ref, f_ηc by np.interp over the
    samples (points inside them only); φ; × exp(j(4πR/λ·flatten − φ)) in complex128."""
    ks = 2.0 * s1["velocity"] * s1["steering_rate"] / s1["wavelength"]
    kt = ks / (1.0 - ks / ka)
    eta_ref = fdc[0] / ka[0] - fdc / ka
    grid = sample0 + np.arange(fdc.size)
    eta = (line - line_centre) * dt
    tau = tau0 + sample / fs
    kt_p, er_p, fd_p = (np.interp(sample, grid, v) for v in (kt, eta_ref, fdc))
    d = eta - er_p
    phi = -np.pi * kt_p * d**2 - 2 * np.pi * fd_p * d
    psi = 4 * np.pi / s1["wavelength"] * (tau * 299_792_458.0 / 2) if flatten else 0.0
    return data.astype(np.complex128) * np.exp(1j * (psi - phi))


@pytest.mark.parametrize("flatten", [False, True])
def test_tops_reramp_at_matches_reference(flatten):
    rng = np.random.default_rng(RNG_SEED + 8)
    lines, fs, dt, tau0 = 1500, 64.345e6, DT_AZ, 5.3e-3
    sample0 = 1000
    tau = tau0 + (sample0 + np.arange(50)) / fs
    fdc, ka = _s1_doppler(tau)
    line = rng.uniform(0, lines - 1, (3, 700))  # several blocks of the kernel's 512 positions
    sample = rng.uniform(sample0, sample0 + 49, (3, 700))
    line[1, 0] = np.nan
    sample[1, 1] = np.nan
    sample[0, :600] = np.nan  # a whole block of NaN samples
    data = _cplx(rng, line.shape)
    kw = dict(line_centre=0.5 * lines, azimuth_time_interval=dt, slant_range_time=tau0,
              range_sampling_rate=fs, sample0=sample0, fdc=fdc, ka=ka, **S1)
    got = K.tops_reramp_at(data, line, sample, flatten=flatten, **kw)
    ok = np.isfinite(line) & np.isfinite(sample)
    want = ref_tops_reramp_at(data[ok], line[ok], sample[ok], line_centre=0.5 * lines, dt=dt,
                              tau0=tau0, fs=fs, sample0=sample0, fdc=fdc, ka=ka,
                              flatten=flatten, **S1)
    assert got.dtype == np.complex64 and got.shape == data.shape
    # |4πR/λ| ≈ 2e7 rad here: float64 rounding of the phase itself is ~1e-9 rad
    np.testing.assert_allclose(got[ok], want, rtol=2e-6, atol=2e-6)
    assert np.isnan(got[~ok].real).all() and np.isnan(got[~ok].imag).all()
    if not flatten:  # the two-step form, also outside the samples (linear extrapolation)
        sample_out = sample + np.where(rng.random(sample.shape) < 0.5, -30.0, 30.0)
        got = K.tops_reramp_at(data, line, sample_out, **kw)
        phi = R.tops_carrier_phase_at((line - 0.5 * lines) * dt, tau0 + sample_out / fs,
                                      tau_grid=tau, fdc=fdc, ka=ka, **S1)
        np.testing.assert_allclose(got, R.reramp(data, phi), rtol=1e-6, atol=1e-6,
                                   equal_nan=True)
    y = data.copy()
    assert K.tops_reramp_at(y, line, sample, flatten=flatten, out=y, **kw) is y  # in place
    np.testing.assert_array_equal(y, K.tops_reramp_at(data, line, sample, flatten=flatten, **kw))


def test_tops_reramp_at_undoes_tops_deramp_at_the_samples():
    """deramp on the grid, then reramp at the same (integer) positions: the input again."""
    rng = np.random.default_rng(RNG_SEED + 9)
    fs, tau0 = 64.345e6, 5.3e-3
    tau = tau0 + (40 + np.arange(30)) / fs
    fdc, ka = _s1_doppler(tau)
    c0 = -fdc[0] / ka[0] + 1e-3
    lines = np.arange(100, 120)
    eta = (lines - 750.0) * DT_AZ
    slc = _cplx(rng, (lines.size, tau.size))
    flat = K.tops_deramp(slc, eta, fdc, ka, eta_c0=c0, **S1)
    line, sample = np.meshgrid(lines.astype(float), 40.0 + np.arange(30), indexing="ij")
    back = K.tops_reramp_at(flat, line, sample, line_centre=750.0, azimuth_time_interval=DT_AZ,
                            slant_range_time=tau0, range_sampling_rate=fs, sample0=40, fdc=fdc,
                            ka=ka, eta_c0=c0, **S1)
    np.testing.assert_allclose(back, slc, rtol=1e-5, atol=1e-5)


def test_tops_reramp_at_rejects_bad_input():
    z = np.zeros((2, 3), np.complex64)
    p = np.zeros((2, 3))
    kw = dict(line_centre=750.0, azimuth_time_interval=DT_AZ, slant_range_time=5.3e-3,
              range_sampling_rate=64.345e6, sample0=0, fdc=[1.0, 2.0], ka=[-2300.0, -2290.0],
              **S1)
    with pytest.raises(ValueError, match="same shape"):
        K.tops_reramp_at(z, p[:, :2], p, **kw)
    with pytest.raises(ValueError, match="line must have dtype float64"):
        K.tops_reramp_at(z, p.astype(np.float32), p, **kw)
    with pytest.raises(ValueError, match="range_sampling_rate"):
        K.tops_reramp_at(z, p, p, **{**kw, "range_sampling_rate": 0.0})
    with pytest.raises(ValueError, match="ka must have 2 values"):
        K.tops_reramp_at(z, p, p, **{**kw, "ka": [-2300.0]})
    # a single carrier sample: constant terms
    one = K.tops_reramp_at(z + 1, p, p, **{**kw, "fdc": [1.0], "ka": [-2300.0]})
    assert np.isfinite(one).all()

# --------------------------------------------------------------------------- calibration


def ref_calibrate(data, lines, pixels, values, noise=None, noise_az=None, origin=(0, 0),
                  negative="nan", db=False):
    """scipy bilinear interpolation on coordinates clamped to the LUT grid."""
    ny, nx = data.shape
    L, P = np.meshgrid(np.arange(ny) + origin[0], np.arange(nx) + origin[1], indexing="ij")

    def interp(gl, gp, v):
        gl, gp, v = np.asarray(gl, float), np.asarray(gp, float), np.asarray(v, float)
        if gl.size == 1:
            gl, v = np.array([gl[0], gl[0] + 1]), np.vstack([v, v])
        f = RegularGridInterpolator((gl, gp), v, method="linear")
        return f(np.stack([np.clip(L, gl[0], gl[-1]), np.clip(P, gp[0], gp[-1])], axis=-1))

    power = np.abs(data.astype(np.complex128)) ** 2 if np.iscomplexobj(data) else data.astype(float)
    if noise is not None:
        n = interp(*noise)
        if noise_az is not None:
            al, av = noise_az
            n = n * np.interp(L, al, av)
        power = power - n
    a = interp(lines, pixels, values)
    out = power / a**2
    out[out < 0] = np.nan if negative == "nan" else 0.0
    if db:
        with np.errstate(divide="ignore"):
            out = 10 * np.log10(out)
    return out


def _cal_luts(rng):
    lines = np.array([-3, 10, 17, 40])
    pixels = np.array([0, 7, 20, 33, 52])
    values = rng.uniform(300, 700, (lines.size, pixels.size))
    nlines = np.array([0, 25])
    npix = np.array([2, 15, 31, 47])
    nvalues = rng.uniform(0.2, 1.5, (nlines.size, npix.size))
    return lines, pixels, values, (nlines, npix, nvalues), (np.array([0, 13, 30]),
                                                            np.array([0.8, 1.2, 0.9]))


@pytest.mark.parametrize("origin", [(0, 0), (5, 11)])
@pytest.mark.parametrize("negative", ["nan", "zero"])
def test_calibrate_matches_reference(origin, negative):
    rng = np.random.default_rng(RNG_SEED + 6)
    lines, pixels, values, noise, noise_az = _cal_luts(rng)
    dn = _cplx(rng, (31, 45), 0.8)
    dn[4, 4] = np.nan
    got = R.calibrate(dn, lines, pixels, values, noise=noise, noise_azimuth=noise_az,
                      origin=origin, negative=negative)
    want = ref_calibrate(dn, lines, pixels, values, noise, noise_az, origin, negative)
    assert got.dtype == np.float32
    assert np.isnan(got[4, 4]) and (want < 0.5 / 700**2).any()  # some pixels went negative
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-12, equal_nan=True)
    no_noise = R.calibrate(dn, lines, pixels, values, origin=origin)
    np.testing.assert_allclose(no_noise, ref_calibrate(dn, lines, pixels, values, origin=origin),
                               rtol=1e-5, equal_nan=True)


def test_calibrate_power_input_db_and_single_line_lut():
    rng = np.random.default_rng(7)
    dn = _cplx(rng, (6, 9), 100)
    power = (np.abs(dn) ** 2).astype(np.float32)
    lines, pixels = np.array([2]), np.array([0, 8])
    values = np.array([[250.0, 500.0]])
    a = R.calibrate(dn, lines, pixels, values, out_db=True)
    b = R.calibrate(power, lines, pixels, values, out_db=True)
    want = ref_calibrate(dn, lines, pixels, values, db=True)
    np.testing.assert_allclose(a, want, atol=1e-4)
    np.testing.assert_allclose(b, want, atol=1e-4)
    zero = R.calibrate(np.zeros((2, 2), np.float32), [0], [0], [[1.0]], out_db=True)
    assert np.all(zero == -np.inf)
    neg = R.calibrate(np.zeros((2, 2), np.float32), [0], [0], [[1.0]],
                      noise=([0], [0], [[1.0]]), out_db=True, negative="zero")
    assert np.all(neg == -np.inf)


def test_calibrate_rejects_bad_input():
    d = np.zeros((4, 4), np.complex64)
    with pytest.raises(ValueError, match="lut_values must have shape"):
        R.calibrate(d, [0, 1], [0, 1, 2], np.ones((2, 2)))
    with pytest.raises(ValueError, match="lut_lines must be strictly increasing"):
        R.calibrate(d, [1, 0], [0, 1], np.ones((2, 2)))
    with pytest.raises(ValueError, match="noise_azimuth needs"):
        R.calibrate(d, [0, 1], [0, 1], np.ones((2, 2)), noise_azimuth=([0], [1.0]))
    with pytest.raises(ValueError, match="negative"):
        R.calibrate(d, [0, 1], [0, 1], np.ones((2, 2)), negative="clip")
    with pytest.raises(ValueError, match="data must have dtype"):
        R.calibrate(d.astype(np.complex128), [0, 1], [0, 1], np.ones((2, 2)))
    with pytest.raises(ValueError, match="non-zero"):
        R.calibrate(d, [0, 1], [0, 1], np.zeros((2, 2)))


def test_backscatter_factors_match_the_radar_grid_reference():
    """The backscatter product's per-pixel 1/A² and N/A² (``cube.products``, at radar
    positions) equal the reference calibration on the radar grid, for a real ESA burst."""
    from conftest import shared_path

    from cube.ingest import open_safe
    from cube.products._radiometry import calibration_factors

    scene = ("hyp3-isce2/tests/data/packaging/slc/"
             "S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7.SAFE")
    burst = open_safe(str(shared_path(scene))).bursts(swaths=["IW1"], polarizations=["VV"])[1]
    l0, s0, ny, nx = 1300, 4000, 301, 1503  # across LUT lines (1160, 1807) and burst edges
    line, sample = np.meshgrid(np.arange(l0, l0 + ny, dtype=np.float64),
                               np.arange(s0, s0 + nx, dtype=np.float64), indexing="ij")
    gain, noise = calibration_factors(burst, line, sample, "sigma0", denoise=True)

    cal, rng_noise = burst.calibration, burst.noise_range
    assert all(v.pixel == cal[0].pixel for v in cal) and all(v.pixel == rng_noise[0].pixel for v in rng_noise)
    (az,) = burst.noise_azimuth
    lut = ([v.line for v in cal], cal[0].pixel, np.array([v.sigma_nought for v in cal]))
    noise_lut = ([v.line for v in rng_noise], rng_noise[0].pixel,
                 np.array([v.noise_range_lut for v in rng_noise]))
    power = 4.0 * noise_lut[2].max()
    want_gain = R.calibrate(np.ones((ny, nx)), *lut, origin=(l0, s0))
    want_net = R.calibrate(np.full((ny, nx), power), *lut, noise=noise_lut,
                           noise_azimuth=(az.line, az.noise_azimuth_lut), origin=(l0, s0))
    np.testing.assert_allclose(gain, want_gain, rtol=2e-6)
    np.testing.assert_allclose(power * gain - noise, want_net, rtol=2e-6)
    assert np.ptp(noise / gain) > 0.01 * noise_lut[2].max()  # the noise varies over the window


def test_public_api_is_exported():
    assert sorted(K.__all__) == sorted(
        ["effective_looks", "expected_sample_coherence", "interferogram_and_coherence",
         "interpolate_bilinear", "make_sinc_table", "multilook", "phase_weight", "remove_coherence_bias",
         "resample", "sbas_invert", "tops_carrier_terms", "tops_deramp", "tops_reramp_at",
         "valid_fraction"]
    )


def test_interpolate_bilinear_matches_numpy_reference():
    """Against an explicit numpy bilinear formula; NaN outside [0, n-1] and for NaN positions."""
    from cube.kernels import interpolate_bilinear

    rng = np.random.default_rng(5)
    image = rng.normal(size=(37, 53)).astype(np.float32)
    az = rng.uniform(-1.0, 37.0, size=(20, 30))
    rg = rng.uniform(-1.0, 53.0, size=(20, 30))
    az[0, 0] = np.nan
    got = interpolate_bilinear(image, az, rg)
    inside = (az >= 0) & (az <= 36) & (rg >= 0) & (rg <= 52)
    i = np.clip(np.floor(np.nan_to_num(az)).astype(int), 0, 35)
    j = np.clip(np.floor(np.nan_to_num(rg)).astype(int), 0, 51)
    fy, fx = np.nan_to_num(az) - i, np.nan_to_num(rg) - j
    want = ((1 - fy) * ((1 - fx) * image[i, j] + fx * image[i, j + 1])
            + fy * ((1 - fx) * image[i + 1, j] + fx * image[i + 1, j + 1]))
    np.testing.assert_allclose(got[inside], want[inside], rtol=1e-6, atol=1e-6)
    assert np.all(np.isnan(got[~inside]))
    with pytest.raises(ValueError, match="image"):
        interpolate_bilinear(image.astype(np.complex64), az, rg)


# --------------------------------------------------------------------------- coherence bias removal


@pytest.mark.parametrize("looks", [2, 5, 20])
def test_expected_sample_coherence_matches_the_integrated_pdf(looks):
    gammas = np.array([0.0, 0.1, 0.3, 0.6, 0.9, 0.98])
    got = K.expected_sample_coherence(gammas, looks)
    want = [R.mean_sample_coherence(g, looks) for g in gammas]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def test_bias_removed_coherence_is_unbiased_on_independent_looks():
    """Monte Carlo, 20 independent looks: the sample coherence is biased by +0.04 … +0.12 for
    0.1 ≤ γ ≤ 0.3, the bias-removed one by ≤ 0.025 from γ = 0.1 up. At γ = 0 an estimate
    that is never negative keeps a bias (+0.10, half the sample estimator's +0.20)."""
    rng = np.random.default_rng(RNG_SEED + 11)
    for gamma in (0.0, 0.1, 0.15, 0.3, 0.5, 0.8, 0.95):
        sample = R.sample_coherence_draws(gamma, 20, 8000, rng).astype(np.float32)[None, :]
        out = K.remove_coherence_bias(sample, np.full(sample.shape, 20.0))
        assert out.dtype == np.float32 and out.shape == sample.shape
        if gamma == 0.0:
            assert out.mean() < 0.6 * sample.mean()
        else:
            assert abs(out.mean() - gamma) <= 0.025, gamma
        if gamma <= 0.3:
            assert sample.mean() - gamma > 0.035  # the bias being removed is there
    nan = K.remove_coherence_bias(np.array([[np.nan, 0.5]], np.float32), np.array([[20.0, np.nan]]))
    assert np.isnan(nan).all()
    with pytest.raises(ValueError, match="same shape"):
        K.remove_coherence_bias(np.zeros((2, 2), np.float32), np.ones((2, 3)))


def test_effective_looks_counts_independent_pixels():
    """Independent pixels: L ≈ N; each pixel repeated on 2 rows: L ≈ N / 2 (oversampling)."""
    rng = np.random.default_rng(RNG_SEED + 12)
    ref, noise = _cplx(rng, (200, 200)), _cplx(rng, (200, 200))
    sec = (0.5 * ref + 0.8 * noise).astype(np.complex64)
    n = 4 * 10
    assert 0.9 * n <= K.effective_looks(ref, sec, (4, 10)) <= n
    twice = np.repeat(ref[:100], 2, axis=0), np.repeat(sec[:100], 2, axis=0)
    assert 0.5 * n <= K.effective_looks(*twice, (4, 10)) <= 0.65 * n
    ref[:50] = complex(np.nan, np.nan)
    assert 0.9 * n <= K.effective_looks(ref, sec, (4, 10)) <= n


@pytest.mark.parametrize("view", ["last columns dropped", "inner window", "column step", "Fortran order"])
def test_effective_looks_of_a_view_equals_that_of_its_copy(view):
    rng = np.random.default_rng(RNG_SEED + 13)
    ref, sec = _correlated_pair(rng, (60, 90))
    r, s = _VIEWS[view](ref), _VIEWS[view](sec)
    assert K.effective_looks(r, s, (4, 5)) == K.effective_looks(np.ascontiguousarray(r),
                                                                np.ascontiguousarray(s), (4, 5))


@pytest.mark.parametrize("view", ["none", "last columns dropped", "inner window", "column step"])
def test_valid_fraction_matches_the_mean_of_the_numpy_mask(view):
    """The share of pixels finite in both images per window (inf counts as invalid)."""
    rng = np.random.default_rng(RNG_SEED + 14)
    ref, sec = _correlated_pair(rng, (37, 53), nan_fraction=0.2)
    ref[5, 7] = complex(np.inf, 0)
    sec[9, 2] = complex(0, -np.inf)
    if view != "none":
        ref, sec = _VIEWS[view](ref), _VIEWS[view](sec)
    looks = (3, 4)
    ny, nx = ref.shape[0] // 3, ref.shape[1] // 4
    mask = (np.isfinite(ref) & np.isfinite(sec))[:ny * 3, :nx * 4]
    want = mask.reshape(ny, 3, nx, 4).mean(axis=(1, 3))
    got = K.valid_fraction(ref, sec, looks)
    assert got.dtype == np.float32 and got.shape == (ny, nx)
    np.testing.assert_array_equal(got, want.astype(np.float32))
    assert 0 < got.mean() < 1 and np.ptp(got) > 0.3


def test_valid_fraction_rejects_bad_input():
    a = np.zeros((8, 8), np.complex64)
    with pytest.raises(ValueError, match="sec must have dtype complex64"):
        K.valid_fraction(a, a.real, (2, 2))
    with pytest.raises(ValueError, match="same shape"):
        K.valid_fraction(a, a[:4], (2, 2))
    with pytest.raises(ValueError, match="larger than the image"):
        K.valid_fraction(a, a, (2, 9))
