"""Orbit interpolation: Hermite polynomials through positions *and* velocities.

Choice and why
--------------
Between state vectors ``k`` and ``k+1`` the orbit is the unique degree-7 polynomial that
matches the positions and velocities of the four nearest state vectors ``k-1 .. k+2``
(eight conditions per axis): a Hermite interpolant, as in ISCE2 (``orbitHermite``, four
vectors) and ISCE3 (the default ``Hermite`` method). Lagrange interpolation of order 8
(ESA/SNAP and ISCE2's ``legendre``) fits positions only, needs nine vectors and ignores the
velocities the orbit file gives; with the velocities, four vectors suffice. For Sentinel-1's
10 s vectors the truncation error is far below a millimetre (the orbit is smooth at a
~100 min period: a degree-7 fit over 30 s leaves ~1e-12 m), so the error is set by the
state vectors themselves. Adjacent pieces share two nodes whose position and velocity both
match, so the interpolated orbit is continuous in position and velocity.

Velocity and acceleration are the first and second derivatives of the same polynomial, so
Newton iterations that use them (geo2rdr) are consistent with the positions.

Each piece is stored as monomial coefficients in ``u = (t - t_mid) / h`` (``t_mid`` the
middle of the interval, ``h`` half its length) and evaluated by Horner's rule, so one
evaluation is ~70 flops: cheap enough to call per pixel from numba.

Times are float64 seconds since the interpolator's ``epoch`` (a naive UTC ``datetime``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

import numba
import numpy as np

from cube.errors import OrbitCoverageError
from cube.format import Orbit, StateVector

N_NODES = 4  # state vectors per piece: two before and two after
DEGREE = 2 * N_NODES - 1


@dataclass(frozen=True)
class OrbitInterpolator:
    """Piecewise Hermite interpolant of an orbit (see the module docstring).

    Attributes
    ----------
    epoch : datetime
        Naive UTC time that all times of this interpolator count from, s.
    time : ndarray (n,) float64
        State-vector times, s since ``epoch``.
    position, velocity : ndarray (n, 3) float64
        ECEF state vectors, m and m/s.
    breaks : ndarray (m+1,) float64
        Interval bounds, s since ``epoch`` (the state-vector times).
    centre, half : ndarray (m,) float64
        Middle and half-length of each interval, s.
    coeffs : ndarray (m, 3, 8) float64
        Monomial coefficients in ``u = (t - centre) / half`` per interval and axis, m.
    source : str
        Where the state vectors came from (``Orbit.source``).
    """

    epoch: datetime
    time: np.ndarray
    position: np.ndarray
    velocity: np.ndarray
    breaks: np.ndarray
    centre: np.ndarray
    half: np.ndarray
    coeffs: np.ndarray
    source: str = ""

    @property
    def t_min(self) -> float:
        """First state-vector time, s since ``epoch``."""
        return float(self.time[0])

    @property
    def t_max(self) -> float:
        """Last state-vector time, s since ``epoch``."""
        return float(self.time[-1])

    def seconds(self, when: datetime | np.datetime64 | np.ndarray | str) -> np.ndarray | float:
        """Convert times (datetime, numpy datetime64 or ISO strings) to s since ``epoch``."""
        return seconds_since(when, self.epoch)

    def to_datetime64(self, seconds: np.ndarray | float) -> np.ndarray:
        """Convert s since ``epoch`` to numpy ``datetime64[ns]`` (UTC)."""
        ns = np.rint(np.asarray(seconds, np.float64) * 1e9).astype(np.int64)
        return np.datetime64(self.epoch, "ns") + ns.astype("timedelta64[ns]")

    def check_coverage(self, t: np.ndarray | float, margin: float = 0.0) -> None:
        """Raise OrbitCoverageError if any time (s since ``epoch``) lies outside the vectors."""
        t = np.asarray(t, np.float64)
        finite = t[np.isfinite(t)]
        if finite.size == 0:
            return
        lo, hi = float(finite.min()), float(finite.max())
        if lo < self.t_min - margin or hi > self.t_max + margin:
            raise OrbitCoverageError(
                f"orbit {self.source or '(unnamed)'} covers "
                f"{self.to_datetime64(self.t_min)}..{self.to_datetime64(self.t_max)}, "
                f"not {self.to_datetime64(lo)}..{self.to_datetime64(hi)}: "
                "use an orbit (or annotation) whose state vectors span the acquisition"
            )

    def interpolate(self, t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position (m), velocity (m/s) and acceleration (m/s²) at times ``t`` (s since epoch).

        Returns three float64 arrays of shape ``t.shape + (3,)``. Times outside the state
        vectors raise OrbitCoverageError.
        """
        t = np.asarray(t, np.float64)
        self.check_coverage(t)
        flat = np.ascontiguousarray(t.ravel())
        pos = np.empty((flat.size, 3))
        vel = np.empty((flat.size, 3))
        acc = np.empty((flat.size, 3))
        _interpolate_array(self.breaks, self.centre, self.half, self.coeffs, flat, pos, vel, acc)
        shape = t.shape + (3,)
        return pos.reshape(shape), vel.reshape(shape), acc.reshape(shape)


def seconds_since(when, epoch: datetime) -> np.ndarray | float:
    """Seconds (float64) from ``epoch`` (naive UTC) to ``when``.

    ``when`` may be a ``datetime`` (naive = UTC), a ``numpy.datetime64`` (any unit), an ISO
    8601 string (a trailing ``Z`` or ``+00:00`` is accepted), or an array of those.
    Computed in integer nanoseconds, so no precision is lost before the final division.
    """
    if isinstance(when, datetime):
        if when.tzinfo is not None:
            when = when.replace(tzinfo=None) - (when.utcoffset() or timedelta(0))
        ns = np.datetime64(when, "ns").astype(np.int64) - np.datetime64(epoch, "ns").astype(np.int64)
        return float(ns) * 1e-9
    arr = to_datetime64(when)
    delta = (arr - np.datetime64(epoch, "ns")).astype(np.int64)
    out = delta.astype(np.float64) * 1e-9
    return float(out) if np.ndim(out) == 0 else out


def to_datetime64(when) -> np.ndarray:
    """Times as ``datetime64[ns]`` (UTC) from datetimes, datetime64 values or ISO strings."""
    arr = np.asarray(when)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[ns]")
    if arr.dtype.kind in "UO":
        flat = [_iso_utc(v) for v in arr.ravel().tolist()]
        return np.array(flat, dtype="datetime64[ns]").reshape(arr.shape)
    raise ValueError(
        f"times must be datetimes, numpy datetime64 or ISO 8601 strings, not {arr.dtype}"
    )


def _iso_utc(value) -> np.datetime64:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.replace(tzinfo=None) - (value.utcoffset() or timedelta(0))
        return np.datetime64(value, "ns")
    if isinstance(value, np.datetime64):
        return value.astype("datetime64[ns]")
    text = str(value).strip()
    for suffix in ("Z", "z", "+00:00", "+0000"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            break
    if len(text) > 10 and ("+" in text[10:] or text[10:].count("-") > 0):
        raise ValueError(f"time {value!r}: give UTC times (no offset, or Z / +00:00)")
    try:
        return np.datetime64(text.replace(" ", "T"), "ns")
    except ValueError as exc:
        raise ValueError(f"time {value!r} is not an ISO 8601 UTC time") from exc


def make_orbit_interpolator(orbit: Orbit, epoch: datetime | None = None) -> OrbitInterpolator:
    """Build the piecewise Hermite interpolant of ``orbit``'s state vectors.

    ``epoch`` (naive UTC) is the zero of the float64 times the interpolator uses; by default
    the first state vector's time. Needs at least four state vectors with distinct times.
    """
    svs = sorted(orbit.state_vectors, key=lambda sv: sv.time)
    # drop exact duplicates (merged orbits)
    unique: list[StateVector] = []
    for sv in svs:
        if unique and sv.time == unique[-1].time:
            continue
        unique.append(sv)
    if len(unique) < N_NODES:
        raise OrbitCoverageError(
            f"orbit {orbit.source}: {len(unique)} state vectors, Hermite interpolation needs "
            f"at least {N_NODES}"
        )
    if epoch is None:
        epoch = unique[0].time
    t = np.array([seconds_since(sv.time, epoch) for sv in unique])
    pos = np.array([sv.position for sv in unique], dtype=np.float64)
    vel = np.array([sv.velocity for sv in unique], dtype=np.float64)
    return _build(epoch, t, pos, vel, orbit.source)


def burst_orbit(burst) -> OrbitInterpolator:
    """The interpolator of a burst's orbit with epoch ``burst.sensing_start`` (cached).

    Times are then s since the burst's first line, so ``t / azimuth_time_interval`` is the
    burst-relative line. The cached interpolator is shared: do not modify its arrays.
    """
    orbit = burst.orbit
    key = (orbit.source, burst.sensing_start,
           tuple((sv.time, sv.position, sv.velocity) for sv in orbit.state_vectors))
    return _cached_interpolator(key)


@functools.lru_cache(maxsize=64)
def _cached_interpolator(key) -> OrbitInterpolator:
    source, epoch, vectors = key
    orbit = Orbit(source=source, state_vectors=[
        StateVector(time=t, position=p, velocity=v) for t, p, v in vectors
    ])
    return make_orbit_interpolator(orbit, epoch=epoch)


def merge_orbits(orbits: list[Orbit]) -> Orbit:
    """One orbit with the state vectors of several (duplicates by time dropped)."""
    seen: dict[datetime, StateVector] = {}
    for orb in orbits:
        for sv in orb.state_vectors:
            seen.setdefault(sv.time, sv)
    sources = sorted({o.source for o in orbits})
    return Orbit(source=" + ".join(sources), state_vectors=[seen[k] for k in sorted(seen)])


def _build(epoch, t, pos, vel, source) -> OrbitInterpolator:
    n = t.size
    m = n - 1
    centre = 0.5 * (t[:-1] + t[1:])
    half = 0.5 * (t[1:] - t[:-1])
    if np.any(half <= 0):
        raise OrbitCoverageError(f"orbit {source}: state-vector times are not increasing")
    coeffs = np.empty((m, 3, DEGREE + 1))
    for k in range(m):
        first = min(max(k - (N_NODES // 2 - 1), 0), n - N_NODES)
        idx = np.arange(first, first + N_NODES)
        u = (t[idx] - centre[k]) / half[k]
        powers = np.arange(DEGREE + 1)
        # rows: value conditions p(u_i), then derivative conditions p'(u_i) * (1/half)
        a_val = u[:, None] ** powers[None, :]
        a_der = np.zeros_like(a_val)
        a_der[:, 1:] = powers[None, 1:] * u[:, None] ** (powers[None, 1:] - 1)
        a = np.vstack([a_val, a_der / half[k]])
        b = np.vstack([pos[idx], vel[idx]])  # (8, 3)
        coeffs[k] = np.linalg.solve(a, b).T
    return OrbitInterpolator(
        epoch=epoch, time=t, position=pos, velocity=vel, breaks=t.copy(), centre=centre,
        half=half, coeffs=coeffs, source=source,
    )


@numba.njit(cache=True)
def find_interval(breaks: np.ndarray, t: float) -> int:
    """Index of the interval holding ``t`` (clamped to the first/last interval)."""
    m = breaks.size - 1
    if t <= breaks[1]:
        return 0
    if t >= breaks[m - 1]:
        return m - 1
    lo = 1
    hi = m - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if breaks[mid] <= t:
            lo = mid
        else:
            hi = mid
    return lo


@numba.njit(cache=True)
def orbit_state(breaks, centre, half, coeffs, t, out):
    """Fill ``out`` (9,) with position (m), velocity (m/s), acceleration (m/s²) at ``t`` (s)."""
    k = find_interval(breaks, t)
    h = half[k]
    u = (t - centre[k]) / h
    ncoef = coeffs.shape[2]
    for ax in range(3):
        c = coeffs[k, ax]
        p = c[ncoef - 1]
        d1 = 0.0
        d2 = 0.0
        for j in range(ncoef - 2, -1, -1):
            d2 = d2 * u + 2.0 * d1
            d1 = d1 * u + p
            p = p * u + c[j]
        out[ax] = p
        out[3 + ax] = d1 / h
        out[6 + ax] = d2 / (h * h)


@numba.njit(cache=True)
def orbit_pos_vel(breaks, centre, half, coeffs, t, out):
    """Fill ``out`` (6,) with position (m) and velocity (m/s) at ``t`` (s); no acceleration."""
    k = find_interval(breaks, t)
    h = half[k]
    u = (t - centre[k]) / h
    ncoef = coeffs.shape[2]
    for ax in range(3):
        c = coeffs[k, ax]
        p = c[ncoef - 1]
        d1 = 0.0
        for j in range(ncoef - 2, -1, -1):
            d1 = d1 * u + p
            p = p * u + c[j]
        out[ax] = p
        out[3 + ax] = d1 / h


@numba.njit(cache=True)
def _interpolate_array(breaks, centre, half, coeffs, t, pos, vel, acc):
    state = np.empty(9)
    for i in range(t.size):
        orbit_state(breaks, centre, half, coeffs, t[i], state)
        for ax in range(3):
            pos[i, ax] = state[ax]
            vel[i, ax] = state[3 + ax]
            acc[i, ax] = state[6 + ax]
