"""Benchmarks of the displacement series on one full-size burst at 10 × 20 looks.

The full-size burst's fixed grid is 3342 × 14503 (5 m × 10 m), so its 10 × 20-look product
grid is 334 × 725 pixels. The inputs are synthetic (a smooth deformation bowl of many fringes
plus phase noise drawn from a coherence map), so that the timings do not depend on simulating
and geocoding 30 full-size dates.
"""

from __future__ import annotations

import numpy as np
from harness import Context, Result, Timing, benchmark, log

from cube import kernels as K
from cube.products import UnwrappedOptions, unwrap

LOOKS = (10, 20)
FULL = (334, 725)  # 3342 × 14503 grid pixels / (10, 20)
QUICK = (100, 200)
DATES = 30
RULE_SPAN = 4  # the pair rule at 12-day repeat: consecutive and ≤ 48 days: the next 4 dates
MINTPY_EVERY = 10  # MintPy's per-pixel weighted loop is timed on every 10th pixel, then scaled


def _shape(ctx: Context) -> tuple[int, int]:
    return QUICK if ctx.quick else FULL


def _coherence(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    rows, cols = shape
    y, x = np.mgrid[0:rows, 0:cols]
    base = 0.55 + 0.35 * np.sin(x / 37.0) * np.cos(y / 23.0)
    return np.clip(base + rng.normal(0, 0.05, shape), 0.05, 0.99).astype(np.float32)


def _noise(coh: np.ndarray, looks: float, rng: np.random.Generator) -> np.ndarray:
    """Phase noise of the Cramér–Rao standard deviation of each pixel's coherence, rad."""
    return rng.normal(0, 1, coh.shape) * np.sqrt((1 - coh**2) / (2 * looks * coh**2))


def _bowl(shape: tuple[int, int], fringes: float) -> np.ndarray:
    rows, cols = shape
    y, x = np.mgrid[0:rows, 0:cols]
    r2 = ((y - rows / 2) / (rows / 3)) ** 2 + ((x - cols / 2) / (cols / 4)) ** 2
    return 2 * np.pi * fringes / (1 + r2) ** 1.5


@benchmark("unwrap_burst_pair", goal="≤ 60 s (SNAPHU, one tile)", max_seconds=60.0)
def bench_unwrap(ctx: Context) -> Result:
    """SNAPHU (through ``cube.products.unwrap``) on one full-size burst pair at 10 × 20 looks.

    A bowl of 12 fringes under phase noise from a coherence map 0.15–0.95; pixels under 0.3 are
    masked. Extra: the share of unmasked pixels with a whole-cycle error against the true phase.
    """
    shape = _shape(ctx)
    rng = np.random.default_rng(1)
    coh = _coherence(shape, rng)
    truth = _bowl(shape, 12.0)
    options = UnwrappedOptions(multilook=LOOKS)
    ifg = (np.exp(1j * (truth + _noise(coh, 50.0, rng))) * 1e4).astype(np.complex64)
    out: dict[str, np.ndarray] = {}

    def run() -> None:
        out["phase"], out["components"] = unwrap(ifg, coh, options)

    timing = ctx.time(run, repeat=min(ctx.repeat, 2))
    phase = out["phase"]
    ok = np.isfinite(phase)
    # one constant 2π·k per component is free: compare against the truth after removing the median offset
    offset = np.median(np.round((phase[ok] - truth[ok]) / (2 * np.pi)))
    jumps = np.round((phase[ok] - truth[ok]) / (2 * np.pi)) != offset
    log(f"  unwrapped {ok.mean():.1%} of the pixels, whole-cycle errors on {jumps.mean():.2%} of them")
    return Result(candidate=timing, size=f"{shape[0]} × {shape[1]} (10 × 20 looks of a 3342 × 14503 grid)",
                  extra={"unwrapped_fraction": float(ok.mean()), "cycle_error_fraction": float(jumps.mean())})


def _network(n: int) -> np.ndarray:
    return np.array([(i, j) for i in range(n) for j in range(i + 1, min(n, i + RULE_SPAN + 1))])


@benchmark("invert_series_30_dates", goal="faster than MintPy (≥ 10×), same result to 0.1 mm",
           min_ratio=10.0, threads=None)
def bench_invert(ctx: Context) -> Result:
    """Weighted SBAS inversion of 30 dates × 1 full-size burst at 10 × 20 looks (110 pairs).

    Candidate: ``cube.kernels.sbas_invert`` over every pixel (numba, both cores). Reference:
    MintPy's ``estimate_timeseries`` called pixel by pixel with the same weights, as its
    ``ifgram_inversion`` runs a weighted inversion, timed on every 10th pixel and scaled to the
    whole grid. Extra: the largest difference between the two, mm.
    """
    from mintpy.ifgram_inversion import estimate_timeseries

    shape = _shape(ctx)
    n_pix = shape[0] * shape[1]
    rng = np.random.default_rng(2)
    pairs = _network(DATES)
    truth = np.cumsum(rng.normal(0, 0.5, (DATES, n_pix)), axis=0)
    truth -= truth[0]
    coh = np.clip(rng.uniform(0.2, 0.95, (len(pairs), n_pix)), 0.05, 0.99)
    phase = truth[pairs[:, 1]] - truth[pairs[:, 0]] + _noise(coh, 50.0, rng)
    phase[coh < 0.3] = np.nan
    weight = K.phase_weight(coh, 50)
    out: dict[str, np.ndarray] = {}

    def ours() -> None:
        out["history"] = K.sbas_invert(phase, weight, pairs, DATES)[0]

    candidate = ctx.time(ours, repeat=min(ctx.repeat, 3))
    a = np.zeros((len(pairs), DATES))
    a[np.arange(len(pairs)), pairs[:, 1]] = 1
    a[np.arange(len(pairs)), pairs[:, 0]] = -1
    a = a[:, 1:]
    tbase = np.full((DATES - 1, 1), 12 / 365.25)
    b = a * tbase.T
    subset = np.arange(0, n_pix, MINTPY_EVERY)
    sw = np.sqrt(weight).astype(np.float32)
    ph32 = phase.astype(np.float32)
    worst = [0.0]

    def mintpy() -> None:
        for p in subset:
            ts = estimate_timeseries(a, b, ph32[:, p:p + 1], tbase, weight_sqrt=sw[:, p:p + 1],
                                     min_norm_velocity=False, print_msg=False)[0]
            ok = np.isfinite(out["history"][:, p])
            if ok.all():
                diff = np.max(np.abs(ts[:, 0] - out["history"][:, p]))
                worst[0] = max(worst[0], float(diff))

    measured = ctx.time(mintpy, repeat=1, warmup=0)
    reference = Timing([t * n_pix / subset.size for t in measured.times])
    mm = worst[0] * 0.05546576 / (4 * np.pi) * 1e3
    log(f"  MintPy on {subset.size} pixels: {measured.best:.1f} s → {reference.best:.1f} s for {n_pix}; "
        f"ours {candidate.best:.2f} s; largest difference {mm:.2e} mm")
    return Result(candidate=candidate, reference=reference, reference_name="MintPy estimate_timeseries",
                  size=f"{DATES} dates, {len(pairs)} pairs, {shape[0]} × {shape[1]} pixels",
                  extra={"mintpy_pixels_timed": int(subset.size), "mintpy_subset_s": measured.best,
                         "max_difference_mm": mm})
