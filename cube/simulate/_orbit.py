"""Orbit interpolation and per-date orbit perturbations of the simulator."""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicHermiteSpline


class Orbit:
    """Earth-fixed orbit from state vectors, interpolated with a cubic Hermite spline.

    ``time``: (n,) float64 seconds of day (UTC); ``position``/``velocity``: (n, 3) m, m/s (ECEF).
    """

    def __init__(self, time: np.ndarray, position: np.ndarray, velocity: np.ndarray) -> None:
        self.time = np.asarray(time, dtype=np.float64)
        self.position = np.asarray(position, dtype=np.float64)
        self.velocity = np.asarray(velocity, dtype=np.float64)
        self._spline = CubicHermiteSpline(self.time, self.position, self.velocity, axis=0)
        self._dspline = self._spline.derivative(1)
        self._ddspline = self._spline.derivative(2)

    def position_at(self, t: np.ndarray) -> np.ndarray:
        """Satellite position (..., 3), m."""
        return self._spline(t)

    def velocity_at(self, t: np.ndarray) -> np.ndarray:
        """Satellite velocity (..., 3), m/s."""
        return self._dspline(t)

    def acceleration_at(self, t: np.ndarray) -> np.ndarray:
        """Satellite acceleration (..., 3), m/s²."""
        return self._ddspline(t)

    def perturbed(self, cross_track: float, radial: float, cross_rate: float, radial_rate: float,
                  t_ref: float) -> Orbit:
        """A new orbit displaced along the orbit normal and the radial direction.

        The displacement is ``cross_track + cross_rate·(t − t_ref)`` metres along the normal and
        ``radial + radial_rate·(t − t_ref)`` metres along the radial direction.

        Velocities get the exact time derivative of that displacement (computed from the rotating
        local frame of this orbit), so the new state vectors stay self-consistent.
        """

        def offset(t: np.ndarray) -> np.ndarray:
            p, v = self.position_at(t), self.velocity_at(t)
            radial_dir = p / np.linalg.norm(p, axis=-1, keepdims=True)
            normal = np.cross(p, v)
            normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
            dt = t - t_ref
            return ((cross_track + cross_rate * dt)[..., None] * normal
                    + (radial + radial_rate * dt)[..., None] * radial_dir)

        h = 1e-2
        t = self.time
        d_pos = offset(t)
        d_vel = (offset(t + h) - offset(t - h)) / (2 * h)
        return Orbit(t, self.position + d_pos, self.velocity + d_vel)
