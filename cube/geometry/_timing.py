"""Radar timing of bursts: swath (line, sample) ↔ (zero-Doppler time, slant-range time).

Line timing
-----------
A line of the measurement TIFF belongs to exactly one burst: burst ``k`` holds lines
``line_offset .. line_offset + lines - 1`` (the TIFF stores bursts one after the other;
bursts overlap in *time*, never in TIFF lines). Its tagged azimuth time is
``sensing_start + (line - line_offset) * azimuth_time_interval``.

Going the other way (a ground point to a line), a point seen by two consecutive bursts
(the ~0.1 s burst overlap) has two lines. We pick the burst whose valid lines contain the
point's time and whose valid-line centre is nearest to it; this splits every overlap at its
middle. A point in no burst's valid lines goes to the nearest one (its line then lies
outside that burst's valid window).

Sample timing: ``slant_range_time(sample) = slant_range_time + sample / range_sampling_rate``
(two-way, s).

Bistatic residual
-----------------
The IPF tags each line with the zero-Doppler time of one reference range (the middle of
IW2, two-way time τ_ref ≈ 5.84-5.86 ms); a target at two-way range time τ is truly at
zero Doppler ``(τ - τ_ref) / 2`` later. ESA's geolocationGrid azimuthTime includes this term
(measured: slope 0.5000 ± 0.0003 against τ in every annotation here). With
``bistatic=True`` we apply it, so line/sample mode agrees with the grid to centimetres;
without it a pixel lands up to ~0.13 line (~1.8 m along track) from the grid (see
docs/geometry.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cube.format import SPEED_OF_LIGHT, BurstMetadata
from cube.geometry._orbit import (
    OrbitInterpolator,
    make_orbit_interpolator,
    merge_orbits,
    seconds_since,
)

# Two-way slant-range time of the IW2 mid-swath (the IPF's bistatic reference), used when a
# burst carries no geolocation grid to measure it from. The annotations here span
# 5.841-5.857 ms, so this is good to ±8 µs, i.e. ±4 µs (±3 cm) in azimuth.
NOMINAL_BISTATIC_REFERENCE_S = 5.849e-3


def estimate_bistatic_reference(burst: BurstMetadata) -> float:
    """The IPF's bistatic reference τ_ref (two-way, s) measured from the burst's own grid.

    For every geolocationGrid point inside the burst, ``azimuthTime - tagged line time =
    (τ - τ_ref) / 2``; the median of ``τ - 2 (azimuthTime - tagged time)`` over the burst's
    first grid row is τ_ref (the image's last grid row is ~10 µs late in some IPF versions,
    so it is not used). Falls back to ``NOMINAL_BISTATIC_REFERENCE_S`` without a grid.
    """
    rows: dict[int, list[float]] = {}
    for p in burst.geolocation_grid:
        if not 0 <= p.line < burst.lines:
            continue  # the grid line at ``lines`` carries the next burst's timing
        tagged = p.line * burst.azimuth_time_interval
        actual = float(seconds_since(p.azimuth_time, burst.sensing_start))
        rows.setdefault(p.line, []).append(p.slant_range_time - 2.0 * (actual - tagged))
    if not rows:
        return NOMINAL_BISTATIC_REFERENCE_S
    # the earliest grid row: the image's last row is ~10 µs off in some IPF versions
    return float(np.median(rows[min(rows)]))


@dataclass(frozen=True)
class SwathTiming:
    """Timing and orbit of the bursts of one swath and polarization of one product.

    Times are float64 s since ``orbit.epoch`` (the first burst's ``sensing_start``).
    """

    bursts: tuple[BurstMetadata, ...]
    orbit: OrbitInterpolator
    line_offset: np.ndarray  # (nb,) int64
    lines: np.ndarray  # (nb,) int64
    start: np.ndarray  # (nb,) s since epoch, tagged time of each burst's line 0
    first_valid_line: np.ndarray  # (nb,)
    last_valid_line: np.ndarray  # (nb,)
    azimuth_time_interval: float
    slant_range_time: float
    range_sampling_rate: float
    bistatic_reference: float | None  # τ_ref (two-way, s) if the bistatic term is applied

    # ---- sample <-> slant range -------------------------------------------------------
    def sample_to_range_time(self, sample: np.ndarray) -> np.ndarray:
        """Two-way slant-range time (s) of samples (float, 0 = first sample)."""
        return self.slant_range_time + np.asarray(sample, np.float64) / self.range_sampling_rate

    def range_time_to_sample(self, tau: np.ndarray) -> np.ndarray:
        """Fractional sample of two-way slant-range times (s)."""
        return (np.asarray(tau, np.float64) - self.slant_range_time) * self.range_sampling_rate

    def bistatic_offset(self, tau: np.ndarray) -> np.ndarray | float:
        """Zero-Doppler time minus tagged line time (s) at two-way range times ``tau``."""
        if self.bistatic_reference is None:
            return 0.0
        return 0.5 * (np.asarray(tau, np.float64) - self.bistatic_reference)

    # ---- line <-> azimuth time --------------------------------------------------------
    def burst_of_line(self, line: np.ndarray) -> np.ndarray:
        """Index (into ``bursts``) of the burst that holds each swath line (clamped)."""
        line = np.floor(np.asarray(line, np.float64))
        idx = np.searchsorted(self.line_offset, line, side="right") - 1
        return np.clip(idx, 0, len(self.bursts) - 1)

    def lines_to_times(
        self, line: np.ndarray, sample: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Swath (line, sample) → (zero-Doppler time s since epoch, two-way range time s)."""
        line = np.asarray(line, np.float64)
        k = self.burst_of_line(line)
        tau = self.sample_to_range_time(sample)
        t = self.start[k] + (line - self.line_offset[k]) * self.azimuth_time_interval
        return t + self.bistatic_offset(tau), np.broadcast_to(tau, t.shape).copy()

    def times_to_lines(
        self, t: np.ndarray, tau: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(zero-Doppler time, two-way range time) → (swath line, sample, burst index).

        The burst is picked as the module docstring says (overlaps split at their middle).
        """
        t = np.asarray(t, np.float64)
        tau = np.asarray(tau, np.float64)
        t_line = t - self.bistatic_offset(tau)
        rel = (t_line[..., None] - self.start) / self.azimuth_time_interval  # (..., nb)
        lo = self.first_valid_line.astype(np.float64)
        hi = self.last_valid_line.astype(np.float64)
        centre = 0.5 * (lo + hi)
        outside = np.maximum(lo - rel, 0.0) + np.maximum(rel - hi, 0.0)
        score = np.abs(rel - centre) + 1e6 * outside
        k = np.argmin(np.where(np.isfinite(score), score, np.inf), axis=-1)
        rel_k = np.take_along_axis(rel, k[..., None], axis=-1)[..., 0]
        line = self.line_offset[k] + rel_k
        line = np.where(np.isfinite(t_line), line, np.nan)
        return line, self.range_time_to_sample(tau), k


def make_swath_timing(bursts: list[BurstMetadata], bistatic: bool = False) -> SwathTiming:
    """Timing of the bursts of one swath/polarization of one product.

    ``bistatic=True`` applies the IPF's range-dependent bistatic residual (see the module
    docstring), with τ_ref measured from the bursts' geolocation grids.
    """
    if not bursts:
        raise ValueError("no bursts given: pass the bursts of one swath and polarization")
    keys = {(b.product_id, b.swath, b.polarization) for b in bursts}
    if len(keys) != 1:
        raise ValueError(
            "bursts must come from one product, swath and polarization; got "
            + ", ".join(sorted("/".join(k) for k in keys))
        )
    ordered = tuple(sorted(bursts, key=lambda b: b.line_offset))
    for name in ("azimuth_time_interval", "slant_range_time", "range_sampling_rate"):
        if len({getattr(b, name) for b in ordered}) != 1:
            raise ValueError(f"bursts of one swath disagree on {name}")
    epoch = ordered[0].sensing_start
    orbit = make_orbit_interpolator(merge_orbits([b.orbit for b in ordered]), epoch=epoch)
    tau_ref = None
    if bistatic:
        tau_ref = float(np.median([estimate_bistatic_reference(b) for b in ordered]))
    first = ordered[0]
    return SwathTiming(
        bursts=ordered,
        orbit=orbit,
        line_offset=np.array([b.line_offset for b in ordered], np.int64),
        lines=np.array([b.lines for b in ordered], np.int64),
        start=np.array([seconds_since(b.sensing_start, epoch) for b in ordered]),
        first_valid_line=np.array([b.first_valid_line for b in ordered], np.int64),
        last_valid_line=np.array([b.last_valid_line for b in ordered], np.int64),
        azimuth_time_interval=first.azimuth_time_interval,
        slant_range_time=first.slant_range_time,
        range_sampling_rate=first.range_sampling_rate,
        bistatic_reference=tau_ref,
    )


def slant_range_of_time(tau: np.ndarray | float) -> np.ndarray | float:
    """One-way slant range (m) of a two-way slant-range time (s)."""
    return np.asarray(tau, np.float64) * (SPEED_OF_LIGHT / 2.0)
