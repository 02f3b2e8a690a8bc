"""Benchmarks of cube.kernels on full Sentinel-1 IW burst sizes (1500 lines × 20000 samples)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
from harness import ROOT, Context, Result, Timing, benchmark, log

from cube import kernels as K

# Sentinel-1 IW1-like burst parameters
DT_AZ = 2.055556e-3  # s, azimuth time interval
DT_RG = 1.0 / 64.345238e6  # s, two-way slant-range sampling interval
TAU0 = 5.33e-3  # s, first sample's two-way slant-range time
TOPS = dict(velocity=7590.0, steering_rate=np.deg2rad(1.590368784), wavelength=0.05546576)


def _shape(ctx: Context) -> tuple[int, int]:
    return (300, 2000) if ctx.quick else (1500, 20000)


def _size(shape: tuple[int, int]) -> str:
    return f"{shape[0]} × {shape[1]}"


def _speckle(shape: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty(shape, dtype=np.complex64)
    view = out.view(np.float32)
    view[...] = rng.standard_normal(view.shape, dtype=np.float32)
    return out


def _pair(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    ref = _speckle(shape, 1)
    sec = _speckle(shape, 2)
    sec *= np.float32(0.5)
    sec += ref
    # the invalid margins of a burst (first/last lines and samples are NaN in a CSLC)
    ref[:10] = np.nan
    sec[:, -50:] = np.nan
    return ref, sec


def numpy_interferogram(ref: np.ndarray, sec: np.ndarray, looks: tuple[int, int]):
    """Compute what K.interferogram_and_coherence computes, with vectorised numpy (NaN-aware)."""
    az, rg = looks
    ny, nx = ref.shape[0] // az, ref.shape[1] // rg
    r = ref[:ny * az, :nx * rg]
    s = sec[:ny * az, :nx * rg]
    valid = ~(np.isnan(r) | np.isnan(s))
    r = np.where(valid, r, 0)
    s = np.where(valid, s, 0)

    def box(x):
        return x.reshape(ny, az, nx, rg).sum(axis=(1, 3))

    n = box(valid.astype(np.float32))
    p = box(r * np.conj(s))
    a = box(r.real**2 + r.imag**2)
    b = box(s.real**2 + s.imag**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        ifg = (p / n).astype(np.complex64)
        coh = (np.abs(p) / np.sqrt(a * b)).astype(np.float32)
    return ifg, coh


def numpy_interferogram_plain(ref, sec, looks):
    """Compute the interferogram as design.md timed it: no NaN handling."""
    az, rg = looks
    ny, nx = ref.shape[0] // az, ref.shape[1] // rg
    r = ref[:ny * az, :nx * rg]
    s = sec[:ny * az, :nx * rg]

    def box(x):
        return x.reshape(ny, az, nx, rg).sum(axis=(1, 3))

    p = box(r * np.conj(s))
    return p, np.abs(p) / np.sqrt(box(np.abs(r) ** 2) * box(np.abs(s) ** 2))


@benchmark("interferogram", goal="≤ 40 ms, ≥ 10× numpy (one core)", max_seconds=0.040,
           min_ratio=10.0)
def bench_interferogram(ctx: Context) -> Result:
    """Interferogram + coherence, looks (2, 8), NaN-aware, one fused numba pass vs numpy.

    ``extra.window_of_wider_image_best_s``: the same pixels as a window of a 3 columns wider
    image (not contiguous: read in place, no copy), as a job's pair products read the CSLCs.
    """
    shape = _shape(ctx)
    looks = (2, 8)
    ref, sec = _pair(shape)
    ifg, coh = K.interferogram_and_coherence(ref, sec, looks)
    want_ifg, want_coh = numpy_interferogram(ref, sec, looks)
    np.testing.assert_allclose(coh, want_coh, rtol=1e-4, atol=1e-5, equal_nan=True)
    np.testing.assert_allclose(ifg, want_ifg, rtol=1e-4, atol=1e-4, equal_nan=True)
    cand = ctx.time(lambda: K.interferogram_and_coherence(ref, sec, looks), repeat=max(ctx.repeat, 10))
    ref_t = ctx.time(lambda: numpy_interferogram(ref, sec, looks), repeat=3)
    plain = ctx.time(lambda: numpy_interferogram_plain(ref, sec, looks), repeat=3)
    # a window of a larger image (a job's pair over the cached CSLCs: the windows drop the last
    # grid columns), read in place: its time should be the contiguous one, not that plus copies
    wide_r, wide_s = (np.empty((shape[0], shape[1] + 3), np.complex64) for _ in range(2))
    wide_r[:, :-3], wide_s[:, :-3] = ref, sec
    view_r, view_s = wide_r[:, :-3], wide_s[:, :-3]
    got = K.interferogram_and_coherence(view_r, view_s, looks)
    assert got[0].tobytes() == ifg.tobytes() and got[1].tobytes() == coh.tobytes()
    view = ctx.time(lambda: K.interferogram_and_coherence(view_r, view_s, looks), repeat=max(ctx.repeat, 10))
    extra = {"looks": list(looks), "numpy_without_nan_handling_best_s": plain.best,
             "window_of_wider_image_best_s": view.best}
    import numba

    if numba.config.NUMBA_NUM_THREADS > 1:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        multi = ctx.time(lambda: K.interferogram_and_coherence(ref, sec, looks), repeat=max(ctx.repeat, 10))
        extra[f"numba_{numba.config.NUMBA_NUM_THREADS}_threads_best_s"] = multi.best
        numba.set_num_threads(1)
    return Result(cand, ref_t, "numpy (NaN-aware)", _size(shape), extra)


def _positions(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Return a smooth shifted position field, as a geocoded grid maps into a burst."""
    ny, nx = shape
    i = np.arange(ny, dtype=np.float64)[:, None]
    j = np.arange(nx, dtype=np.float64)[None, :]
    az = i + 0.37 + 1.5 * np.sin(2 * np.pi * j / nx) + 0.001 * j
    rg = j - 0.71 + 0.002 * i + 2.0 * np.cos(2 * np.pi * i / ny)
    return np.ascontiguousarray(az), np.ascontiguousarray(rg)


@benchmark("sinc_resample", goal="≤ 1.5 s per burst (one core)", max_seconds=1.5)
def bench_resample(ctx: Context) -> Result:
    """8-tap sinc interpolation of a burst at a smooth shifted position field.

    Table oversampled 2048×, output as large as the input; the reference is
    scipy.ndimage.map_coordinates (cubic spline) on the real and imaginary parts.
    """
    from scipy import ndimage

    shape = _shape(ctx)
    slc = _speckle(shape, 3)
    az, rg = _positions(shape)
    table = K.make_sinc_table(8, 2048)
    out = np.empty(shape, dtype=np.complex64)
    cand = ctx.time(lambda: K.resample(slc, az, rg, table, out=out), repeat=min(ctx.repeat, 3))
    coords = np.stack([az, rg])

    def scipy_ref():
        re = ndimage.map_coordinates(slc.real, coords, order=3, mode="constant", cval=np.nan)
        im = ndimage.map_coordinates(slc.imag, coords, order=3, mode="constant", cval=np.nan)
        return re + 1j * im

    ref_t = ctx.time(scipy_ref, repeat=1 if not ctx.quick else 3, warmup=0)
    valid = np.isfinite(out).mean()
    return Result(cand, ref_t, "scipy map_coordinates, order 3", _size(shape),
                  {"valid_output_fraction": float(valid), "outputs_per_second": out.size / cand.best})


def _burst_doppler(nx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tau = TAU0 + np.arange(nx) * DT_RG
    d = tau - tau[0]
    fdc = 12.0 + 9e6 * d - 4e11 * d**2
    ka = -2300.0 + 4e7 * d
    return tau, fdc, ka


def numpy_carrier(eta, fdc, ka):
    """Compute the TOPS carrier phase on the burst grid with numpy."""
    ks = 2.0 * TOPS["velocity"] * TOPS["steering_rate"] / TOPS["wavelength"]
    kt = ka * ks / (ka - ks)
    eta_ref = -fdc / ka + fdc[0] / ka[0]
    d = eta[:, None] - eta_ref[None, :]
    return -np.pi * kt * d * d - 2 * np.pi * fdc * d


@benchmark("deramp", goal="≈ 0.14 s per burst (design.md, one core)", max_seconds=0.3)
def bench_deramp(ctx: Context) -> Result:
    """Deramp one burst: carrier phase and rotation in one pass (tops_deramp)."""
    shape = _shape(ctx)
    slc = _speckle(shape, 4)
    eta = (np.arange(shape[0]) - shape[0] // 2) * DT_AZ
    _, fdc, ka = _burst_doppler(shape[1])
    out = np.empty_like(slc)

    def run():
        K.tops_deramp(slc, eta, fdc, ka, **TOPS, out=out)

    def numpy_ref():
        return (slc * np.exp(1j * numpy_carrier(eta, fdc, ka))).astype(np.complex64)

    run()
    np.testing.assert_allclose(out[::37, ::101], numpy_ref()[::37, ::101], rtol=1e-5, atol=1e-5)
    cand = ctx.time(run)
    ref_t = ctx.time(numpy_ref, repeat=2)
    return Result(cand, ref_t, "numpy exp", _size(shape))


@benchmark("reramp", goal="≈ 0.26 s per burst (design.md, one core)", max_seconds=0.5)
def bench_reramp(ctx: Context) -> Result:
    """Reramp one burst of values at fractional positions, in one pass (tops_reramp_at)."""
    shape = _shape(ctx)
    values = _speckle(shape, 5)
    az, rg = _positions(shape)
    eta = (az - shape[0] // 2) * DT_AZ
    tau = TAU0 + rg * DT_RG
    grid, fdc, ka = _burst_doppler(shape[1])
    out = np.empty_like(values)

    def run():
        K.tops_reramp_at(values, az, rg, line_centre=shape[0] // 2, azimuth_time_interval=DT_AZ,
                         slant_range_time=TAU0, range_sampling_rate=1.0 / DT_RG, sample0=0.0,
                         fdc=fdc, ka=ka, **TOPS, out=out)

    def numpy_ref():
        ks = 2.0 * TOPS["velocity"] * TOPS["steering_rate"] / TOPS["wavelength"]
        kt = ka * ks / (ka - ks)
        eta_ref = -fdc / ka + fdc[0] / ka[0]
        kt_i = np.interp(tau, grid, kt)
        er_i = np.interp(tau, grid, eta_ref)
        f_i = np.interp(tau, grid, fdc)
        d = eta - er_i
        return (values * np.exp(1j * (np.pi * kt_i * d * d + 2 * np.pi * f_i * d))).astype(
            np.complex64)

    run()
    sl = (slice(5, None, 37), slice(5, -5, 101))  # inside the grid (np.interp clamps outside)
    np.testing.assert_allclose(out[sl], numpy_ref()[sl], rtol=1e-4, atol=1e-4)
    cand = ctx.time(run)
    ref_t = ctx.time(numpy_ref, repeat=2)
    return Result(cand, ref_t, "numpy exp + interp", _size(shape))


_FIRST_CALL = textwrap.dedent(
    """
    import json, time
    t0 = time.perf_counter()
    import numpy as np
    t1 = time.perf_counter()
    import cube.kernels as K
    t2 = time.perf_counter()
    r = np.ones((64, 64), np.complex64)
    K.interferogram_and_coherence(r, r, (2, 2))
    t3 = time.perf_counter()
    y, x = np.meshgrid(np.arange(64.0), np.arange(64.0), indexing="ij")
    K.multilook(r, (2, 2))
    K.resample(r, y, x, K.make_sinc_table())
    tops = dict(fdc=np.zeros(64), ka=-np.ones(64), velocity=7000.0, steering_rate=0.02,
                wavelength=0.05)
    K.tops_deramp(r, np.zeros(64), **tops)
    K.tops_reramp_at(r, y, x, line_centre=32.0, azimuth_time_interval=1e-3,
                     slant_range_time=5e-3, range_sampling_rate=6e7, sample0=0.0, **tops)
    K.interpolate_bilinear(np.abs(r), y, x)
    t4 = time.perf_counter()
    print(json.dumps({"numpy_import_s": t1 - t0, "kernels_import_s": t2 - t1,
                      "first_interferogram_s": t3 - t2, "import_and_first_call_s": t3 - t1,
                      "all_kernels_first_call_s": t4 - t2}))
    """
)


@benchmark("first_call", goal="≤ 1 s: import + first call, numba cache warm", max_seconds=1.0,
           threads=None)
def bench_first_call(ctx: Context) -> Result:
    """Time `import cube.kernels` + the first interferogram() call in a fresh process.

    The numba cache and Python's bytecode cache are warm, as in a deployed container; the
    reference is the same process with both caches cold (numba compiling).
    """

    def run(env: dict[str, str]) -> dict[str, float]:
        proc = subprocess.run([sys.executable, "-c", _FIRST_CALL], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            log(proc.stderr)
            raise RuntimeError("first-call subprocess failed")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    with tempfile.TemporaryDirectory(prefix="sarcube-first-call-") as tmp:
        env = dict(os.environ)
        env["NUMBA_CACHE_DIR"] = os.path.join(tmp, "numba")
        env["NUMBA_BOUNDSCHECK"] = "0"
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pyc")  # keeps .venv untouched
        cold = run(env)
        warm = [run(env) for _ in range(max(2, min(ctx.repeat, 5)))]
        # as this shell runs it: no bytecode cache if PYTHONDONTWRITEBYTECODE is set
        plain_env = dict(env)
        plain_env.pop("PYTHONPYCACHEPREFIX")
        if "PYTHONDONTWRITEBYTECODE" in os.environ:
            plain_env["PYTHONDONTWRITEBYTECODE"] = os.environ["PYTHONDONTWRITEBYTECODE"]
        plain = run(plain_env)
    cand = Timing([r["import_and_first_call_s"] for r in warm])
    ref_t = Timing([cold["import_and_first_call_s"]])
    best = min(warm, key=lambda r: r["import_and_first_call_s"])
    return Result(cand, ref_t, "same, cold caches (compiling)", "64 × 64", {
        "warm_numpy_import_s": best["numpy_import_s"],
        "warm_kernels_import_s": best["kernels_import_s"],
        "warm_first_interferogram_s": best["first_interferogram_s"],
        "warm_all_kernels_first_call_s": min(r["all_kernels_first_call_s"] for r in warm),
        "cold_all_kernels_first_call_s": cold["all_kernels_first_call_s"],
        "warm_numba_cache_no_bytecode_cache_s": plain["import_and_first_call_s"],
    })
