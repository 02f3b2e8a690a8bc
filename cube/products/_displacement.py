"""Displacement time series: unwrapped pairs (SNAPHU), the weighted SBAS inversion, velocity.

Pure functions over whole-burst arrays of one product grid (the multilooked grid of
``multilook``); ``cube.jobs`` reads their inputs from the ARD store and stores their outputs.

Conventions (MintPy's and OPERA DISP-S1's): the interferogram of a pair (reference i, secondary
j) is ``ref · conj(sec)``, its phase ``4π/λ · (d_i − d_j)`` with ``d`` the line-of-sight
displacement, positive towards the satellite. The series ``d`` is relative to the first date
and to the reference pixel.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from cube.errors import InputError
from cube.format import DAY_US, date_key_time, rule_pairs
from cube.kernels import phase_weight, sbas_invert
from cube.products._options import DisplacementOptions, UnwrappedOptions

DAYS_PER_YEAR = 365.25


def made_by_job(*_: object) -> np.ndarray:
    """The compute function of the series products: they are never computed chunk by chunk."""
    raise InputError("unwrapped, displacement and velocity are made for a whole burst by a job "
                     "(POST /jobs, or the 202 answer of a read), not chunk by chunk")


def equivalent_looks(looks: tuple[int, int]) -> float:
    """Independent looks of a multilook window of the fixed grid (5 m × 10 m pixels).

    About a quarter of the grid pixels averaged: the grid oversamples the IW resolution cell
    (~ 20 m azimuth × 5 m slant range ≈ 20 m × 10 m on the ground) about four times.
    """
    return max(1.0, looks[0] * looks[1] / 4.0)


def network_pairs(dates: Sequence[str], options: DisplacementOptions) -> list[tuple[int, int]]:
    """Index pairs (i, j), i < j, of the series' network over sorted ``dates`` (date keys).

    ``rule``: the cube's pair rule with ``max_days``; ``sequential:N``: each date with its N
    next ones, at most ``max_days`` apart.
    """
    dates = sorted(dates)
    if options.network == "rule":
        index = {d: k for k, d in enumerate(dates)}
        return [(index[a], index[b]) for a, b in rule_pairs(dates, options.max_days)]
    n = int(options.network.split(":")[1])
    days = [(date_key_time(d) - date_key_time(dates[0])).total_seconds() * 1e6 / DAY_US for d in dates]
    return [(i, j) for i in range(len(dates)) for j in range(i + 1, min(len(dates), i + n + 1))
            if days[j] - days[i] <= options.max_days + 0.5]


def check_network(dates: Sequence[str], options: DisplacementOptions, burst_id: str) -> list[tuple[int, int]]:
    """The network's pairs; InputError when there are fewer than two dates or it leaves a date out."""
    dates = sorted(dates)
    if len(dates) < 2:
        raise InputError(f"{burst_id}: a displacement series needs at least two dates; the burst has "
                         f"{len(dates)}")
    pairs = network_pairs(dates, options)
    parent = list(range(len(dates)))

    def root(k: int) -> int:
        while parent[k] != k:
            k = parent[k]
        return k

    for i, j in pairs:
        parent[root(i)] = root(j)
    apart = [d for k, d in enumerate(dates) if root(k) != root(0)]
    if apart:
        raise InputError(
            f"{burst_id}: the network network={options.network}, max_days={options.max_days} is too thin: "
            f"{len(pairs)} pair(s) leave {len(apart)} of {len(dates)} dates unconnected (first {apart[0]}); "
            "raise max_days or N of sequential:N")
    return pairs


def unwrap(ifg: np.ndarray, coherence: np.ndarray,
           options: UnwrappedOptions) -> tuple[np.ndarray, np.ndarray]:
    """Unwrap one multilooked interferogram with SNAPHU (smooth cost, MCF start, one tile).

    ``ifg`` complex64 (rows, cols) and ``coherence`` float32 (rows, cols) of one pair on the same
    grid. Pixels with coherence below ``options.min_coherence`` (or NaN) are masked.

    Returns float32 (rows, cols) unwrapped phase, rad (NaN where masked or in no connected
    component), and int32 connected-component labels (1, 2, …; 0 none or masked).
    """
    import snaphu

    valid = np.isfinite(ifg) & np.isfinite(coherence) & (coherence >= options.min_coherence)
    if valid.sum() < 2:
        return np.full(ifg.shape, np.nan, np.float32), np.zeros(ifg.shape, np.int32)
    with _quiet_stdout():  # the SNAPHU binary reports its progress on the inherited stdout
        unw, comps = snaphu.unwrap(np.where(valid, ifg, 0).astype(np.complex64),
                                   np.where(valid, coherence, 0).astype(np.float32),
                                   nlooks=equivalent_looks(options.looks), cost="smooth", init="mcf",
                                   mask=valid, min_region_size=min(100, max(4, int(valid.sum()) // 100)))
    phase = np.where(valid & (comps > 0), unw, np.nan).astype(np.float32)
    labels = np.where(valid, comps, 0).astype(np.int32)
    return phase, labels


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """File descriptor 1 on /dev/null for the duration (child processes inherit it)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def reference_pixel(phase: np.ndarray, coherence: np.ndarray, burst_id: str) -> tuple[int, int]:
    """The most coherent pixel (mean over pairs) that has an unwrapped value in every pair.

    ``phase`` and ``coherence``: (pairs, rows, cols). InputError if no pixel has a value in
    every pair.
    """
    everywhere = np.all(np.isfinite(phase), axis=0)
    if not everywhere.any():
        raise InputError(f"{burst_id}: no pixel is unwrapped in every pair of the network; lower "
                         "min_coherence, or give ref=lon,lat")
    score = np.where(everywhere, np.where(np.isfinite(coherence), coherence, 0).mean(axis=0), -1.0)
    r, c = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(r), int(c)


@dataclass
class Series:
    """A burst's displacement series on the multilooked grid, and the quality of its fit.

    ``displacement`` float32 (dates, rows, cols), m, LOS positive towards the satellite,
    relative to the first date and the reference pixel ``ref`` (row, col); ``residual`` float32
    (rows, cols), m: RMS misfit of the pairs; ``temporal_coherence`` float32 (rows, cols), 0..1;
    ``connected`` bool (rows, cols); ``pairs``: the network's date index pairs.
    """

    displacement: np.ndarray
    residual: np.ndarray
    temporal_coherence: np.ndarray
    connected: np.ndarray
    ref: tuple[int, int]
    pairs: list[tuple[int, int]]


REF_HALF = 2
"""The reference area: the (2·REF_HALF + 1)² pixels around the reference pixel."""


def referenced_phase(phase: np.ndarray, components: np.ndarray, ref: tuple[int, int]) -> np.ndarray:
    """Each pair's unwrapped phase minus its mean over the reference area, float64 (pairs, rows, cols).

    The area's pixels that share the reference pixel's connected component count; pixels in
    another component are NaN (their 2π offset from the reference is unknown). InputError if the
    reference pixel is not unwrapped in every pair.
    """
    r, c = ref
    if not np.all(np.isfinite(phase[:, r, c])):
        raise InputError(f"the reference pixel (row {r}, col {c}) is not unwrapped in every pair "
                         "(incoherent there); give ref=lon,lat on a coherent, stable area")
    same = components == components[:, r:r + 1, c:c + 1]
    rows, cols = slice(max(r - REF_HALF, 0), r + REF_HALF + 1), slice(max(c - REF_HALF, 0), c + REF_HALF + 1)
    area = np.where(same[:, rows, cols] & np.isfinite(phase[:, rows, cols]), phase[:, rows, cols], np.nan)
    offset = np.nanmean(area.reshape(area.shape[0], -1).astype(np.float64), axis=1)
    return np.where(same, phase - offset[:, None, None], np.nan)


def invert_series(phase: np.ndarray, components: np.ndarray, coherence: np.ndarray,
                  pairs: Sequence[tuple[int, int]], n_dates: int, wavelength: float,
                  looks: tuple[int, int], ref: tuple[int, int]) -> Series:
    """Weighted SBAS inversion of a burst's unwrapped pairs.

    ``phase``, ``components``, ``coherence``: (pairs, rows, cols) from :func:`unwrap` and
    the coherence of each pair; ``pairs``: (reference, secondary) date indices; ``ref``: the
    reference pixel (row, col), which must be unwrapped in every pair.

    Each pair is referenced to its mean over the reference area (:func:`referenced_phase`);
    its pixels outside the reference's connected component are left out. Weights: the inverse
    phase variance of the coherence (:func:`cube.kernels.phase_weight`).
    """
    n_pairs, rows, cols = phase.shape
    # ψ_j − ψ_i = −(phase of ref · conj(sec)) : ψ = 4π/λ · d
    observed = -referenced_phase(phase, components, ref).reshape(n_pairs, -1)
    weight = phase_weight(coherence.reshape(n_pairs, -1), int(equivalent_looks(looks)))
    history, residual, tcoh, connected = sbas_invert(observed, weight, np.asarray(pairs), n_dates)
    to_m = wavelength / (4 * np.pi)
    return Series(
        displacement=(history * to_m).astype(np.float32).reshape(n_dates, rows, cols),
        residual=(residual * to_m).astype(np.float32).reshape(rows, cols),
        temporal_coherence=tcoh.astype(np.float32).reshape(rows, cols),
        connected=connected.reshape(rows, cols),
        ref=ref,
        pairs=list(pairs),
    )


def years_since_first(dates: Sequence[str]) -> np.ndarray:
    """float64 (dates,) years of each date key after the first (365.25-day years)."""
    t0 = date_key_time(min(dates))
    return np.array([(date_key_time(d) - t0).total_seconds() / 86400 / DAYS_PER_YEAR for d in dates])


def velocity_fit(displacement: np.ndarray, years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares line through a whole displacement series, per pixel.

    ``displacement`` (dates, rows, cols), m; ``years`` (dates,). Returns float32 (rows, cols)
    velocity, m/yr, and its standard error σ̂ / √Σ(t − t̄)² with σ̂² = Σ e² / (n − 2), m/yr
    (NaN with fewer than three dates). InputError for fewer than two dates.
    """
    n = displacement.shape[0]
    if n < 2:
        raise InputError(f"a velocity needs at least two dates, got {n}")
    t = years - years.mean()
    d = displacement.astype(np.float64)
    sxx = float(np.sum(t * t))
    mean = d.mean(axis=0)
    slope = np.tensordot(t, d - mean, axes=1) / sxx
    std = np.full(slope.shape, np.nan)
    if n >= 3:
        fit = mean + t[:, None, None] * slope
        std = np.sqrt(np.sum((d - fit) ** 2, axis=0) / (n - 2) / sxx)
    return slope.astype(np.float32), std.astype(np.float32)
