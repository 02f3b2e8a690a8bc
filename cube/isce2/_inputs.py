"""topsStack's inputs from a cube: orbit files from its metadata, the SAFEs of its dates.

The DEM is :func:`cube.isce2.write_isce_dem` of the cube's DEM.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from cube.errors import InputError, NotFoundError
from cube.format import BurstMetadata

ORBIT_VALIDITY = timedelta(hours=1)
"""Validity written around the SAFE's start and stop: stackSentinel wants 60 s either side."""


def _safe_times(burst: BurstMetadata) -> tuple[datetime, datetime]:
    """(start, stop) of the burst's SAFE, from its product name (the burst's own times without one)."""
    m = re.search(r"_(\d{8}T\d{6})_(\d{8}T\d{6})_", burst.product_id)
    if m:
        start, stop = (datetime.strptime(t, "%Y%m%dT%H%M%S") for t in m.groups())
        return start, stop
    stop = burst.sensing_start + timedelta(seconds=burst.lines * burst.azimuth_time_interval)
    return burst.sensing_start, stop


def write_orbit_eof(folder: str | os.PathLike, burst: BurstMetadata) -> Path:
    """A POEORB-style ``.EOF`` of the state vectors the cube holds for a burst date.

    Named ``<mission>_OPER_AUX_POEORB_OPOD_<stop>_V<start>_<stop>.EOF`` with a validity of
    :data:`ORBIT_VALIDITY` around the SAFE's times, as stackSentinel finds orbit files; the
    vectors are the cube's (the orbit file's at ingest, else the annotation's). Returns its path.
    """
    start, stop = _safe_times(burst)
    t0, t1 = start - ORBIT_VALIDITY, stop + ORBIT_VALIDITY
    stamp = "%Y%m%dT%H%M%S"
    name = f"{burst.mission}_OPER_AUX_POEORB_OPOD_{t1:{stamp}}_V{t0:{stamp}}_{t1:{stamp}}"
    osv = []
    for sv in burst.orbit.state_vectors:
        t = sv.time.strftime("%Y-%m-%dT%H:%M:%S.%f")
        (x, y, z), (vx, vy, vz) = sv.position, sv.velocity
        osv.append(
            f"<OSV><TAI>TAI={t}</TAI><UTC>UTC={t}</UTC><UT1>UT1={t}</UT1>"
            f"<Absolute_Orbit>+{burst.absolute_orbit}</Absolute_Orbit>"
            f'<X unit="m">{x!r}</X><Y unit="m">{y!r}</Y><Z unit="m">{z!r}</Z>'
            f'<VX unit="m/s">{vx!r}</VX><VY unit="m/s">{vy!r}</VY><VZ unit="m/s">{vz!r}</VZ>'
            "<Quality>NOMINAL</Quality></OSV>\n")
    path = Path(folder) / f"{name}.EOF"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        '<?xml version="1.0" ?>\n<Earth_Explorer_File><Earth_Explorer_Header><Fixed_Header>'
        f"<File_Name>{name}</File_Name><File_Type>AUX_POEORB</File_Type><Validity_Period>"
        f"<Validity_Start>UTC={t0.isoformat()}</Validity_Start><Validity_Stop>UTC={t1.isoformat()}"
        "</Validity_Stop></Validity_Period></Fixed_Header></Earth_Explorer_Header>\n"
        f'<Data_Block type="xml"><List_of_OSVs count="{len(osv)}">\n{"".join(osv)}'
        "</List_of_OSVs></Data_Block></Earth_Explorer_File>\n")
    return path


def _product_id(path: Path) -> str:
    name = path.name
    for suffix in (".zip", ".SAFE"):
        name = name.removesuffix(suffix)
    return name


def find_safes(product_ids: Sequence[str], sources: Iterable[str | os.PathLike]) -> dict[str, Path]:
    """The local SAFE (folder or zip) of each product ID, looked up in ``sources``.

    A source is a SAFE (``<id>.SAFE``, ``<id>.zip``, ``<id>.SAFE.zip``) or a folder holding
    SAFEs. NotFoundError names the product IDs none of them holds and where it looked.
    """
    found: dict[str, Path] = {}
    looked: list[str] = []
    for source in sources:
        path = Path(source).absolute()
        looked.append(str(path))
        candidates = [path] if _product_id(path) in product_ids else (
            [p for p in path.iterdir() if p.name.endswith((".SAFE", ".zip"))] if path.is_dir() else [])
        for p in candidates:
            found.setdefault(_product_id(p), p)
    missing = [p for p in product_ids if p not in found]
    if missing:
        raise NotFoundError(
            f"no SAFE for {', '.join(missing)} in {', '.join(looked) or 'no sources'}; the isce2 engine "
            "reads the SAFEs themselves: give the job's `sources` (SAFE folders or zips, or folders "
            "holding them)")
    if not product_ids:
        raise InputError("find_safes: no product IDs to look up")
    return {p: found[p] for p in product_ids}
