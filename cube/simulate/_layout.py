"""Acquisition layout of a simulated stack: radar grid, burst timing, dates and orbits."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import numpy as np

from . import _constants as C
from ._orbit import Orbit

SIZES = {"tiny": (160, 480), "full": (1512, 20_000)}  # lines per burst, samples per burst
FULL_LINES = SIZES["full"][0]
SEED_CYCLES_BACK = 38  # 2025-04-06 − 38 × 12 days = 2024-01-06, the first simulated date
DATATAKE_STEP = 1831  # typical increase of the S1A datatake id over 12 days
ORBIT_MARGIN = 35.0  # s of state vectors kept on each side of the acquisition


def quantize(x: float) -> float:
    """Round a double to what ``format(x, '.15e')`` writes, so XML and pixels agree exactly."""
    return float(f"{x:.15e}")


def round_us(sod: float) -> float:
    """Round seconds of day to whole microseconds (the precision of annotation times)."""
    return round(sod * 1e6) / 1e6


def time_str(date: dt.date, sod: float) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffff`` for a date and seconds of day."""
    us = round(sod * 1e6)
    t = dt.datetime.combine(date, dt.time()) + dt.timedelta(microseconds=us)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")


@dataclasses.dataclass(frozen=True)
class Layout:
    """Radar grid shared by all dates (each date has its own burst times and orbit)."""

    swath: C.SwathParams
    polarization: str
    lines_per_burst: int
    samples: int
    bursts: int
    slant_range_time: float  # s, two-way, first sample
    burst_cycle: float  # s between consecutive burst starts (zero-Doppler azimuthTime)
    sensing_cycle: float  # s between consecutive bursts' sensingTime (the real cycle: ESA burst IDs)
    first_burst_sod: float  # nominal first burst start (zero Doppler), seconds of day
    invalid_lines: int  # lines flagged invalid at each burst edge
    first_valid_sample: int
    last_valid_sample: int

    @classmethod
    def build(cls, swath: str, polarization: str, size: str, bursts: int) -> Layout:
        lines, samples = SIZES[size]
        params = C.SWATHS[swath]
        offset = max(params.full_samples - samples, 0) // 2  # centre the window in the swath
        return cls(
            swath=params,
            polarization=polarization,
            lines_per_burst=lines,
            samples=samples,
            bursts=bursts,
            slant_range_time=quantize(params.slant_range_time + offset / C.RANGE_SAMPLING_RATE),
            # the real cycle scaled with the burst length: a full burst repeats every 2.758 s,
            # a tiny one every 142 of its 160 lines, so tiny bursts are adjacent and overlap by
            # 18 lines (12 valid), as real ones overlap by ~8 % of their valid lines
            burst_cycle=round_us(C.BURST_ID_T_BEAM * lines / FULL_LINES),
            # sensingTime keeps the real cycle at every size: each burst its own ESA burst ID
            sensing_cycle=round_us(C.BURST_ID_T_BEAM),
            first_burst_sod=C.SEED_FIRST_BURST_SECONDS_OF_DAY,
            invalid_lines=max(3, round(26 * lines / 1513)),
            first_valid_sample=max(4, round(0.034 * samples)),
            last_valid_sample=samples - 1 - max(4, round(0.044 * samples)),
        )

    @property
    def near_range(self) -> float:
        """One-way slant range of the first sample, m."""
        return self.slant_range_time * C.SPEED_OF_LIGHT / 2

    def slant_range(self, sample: np.ndarray | float) -> np.ndarray:
        """One-way slant range (m) of ``sample`` (range pixel index, any shape)."""
        return self.near_range + np.asarray(sample) * C.RANGE_PIXEL_SPACING

    def valid_window(self) -> tuple[np.ndarray, np.ndarray]:
        """The firstValidSample / lastValidSample per line of a burst (lines,), −1 when invalid."""
        first = np.full(self.lines_per_burst, self.first_valid_sample, dtype=np.int64)
        last = np.full(self.lines_per_burst, self.last_valid_sample, dtype=np.int64)
        first[: self.invalid_lines] = first[-self.invalid_lines:] = -1
        last[: self.invalid_lines] = last[-self.invalid_lines:] = -1
        return first, last


def seed_orbit() -> Orbit:
    """The unperturbed reference orbit (time in seconds of day, identical for every date)."""
    s = C.SEED_ORBIT
    return Orbit(s[:, 0], s[:, 1:4], s[:, 4:7])


@dataclasses.dataclass(frozen=True)
class Acquisition:
    """One simulated date."""

    index: int
    date: dt.date
    days: float  # days since the first date
    absolute_orbit: int
    datatake: int
    unique_id: str  # 4 hex digits of the product name
    burst_sod: np.ndarray  # (bursts,) zero-Doppler time of each burst's first line, s of day
    orbit: Orbit
    cross_track: float  # m, orbit offset along the orbit normal at the first burst
    radial: float  # m
    time_factor: float  # deformation scaling, 0 at the first date, 1 at the last

    @property
    def relative_orbit(self) -> int:
        return (self.absolute_orbit - 73) % 175 + 1

    @property
    def mission(self) -> str:
        return "S1A"


DEFORMATIONS = ("linear", "nonlinear")
"""Deformation histories: ``linear`` in time; ``nonlinear`` = linear + seasonal + one step."""


def time_factor(days: float, span: float, deformation: str = "linear") -> float:
    """The deformation scaling of a date ``days`` after the first of a stack spanning ``span`` days.

    ``linear``: days / span (0 at the first date, 1 at the last). ``nonlinear``: 0.6·days/span
    + 0.25·sin(2π·days/365.25) (a yearly cycle) + a step of 0.3 from span/2 on.
    """
    if span <= 0:
        return 0.0
    if deformation == "linear":
        return days / span
    return 0.6 * days / span + 0.25 * float(np.sin(2 * np.pi * days / 365.25)) + 0.3 * (days >= span / 2)


def make_acquisitions(layout: Layout, dates: int, seed: int,
                      deformation: str = "linear") -> list[Acquisition]:
    """Dates every 12 days from 2024-01-06, each with its own orbit offset and burst timing.

    ``deformation``: the history of the deformation field (:func:`time_factor`).
    """
    span = (layout.bursts - 1) * layout.burst_cycle + layout.lines_per_burst * C.AZIMUTH_TIME_INTERVAL
    if layout.first_burst_sod + span + ORBIT_MARGIN > C.SEED_ORBIT[-1, 0]:
        raise ValueError(f"{layout.bursts} bursts do not fit in the seed orbit (at most ~20)")
    rng = np.random.default_rng([seed, 1])
    ref = seed_orbit()
    first = C.SEED_ORBIT_DATE - dt.timedelta(days=C.REPEAT_DAYS * SEED_CYCLES_BACK)
    acqs = []
    for k in range(dates):
        cross = float(np.clip(rng.normal(0.0, 70.0), -150, 150))
        radial = float(np.clip(rng.normal(0.0, 30.0), -100, 100))
        cross_rate, radial_rate = rng.normal(0.0, 0.01, size=2)
        jitter = rng.uniform(-2e-3, 2e-3)
        bursts = np.array([round_us(layout.first_burst_sod + b * layout.burst_cycle + jitter)
                           for b in range(layout.bursts)])
        orbit = ref.perturbed(cross, radial, cross_rate, radial_rate, layout.first_burst_sod)
        # keep (and write) the state vectors within ~35 s of the acquisition, rounded as written
        stop = bursts[-1] + layout.lines_per_burst * C.AZIMUTH_TIME_INTERVAL
        keep = (orbit.time > bursts[0] - ORBIT_MARGIN) & (orbit.time < stop + ORBIT_MARGIN)
        orbit = Orbit(orbit.time[keep], np.vectorize(quantize)(orbit.position[keep]),
                      np.vectorize(quantize)(orbit.velocity[keep]))
        uid = hashlib.sha256(f"sarcube-{seed}-{k}".encode()).hexdigest()[:4].upper()
        acqs.append(Acquisition(
            index=k,
            date=first + dt.timedelta(days=C.REPEAT_DAYS * k),
            days=float(C.REPEAT_DAYS * k),
            absolute_orbit=C.SEED_ABSOLUTE_ORBIT + C.ORBITS_PER_CYCLE * (k - SEED_CYCLES_BACK),
            datatake=C.SEED_DATATAKE_ID + DATATAKE_STEP * (k - SEED_CYCLES_BACK),
            unique_id=uid,
            burst_sod=bursts,
            orbit=orbit,
            cross_track=cross,
            radial=radial,
            time_factor=time_factor(C.REPEAT_DAYS * k, C.REPEAT_DAYS * (dates - 1), deformation),
        ))
    return acqs
