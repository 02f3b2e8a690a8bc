"""Interferometric baseline between two acquisitions of one burst, in ISCE2 topsApp's convention.

Convention (read from ISCE2 ``TopsProc/runComputeBaseline.py``; this is our own code)
--------------------------------------------------------------------------------------
- Reference time: the middle of the reference burst, ``sensing_start + (lines - 1) / 2 *
  azimuth_time_interval``. Reference range: the middle of the burst's samples,
  ``R0 + (samples - 1) / 2 * c / (2 fs)`` (one-way).
- Target: rdr2geo of (mid time, mid range) on the reference orbit at height 0 (WGS84).
- Secondary: geo2rdr of the target on the secondary orbit → time ``ts`` and range ``Rs``;
  its position ``S`` is taken at ``ts``, then moved along the reference velocity into the
  plane through the reference position ``M`` perpendicular to the reference velocity:
  ``S' = S - ((S - M) · v̂) v̂``.
- With ``B = |S' - M|`` and ``cos θ = (R² + B² - Rs²) / (2 R B)`` (R the reference range):
  ``Bpar = B cos θ`` (positive when the secondary is closer to the target) and
  ``|Bperp| = B sin θ``.
- Sign of Bperp: ``sign(((T - M) × (S' - M)) · V_ref)``, T the target. For a right-looking
  sensor Bperp > 0 when the secondary's offset perpendicular to the line of sight points
  down and away from the target, i.e. the secondary sees the target at a larger look
  (off-nadir) angle; Bperp < 0 (the Haida Gwaii pair here, -129 m) when it points up and
  towards the target.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from cube.format import SPEED_OF_LIGHT, BurstMetadata
from cube.geometry._ellipsoid import llh_to_ecef
from cube.geometry._orbit import burst_orbit
from cube.geometry._radar import geo2rdr, rdr2geo


def compute_baseline(reference: BurstMetadata, secondary: BurstMetadata) -> dict[str, Any]:
    """Parallel and perpendicular baseline (m) of ``secondary`` w.r.t. ``reference``.

    Computed at the reference burst's mid time and mid range, in ISCE2 topsApp's convention
    (module docstring). Returns ``{"bpar_m", "bperp_m", "baseline_m", "reference_time",
    "secondary_time", "slant_range_m", "target_lat", "target_lon"}`` (times ISO UTC).
    """
    ref_orbit = burst_orbit(reference)
    sec_orbit = burst_orbit(secondary)
    t_mid = 0.5 * (reference.lines - 1) * reference.azimuth_time_interval
    spacing = SPEED_OF_LIGHT / (2.0 * reference.range_sampling_rate)
    r_mid = reference.slant_range_first_sample_m + 0.5 * (reference.samples - 1) * spacing

    lat, lon, h = rdr2geo(ref_orbit, t_mid, r_mid, 0.0)
    target = llh_to_ecef(lat, lon, h)
    guess = 0.5 * (sec_orbit.t_min + sec_orbit.t_max)
    t_sec, r_sec = geo2rdr(sec_orbit, lat, lon, h, t_guess=guess)
    if not np.isfinite(t_sec):
        raise ValueError(
            f"{secondary.burst_id} of {secondary.date_key}: its orbit does not see the "
            f"centre of {reference.burst_id} of {reference.date_key}"
        )
    m_pos, m_vel, _ = ref_orbit.interpolate(t_mid)
    s_pos, _, _ = sec_orbit.interpolate(float(t_sec))
    v_hat = m_vel / np.linalg.norm(m_vel)
    s_proj = s_pos - np.dot(s_pos - m_pos, v_hat) * v_hat
    b = float(np.linalg.norm(s_proj - m_pos))
    r = float(r_mid)
    rs = float(r_sec)
    if b == 0.0:
        bpar = 0.0
        bperp = 0.0
    else:
        cos_theta = (r * r + b * b - rs * rs) / (2.0 * r * b)
        cos_theta = min(1.0, max(-1.0, cos_theta))
        bpar = b * cos_theta
        sign = float(np.sign(np.dot(np.cross(target - m_pos, s_proj - m_pos), m_vel)))
        bperp = sign * b * math.sqrt(1.0 - cos_theta * cos_theta)
    return {
        "bpar_m": bpar,
        "bperp_m": bperp,
        "baseline_m": b,
        "reference_time": str(ref_orbit.to_datetime64(t_mid)),
        "secondary_time": str(sec_orbit.to_datetime64(float(t_sec))),
        "slant_range_m": r,
        "target_lat": float(lat),
        "target_lon": float(lon),
    }


def pair_baseline(reference: BurstMetadata,
                  secondary: BurstMetadata) -> tuple[float | None, float | None]:
    """``(bperp_m, bpar_m)`` of :func:`compute_baseline`, or ``(None, None)``.

    ``(None, None)`` when the secondary's orbit does not see the reference's centre or a value is
    not finite.
    """
    try:
        b = compute_baseline(reference, secondary)
    except ValueError:
        return None, None
    bperp, bpar = b["bperp_m"], b["bpar_m"]
    if not (math.isfinite(bperp) and math.isfinite(bpar)):
        return None, None
    return float(bperp), float(bpar)


def select_common_burst(
    reference: list[BurstMetadata],
    secondary: list[BurstMetadata],
    burst: Literal["first", "last"] | int = "first",
) -> tuple[BurstMetadata, BurstMetadata]:
    """Pick one burst ID present in both lists (one swath and polarization each).

    ``burst``: ``"first"`` / ``"last"``: the first / last burst ID (in time) common to both;
    an int ``N``: the N-th burst (0-based ``burst_index``) of the reference, paired with the
    secondary burst of the same burst ID. Raises ``NotFoundError`` naming what is missing.
    """
    from cube.errors import NotFoundError

    if not reference or not secondary:
        raise ValueError("both products need at least one burst")
    ref = sorted(reference, key=lambda b: b.sensing_start)
    by_id = {b.burst_id: b for b in secondary}
    if isinstance(burst, str):
        if burst not in ("first", "last"):
            raise ValueError(f"burst must be 'first', 'last' or a burst index, not {burst!r}")
        common = [b for b in ref if b.burst_id in by_id]
        if not common:
            raise NotFoundError(
                f"no common burst ID between {ref[0].product_id} ({ref[0].burst_id}..) and "
                f"{secondary[0].product_id}: pick products of the same track and area"
            )
        chosen = common[0] if burst == "first" else common[-1]
        return chosen, by_id[chosen.burst_id]
    index = int(burst)
    matches = [b for b in ref if b.burst_index == index]
    if not matches:
        raise NotFoundError(
            f"{ref[0].product_id} {ref[0].swath}: no burst index {index} "
            f"(has {min(b.burst_index for b in ref)}..{max(b.burst_index for b in ref)})"
        )
    chosen = matches[0]
    if chosen.burst_id not in by_id:
        raise NotFoundError(
            f"burst {chosen.burst_id} (index {index} of the reference) is not in "
            f"{secondary[0].product_id}: pick another burst"
        )
    return chosen, by_id[chosen.burst_id]
