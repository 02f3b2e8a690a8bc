"""Files a SAFE comes with besides its own content: the preview KML and the orbit file.

- ``preview/map-overlay.kml``: the footprint as a ``gx:LatLonQuad`` (ISCE2's stackSentinel
  reads every SAFE's extent from it);
- a POEORB-style ``.EOF`` beside the SAFE holding the acquisition's state vectors (those of
  the annotation), named ``S1A_OPER_AUX_POEORB_OPOD_<created>_V<start>_<stop>.EOF`` with a
  validity of one hour either side of the acquisition.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from ._layout import Acquisition, time_str

ORBIT_VALIDITY = dt.timedelta(hours=1)


def write_map_overlay(safe: Path, lat: np.ndarray, lon: np.ndarray) -> Path:
    """Write ``<safe>/preview/map-overlay.kml`` from the geolocation grid's corners, as ESA does.

    The corners: first line near, far; last line far, near.
    """
    quad = " ".join(f"{lon[i, j]:.6f},{lat[i, j]:.6f}" for i, j in ((0, 0), (0, -1), (-1, -1), (-1, 0)))
    path = safe / "preview" / "map-overlay.kml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<kml xmlns:gx="http://www.google.com/kml/ext/2.2">\n'
        "  <Document>\n    <name>Sentinel-1 Map Overlay</name>\n    <Folder>\n"
        "      <name>Sentinel-1 Scene Overlay</name>\n      <GroundOverlay>\n"
        "        <name>Sentinel-1 Image Overlay</name>\n        <Icon><href>quick-look.png</href></Icon>\n"
        f"        <gx:LatLonQuad><coordinates>{quad}</coordinates></gx:LatLonQuad>\n"
        "      </GroundOverlay>\n    </Folder>\n  </Document>\n</kml>\n")
    return path


def write_orbit_file(out_dir: Path, acq: Acquisition, start_sod: float, stop_sod: float) -> Path:
    """The acquisition's state vectors as an ``.EOF`` in ``out_dir``; returns its path."""
    t0 = dt.datetime.fromisoformat(time_str(acq.date, start_sod)) - ORBIT_VALIDITY
    t1 = dt.datetime.fromisoformat(time_str(acq.date, stop_sod)) + ORBIT_VALIDITY

    def stamp(t: dt.datetime) -> str:
        return t.strftime("%Y%m%dT%H%M%S")

    name = f"{acq.mission}_OPER_AUX_POEORB_OPOD_{stamp(t1)}_V{stamp(t0)}_{stamp(t1)}"
    osv = []
    for t, p, v in zip(acq.orbit.time, acq.orbit.position, acq.orbit.velocity, strict=True):
        when = time_str(acq.date, float(t))
        osv.append(
            f"      <OSV>\n        <TAI>TAI={when}</TAI>\n        <UTC>UTC={when}</UTC>\n"
            f"        <UT1>UT1={when}</UT1>\n        <Absolute_Orbit>+{acq.absolute_orbit}</Absolute_Orbit>\n"
            f'        <X unit="m">{p[0]:.6f}</X>\n        <Y unit="m">{p[1]:.6f}</Y>\n'
            f'        <Z unit="m">{p[2]:.6f}</Z>\n        <VX unit="m/s">{v[0]:.6f}</VX>\n'
            f'        <VY unit="m/s">{v[1]:.6f}</VY>\n        <VZ unit="m/s">{v[2]:.6f}</VZ>\n'
            "        <Quality>NOMINAL</Quality>\n      </OSV>\n")
    path = out_dir / f"{name}.EOF"
    path.write_text(
        '<?xml version="1.0" ?>\n<Earth_Explorer_File>\n  <Earth_Explorer_Header>\n    <Fixed_Header>\n'
        f"      <File_Name>{name}</File_Name>\n      <File_Type>AUX_POEORB</File_Type>\n"
        "      <Validity_Period>\n"
        f"        <Validity_Start>UTC={t0.isoformat()}</Validity_Start>\n"
        f"        <Validity_Stop>UTC={t1.isoformat()}</Validity_Stop>\n"
        "      </Validity_Period>\n    </Fixed_Header>\n  </Earth_Explorer_Header>\n"
        f'  <Data_Block type="xml">\n    <List_of_OSVs count="{len(osv)}">\n{"".join(osv)}'
        "    </List_of_OSVs>\n  </Data_Block>\n</Earth_Explorer_File>\n")
    return path
