"""Metadata models of the SLC cube: everything needed to geocode a burst without its SAFE.

Times are naive ``datetime`` in UTC. Slant-range times are two-way, in seconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import numpy as np

SPEED_OF_LIGHT = 299_792_458.0  # m/s


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StateVector(_Model):
    """One orbit state vector in the Earth-fixed frame (ITRF/WGS84 ECEF)."""

    time: datetime
    position: tuple[float, float, float] = Field(description="ECEF position, m")
    velocity: tuple[float, float, float] = Field(description="ECEF velocity, m/s")


class Orbit(_Model):
    """Orbit state vectors, sorted by time."""

    source: str = Field(description="'annotation', 'POEORB' or 'RESORB' (with the file name)")
    state_vectors: list[StateVector]

    def arrays(self, epoch: datetime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (t, pos, vel): seconds since ``epoch`` (n,), positions (n, 3) m, velocities (n, 3) m/s."""
        import numpy as np  # numpy is imported where arrays are made (``sarcube info`` makes none)

        t = np.array([(sv.time - epoch).total_seconds() for sv in self.state_vectors])
        pos = np.array([sv.position for sv in self.state_vectors], dtype=np.float64)
        vel = np.array([sv.velocity for sv in self.state_vectors], dtype=np.float64)
        return t, pos, vel


class Polynomial(_Model):
    """A polynomial in slant-range time: f(τ) = Σ c_k (τ - t0)^k, valid around ``azimuth_time``."""

    azimuth_time: datetime
    t0: float = Field(description="reference two-way slant-range time, s")
    coefficients: list[float]

    def __call__(self, slant_range_time: np.ndarray | float) -> np.ndarray:
        """Evaluate at two-way slant-range times (s)."""
        import numpy as np

        x = np.asarray(slant_range_time, dtype=np.float64) - self.t0
        return np.polynomial.polynomial.polyval(x, self.coefficients)


class CalibrationVector(_Model):
    """One line of the calibration LUTs (ESA: calibrated = |DN|^2 / LUT^2)."""

    azimuth_time: datetime
    line: int = Field(description="line within the burst (may be negative or past its end)")
    pixel: list[int]
    sigma_nought: list[float]
    beta_nought: list[float]
    gamma: list[float]
    dn: list[float]


class NoiseRangeVector(_Model):
    """One line of the range noise LUT (power, same scale as |DN|^2)."""

    azimuth_time: datetime
    line: int = Field(description="line within the burst")
    pixel: list[int]
    noise_range_lut: list[float]


class NoiseAzimuthVector(_Model):
    """An azimuth noise LUT block; lines and samples are within the burst, last inclusive."""

    first_azimuth_line: int
    last_azimuth_line: int
    first_range_sample: int
    last_range_sample: int
    line: list[int]
    noise_azimuth_lut: list[float]


class GeolocationPoint(_Model):
    """One geolocationGrid point of the annotation; ``line`` is within the burst."""

    azimuth_time: datetime
    slant_range_time: float
    line: int
    pixel: int
    latitude: float
    longitude: float
    height: float
    incidence_angle: float
    elevation_angle: float


class BurstMetadata(_Model):
    """One burst of one date: identity, timing, geometry, radiometry.

    Valid-window indices follow s1-reader: 0-based within the burst, last index inclusive.
    """

    burst_id: str = Field(description="ESA burst ID, t{track:03d}_{burst:06d}_{swath}")
    esa_burst_number: int
    annotated_burst_number: int | None = Field(None, description="burstId in the annotation, if any")
    swath: str = Field(description="IW1, IW2 or IW3")
    polarization: str = Field(description="VV, VH, HH or HV")
    burst_index: int = Field(description="0-based index of the burst in its swath")
    product_id: str
    mission: str = Field(description="S1A, S1B, S1C or S1D")
    absolute_orbit: int
    relative_orbit: int
    orbit_direction: str = Field(description="ascending or descending")
    ascending_node_time: datetime
    ipf_version: str | None = None
    sensing_start: datetime = Field(description="zero-Doppler azimuth time of the burst's first line")
    sensing_time: datetime = Field(description="sensing time of the first input line (burstList)")
    azimuth_anx_time: float = Field(description="azimuth time since the ascending node, s")
    azimuth_time_interval: float = Field(description="s per line")
    lines: int
    samples: int
    line_offset: int = Field(description="first line of this burst in the measurement TIFF")
    first_valid_line: int
    last_valid_line: int
    first_valid_sample: int
    last_valid_sample: int
    slant_range_time: float = Field(description="two-way slant-range time of the first sample, s")
    range_sampling_rate: float = Field(description="Hz")
    range_pixel_spacing_m: float
    azimuth_pixel_spacing_m: float
    radar_frequency: float = Field(description="Hz")
    azimuth_steering_rate: float = Field(description="rad/s")
    azimuth_frequency: float = Field(description="line rate, Hz")
    range_bandwidth: float = Field(description="range processing bandwidth, Hz")
    azimuth_bandwidth: float = Field(description="azimuth processing bandwidth, Hz")
    range_window: str
    range_window_coefficient: float
    azimuth_window: str
    azimuth_window_coefficient: float
    incidence_angle_mid_swath: float = Field(description="degrees")
    platform_heading: float = Field(description="degrees")
    measurement_file: str | None = Field(description="path of the measurement TIFF in the SAFE")
    orbit: Orbit
    doppler_centroid: list[Polynomial] = Field(description="dataDcPolynomial, Hz")
    azimuth_fm_rate: list[Polynomial] = Field(description="azimuthFmRatePolynomial, Hz/s")
    calibration: list[CalibrationVector]
    absolute_calibration_constant: float = 1.0
    noise_range: list[NoiseRangeVector]
    noise_azimuth: list[NoiseAzimuthVector]
    geolocation_grid: list[GeolocationPoint]

    @property
    def wavelength_m(self) -> float:
        """Radar wavelength, m."""
        return SPEED_OF_LIGHT / self.radar_frequency

    @property
    def slant_range_first_sample_m(self) -> float:
        """One-way slant range of the first sample, m."""
        return self.slant_range_time * SPEED_OF_LIGHT / 2.0

    @property
    def date_key(self) -> str:
        """Sortable key of this burst's acquisition: sensing start as YYYYmmddTHHMMSS.ffffff."""
        return self.sensing_start.strftime("%Y%m%dT%H%M%S.%f")

    def summary(self) -> dict[str, object]:
        """The record ``sarcube info`` prints."""
        return {
            "burst_id": self.burst_id,
            "swath": self.swath,
            "polarization": self.polarization,
            "burst_index": self.burst_index,
            "sensing_start": self.sensing_start.isoformat() + "Z",
            "azimuth_time_interval": self.azimuth_time_interval,
            "lines": self.lines,
            "samples": self.samples,
            "first_valid_line": self.first_valid_line,
            "last_valid_line": self.last_valid_line,
            "first_valid_sample": self.first_valid_sample,
            "last_valid_sample": self.last_valid_sample,
            "slant_range_first_sample_m": self.slant_range_first_sample_m,
            "range_pixel_spacing_m": self.range_pixel_spacing_m,
            "wavelength_m": self.wavelength_m,
            "absolute_orbit": self.absolute_orbit,
            "relative_orbit": self.relative_orbit,
            "orbit_direction": self.orbit_direction,
            "product_id": self.product_id,
        }
