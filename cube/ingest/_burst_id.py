"""ESA burst ID, as defined in the Sentinel-1 Level 1 Detailed Algorithm Definition (S1-TN-MDA-52-7445).

A burst cycle of all three IW sub-swaths has one number, counted from the ascending-node
crossing of relative orbit 1 (eq. 9-89..9-91):

    Δt_b = t_b − t_anx + (r − 1)·T_orb
    burst number = 1 + floor((Δt_b − T_pre) / T_beam)

where t_b is the mid-burst sensing time of the cycle's IW2 burst. A burst of IW1 or IW3 is
brought to its cycle's IW2 mid-burst time with the nominal sub-swath to sub-swath delays.
"""

from __future__ import annotations

import math
from datetime import datetime

T_ORBIT = 12 * 86400.0 / 175.0  # nominal orbit period, s (175 orbits in a 12-day repeat)
T_BEAM = 2.758273  # burst cycle, s (DAD table 9-7)
T_PRE = 2.299849  # preamble, s (DAD table 9-7)
# nominal sensing-time delays between consecutive sub-swath bursts of one cycle, s
_IW1_TO_IW2 = 0.832
_IW2_TO_IW3 = 1.078
_START_OFFSET_FROM_IW1 = {1: 0.0, 2: _IW1_TO_IW2, 3: _IW1_TO_IW2 + _IW2_TO_IW3}
# first absolute orbit of relative orbit 1 for each unit, for products without a manifest
_ORBIT_OFFSET = {"S1A": 73, "S1B": 27, "S1C": 172, "S1D": 172}


def relative_orbit(mission: str, absolute_orbit: int) -> int:
    """Relative orbit (track, 1..175) from an absolute orbit number."""
    try:
        offset = _ORBIT_OFFSET[mission.upper()]
    except KeyError:
        raise ValueError(f"unknown mission {mission!r}: expected one of {sorted(_ORBIT_OFFSET)}") from None
    return (absolute_orbit - offset) % 175 + 1


def burst_id_string(track: int, burst_number: int, swath: str) -> str:
    """Format a burst ID the way OPERA and s1-reader write it, e.g. ``t071_151200_iw3``."""
    return f"t{track:03d}_{burst_number:06d}_{swath.lower()}"


def make_burst_id(
    sensing_time: datetime,
    ascending_node_time: datetime,
    start_track: int,
    swath: str,
    stop_track: int | None = None,
) -> tuple[str, int]:
    """Return (burst ID string, ESA burst number) of a burst.

    ``sensing_time`` is the burst's first input line (burstList/sensingTime),
    ``ascending_node_time`` the ascending node before the slice, ``start_track`` and
    ``stop_track`` the relative orbits at the start and stop of the slice (equal unless it
    crosses the ascending node), ``swath`` IW1..IW3.
    """
    since_anx_iw1 = (sensing_time - ascending_node_time).total_seconds()
    since_anx_iw1 -= _START_OFFSET_FROM_IW1[int(swath[-1])]
    since_anx = since_anx_iw1 + _IW1_TO_IW2 + _IW2_TO_IW3 / 2.0  # mid-burst IW2 of the cycle
    track = start_track
    if since_anx_iw1 >= T_ORBIT:
        # past the next ascending node: a slice crossing it moves to the next track; otherwise
        # the annotated node is one orbit stale
        since_anx -= T_ORBIT
        if stop_track is None or stop_track != start_track:
            track = start_track % 175 + 1
    dt_b = since_anx + (track - 1) * T_ORBIT  # eq. 9-89
    number = 1 + math.floor((dt_b - T_PRE) / T_BEAM)  # eq. 9-91
    return burst_id_string(track, number, swath), number
